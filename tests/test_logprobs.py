"""``logprobs`` / ``top_logprobs`` on every surface that has them, in Ollama's shapes.

Native ``/api/chat`` and ``/api/generate`` carry ``api.Logprob`` entries (``token``,
``logprob``, ``bytes``, ``top_logprobs`` only when asked for more than 0); ``/v1/chat/completions``
carries them as ``choices[0].logprobs.content`` (``openai/openai.go`` ChoiceLogprobs), one
chunk per token when streamed; ``/v1/completions`` accepts ``logprobs: N`` but Ollama's writer
puts none in the answer. Past 20 (or below 0 natively) is Ollama's 400. The values are the
fake's (deterministic, not a model's): what is pinned here is their shape and the invariants a
client relies on. Over real sockets; streams read whole.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import httpx
import openai
import pytest

from mockserver.config import Settings
from mockserver.engine.families import FAMILIES
from mockserver.server import BackgroundServer, serving

HI = [{"role": "user", "content": "Why is the sky blue? One sentence."}]


@pytest.fixture(scope="module")
def fake() -> Iterator[BackgroundServer]:
    with serving(Settings(port=0, seed=7, current_date="2026-03-23")) as server:
        yield server


def post(fake: BackgroundServer, path: str, **body: object) -> httpx.Response:
    return httpx.post(fake.url + path, json=body, timeout=60)


def ndjson(reply: httpx.Response) -> list[dict]:
    return [json.loads(line) for line in reply.text.splitlines() if line]


def check_entries(entries: list[dict], top: int) -> None:
    """What a client may rely on: one entry per token, logprob <= 0, bytes = the token's
    UTF-8, ``top`` alternatives sorted most likely first with the token among them, the
    probabilities of a position summing to at most 1."""
    assert entries
    for item in entries:
        assert item["logprob"] <= 0
        assert item.get("bytes", []) == list(item["token"].encode())
        if top == 0:
            assert "top_logprobs" not in item
            continue
        alternatives = item["top_logprobs"]
        assert len(alternatives) == top
        values = [a["logprob"] for a in alternatives]
        assert values == sorted(values, reverse=True)
        assert item["token"] in [a["token"] for a in alternatives]
        assert len({a["token"] for a in alternatives}) == top
        assert sum(math.exp(v) for v in values) <= 1 + 1e-9
        for alternative in alternatives:
            assert alternative["bytes"] == list(alternative["token"].encode())


@pytest.mark.parametrize("top", [0, 1, 5, 20])
@pytest.mark.parametrize("model", ["llama3.2:3b", "qwen2.5:7b", "mistral:7b", "gemma3:4b"])
def test_native_chat_logprobs_spell_the_answer(fake, model: str, top: int) -> None:
    reply = post(
        fake, "/api/chat", model=model, messages=HI, stream=False, logprobs=True, top_logprobs=top
    )
    body = reply.json()
    assert list(body)[:6] == ["model", "created_at", "message", "done", "done_reason", "logprobs"]
    entries = body["logprobs"]
    check_entries(entries, top)
    assert "".join(e["token"] for e in entries) == body["message"]["content"]
    assert len(entries) == body["eval_count"] - 1  # the end-of-turn token is not emitted


def test_native_chat_stream_has_one_logprob_per_chunk(fake) -> None:
    body = dict(model="llama3.2:3b", messages=HI, logprobs=True, top_logprobs=2)
    chunks = ndjson(post(fake, "/api/chat", **body))
    whole = post(fake, "/api/chat", stream=False, **body).json()
    partial = [c for c in chunks if not c["done"]]
    assert all(len(c["logprobs"]) == 1 for c in partial)
    assert "logprobs" not in chunks[-1]
    assert [c["logprobs"][0] for c in partial] == whole["logprobs"]  # deterministic


def test_gpt_oss_logprobs_cover_its_channel_tokens(fake) -> None:
    chunks = ndjson(post(fake, "/api/chat", model="gpt-oss:20b", messages=HI, logprobs=True))
    tokens = [c["logprobs"][0]["token"] for c in chunks if not c["done"]]
    text = "".join(tokens)
    assert text.startswith("<|channel|>analysis<|message|>")
    assert "<|end|><|start|>assistant<|channel|>final<|message|>" in text
    thinking = "".join(c["message"].get("thinking", "") for c in chunks)
    content = "".join(c["message"]["content"] for c in chunks)
    assert thinking and content and text.endswith(content)
    control = [c for c in chunks if not c["done"] and c["logprobs"][0]["token"] == "<|channel|>"]
    assert control and all(c["message"] == {"role": "assistant", "content": ""} for c in control)


def test_without_logprobs_there_are_none(fake) -> None:
    body = post(
        fake, "/api/chat", model="llama3.2:3b", messages=HI, stream=False, top_logprobs=5
    ).json()
    assert "logprobs" not in body


@pytest.mark.parametrize("raw", [False, True])
def test_generate_logprobs(fake, raw: bool) -> None:
    body = dict(
        model="llama3.2:3b", prompt="Why is the sky blue?", logprobs=True, top_logprobs=3, raw=raw
    )
    whole = post(fake, "/api/generate", stream=False, **body).json()
    assert list(whole).index("logprobs") == list(whole).index("done_reason") + (1 if raw else 2)
    check_entries(whole["logprobs"], 3)
    assert "".join(e["token"] for e in whole["logprobs"]) == whole["response"]
    chunks = ndjson(post(fake, "/api/generate", **body))
    assert [c["logprobs"][0] for c in chunks if not c["done"]] == whole["logprobs"]


def test_the_tokens_are_the_models_vocabulary(fake) -> None:
    whole = post(
        fake,
        "/api/chat",
        model="qwen2.5:7b",
        messages=HI,
        stream=False,
        logprobs=True,
        top_logprobs=4,
    ).json()
    tokenizer = FAMILIES["qwen2.5"].tokenizer
    for item in whole["logprobs"]:
        for alternative in item["top_logprobs"]:
            assert len(tokenizer.encode(alternative["token"])) == 1  # one real token each


# --- the limits ------------------------------------------------------------------------------

LIMITS = [
    ("/api/chat", {"messages": HI, "top_logprobs": 21}),
    ("/api/chat", {"messages": HI, "top_logprobs": -1}),
    ("/api/generate", {"prompt": "hi", "top_logprobs": 21}),
    ("/api/generate", {"prompt": "hi", "top_logprobs": -1, "model": "nope"}),  # before lookup
]


@pytest.mark.parametrize(("path", "body"), LIMITS)
def test_native_top_logprobs_outside_0_to_20_is_a_400(fake, path: str, body: dict) -> None:
    reply = post(fake, path, **{"model": "llama3.2:3b", **body})
    assert reply.status_code == 400
    assert reply.json() == {"error": "top_logprobs must be between 0 and 20"}


# --- /v1 -------------------------------------------------------------------------------------


@pytest.fixture
def client(fake: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.openai_url, api_key="ollama", max_retries=0)


def test_v1_chat_logprobs_with_the_openai_sdk(client) -> None:
    done = client.chat.completions.create(
        model="llama3.2:3b", messages=HI, logprobs=True, top_logprobs=3
    )
    choice = done.choices[0]
    assert choice.logprobs is not None
    content = choice.logprobs.content or []
    assert "".join(t.token for t in content) == choice.message.content
    check_entries([t.model_dump(exclude_none=True) for t in content], 3)
    stream = client.chat.completions.create(
        model="llama3.2:3b", messages=HI, logprobs=True, top_logprobs=3, stream=True
    )
    streamed = [c for c in stream if c.choices and c.choices[0].logprobs]
    assert [c.choices[0].logprobs.content[0] for c in streamed] == content


def test_v1_top_logprobs_over_20_is_ollamas_400(client) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="llama3.2:3b", messages=HI, top_logprobs=21)
    assert refused.value.body == {
        "message": "top_logprobs must be between 0 and 20",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_v1_completions_accepts_logprobs_but_writes_none(fake, client) -> None:
    done = client.completions.create(model="llama3.2:3b", prompt="Why?", logprobs=5)
    assert done.choices[0].logprobs is None
    reply = httpx.post(
        fake.openai_url + "/completions",
        timeout=60,
        json={"model": "llama3.2:3b", "prompt": "Why?", "logprobs": 21},
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["message"] == "top_logprobs must be between 0 and 20"
