"""Tool calls on the llama-server twin, as ``llama-server --jinja`` parses them per format
(gpt-oss: Harmony, one call; Qwen3.5: ``<tool_call>`` XML, parallel by default), driven by the
openai SDK's own tool loop; counts are the GGUF template's rendering of the calls."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from openai import OpenAI

from mockserver.config import Settings
from mockserver.server import BackgroundServer, serving

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "the city"}},
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Get the local time in a timezone",
        "parameters": {
            "type": "object",
            "properties": {"timezone": {"type": "string"}},
            "required": ["timezone"],
        },
    },
}
QUESTION = "What is the weather in Paris and in Ottawa?"


def _serve(model: str) -> Iterator[BackgroundServer]:
    settings = Settings(port=0, flavor="llama-server", llama_model=model, alias=model,
                        current_date="2026-01-15")  # fmt: skip
    with serving(settings) as server:
        yield server


@pytest.fixture(scope="module")
def gpt_oss() -> Iterator[BackgroundServer]:
    yield from _serve("gpt-oss")


@pytest.fixture(scope="module")
def qwen() -> Iterator[BackgroundServer]:
    yield from _serve("qwen3.5")


def _client(server: BackgroundServer) -> OpenAI:
    return OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)


def _weather(city: str) -> str:
    return json.dumps({"city": city, "temperature": 21})


def _tool_loop(client: OpenAI, model: str, **extra) -> tuple[list, list]:
    """The SDK's loop: ask, run every call, send the results back, until a text answer."""
    messages: list = [{"role": "user", "content": QUESTION}]
    answers = []
    for _ in range(4):
        answer = client.chat.completions.create(model=model, messages=messages,
                                                tools=[WEATHER, TIME], **extra)  # fmt: skip
        answers.append(answer)
        message = answer.choices[0].message
        if not message.tool_calls:
            break
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            city = json.loads(call.function.arguments)["city"]
            messages.append({"role": "tool", "tool_call_id": call.id, "content": _weather(city)})
    return messages, answers


@pytest.mark.parametrize(
    ("model", "calls", "arguments"),
    [
        # gpt-oss.cpp parses one call per answer; the JSON as the model wrote it (tojson)
        ("gpt_oss", 1, ['{"city": "Paris"}']),
        # qwen3-coder.cpp: every <tool_call> block; arguments rebuilt as compact JSON
        ("qwen", 2, ['{"city":"Paris"}', '{"city":"Ottawa"}']),
    ],
)
def test_the_sdk_tool_loop_runs_to_a_text_answer(model, calls, arguments, request):
    server = request.getfixturevalue(model)
    _, answers = _tool_loop(_client(server), model)
    first, last = answers[0], answers[-1]
    assert first.choices[0].finish_reason == "tool_calls"
    made = first.choices[0].message.tool_calls
    assert [c.function.arguments for c in made] == arguments
    assert all(c.type == "function" and c.function.name == "get_weather" for c in made)
    assert all(len(c.id) == 32 and c.id.isalnum() for c in made)
    assert first.choices[0].message.content == ""
    assert last.choices[0].finish_reason == "stop"
    assert "get_weather says: city " in last.choices[0].message.content
    assert len(made) == calls


@pytest.mark.parametrize("model", ["gpt_oss", "qwen"])
def test_usage_counts_the_calls_as_the_template_renders_them(model, request):
    """The tool-result turn's prompt is the template's rendering of the call and its result:
    prompt_tokens equals /apply-template tokenized, and the call's tokens are in it."""
    server = request.getfixturevalue(model)
    messages, answers = _tool_loop(_client(server), model)
    body = {"messages": messages, "tools": [WEATHER, TIME]}
    prompt = httpx.post(f"{server.url}/apply-template", json=body).json()["prompt"]
    ids = httpx.post(f"{server.url}/tokenize",
                     json={"content": prompt, "add_special": True}).json()["tokens"]  # fmt: skip
    assert answers[-1].usage.prompt_tokens == len(ids)
    assert "get_weather" in prompt and "temperature" in prompt


def test_harmony_call_text_is_what_gpt_oss_writes(gpt_oss):
    body = {"messages": [{"role": "user", "content": QUESTION}], "tools": [WEATHER]}
    answer = httpx.post(f"{gpt_oss.url}/v1/chat/completions", json=body).json()
    prompt = httpx.post(f"{gpt_oss.url}/apply-template", json=body).json()["prompt"]
    assert prompt.endswith("<|start|>assistant")
    # the call the model wrote, re-rendered by the template in the next turn: same text
    again = {**body, "messages": [*body["messages"], answer["choices"][0]["message"]]}
    again["messages"].append({"role": "tool", "content": "{}", "tool_call_id": "x"})
    rendered = httpx.post(f"{gpt_oss.url}/apply-template", json=again).json()["prompt"]
    assert ('<|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>'
            '{"city": "Paris"}<|call|>') in rendered  # fmt: skip
    assert answer["choices"][0]["message"]["reasoning_content"]


@pytest.mark.parametrize(
    ("extra", "calls", "finish"),
    [
        ({"tool_choice": "none"}, 0, "stop"),  # tools listed in the prompt, no call parsed
        ({"tool_choice": "auto"}, 2, "tool_calls"),
        ({"parallel_tool_calls": False}, 1, "tool_calls"),  # one <tool_call> block only
        (
            {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
            2,
            "tool_calls",
        ),  # not a string: json_value falls back to "auto"
    ],
)
def test_tool_choice_and_parallel_tool_calls(qwen, extra, calls, finish):
    body = {"messages": [{"role": "user", "content": QUESTION}], "tools": [WEATHER], **extra}
    answer = httpx.post(f"{qwen.url}/v1/chat/completions", json=body).json()
    assert len(answer["choices"][0]["message"].get("tool_calls", [])) == calls
    assert answer["choices"][0]["finish_reason"] == finish


def test_required_calls_even_after_a_result(qwen):
    messages = [{"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "a", "type": "function",
                     "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
                {"role": "tool", "tool_call_id": "a", "content": _weather("Paris")}]  # fmt: skip
    for choice, finish in (("auto", "stop"), ("required", "tool_calls")):
        body = {"messages": messages, "tools": [WEATHER], "tool_choice": choice}
        answer = httpx.post(f"{qwen.url}/v1/chat/completions", json=body).json()
        assert answer["choices"][0]["finish_reason"] == finish


def test_an_unknown_tool_choice_is_a_400(qwen):
    body = {"messages": [{"role": "user", "content": "hi"}], "tools": [WEATHER],
            "tool_choice": "any"}  # fmt: skip
    answer = httpx.post(f"{qwen.url}/v1/chat/completions", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == "Invalid tool_choice: any"


@pytest.mark.parametrize("model", ["gpt_oss", "qwen"])
def test_streamed_calls_assemble_to_the_same_calls(model, request):
    server = request.getfixturevalue(model)
    client = _client(server)
    messages = [{"role": "user", "content": QUESTION}]
    whole = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER])
    stream = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER],
                                            stream=True)  # fmt: skip
    calls: dict[int, dict] = {}
    finish = None
    first_deltas = []
    for chunk in stream:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            if delta.id:
                first_deltas.append(delta)
                call["id"] = delta.id
            call["name"] += (delta.function.name or "") if delta.function else ""
            call["arguments"] += (delta.function.arguments or "") if delta.function else ""
    made = whole.choices[0].message.tool_calls or []
    expected = [(c.function.name, c.function.arguments) for c in made]
    assert [(c["name"], c["arguments"]) for c in calls.values()] == expected
    assert finish == "tool_calls"
    # each call opens with its index, id, type and name, then arguments grow delta by delta
    assert all(d.type == "function" and d.function.name == "get_weather" for d in first_deltas)
    assert len(first_deltas) == len(expected)


def test_a_call_cut_by_max_tokens_ends_with_length(qwen):
    body = {"messages": [{"role": "user", "content": QUESTION}], "tools": [WEATHER],
            "max_tokens": 3}  # fmt: skip
    answer = httpx.post(f"{qwen.url}/v1/chat/completions", json=body).json()
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 3
