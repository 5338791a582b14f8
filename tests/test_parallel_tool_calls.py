"""Parallel tool calls: several calls in one turn, where the family's model writes them.

The rule and its derivation are in ``mockserver/engine/agent.py`` (rule 2 and "Which families
write several calls in one turn"): qwen2.5 and mistral do, llama3.x and gpt-oss make one call
per turn. Each row below is one request: the user's words, the tools offered, the calls the
model makes, and for the families that make several, the exact text it writes (which
``completion_tokens`` counts, end-of-turn token included). The next request renders the calls
as the family's Ollama template does (qwen2.5: one block; mistral: no separator), and its
``prompt_tokens`` counts that.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import openai
import pytest

from mockserver.engine.catalog import family_of
from mockserver.server import BackgroundServer


def _tool(name: str, description: str, parameter: str) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {parameter: {"type": "string"}},
                "required": [parameter],
            },
        },
    }


WEATHER = _tool("get_weather", "Get the current weather in a city", "city")
TIME = _tool("get_local_time", "Get the local time in a city", "city")
SEARCH = _tool("search_web", "Search the web for pages about a query", "query")

TWO_CITIES = "What's the weather in Paris and in Tokyo?"
TWO_TOOLS = "What's the weather in Paris and the local time in Tokyo?"
W_PARIS = ("get_weather", {"city": "Paris"})
W_TOKYO = ("get_weather", {"city": "Tokyo"})
T_TOKYO = ("get_local_time", {"city": "Tokyo"})

# model, the user's words, tools offered, the calls made, the text the model writes for them.
CASES = [
    pytest.param(
        "qwen2.5:7b", TWO_CITIES, [WEATHER], [W_PARIS, W_TOKYO],
        '<tool_call>\n{"name": "get_weather", "arguments": {"city":"Paris"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "get_weather", "arguments": {"city":"Tokyo"}}\n</tool_call>',
        id="qwen2.5: one tool, two cities: a block per call",
    ),
    pytest.param(
        "mistral:7b", TWO_CITIES, [WEATHER], [W_PARIS, W_TOKYO],
        '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city":"Paris"}}, '
        '{"name": "get_weather", "arguments": {"city":"Tokyo"}}]',
        id="mistral: one tool, two cities: one JSON list",
    ),
    pytest.param(
        "qwen2.5:7b", TWO_TOOLS, [WEATHER, TIME, SEARCH], [W_PARIS, T_TOKYO],
        '<tool_call>\n{"name": "get_weather", "arguments": {"city":"Paris"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "get_local_time", "arguments": {"city":"Tokyo"}}\n</tool_call>',
        id="qwen2.5: two tools, each fitting a clause",
    ),
    pytest.param(
        "mistral:7b", TWO_TOOLS, [SEARCH, TIME, WEATHER], [W_PARIS, T_TOKYO],
        '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city":"Paris"}}, '
        '{"name": "get_local_time", "arguments": {"city":"Tokyo"}}]',
        id="mistral: two tools, in the user's order",
    ),
    pytest.param(
        "qwen2.5:7b", "Weather in Oslo, Rome and Lisbon, then the local time in Cairo",
        [WEATHER, TIME],
        [("get_weather", {"city": c}) for c in ("Oslo", "Rome", "Lisbon")]
        + [("get_local_time", {"city": "Cairo"})],
        None,
        id="qwen2.5: a clause naming three cities, and a second tool",
    ),
    pytest.param(
        "qwen2.5:7b", "Search the web for sourdough and rye recipes", [WEATHER, SEARCH],
        [("search_web", {"query": "Search the web for sourdough and rye recipes"})], None,
        id="qwen2.5: one clause fits a tool, the other none: one call",
    ),
    pytest.param(
        "llama3.1:8b", TWO_CITIES, [WEATHER], [W_PARIS],
        '{"name": "get_weather", "parameters": {"city":"Paris"}}',
        id="llama3.1: one call per turn",
    ),
    pytest.param(
        "llama3.2:3b", TWO_TOOLS, [WEATHER, TIME], [("get_local_time", {"city": "Paris"})],
        '{"name": "get_local_time", "parameters": {"city":"Paris"}}',
        id="llama3.2: one call per turn, the tool that fits the whole message best",
    ),
    pytest.param(
        "gpt-oss:20b", TWO_TOOLS, [WEATHER, TIME], [("get_local_time", {"city": "Paris"})], None,
        id="gpt-oss: one call, ended by <|call|>",
    ),
]  # fmt: skip
END_OF_TURN = {"qwen2.5:7b": "<|im_end|>", "mistral:7b": "</s>", "llama3.1:8b": "<|eot_id|>",
               "llama3.2:3b": "<|eot_id|>"}  # fmt: skip
CALL_ID = re.compile(r"^call_[a-z0-9]{8}$")


@pytest.fixture
def http(fake: BackgroundServer):
    with httpx.Client(base_url=fake.url, timeout=60) as client:
        yield client


def _family(fake: BackgroundServer, model: str):
    family = family_of(fake.app.state.engine.catalog.find(model))
    assert family is not None
    return family


@pytest.mark.parametrize(("model", "words", "tools", "calls", "emitted"), CASES)
def test_v1_calls_indexes_ids_and_completion_tokens(
    client: openai.OpenAI, fake, model, words, tools, calls, emitted
):
    response = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": words}], tools=tools
    )
    choice = response.choices[0]
    made = choice.message.tool_calls
    assert [(c.function.name, json.loads(c.function.arguments)) for c in made] == calls
    assert [c.model_extra.get("index") for c in made] == list(range(len(calls)))
    assert all(CALL_ID.match(c.id) for c in made) and len({c.id for c in made}) == len(calls)
    assert choice.finish_reason == "tool_calls" and choice.message.content == ""
    if emitted is not None:
        tokenizer = _family(fake, model).tokenizer
        written = getattr(tokenizer, "output_ids", tokenizer.encode)
        assert response.usage.completion_tokens == len(written(emitted)) + len(
            tokenizer.encode(END_OF_TURN[model])
        )


@pytest.mark.parametrize(("model", "words", "tools", "calls", "emitted"), CASES)
def test_streams_hand_on_one_call_per_chunk(
    client: openai.OpenAI, http: httpx.Client, model, words, tools, calls, emitted
):
    messages = [{"role": "user", "content": words}]
    chunks = list(
        client.chat.completions.create(model=model, messages=messages, tools=tools, stream=True)
    )
    deltas = [c.choices[0].delta for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert [len(d.tool_calls) for d in deltas] == [1] * len(calls)
    streamed = [d.tool_calls[0] for d in deltas]
    assert [c.index for c in streamed] == list(range(len(calls)))
    assert [(c.function.name, json.loads(c.function.arguments)) for c in streamed] == calls
    assert chunks[-1].choices[0].finish_reason == "tool_calls"

    body = {"model": model, "messages": messages, "tools": tools, "stream": True}
    lines = [json.loads(line) for line in http.post("/api/chat", json=body).text.splitlines()]
    native = [line["message"]["tool_calls"] for line in lines if "tool_calls" in line["message"]]
    assert [len(c) for c in native] == [1] * len(calls)
    functions = [c[0]["function"] for c in native]
    assert [f["index"] for f in functions] == list(range(len(calls)))
    assert [(f["name"], f["arguments"]) for f in functions] == calls
    whole = http.post("/api/chat", json={**body, "stream": False}).json()
    assert [c["function"]["index"] for c in whole["message"]["tool_calls"]] == list(
        range(len(calls))
    )
    assert lines[-1]["eval_count"] == whole["eval_count"]


@pytest.mark.parametrize(("model", "words", "tools", "calls", "emitted"), CASES)
def test_the_next_prompt_counts_every_call_and_result_as_the_template_renders_them(
    http: httpx.Client, fake, model, words, tools, calls, emitted
):
    ask = [{"role": "user", "content": words}]
    first = http.post(
        "/api/chat", json={"model": model, "messages": ask, "tools": tools, "stream": False}
    ).json()
    results = [
        {"role": "tool", "tool_name": c["function"]["name"], "content": json.dumps({"n": i})}
        for i, c in enumerate(first["message"]["tool_calls"])
    ]
    body = {"model": model, "messages": [*ask, first["message"], *results], "tools": tools}
    rendered = http.post("/api/chat", json={**body, "_debug_render_only": True}).json()
    prompt = rendered["_debug_info"]["rendered_template"]
    for name, arguments in calls:  # each call, in each family's own way of showing it
        assert name in prompt and json.dumps(arguments, separators=(",", ":")) in prompt
    second = http.post("/api/chat", json={**body, "stream": False}).json()
    assert second["prompt_eval_count"] == _family(fake, model).count(prompt)
    answer = second["message"]["content"]
    assert answer.count(" says: n ") == len(calls)  # the answer uses every result


@pytest.mark.parametrize(
    ("model", "rendered"),
    [
        ("qwen2.5:7b", '<tool_call>\n{"name": "get_weather", "arguments": {"city":"Paris"}}\n'
                       '{"name": "get_weather", "arguments": {"city":"Tokyo"}}\n</tool_call>'),
        ("mistral:7b", '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city":"Paris"}}'
                       '{"name": "get_weather", "arguments": {"city":"Tokyo"}}]</s>'),
    ],
)  # fmt: skip
def test_the_template_shows_the_calls_back_in_its_own_form(http: httpx.Client, model, rendered):
    """What the model wrote (a block per call; a list with ", ") is not what the template
    renders in the next prompt (one block; no separator): the counts follow each."""
    ask = [{"role": "user", "content": TWO_CITIES}]
    first = http.post(
        "/api/chat", json={"model": model, "messages": ask, "tools": [WEATHER], "stream": False}
    ).json()
    history = [*ask, first["message"], {"role": "tool", "content": "{}"}]
    body = {"model": model, "messages": history, "tools": [WEATHER], "_debug_render_only": True}
    prompt = http.post("/api/chat", json=body).json()["_debug_info"]["rendered_template"]
    assert rendered in prompt
