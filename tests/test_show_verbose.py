"""``/api/show`` with ``verbose``, and what Ollama does differently for a User-Agent.

``GetModelInfo`` (``server/routes.go``): without ``verbose`` the GGUF is decoded with
``maxArraySize`` 0, so the tokenizer arrays are ``null``; with it they are whole.
``ShowHandler``: a ``GitHubCopilotChat/`` User-Agent gets ``model_info["general.basename"]``
= the name it asked for. That prefix is the only User-Agent Ollama's server reads (``git grep
UserAgent`` at fb3076099: the rest set it on outgoing requests); CORS lists ``User-Agent``
among the allowed headers. Over real sockets.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from mockserver.config import Settings
from mockserver.engine.families import FAMILIES
from mockserver.server import BackgroundServer, serving

ARRAYS = ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges")


@pytest.fixture(scope="module")
def fake() -> Iterator[BackgroundServer]:
    with serving(Settings(port=0, seed=7, current_date="2026-03-23")) as server:
        yield server


def show(fake: BackgroundServer, headers: dict[str, str] | None = None, **body: object) -> dict:
    reply = httpx.post(fake.url + "/api/show", json=body, headers=headers, timeout=120)
    assert reply.status_code == 200, reply.text
    return reply.json()


# (model, vocabulary size, has merges: byte-level BPE)
MODELS = [
    ("llama3.2:3b", 128256, True),
    ("qwen2.5:7b", 151665, True),
    ("gemma3:4b", 262145, False),
    ("mistral:7b", 32768, False),
    ("gpt-oss:20b", 201088, True),
]


@pytest.mark.slow  # PORTWAY_SLOW=1 or nox -s slow (tests/conftest.py)
@pytest.mark.parametrize(("model", "size", "bpe"), MODELS, ids=[m for m, _, _ in MODELS])
def test_verbose_returns_the_tokenizer_arrays_whole(fake, model: str, size: int, bpe: bool) -> None:
    short = show(fake, model=model)["model_info"]
    assert all(short[key] is None for key in ARRAYS)
    info = show(fake, model=model, verbose=True)["model_info"]
    tokens, types = info["tokenizer.ggml.tokens"], info["tokenizer.ggml.token_type"]
    assert len(tokens) == len(types) == size
    assert set(types) <= {1, 2, 3, 4, 5, 6}
    merges = info["tokenizer.ggml.merges"]  # SentencePiece vocabularies have none
    assert (merges is not None and len(merges) > 100_000) is bpe
    assert list(info) == sorted(info)  # still a Go map
    assert set(short) == set(info)  # the same keys: only the arrays grow


def test_the_arrays_are_the_vocabulary_the_fake_counts_with(fake) -> None:
    info = show(fake, model="llama3.2:3b", verbose=True)["model_info"]
    tokens, types = info["tokenizer.ggml.tokens"], info["tokenizer.ggml.token_type"]
    tokenizer = FAMILIES["llama3.2"].tokenizer
    ids = tokenizer.encode("Hello world")
    assert [tokens[i] for i in ids] == ["Hello", "Ġworld"]
    assert tokens[128009] == "<|eot_id|>" and types[128009] == 3  # control
    assert types[ids[0]] == 1
    assert "Ġ w" in info["tokenizer.ggml.merges"][:5000]
    oss = show(fake, model="gpt-oss:20b", verbose=True)["model_info"]
    assert oss["tokenizer.ggml.tokens"][200006] == "<|start|>"


USER_AGENTS = [
    ("GitHubCopilotChat/0.30.1", True),
    ("githubcopilotchat/0.30.1", False),  # strings.HasPrefix: case matters
    ("ollama-python/0.6.0", False),
    ("", False),
]


@pytest.mark.parametrize(("agent", "echoed"), USER_AGENTS)
def test_copilot_chat_gets_the_name_it_asked_for_as_basename(
    fake, agent: str, echoed: bool
) -> None:
    info = show(fake, headers={"User-Agent": agent}, model="Llama3.2:3B")["model_info"]
    assert ("general.basename" in info) is echoed
    if echoed:
        assert info["general.basename"] == "Llama3.2:3B"  # requestedModel, as typed
        assert list(info) == sorted(info)


def test_cors_allows_the_user_agent_header(fake) -> None:
    reply = httpx.options(
        fake.url + "/api/show",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "user-agent",
        },
    )
    assert reply.status_code in (200, 204)
    assert "user-agent" in reply.headers.get("access-control-allow-headers", "").lower()
