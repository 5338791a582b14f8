"""``POST /v1/completions`` as Ollama's openai layer serves it, with the official SDK."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

PROMPT = "How's your day today?"  # reference case L1: 31 prompt tokens on llama3.2


@pytest.fixture
def base_url(fake) -> str:
    return fake.openai_url


def test_completion_counts_as_generate_does(client, fake) -> None:
    reply = client.completions.create(model="llama3.2:3b", prompt=PROMPT)
    native = httpx.post(
        fake.url + "/api/generate", json={"model": "llama3.2:3b", "prompt": PROMPT, "stream": False}
    ).json()
    assert reply.usage.prompt_tokens == native["prompt_eval_count"] == 31
    assert reply.usage.completion_tokens == native["eval_count"]
    assert reply.choices[0].text == native["response"]
    assert (reply.object, reply.model, reply.system_fingerprint) == (
        "text_completion",
        "llama3.2:3b",
        "fp_ollama",
    )
    assert reply.id.startswith("cmpl-") and reply.choices[0].finish_reason == "stop"


def test_max_tokens_and_stop(client) -> None:
    cut = client.completions.create(model="llama3.2:3b", prompt="Say hi", max_tokens=3)
    assert (cut.usage.completion_tokens, cut.choices[0].finish_reason) == (3, "length")
    stopped = client.completions.create(model="llama3.2:3b", prompt="Say hi", stop="request")
    assert "request" not in stopped.choices[0].text


def test_stream_frames_and_usage(client) -> None:
    chunks = list(
        client.completions.create(
            model="llama3.2:3b",
            prompt="Say hi",
            max_tokens=4,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    texts = [c.choices[0].text for c in chunks if c.choices]
    assert len(texts) == 5 and texts[-1] == ""  # four tokens, then the finish frame
    assert chunks[-2].choices[0].finish_reason == "length"
    assert all(c.usage.total_tokens == 0 for c in chunks[:-1])  # zero usage on every frame
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4


def test_raw_stream_ends_with_done(base_url) -> None:
    reply = httpx.post(
        base_url + "/completions", json={"model": "llama3.2:3b", "prompt": "Hi", "stream": True}
    )
    assert reply.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in reply.text.split("\n\n") if f]
    assert frames[-1] == "data: [DONE]"
    first = json.loads(frames[0].removeprefix("data: "))
    assert list(first) == ["id", "object", "created", "choices", "model", "system_fingerprint"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"model": "llama3.2:3b", "prompt": ["a"]}, 400,
         "json: cannot unmarshal array into Go struct field CompletionRequest.prompt"
         " of type string"),
        ({"model": "llama3.2:3b", "prompt": "a", "stop": [1]}, 400,
         "invalid type for 'stop' field: float64"),
        ({"model": "nope", "prompt": "a"}, 404, "model 'nope' not found"),
        ({"model": "", "prompt": "a"}, 404, "model '' not found"),
        ({"model": "llama3.2:3b", "prompt": "a", "suffix": "b"}, 400,
         "registry.ollama.ai/library/llama3.2:3b does not support insert"),
    ],
)  # fmt: skip
def test_errors(base_url, body, status, message) -> None:
    reply = httpx.post(base_url + "/completions", json=body)
    assert (reply.status_code, reply.json()["error"]["message"]) == (status, message)


def test_empty_prompt_loads(base_url) -> None:
    reply = httpx.post(base_url + "/completions", json={"model": "llama3.2:3b"}).json()
    assert reply["choices"] == [{"text": "", "index": 0, "finish_reason": "load"}]
    assert reply["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def test_sdk_sees_an_unknown_model_as_not_found(client) -> None:
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="nope", prompt="x")
