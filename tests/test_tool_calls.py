"""Tool calls: the fake's model calls the best-fitting tool, then answers from its result.

Wire shapes are Ollama's (``ollama-wire-spec.md`` §3, §6): ``/v1`` ``tool_calls`` with
``call_`` ids, ``index``, ``type``, arguments as a JSON string and ``finish_reason:
"tool_calls"``, streamed complete in one delta; native ``message.tool_calls`` with
``function.index`` and arguments as an object. ``completion_tokens`` counts the call as the
family's model writes it; the next request's ``prompt_tokens`` counts it as the template
renders it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.engine.agent import best_tool, tool_calls
from mockserver.engine.catalog import family_of
from mockserver.engine.families import FAMILIES
from mockserver.engine.structured import Context
from mockserver.server import BackgroundServer

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "the city"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search_web",
        "description": "Search the web for pages about a query",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    },
}
TOOLS = [SEARCH, WEATHER]
ASK = [{"role": "user", "content": "What's the weather in Paris in celsius?"}]
RESULT = json.dumps({"temperature": 21, "condition": "sunny"})
TOOL_MODELS = ["llama3.2:3b", "llama3.1:8b", "qwen2.5:7b", "mistral:7b", "gpt-oss:20b"]
CALL_ID = re.compile(r"^call_[a-z0-9]{8}$")

# How each family's model writes the call get_weather(city=Paris, unit=celsius): the form its
# template shows (and it was trained on), then its end-of-turn token.
LLAMA_CALL = '{"name": "get_weather", "parameters": {"city":"Paris","unit":"celsius"}}'
QWEN_CALL = '{"name": "get_weather", "arguments": {"city":"Paris","unit":"celsius"}}'
EMITTED = {
    "llama3.2:3b": (LLAMA_CALL, "<|eot_id|>"),
    "llama3.1:8b": (LLAMA_CALL, "<|eot_id|>"),
    "qwen2.5:7b": (f"<tool_call>\n{QWEN_CALL}\n</tool_call>", "<|im_end|>"),
    "mistral:7b": (f"[TOOL_CALLS] [{QWEN_CALL}]", "</s>"),
}


def _family(fake: BackgroundServer, model: str):
    family = family_of(fake.app.state.engine.catalog.find(model))
    assert family is not None
    return family


@pytest.fixture
def http(fake: BackgroundServer):
    with httpx.Client(base_url=fake.url, timeout=30) as client:
        yield client


@pytest.mark.parametrize("model", TOOL_MODELS)
def test_the_openai_tool_loop_runs_to_an_answer_that_uses_the_result(
    client: openai.OpenAI, model: str
):
    messages: list[Any] = list(ASK)
    first = client.chat.completions.create(model=model, messages=messages, tools=TOOLS)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == ""
    (call,) = choice.message.tool_calls
    assert CALL_ID.match(call.id) and call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "celsius"}

    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": RESULT})
    second = client.chat.completions.create(model=model, messages=messages, tools=TOOLS)
    assert second.choices[0].finish_reason == "stop"
    answer = second.choices[0].message.content
    assert "get_weather says: temperature 21, condition sunny" in answer
    assert not second.choices[0].message.tool_calls


@pytest.mark.parametrize("model", sorted(EMITTED))
def test_completion_tokens_count_the_call_as_the_family_emits_it(client, fake, model):
    response = client.chat.completions.create(model=model, messages=ASK, tools=TOOLS)
    call, end_of_turn = EMITTED[model]
    tokenizer = _family(fake, model).tokenizer
    assert len(tokenizer.encode(end_of_turn)) == 1
    # What a model emits is counted as emitted: no prompt-side fragment prefix (mistral's SPM).
    emitted = getattr(tokenizer, "output_ids", tokenizer.encode)
    assert response.usage.completion_tokens == len(emitted(call)) + 1


def test_gpt_oss_calls_on_the_commentary_channel_after_reasoning(client: openai.OpenAI):
    response = client.chat.completions.create(model="gpt-oss:20b", messages=ASK, tools=TOOLS)
    message = response.choices[0].message
    reasoning = message.model_extra["reasoning"]
    tokenizer = FAMILIES["gptoss"].tokenizer
    emitted = (
        f"<|channel|>analysis<|message|>{reasoning}<|end|><|start|>assistant"
        "<|channel|>commentary to=functions.get_weather <|constrain|>json"
        '<|message|>{"city":"Paris","unit":"celsius"}<|call|>'
    )
    assert response.usage.completion_tokens == len(tokenizer.encode(emitted))


@pytest.mark.parametrize("model", TOOL_MODELS)
def test_the_next_prompt_counts_the_call_and_result_as_the_template_renders_them(
    http: httpx.Client, fake: BackgroundServer, model: str
):
    first = http.post(
        "/api/chat", json={"model": model, "messages": ASK, "tools": TOOLS, "stream": False}
    ).json()
    history = [*ASK, first["message"], {"role": "tool", "content": RESULT}]
    body = {"model": model, "messages": history, "tools": TOOLS, "stream": False}
    rendered = http.post("/api/chat", json={**body, "_debug_render_only": True}).json()
    prompt = rendered["_debug_info"]["rendered_template"]
    assert '"city":"Paris"' in prompt and RESULT in prompt
    second = http.post("/api/chat", json=body).json()
    assert second["prompt_eval_count"] == _family(fake, model).count(prompt)


def test_a_streamed_call_arrives_whole_in_one_delta(client: openai.OpenAI):
    chunks = list(
        client.chat.completions.create(model="llama3.2:3b", messages=ASK, tools=TOOLS, stream=True)
    )
    with_calls = [c for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert len(with_calls) == 1
    (call,) = with_calls[0].choices[0].delta.tool_calls
    assert call.index == 0 and CALL_ID.match(call.id) and call.type == "function"
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "celsius"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].choices[0].delta.content is None


def test_native_tool_calls_have_an_index_and_object_arguments(http: httpx.Client):
    body = {"model": "qwen2.5:7b", "messages": ASK, "tools": TOOLS, "stream": False}
    answer = http.post("/api/chat", json=body).json()
    assert answer["done_reason"] == "stop"
    assert answer["message"]["content"] == ""
    (call,) = answer["message"]["tool_calls"]
    assert CALL_ID.match(call["id"])
    assert call["function"] == {
        "index": 0,
        "name": "get_weather",
        "arguments": {"city": "Paris", "unit": "celsius"},
    }
    lines = [
        json.loads(line)
        for line in http.post("/api/chat", json={**body, "stream": True}).text.splitlines()
    ]
    calls = [line["message"]["tool_calls"] for line in lines if "tool_calls" in line["message"]]
    assert len(calls) == 1 and calls[0][0]["function"]["arguments"] == {
        "city": "Paris",
        "unit": "celsius",
    }
    assert lines[-1]["done"] is True and lines[-1]["eval_count"] == answer["eval_count"]


@pytest.mark.parametrize(
    ("model", "calls"), [("qwen2.5:7b", 2), ("mistral:7b", 2), ("llama3.2:3b", 1)]
)
def test_parallel_calls_where_the_family_emits_a_list(client: openai.OpenAI, model, calls):
    ask = [{"role": "user", "content": "Weather in Paris and in Tokyo, please"}]
    response = client.chat.completions.create(model=model, messages=ask, tools=TOOLS)
    made = response.choices[0].message.tool_calls
    assert [json.loads(c.function.arguments)["city"] for c in made] == ["Paris", "Tokyo"][:calls]
    assert len({c.id for c in made}) == calls


def test_tool_choice_is_ignored_as_ollama_ignores_it(client: openai.OpenAI):
    response = client.chat.completions.create(
        model="llama3.2:3b", messages=ASK, tools=TOOLS, tool_choice="none"
    )
    assert response.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("words", "tool"),
    [
        ("What's the weather in Paris?", "get_weather"),
        ("Search for pages about sourdough", "search_web"),
        ("Hello there", "search_web"),  # no overlap: the first tool
    ],
)
def test_the_best_fitting_tool_is_called(words, tool):
    assert best_tool(words, tuple(TOOLS))["name"] == tool


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    parameters=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from(["type", "properties", "required", "city"]), inner)
        ),
        max_leaves=10,
    )
)
def test_any_tool_schema_still_gets_a_call(parameters):
    tools = ({"type": "function", "function": {"name": "f", "parameters": parameters}},)
    context = Context(text="Weather in Oslo and Rome", last_user="Weather in Oslo and Rome")
    (first, *_) = tool_calls((), tools, context, family="qwen2.5")
    assert first.name == "f" and isinstance(first.arguments, dict)


def test_arguments_are_filled_from_the_conversation(client: openai.OpenAI):
    ask = [{"role": "user", "content": "Search for pages about sourdough starters"}]
    response = client.chat.completions.create(model="llama3.2:3b", messages=ask, tools=TOOLS)
    (call,) = response.choices[0].message.tool_calls
    assert json.loads(call.function.arguments) == {"query": ask[0]["content"]}


def test_the_ollama_client_tool_loop(fake: BackgroundServer):
    import ollama

    def get_weather(city: str) -> str:
        """Get the current weather in a city.

        Args:
          city: the city
        """
        return f"sunny in {city}"

    client = ollama.Client(host=fake.url)
    messages: list[Any] = [{"role": "user", "content": "How is the weather in Lisbon?"}]
    reply = client.chat(model="qwen2.5:7b", messages=messages, tools=[get_weather])
    (call,) = reply.message.tool_calls
    assert call.function.name == "get_weather" and call.function.arguments == {"city": "Lisbon"}
    messages += [
        reply.message,
        {
            "role": "tool",
            "content": get_weather(**call.function.arguments),
            "tool_name": "get_weather",
        },
    ]
    final = client.chat(model="qwen2.5:7b", messages=messages, tools=[get_weather])
    assert "sunny in Lisbon" in final.message.content
