"""Post 1's count next to Post 2's (``two_models``): the same gpt-oss conversation rendered by
Ollama's Harmony renderer and by llama.cpp's Jinja template, counted and diffed."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from lab.series import renderings
from lab.series.experiments import FIVE_TURN, PROMPT
from lab.series.targets import Backend
from mockserver.config import Settings
from mockserver.server import BackgroundServer, serving

DATE = "2026-01-15"


@pytest.fixture(scope="module")
def twin() -> Iterator[Backend]:
    settings = Settings(port=0, flavor="llama-server", llama_model="gpt-oss", alias="gpt-oss",
                        current_date=DATE)  # fmt: skip
    with serving(settings) as server:
        yield Backend("gpt-oss", server.url)


@pytest.fixture(scope="module")
def ollama() -> Iterator[BackgroundServer]:
    with serving(Settings(port=0, models=("gpt-oss:20b",), current_date=DATE)) as server:
        yield server


@pytest.fixture(scope="module")
def rows(twin) -> dict[str, dict]:
    return {r["conversation"]: r for r in renderings.compare(twin, PROMPT, FIVE_TURN, 30)}


@pytest.mark.parametrize(
    ("conversation", "ollama", "llama_cpp", "same_text"),
    [
        ("Post 2's prompt", 77, 77, True),
        ("Post 1's 5-turn conversation", 139, 139, True),
        # Ollama opens the developer message with a blank line; the Jinja template ends it
        # with one: the same characters, placed differently, tokenize into one token more
        ("with a system message", 90, 89, False),
    ],
)
def test_the_two_renderers_side_by_side(rows, conversation, ollama, llama_cpp, same_text):
    row = rows[conversation]
    assert (row["ollama_prompt_tokens"], row["llama_cpp_prompt_tokens"]) == (ollama, llama_cpp)
    assert row["identical_text"] is same_text
    assert bool(row["differing_parts"]) is not same_text


def test_the_differing_parts_are_what_each_renderer_wrote(rows):
    parts = rows["with a system message"]["differing_parts"]
    ollama = rows["with a system message"]["ollama_prompt"]
    llama_cpp = rows["with a system message"]["llama_cpp_prompt"]
    assert "<|start|>developer<|message|>\n\n# Instructions" in ollama
    assert "<|start|>developer<|message|># Instructions" in llama_cpp
    assert "Answer in one sentence.\n\n<|end|>" in llama_cpp
    assert [(p["ollama"], p["llama_cpp"]) for p in parts] == [("\n\n", ""), ("", "\n\n")]


def test_the_ollama_side_is_what_the_fake_ollama_counts(rows, ollama):
    """The in-process rendering is the Ollama flavor's own usage.prompt_tokens on /v1."""
    for label, messages in renderings.conversations(PROMPT, FIVE_TURN):
        body = {"model": "gpt-oss:20b", "messages": messages}
        usage = httpx.post(f"{ollama.url}/v1/chat/completions", json=body, timeout=60).json()
        assert usage["usage"]["prompt_tokens"] == rows[label]["ollama_prompt_tokens"]


def test_the_llama_cpp_side_is_the_backends_usage(rows, twin):
    body = {"model": "gpt-oss", "messages": [{"role": "user", "content": PROMPT}]}
    answer = httpx.post(f"{twin.url}/v1/chat/completions", json=body, timeout=60).json()
    assert answer["usage"]["prompt_tokens"] == rows["Post 2's prompt"]["llama_cpp_prompt_tokens"]


def test_a_backend_without_a_harmony_template_is_not_compared():
    settings = Settings(port=0, flavor="llama-server", llama_model="qwen3.5", alias="qwen3.5")
    with serving(settings) as server:
        assert not renderings.is_gpt_oss(Backend("qwen3.5", server.url), 10)
