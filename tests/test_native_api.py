"""Ollama's native API on the fake, over real sockets: shapes, NDJSON streams, errors, SDK.

The behaviour is current Ollama's (ollama/ollama@fb3076099 = v0.33.0-rc2; the wire code is the
same as release v0.32.15); files named below are in that tree.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import ollama
import pytest

from mockserver.server import BackgroundServer

GPT = "gpt-oss:20b"
PLAIN = "llama3.2:3b"  # no thinking capability
HI = [{"role": "user", "content": "Hi"}]
JSON_CT = "application/json; charset=utf-8"
METRICS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)


@pytest.fixture
def http(fake: BackgroundServer) -> httpx.Client:
    with httpx.Client(base_url=fake.url, timeout=30) as client:
        yield client


def _lines(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.text.endswith("\n")
    return [json.loads(line) for line in response.text.splitlines()]


def _check_metrics(final: dict[str, Any]) -> None:
    assert all(isinstance(final[k], int) and final[k] > 0 for k in METRICS)
    parts = final["load_duration"] + final["prompt_eval_duration"] + final["eval_duration"]
    assert final["total_duration"] >= parts


def test_chat_stream_is_ndjson_token_by_token(http: httpx.Client) -> None:
    lines = _lines(http.post("/api/chat", json={"model": GPT, "messages": HI}))
    *partials, final = lines
    assert partials and all(p["done"] is False for p in partials)
    assert all(list(p) == ["model", "created_at", "message", "done"] for p in partials)
    thinking = [p for p in partials if "thinking" in p["message"]]
    content = [p for p in partials if p["message"]["content"]]
    assert thinking and content
    assert partials.index(thinking[-1]) < partials.index(content[0])  # reasoning first
    assert all(p["message"]["content"] == "" for p in thinking)
    assert list(final) == [
        "model", "created_at", "message", "done", "done_reason", *METRICS
    ]  # fmt: skip
    assert final["done"] is True and final["done_reason"] == "stop"
    assert final["message"] == {"role": "assistant", "content": ""}
    _check_metrics(final)


def test_chat_counts_equal_v1_usage(http: httpx.Client) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name three Canadian cities."},
    ]
    native = http.post("/api/chat", json={"model": GPT, "messages": messages, "stream": False})
    v1 = http.post("/v1/chat/completions", json={"model": GPT, "messages": messages}).json()
    body = native.json()
    assert native.headers["content-type"] == JSON_CT
    assert body["prompt_eval_count"] == v1["usage"]["prompt_tokens"]
    assert body["eval_count"] == v1["usage"]["completion_tokens"]
    assert body["message"]["content"] == v1["choices"][0]["message"]["content"]
    assert body["message"]["thinking"] == v1["choices"][0]["message"]["reasoning"]
    streamed = _lines(http.post("/api/chat", json={"model": GPT, "messages": messages}))
    text = "".join(line["message"]["content"] for line in streamed)
    assert text == body["message"]["content"]
    assert streamed[-1]["eval_count"] == body["eval_count"]


def test_generate_stream_and_context(http: httpx.Client) -> None:
    lines = _lines(http.post("/api/generate", json={"model": GPT, "prompt": "Hi"}))
    *partials, final = lines
    assert all(list(p)[:3] == ["model", "created_at", "response"] for p in partials)
    assert any("thinking" in p for p in partials)
    assert list(final) == [
        "model", "created_at", "response", "done", "done_reason", "context", *METRICS
    ]  # fmt: skip
    _check_metrics(final)
    chat = http.post("/api/chat", json={"model": GPT, "messages": HI, "stream": False}).json()
    assert final["prompt_eval_count"] == chat["prompt_eval_count"]
    # context: the prompt's tokens then the output's, without the final end-of-turn token
    assert len(final["context"]) == final["prompt_eval_count"] + final["eval_count"] - 1


def test_generate_system_and_raw(http: httpx.Client) -> None:
    def render(body: dict[str, Any]) -> str:
        response = http.post(
            "/api/generate", json={"model": GPT, "_debug_render_only": True, **body}
        )
        assert response.status_code == 200
        return response.json()["_debug_info"]["rendered_template"]

    with_system = render({"prompt": "Hi", "system": "Answer in French."})
    assert (
        "# Instructions\n\nAnswer in French.<|end|><|start|>user<|message|>Hi<|end|>" in with_system
    )
    assert render({"prompt": "<|start|>user<|message|>Hi", "raw": True}) == (
        "<|start|>user<|message|>Hi"
    )
    raw = http.post(
        "/api/generate",
        json={
            "model": GPT,
            "prompt": "<|start|>user<|message|>Hi<|end|>",
            "raw": True,
            "stream": False,
        },
    ).json()
    assert "context" not in raw
    assert raw["prompt_eval_count"] == 5  # <|start|> user <|message|> Hi <|end|>
    assert "<|channel|>final<|message|>" in raw["response"]  # no parser in raw mode


@pytest.mark.parametrize("path", ["/api/chat", "/api/generate"])
def test_render_only_native_shape(http: httpx.Client, path: str) -> None:
    key = {"messages": HI} if path == "/api/chat" else {"prompt": "Hi"}
    body = http.post(path, json={"model": GPT, "_debug_render_only": True, **key}).json()
    assert body["done"] is False
    assert "prompt_eval_count" not in body
    assert set(body["_debug_info"]) == {"rendered_template"}  # image_count is omitempty
    assert body["_debug_info"]["rendered_template"].endswith(
        "<|start|>user<|message|>Hi<|end|><|start|>assistant"
    )
    if path == "/api/chat":
        assert body["message"] == {"role": "", "content": ""}
    else:
        assert body["response"] == ""


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("/api/chat", {"messages": []}, "load"),
        ("/api/chat", {}, "load"),
        ("/api/chat", {"keep_alive": 0}, "unload"),
        ("/api/generate", {}, "load"),
        ("/api/generate", {"prompt": "", "keep_alive": "0s"}, "unload"),
    ],
)
def test_load_and_unload(http: httpx.Client, path: str, body: dict, reason: str) -> None:
    response = http.post(path, json={"model": GPT, **body})
    assert response.status_code == 200
    data = response.json()
    assert data["done"] is True and data["done_reason"] == reason
    assert "total_duration" not in data
    listed = [m["name"] for m in http.get("/api/ps").json()["models"]]
    assert (GPT in listed) == (reason == "load")


def test_num_predict_and_stop(http: httpx.Client) -> None:
    def chat(options: dict) -> dict:
        body = {"model": GPT, "messages": HI, "stream": False, "think": False, "options": options}
        return http.post("/api/chat", json=body).json()

    full = chat({})
    short = chat({"num_predict": 5})
    assert short["eval_count"] == 5 and short["done_reason"] == "length"
    stopped = chat({"stop": ["prompt tokens"], "seed": 3, "temperature": 0.2})
    assert stopped["done_reason"] == "stop"
    assert stopped["message"]["content"] == full["message"]["content"].split("prompt tokens")[0]
    assert stopped["eval_count"] < full["eval_count"]


CT = "content-type"


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/api/chat", b"", 400, "missing request body"),
        ("/api/generate", b"", 400, "missing request body"),
        ("/api/show", b"", 400, "missing request body"),
        ("/api/chat", b"{", 400, "unexpected EOF"),
        ("/api/chat", b"hope", 400, "invalid character 'h' looking for beginning of value"),
        # Go's scanner takes "n" as the start of null (scanner.go stateN).
        ("/api/chat", b"nope", 400, "invalid character 'o' in literal null (expecting 'u')"),
        ("/api/chat", b"[]", 400, "json: cannot unmarshal array into Go value of type api.ChatRequest"),  # noqa: E501
        ("/api/chat", b'{"model": 7}', 400,
         "json: cannot unmarshal number into Go struct field ChatRequest.model of type string"),
        ("/api/chat", b'{"model": "gpt-oss:20b", "messages": "hi"}', 400,
         "json: cannot unmarshal string into Go struct field ChatRequest.messages of type []api.Message"),  # noqa: E501
        ("/api/chat", b'{"model": "gpt-oss:20b", "messages": [{"role": "user", "content": 3}]}', 400,  # noqa: E501
         "json: cannot unmarshal number into Go struct field ChatRequest.messages.content of type string"),  # noqa: E501
        ("/api/chat", b'{"model": "gpt-oss:20b", "stream": "yes"}', 400,
         "json: cannot unmarshal string into Go struct field ChatRequest.stream of type bool"),
        ("/api/generate", b'{"model": "gpt-oss:20b", "prompt": ["a"]}', 400,
         "json: cannot unmarshal array into Go struct field GenerateRequest.prompt of type string"),
        # An element of a list: Go names the element's type; a number that is not a 64-bit
        # integer is quoted (decode.go literalStore; checked with Go's encoding/json).
        ("/api/generate", b'{"model": "gpt-oss:20b", "context": ["a"]}', 400,
         "json: cannot unmarshal string into Go struct field GenerateRequest.context of type int"),
        ("/api/generate", b'{"model": "gpt-oss:20b", "context": [1.5]}', 400,
         "json: cannot unmarshal number 1.5 into Go struct field GenerateRequest.context of type int"),  # noqa: E501
        ("/api/generate", b'{"model": "gpt-oss:20b", "context": [9223372036854775808]}', 400,
         "json: cannot unmarshal number 9223372036854775808 into Go struct field GenerateRequest.context of type int"),  # noqa: E501
        ("/api/chat", b'{"model": "gpt-oss:20b", "top_logprobs": 18446744073709551615}', 400,
         "json: cannot unmarshal number 18446744073709551615 into Go struct field ChatRequest.top_logprobs of type int"),  # noqa: E501
        # A context id outside the vocabulary: llama-server's /detokenize fails, and
        # GenerateHandler answers the runner's error with 500 (llm/llama_server.go).
        ("/api/generate", b'{"model": "gpt-oss:20b", "prompt": "hi", "context": [-1]}', 500,
         "detokenize error: invalid token id -1"),
        # api/types.go ThinkValue.UnmarshalJSON: "max" is a level since v0.22.
        ("/api/chat", b'{"model": "gpt-oss:20b", "think": "ultra"}', 400,
         'invalid think value: "ultra" (must be "high", "medium", "low", "max", true, or false)'),
        ("/api/chat", b'{"model": "gpt-oss:20b", "think": 1}', 400,
         'think must be a boolean or string ("high", "medium", "low", "max", true, or false)'),
        ("/api/chat", b'{"model": "gpt-oss:20b", "top_logprobs": 21}', 400,
         "top_logprobs must be between 0 and 20"),
        ("/api/generate", b'{"model": "nope", "top_logprobs": -1}', 400,
         "top_logprobs must be between 0 and 20"),
        ("/api/chat", b'{"model": "gpt-oss:20b", "keep_alive": "soon"}', 400,
         'time: invalid duration "soon"'),
        ("/api/chat", b'{"model": "gpt-oss:20b", "keep_alive": true}', 400, "Unsupported type: 'bool'"),  # noqa: E501
        ("/api/chat", b"{}", 400, "model is required"),
        ("/api/chat", b'{"model": "  "}', 400, "model is required"),
        ("/api/chat", b'{"model": "nope:1b"}', 404, "model 'nope:1b' not found"),
        # parseAndValidateModelRef (server/model_resolver.go): types/model/name.go rules.
        ("/api/chat", b'{"model": "a b"}', 400, "invalid model name"),
        ("/api/generate", b'{"model": "x:y:z"}', 400, "invalid model name"),
        ("/api/show", b'{"model": "-x"}', 400, "invalid model name"),
        # GenerateHandler words an empty name as not found (writeModelRefParseError fallback).
        ("/api/generate", b"{}", 404, "model '' not found"),
        ("/api/generate", b'{"model": "nope"}', 404, "model 'nope' not found"),
        ("/api/generate", b'{"model": "gpt-oss:20b", "prompt": "x", "raw": true, "system": "s"}', 400,  # noqa: E501
         "raw mode does not support template, system, or context"),
        ("/api/show", b"{}", 400, "model is required"),
        ("/api/show", b'{"model": "  "}', 400, "model is required"),
        # ShowHandler reports the name re-spelled by getExistingName + DisplayShortest.
        ("/api/show", b'{"model": "nope"}', 404, "model 'nope:latest' not found"),
        ("/api/show", b'{"model": "LLAMA3.2:70B"}', 404, "model 'llama3.2:70B' not found"),
        ("/api/show", b'{"verbose": "yes"}', 400,
         "json: cannot unmarshal string into Go struct field ShowRequest.verbose of type bool"),
        # Options are applied by scheduleRunner; Ollama reports their type errors with 500
        # (handleScheduleError's default branch), and so does the fake.
        ("/api/chat", b'{"model": "gpt-oss:20b", "options": {"num_ctx": "big"}}', 500,
         'option "num_ctx" must be of type integer'),
        ("/api/chat", b'{"model": "gpt-oss:20b", "options": {"stop": [1]}}', 500,
         'option "stop" must be of an array of strings'),
        ("/api/chat", b'{"model": "gpt-oss:20b", "options": {"draft_num_predict": "x"}}', 500,
         'option "draft_num_predict" must be of type integer'),
        ("/api/chat", b'{"model": "llama3.2:3b", "think": true, "messages": []}', 400,
         '"llama3.2:3b" does not support thinking'),
        # Any level on a model without thinking is the capability error (GenerateHandler); the
        # v0.12 'think value "low" is not supported for this model' check is gone.
        ("/api/generate", b'{"model": "llama3.2:3b", "think": "low", "prompt": "x"}', 400,
         '"llama3.2:3b" does not support thinking'),
        ("/api/chat", b'{"model": "llama3.2:3b", "think": "max", "messages": []}', 400,
         '"llama3.2:3b" does not support thinking'),
        ("/api/chat", b'{"model": "gemma3:4b", "tools": [{"type": "function"}], "messages": []}', 400,  # noqa: E501
         "registry.ollama.ai/library/gemma3:4b does not support tools"),
    ],
)  # fmt: skip
def test_native_errors(
    http: httpx.Client, path: str, body: bytes, status: int, message: str
) -> None:
    if b'"llama3.2:3b"' in body or b'"gemma3:4b"' in body:
        models = {m["name"] for m in http.get("/api/tags").json()["models"]}
        if not {"llama3.2:3b", "gemma3:4b"} <= models:
            pytest.skip("needs the non-thinking / no-tools families")
    response = http.post(path, content=body)
    assert response.status_code == status
    assert response.headers[CT] == JSON_CT
    assert response.json() == {"error": message}


# Go's RFC 3339 with nanoseconds (trailing zeros cut) and the local offset ("Z" for UTC).
GO_LOCAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")


def test_tags_entries(http: httpx.Client) -> None:
    """``server/model_list_cache.go``: details gain the GGUF's context and embedding lengths,
    then the capabilities follow (all omitempty); modified_at is the manifest's ModTime."""
    entry = next(m for m in http.get("/api/tags").json()["models"] if m["name"] == GPT)
    assert list(entry) == [
        "name", "model", "modified_at", "size", "digest", "details", "capabilities"
    ]  # fmt: skip
    assert list(entry["details"]) == [
        "parent_model", "format", "family", "families", "parameter_size", "quantization_level",
        "context_length", "embedding_length",
    ]  # fmt: skip
    assert entry["details"]["context_length"] == 131072
    assert entry["details"]["embedding_length"] == 2880
    assert entry["capabilities"] == ["completion", "tools", "thinking"]
    assert GO_LOCAL_TIME.fullmatch(entry["modified_at"])
    shown = http.post("/api/show", json={"model": GPT}).json()
    assert shown["modified_at"] == entry["modified_at"]
    assert "context_length" not in shown["details"]  # GetModelInfo does not fill it


def test_version_is_current_ollama(http: httpx.Client) -> None:
    # The newest release at ollama/ollama@fb3076099 (tagged v0.33.0-rc2; its server, api,
    # openai, middleware and llm code is unchanged since v0.32.15).
    assert http.get("/api/version").json() == {"version": "0.32.15"}


def test_native_tool_calls_carry_ids() -> None:
    """ChatHandler gives each parsed call an id (toolCallId, server/routes.go), which /v1
    passes on (openai.ToToolCalls); api.ToolCall serialises it first."""
    from mockserver.engine.chat import ToolCall
    from mockserver.wire.ollama import native_tool_calls

    calls = (ToolCall(name="get_weather", arguments={"city": "Paris"}),)
    assert native_tool_calls(calls, ["call_abc12345"]) == [
        {
            "id": "call_abc12345",
            "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}},
        }
    ]


def test_wrong_method_and_path(http: httpx.Client) -> None:
    assert http.get("/api/show").status_code == 405
    assert http.post("/api/nothing").status_code == 404


def test_show(http: httpx.Client) -> None:
    body = http.post("/api/show", json={"model": "GPT-OSS:20B"}).json()
    assert list(body) == [
        "license", "modelfile", "parameters", "template", "details", "model_info", "tensors",
        "capabilities", "modified_at",
    ]  # fmt: skip
    assert body["capabilities"] == ["completion", "tools", "thinking"]
    assert body["model_info"]["gptoss.context_length"] == 131072
    assert body["model_info"]["general.architecture"] == "gptoss"
    assert body["parameters"] == "temperature                    1"
    assert body["template"].startswith("<|start|>system<|message|>You are ChatGPT")
    assert body["modelfile"].startswith('# Modelfile generated by "ollama show"\n')
    assert '\nTEMPLATE """<|start|>system' in body["modelfile"]
    assert body["details"]["family"] == "gptoss"
    assert {"name", "type", "shape"} == set(body["tensors"][0])
    assert http.post("/api/show", json={"name": GPT}).status_code == 200  # deprecated field
    assert http.post("/api/show", json={"model": GPT, "system": "S"}).json()["system"] == "S"


def test_ps_lists_loaded_models(http: httpx.Client) -> None:
    http.post(
        "/api/generate", json={"model": GPT, "keep_alive": "10m", "options": {"num_ctx": 8192}}
    )
    models = http.get("/api/ps").json()["models"]
    entry = next(m for m in models if m["name"] == GPT)
    assert list(entry) == [
        "name", "model", "size", "digest", "details", "expires_at", "size_vram", "context_length"
    ]  # fmt: skip
    assert entry["context_length"] == 8192
    assert "context_length" not in entry["details"]  # PsHandler fills five detail fields
    assert GO_LOCAL_TIME.fullmatch(entry["expires_at"])
    http.post("/api/generate", json={"model": GPT, "keep_alive": 0})
    assert GPT not in [m["name"] for m in http.get("/api/ps").json()["models"]]


def test_official_ollama_client(fake: BackgroundServer) -> None:
    client = ollama.Client(host=fake.url)
    reply = client.chat(model=GPT, messages=HI, think="high")
    assert reply.message.content and reply.message.thinking
    assert reply.prompt_eval_count and reply.eval_count and reply.total_duration
    parts = list(client.chat(model=GPT, messages=HI, stream=True))
    assert parts[-1].done and "".join(p.message.content for p in parts) == reply.message.content
    generated = client.generate(model=GPT, prompt="Hi", think=False)
    assert generated.response and not generated.thinking and generated.context
    streamed = list(client.generate(model=GPT, prompt="Hi", stream=True))
    assert streamed[-1].done and streamed[-1].context
    shown = client.show(GPT)
    assert shown.capabilities == ["completion", "tools", "thinking"]
    assert shown.modelinfo["gptoss.context_length"] == 131072
    assert GPT in [m.model for m in client.list().models]
    assert GPT in [m.model for m in client.ps().models]
    with pytest.raises(ollama.ResponseError) as error:
        client.chat(model="nope:1b", messages=HI)
    assert error.value.status_code == 404 and error.value.error == "model 'nope:1b' not found"


def test_tool_calls_native(http: httpx.Client) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "content": "sunny", "tool_name": "get_weather"},
    ]
    body = {"model": GPT, "messages": messages, "tools": tools, "_debug_render_only": True}
    rendered = http.post("/api/chat", json=body).json()["_debug_info"]["rendered_template"]
    assert (
        "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
        in rendered
    )
    assert "<|start|>functions.get_weather to=assistant<|message|>sunny<|end|>" in rendered
