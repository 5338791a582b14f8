"""The fake's OpenAI surface (/v1), over a real socket, as current Ollama shapes it."""

from __future__ import annotations

import json
import re

import httpx
import openai
import pytest

from mockserver.engine.tokenizers import HarmonyTokenizer

MODEL = "gpt-oss:20b"
CITIES = [{"role": "user", "content": "Name three Canadian cities."}]


def post(fake, body, **kwargs) -> httpx.Response:
    content = body if isinstance(body, bytes | str) else json.dumps(body)
    return httpx.post(f"{fake.openai_url}/chat/completions", content=content, **kwargs)


def sse_events(response: httpx.Response) -> list[str]:
    frames = response.text.split("\n\n")
    assert frames[-1] == "", "a stream ends with a blank line"
    assert all(frame.startswith("data: ") for frame in frames[:-1])
    return [frame.removeprefix("data: ") for frame in frames[:-1]]


# --- non-streaming ------------------------------------------------------------------------------


def test_a_completion_is_shaped_like_ollamas(fake):
    response = post(fake, {"model": MODEL, "messages": CITIES})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content.endswith(b"}\n"), "Go's json.Encoder ends the body with a newline"
    body = response.json()
    assert list(body) == [
        "id",
        "object",
        "created",
        "model",
        "system_fingerprint",
        "choices",
        "usage",
    ]
    assert re.fullmatch(r"chatcmpl-\d{1,3}", body["id"])
    assert body["object"] == "chat.completion"
    assert body["system_fingerprint"] == "fp_ollama"
    (choice,) = body["choices"]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert "Toronto" in choice["message"]["content"]
    usage = body["usage"]
    assert list(usage) == ["prompt_tokens", "completion_tokens", "total_tokens"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_the_model_is_echoed_exactly_as_sent(fake):
    body = post(fake, {"model": "GPT-OSS:20B", "messages": CITIES}).json()
    assert body["model"] == "GPT-OSS:20B"


def test_the_sdk_reads_content_reasoning_and_usage(client):
    response = client.chat.completions.create(model=MODEL, messages=CITIES)
    message = response.choices[0].message
    assert message.content.startswith("Here are three Canadian cities")
    assert message.model_extra["reasoning"], "gpt-oss answers carry message.reasoning"
    assert response.usage.prompt_tokens > 0


def test_completion_tokens_count_reasoning_answer_and_harmony_control_tokens(client):
    response = client.chat.completions.create(model=MODEL, messages=CITIES)
    message = response.choices[0].message
    emitted = (
        "<|channel|>analysis<|message|>"
        + message.model_extra["reasoning"]
        + "<|end|><|start|>assistant<|channel|>final<|message|>"
        + message.content
        + "<|return|>"
    )
    assert response.usage.completion_tokens == len(HarmonyTokenizer().encode(emitted))


def test_max_tokens_cuts_the_completion_with_finish_reason_length(client):
    response = client.chat.completions.create(model=MODEL, messages=CITIES, max_tokens=5)
    assert response.choices[0].finish_reason == "length"
    assert response.usage.completion_tokens == 5


def test_render_only_returns_the_rendered_prompt(fake):
    body = post(fake, {"model": MODEL, "messages": CITIES, "_debug_render_only": True}).json()
    assert list(body["_debug_info"]) == ["rendered_template"]  # image_count is omitempty
    rendered = body["_debug_info"]["rendered_template"]
    assert rendered.startswith("<|start|>system<|message|>You are ChatGPT")
    assert "Current date: 2026-03-23" in rendered
    assert rendered.endswith(
        "<|start|>user<|message|>Name three Canadian cities.<|end|><|start|>assistant"
    )
    assert body["choices"][0] == {
        "index": 0,
        "message": {"role": "", "content": ""},
        "finish_reason": None,
    }


# --- streaming ----------------------------------------------------------------------------------


def test_a_stream_without_include_usage_has_no_usage_anywhere(fake):
    response = post(fake, {"model": MODEL, "messages": CITIES, "stream": True})
    assert response.headers["content-type"] == "text/event-stream"
    events = sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert all("usage" not in chunk for chunk in chunks)
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert len({chunk["created"] for chunk in chunks}) == 1
    first, *middle, finish = chunks
    assert first["choices"][0]["delta"]["role"] == "assistant"
    assert all("role" not in chunk["choices"][0]["delta"] for chunk in [*middle, finish])
    assert all(chunk["choices"][0]["finish_reason"] is None for chunk in [first, *middle])
    assert finish["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]


def test_a_stream_with_include_usage_ends_with_one_usage_chunk_equal_to_the_plain_call(fake):
    plain = post(fake, {"model": MODEL, "messages": CITIES}).json()
    response = post(
        fake,
        {
            "model": MODEL,
            "messages": CITIES,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    events = sse_events(response)
    chunks = [json.loads(event) for event in events[:-1]]
    *content_chunks, finish, usage_chunk = chunks
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == plain["usage"]
    assert all("usage" not in chunk for chunk in [*content_chunks, finish])
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in content_chunks)
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning", "") for c in content_chunks)
    assert text == plain["choices"][0]["message"]["content"]
    assert reasoning == plain["choices"][0]["message"]["reasoning"]


def test_reasoning_chunks_carry_an_empty_content_and_content_chunks_no_reasoning(fake):
    events = sse_events(post(fake, {"model": MODEL, "messages": CITIES, "stream": True}))
    deltas = [json.loads(e)["choices"][0]["delta"] for e in events[:-1]][:-1]
    thinking = [d for d in deltas if "reasoning" in d]
    speaking = [d for d in deltas if "reasoning" not in d]
    assert thinking and speaking
    assert all(d["content"] == "" for d in thinking)
    assert deltas.index(thinking[-1]) < deltas.index(speaking[0]), "reasoning streams first"


def test_the_sdk_streams_with_usage(client):
    stream = client.chat.completions.create(
        model=MODEL, messages=CITIES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert all(chunk.usage is None for chunk in chunks[:-1])


# --- models -------------------------------------------------------------------------------------


def test_models_lists_what_the_fake_has_pulled(client, fake):
    ids = [model.id for model in client.models.list()]
    assert MODEL in ids
    assert {model.owned_by for model in client.models.list()} == {"library"}
    assert ids == [card.name for card in fake.app.state.engine.catalog]


def test_a_model_can_be_retrieved_and_echoes_the_path(client):
    model = client.models.retrieve(MODEL)
    assert (model.id, model.object, model.owned_by) == (MODEL, "model", "library")


def test_retrieving_an_unknown_model_is_a_404(client):
    with pytest.raises(openai.NotFoundError) as raised:
        client.models.retrieve("no-such-model:1b")
    assert raised.value.body["message"] == "model 'no-such-model:1b' not found"
    # RetrieveMiddleware runs ShowHandler, which re-spells the name (getExistingName,
    # DisplayShortest in server/routes.go) before reporting it: the default tag appears.
    with pytest.raises(openai.NotFoundError) as raised:
        client.models.retrieve("no-such-model")
    assert raised.value.body["message"] == "model 'no-such-model:latest' not found"
    assert raised.value.body["type"] == "not_found_error"


# --- errors -------------------------------------------------------------------------------------

ERRORS = [
    # (case, body, status, type, message)
    ("empty body", b"", 400, "invalid_request_error", "EOF"),
    ("truncated JSON", b'{"model": "x"', 400, "invalid_request_error", "unexpected EOF"),
    (
        "not JSON",
        b"hello",
        400,
        "invalid_request_error",
        "invalid character 'h' looking for beginning of value",
    ),
    (
        "a JSON array",
        b"[]",
        400,
        "invalid_request_error",
        "json: cannot unmarshal array into Go value of type openai.ChatCompletionRequest",
    ),
    (
        "messages is a string",
        {"model": MODEL, "messages": "hi"},
        400,
        "invalid_request_error",
        "json: cannot unmarshal string into Go struct field ChatCompletionRequest.messages "
        "of type []openai.Message",
    ),
    (
        "missing messages",
        {"model": MODEL},
        400,
        "invalid_request_error",
        "[] is too short - 'messages'",
    ),
    (
        "empty messages",
        {"model": MODEL, "messages": []},
        400,
        "invalid_request_error",
        "[] is too short - 'messages'",
    ),
    (
        "numeric content",
        {"model": MODEL, "messages": [{"role": "user", "content": 2}]},
        400,
        "invalid_request_error",
        "invalid message content type: float64",
    ),
    (
        "null content",
        {"model": MODEL, "messages": [{"role": "user", "content": None}]},
        400,
        "invalid_request_error",
        "invalid message content type: <nil>",
    ),
    (
        "role is a number",
        {"model": MODEL, "messages": [{"role": 1, "content": "x"}]},
        400,
        "invalid_request_error",
        "json: cannot unmarshal number into Go struct field ChatCompletionRequest.messages.role "
        "of type string",
    ),
    (
        "fractional max_tokens",
        {"model": MODEL, "messages": CITIES, "max_tokens": 1.5},
        400,
        "invalid_request_error",
        "json: cannot unmarshal number 1.5 into Go struct field ChatCompletionRequest.max_tokens "
        "of type int",
    ),
    (
        "stream is a string",
        {"model": MODEL, "messages": CITIES, "stream": "yes"},
        400,
        "invalid_request_error",
        "json: cannot unmarshal string into Go struct field ChatCompletionRequest.stream "
        "of type bool",
    ),
    (
        "temperature is a string",
        {"model": MODEL, "messages": CITIES, "temperature": "hot"},
        400,
        "invalid_request_error",
        "json: cannot unmarshal string into Go struct field ChatCompletionRequest.temperature "
        "of type float64",
    ),
    (
        "unknown reasoning effort",
        {"model": MODEL, "messages": CITIES, "reasoning_effort": "extreme"},
        400,
        "invalid_request_error",
        'invalid reasoning value: "extreme" (must be "minimal", "low", "medium", "high", "xhigh", '
        '"ultra", "max", or "none")',
    ),
    (
        "tool arguments not a string",
        {
            "model": MODEL,
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": {"a": 1}},
                        }
                    ],
                }
            ],
        },
        400,
        "invalid_request_error",
        "invalid tool call arguments",
    ),
    (
        "http image URL",
        {
            "model": MODEL,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
                    ],
                }
            ],
        },
        400,
        "invalid_request_error",
        "image URLs are not currently supported, please use base64 encoded data instead",
    ),
    (
        "unknown part type",
        {"model": MODEL, "messages": [{"role": "user", "content": [{"type": "x"}]}]},
        400,
        "invalid_request_error",
        "invalid message format",
    ),
    (
        "tool properties as an array",
        {
            "model": MODEL,
            "messages": CITIES,
            "tools": [
                {
                    "type": "function",
                    "function": {"name": "f", "parameters": {"type": "object", "properties": []}},
                }
            ],
        },
        400,
        "invalid_request_error",
        "json: cannot unmarshal array into Go struct field ChatCompletionRequest.tools.function."
        "parameters.properties of type map[string]api.ToolProperty",
    ),
    (
        "empty model",
        {"model": "", "messages": CITIES},
        400,
        "invalid_request_error",
        "model is required",
    ),
    (
        "unknown model",
        {"model": "llama9:70b", "messages": CITIES},
        404,
        "not_found_error",
        "model 'llama9:70b' not found",
    ),
    (
        "invalid model name",
        {"model": "llama 9", "messages": CITIES},
        400,
        "invalid_request_error",
        "invalid model name",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "kind", "message"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_bad_requests_get_ollamas_status_and_an_openai_shaped_error(
    fake, body, status, kind, message
):
    response = post(fake, body)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "error": {"message": message, "type": kind, "param": None, "code": None}
    }


def test_errors_before_streaming_are_plain_json_even_when_streaming(fake):
    response = post(fake, {"model": "nope:1b", "messages": CITIES, "stream": True})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


def test_the_sdk_raises_not_found_for_an_unknown_model(client):
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope:1b", messages=CITIES)


def test_the_sdk_raises_bad_request_for_empty_messages(client):
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL, messages=[])


def test_unknown_paths_and_methods_answer_like_gin(fake):
    missing = httpx.get(f"{fake.url}/v1/nothing-here")
    assert (missing.status_code, missing.text) == (404, "404 page not found")
    wrong = httpx.get(f"{fake.openai_url}/chat/completions")
    assert (wrong.status_code, wrong.text) == (405, "405 method not allowed")
