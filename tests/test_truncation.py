"""Ollama's silent context-window truncation (server/prompt.go chatPrompt + the runner, v0.12.6)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from mockserver.config import Settings
from mockserver.server import BackgroundServer, serving
from tests.conftest import REFERENCE_DATE

GPT = "gpt-oss:20b"
SYSTEM = {"role": "system", "content": "You are terse."}


def conversation(turns: int) -> list[dict[str, str]]:
    messages = [SYSTEM]
    for n in range(turns):
        messages.append({"role": "user", "content": f"Question {n}: " + "tell me more. " * 6})
        messages.append({"role": "assistant", "content": f"Answer {n}: " + "here is more. " * 6})
    messages.append({"role": "user", "content": "Final question: what did we discuss?"})
    return messages


def native(http: httpx.Client, messages: list, **extra) -> dict:
    body = {"model": GPT, "messages": messages, "stream": False, "options": {"num_ctx": 256}}
    body.update(extra)
    response = http.post("/api/chat", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def rendered(http: httpx.Client, messages: list, num_ctx: int = 256) -> str:
    body = {"model": GPT, "messages": messages, "options": {"num_ctx": num_ctx}}
    body["_debug_render_only"] = True
    return http.post("/api/chat", json=body).json()["_debug_info"]["rendered_template"]


@pytest.fixture
def http(fake: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, timeout=30) as client:
        yield client


def test_native_num_ctx_drops_oldest_turns(http: httpx.Client) -> None:
    counts = [native(http, conversation(turns))["prompt_eval_count"] for turns in range(8)]
    assert counts[0] < counts[1] < counts[2]  # grows while it fits
    assert all(count <= 256 for count in counts)
    assert max(counts) - min(counts[3:]) < 60  # then stops growing: old turns go
    long = conversation(10)
    text = rendered(http, long)
    assert "Question 0:" not in text and "Answer 0:" not in text  # the first turns dropped
    assert "Question 9:" in text  # recent history kept
    assert "# Instructions\n\nYou are terse.<|end|>" in text  # the system message kept
    assert text.endswith("Final question: what did we discuss?<|end|><|start|>assistant")
    # With a large window nothing is dropped.
    assert "Question 0:" in rendered(http, long, num_ctx=8192)


def test_truncation_is_silent_and_counts_match_render(http: httpx.Client) -> None:
    long = conversation(10)
    body = native(http, long)
    assert body["done_reason"] == "stop"
    assert body["prompt_eval_count"] <= 256
    # The reported count is the count of the truncated prompt, as rendered.
    from mockserver.engine.tokenizers import HarmonyTokenizer

    text = rendered(http, long)
    assert body["prompt_eval_count"] == len(HarmonyTokenizer().encode(text))


def test_system_messages_are_kept_wherever_they_are(http: httpx.Client) -> None:
    messages = conversation(6)
    messages.insert(3, {"role": "system", "content": "Mid-conversation rule."})
    text = rendered(http, messages)
    assert "Question 0:" not in text
    assert "You are terse.\n\nMid-conversation rule." in text


def test_token_level_truncation_caps_at_num_ctx(http: httpx.Client) -> None:
    huge = [SYSTEM, {"role": "user", "content": "word " * 600}]
    body = native(http, huge)
    assert body["prompt_eval_count"] == 256  # num_keep + the newest tokens: exactly num_ctx
    assert body["done_reason"] == "stop"
    # truncate:false: the runner refuses instead (400 from NewSequence, passed through).
    refused = http.post(
        "/api/chat",
        json={"model": GPT, "messages": huge, "stream": False, "truncate": False,
              "options": {"num_ctx": 256}},
    )  # fmt: skip
    assert refused.status_code == 400
    assert refused.json() == {"error": "the input length exceeds the context length"}


def test_generate_truncates_too(http: httpx.Client) -> None:
    body = {"model": GPT, "prompt": "word " * 600, "stream": False, "options": {"num_ctx": 128}}
    assert http.post("/api/generate", json=body).json()["prompt_eval_count"] == 128


def test_num_ctx_is_capped_at_trained_context(http: httpx.Client) -> None:
    http.post("/api/chat", json={"model": GPT, "options": {"num_ctx": 10_000_000}})
    entry = next(m for m in http.get("/api/ps").json()["models"] if m["name"] == GPT)
    assert entry["context_length"] == 131072


@pytest.mark.parametrize("how", ["settings", "env"])
def test_v1_follows_server_context_length(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if how == "env":
        monkeypatch.setenv("OLLAMA_CONTEXT_LENGTH", "256")
        settings = Settings(port=0, current_date=REFERENCE_DATE, seed=7)
    else:
        settings = Settings(port=0, current_date=REFERENCE_DATE, seed=7, num_ctx=256)
    with serving(settings) as server:
        client = openai.OpenAI(base_url=server.openai_url, api_key="ollama", max_retries=0)
        counts = []
        for turns in range(8):
            reply = client.chat.completions.create(model=GPT, messages=conversation(turns))
            counts.append(reply.usage.prompt_tokens)
        assert counts[0] < counts[1]
        assert all(count <= 256 for count in counts)
        assert max(counts) - min(counts[3:]) < 60
        # /v1 has no way to set num_ctx: an "options" field is ignored.
        reply = client.chat.completions.create(
            model=GPT, messages=conversation(10), extra_body={"options": {"num_ctx": 8192}}
        )
        assert reply.usage.prompt_tokens <= 256
        debug = httpx.post(
            f"{server.openai_url}/chat/completions",
            json={"model": GPT, "messages": conversation(10), "_debug_render_only": True},
        ).json()["_debug_info"]["rendered_template"]
        assert "Question 0:" not in debug and "You are terse." in debug


def test_default_context_is_4096(fake: BackgroundServer) -> None:
    from mockserver.engine.tokenizers import HarmonyTokenizer

    with httpx.Client(base_url=fake.url) as http:
        text = http.post(
            "/api/chat",
            json={"model": GPT, "messages": conversation(120), "_debug_render_only": True},
        ).json()["_debug_info"]["rendered_template"]
    count = len(HarmonyTokenizer().encode(text))
    assert 3900 < count <= 4096
    assert "Question 0:" not in text and "Question 119:" in text
