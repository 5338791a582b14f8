"""``POST /v1/responses`` as Ollama serves it (stateless), with the official ``openai`` SDK.

Usage is exact: ``input_tokens`` is the ``prompt_tokens`` /v1/chat/completions reports for the
same conversation, since Ollama renders both through one chat template.
"""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from mockserver.engine.chat import ToolCall
from mockserver.engine.engine import ChatResult, Completion, Prompt
from mockserver.wire import responses_api as wire

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
RESPONSES_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the weather",
    "parameters": WEATHER,
}
CHAT_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Get the weather", "parameters": WEATHER},
}

# (model, Responses request fields, the same conversation for /v1/chat/completions)
SAME_CONVERSATION = [
    pytest.param(
        "llama3.2:3b",
        {"input": "How's your day today?", "instructions": "Be brief."},
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "How's your day today?"},
            ]
        },
        id="string-input-and-instructions",
    ),
    pytest.param(
        "llama3.2:3b",
        {
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "Hi there"}]},
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Hello! How can I help?"}],
                },
                {"role": "user", "content": "Tell me a joke."},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "Hi there"},
                {"role": "assistant", "content": "Hello! How can I help?"},
                {"role": "user", "content": "Tell me a joke."},
            ]
        },
        id="multi-turn-items",
    ),
    pytest.param(
        "qwen2.5:7b",
        {
            "tools": [RESPONSES_TOOL],
            "input": [
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "type": "function_call",
                    "call_id": "call_1",
                    "name": "get_weather",
                    "arguments": '{"city":"Paris"}',
                },
                {"type": "function_call_output", "call_id": "call_1", "output": "18C, sunny"},
            ],
        },
        {
            "tools": [CHAT_TOOL],
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"},
            ],
        },
        id="function-call-and-output",
    ),
    pytest.param(
        "gpt-oss:20b",
        {"input": "What is 2+2?", "reasoning": {"effort": "high"}},
        {"messages": [{"role": "user", "content": "What is 2+2?"}], "reasoning_effort": "high"},
        id="gpt-oss-reasoning-effort",
    ),
]


@pytest.mark.parametrize(("model", "responses", "chat"), SAME_CONVERSATION)
def test_usage_is_the_chat_prompt_count(client, model, responses, chat) -> None:
    reply = client.responses.create(model=model, **responses)
    completion = client.chat.completions.create(model=model, **chat)
    assert reply.usage.input_tokens == completion.usage.prompt_tokens
    assert reply.usage.output_tokens == completion.usage.completion_tokens
    assert reply.usage.total_tokens == reply.usage.input_tokens + reply.usage.output_tokens
    assert reply.usage.input_tokens_details.cached_tokens == 0
    assert reply.output_text == completion.choices[0].message.content
    assert (reply.status, reply.store, reply.previous_response_id) == ("completed", False, None)


def test_gpt_oss_reasons_in_a_reasoning_item(client) -> None:
    reply = client.responses.create(model="gpt-oss:20b", input="What is 2+2?")
    assert [item.type for item in reply.output] == ["reasoning", "message"]
    reasoning = reply.output[0]
    assert reasoning.id == f"rs_{reply.id}" and reasoning.summary[0].text
    assert reasoning.encrypted_content == reasoning.summary[0].text  # Ollama's plain text


def test_previous_response_id_is_ignored_as_ollama_ignores_it(client) -> None:
    alone = client.responses.create(model="llama3.2:3b", input="Say hi")
    chained = client.responses.create(
        model="llama3.2:3b", input="Say hi", previous_response_id=alone.id
    )
    assert chained.usage.input_tokens == alone.usage.input_tokens  # nothing remembered
    assert chained.previous_response_id is None


def test_text_format_and_tools_are_echoed(client) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    reply = client.responses.create(
        model="qwen2.5:7b",
        input="Answer in JSON",
        text={"format": {"type": "json_schema", "name": "answer", "schema": schema}},
        tools=[RESPONSES_TOOL],
    )
    assert reply.text.format.type == "json_schema" and reply.text.format.name == "answer"
    assert reply.tools[0].name == "get_weather"


def test_stream_events_in_ollamas_order(client) -> None:
    events = list(client.responses.create(model="gpt-oss:20b", input="What is 2+2?", stream=True))
    kinds = [event.type for event in events]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    reasoning_deltas = kinds.count("response.reasoning_summary_text.delta")
    text_deltas = kinds.count("response.output_text.delta")
    assert reasoning_deltas and text_deltas
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        *["response.reasoning_summary_text.delta"] * reasoning_deltas,
        "response.reasoning_summary_text.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * text_deltas,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = events[-1].response
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert final.output_text == text
    alone = client.responses.create(model="gpt-oss:20b", input="What is 2+2?")
    assert final.usage.input_tokens == alone.usage.input_tokens
    assert final.usage.output_tokens == alone.usage.output_tokens


def test_streamed_function_calls_follow_ollamas_converter() -> None:
    """The engine's fake model does not call tools by itself yet: drive the converter."""
    result = ChatResult(
        card=None,  # type: ignore[arg-type]
        prompt=Prompt(text="", tokens=12),
        completion=Completion(
            reasoning_pieces=["Need ", "weather"],
            tool_calls=(ToolCall(name="get_weather", arguments={"city": "Paris"}),),
            eval_count=5,
        ),
    )
    body = wire.ResponsesRequest.model_validate({"model": "m", "input": "x"})
    ids = wire.Ids("resp_1", "msg_2", "rs_3", ("fc_4_0",), ("call_abcdefgh",))
    events = wire.stream_events(result, body, ids=ids, created=0)
    assert [kind for kind, _ in events][2:] == [
        "response.output_item.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    call = events[-1][1]["response"]["output"][1]
    assert call == {
        "arguments": '{"city":"Paris"}',
        "call_id": "call_abcdefgh",
        "id": "fc_4_0",
        "name": "get_weather",
        "status": "completed",
        "type": "function_call",
    }
    assert events[-1][1]["response"]["usage"]["input_tokens"] == 12
    plain = wire.response_body(result, body, ids=ids, created=0)
    assert [item["type"] for item in plain["output"]] == ["reasoning", "function_call"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "llama3.2:3b", "input": 3}, "input must be a string or array"),
        (
            {"model": "llama3.2:3b", "input": [{"type": "audio"}]},
            'input[0]: unknown input item type: "audio"',
        ),
        (
            {"model": "llama3.2:3b", "input": [{"content": "x"}]},
            "input[0]: input item missing required 'type' field",
        ),
        (
            {"model": "llama3.2:3b", "input": "x", "reasoning": {"effort": "huge"}},
            'invalid reasoning value: "huge"',
        ),
        (
            {
                "model": "llama3.2:3b",
                "input": [
                    {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{x"}
                ],
            },
            "failed to parse function call arguments: invalid character 'x' looking for "
            "beginning of object key string",
        ),
        (
            {
                "model": "llama3.2:3b",
                "input": [{"role": "user", "content": [{"type": "input_file"}]}],
            },
            "file inputs are not currently supported",
        ),
    ],
)
def test_refusals_are_openai_shaped_400s(fake, body, message) -> None:
    reply = httpx.post(fake.openai_url + "/responses", json=body)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["message"].startswith(message) and error["type"] == "invalid_request_error"


def test_unknown_model_is_ollamas_404(client) -> None:
    with pytest.raises(openai.NotFoundError, match="model 'nope:1b' not found"):
        client.responses.create(model="nope:1b", input="x")


def test_text_format_keeps_struct_order_and_the_schema_as_sent(fake) -> None:
    schema = {"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "number"}}}
    body = {
        "model": "llama3.2:3b",
        "input": "x",
        "text": {"format": {"type": "json_schema", "name": "n", "schema": schema, "strict": True}},
    }
    plain = httpx.post(fake.openai_url + "/responses", json=body).text
    assert (
        '"text":{"format":{"type":"json_schema","name":"n","schema":{"type":"object",'
        '"properties":{"b":{"type":"string"},"a":{"type":"number"}}},"strict":true}}'
    ) in plain
    streamed = httpx.post(fake.openai_url + "/responses", json={**body, "stream": True}).text
    assert (  # a Go map in the stream: keys sorted, the raw schema untouched
        '"text":{"format":{"name":"n","schema":{"type":"object","properties":{"b":'
        '{"type":"string"},"a":{"type":"number"}}},"strict":true,"type":"json_schema"}}'
    ) in streamed


def test_text_format_json_schema_is_chats_structured_output(client) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
    }
    reply = client.responses.create(
        model="llama3.2:3b",
        input="Answer",
        text={"format": {"type": "json_schema", "name": "a", "schema": schema}},
    )
    chat = client.chat.completions.create(
        model="llama3.2:3b",
        messages=[{"role": "user", "content": "Answer"}],
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
    )
    assert json.loads(reply.output_text).keys() == {"answer"}
    assert reply.output_text == chat.choices[0].message.content
    assert reply.usage.output_tokens == chat.usage.completion_tokens


def test_the_model_calls_a_function_as_on_chat(client) -> None:
    question = "What's the weather in Paris?"
    reply = client.responses.create(model="qwen2.5:7b", input=question, tools=[RESPONSES_TOOL])
    chat = client.chat.completions.create(
        model="qwen2.5:7b", messages=[{"role": "user", "content": question}], tools=[CHAT_TOOL]
    )
    (call,) = reply.output  # a function call replaces the message item
    (expected,) = chat.choices[0].message.tool_calls
    assert (call.type, call.name, call.arguments) == (
        "function_call",
        expected.function.name,
        expected.function.arguments,
    )
    assert call.call_id.startswith("call_") and call.id == f"fc_{reply.id}_0"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (
        chat.usage.prompt_tokens,
        chat.usage.completion_tokens,
    )
    events = list(
        client.responses.create(
            model="qwen2.5:7b", input=question, tools=[RESPONSES_TOOL], stream=True
        )
    )
    assert [event.type for event in events][2:] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[-1].response.output[0].arguments == call.arguments


def test_no_input_only_loads_the_model(client) -> None:
    """Ollama's chat handler answers an empty conversation with a load, no metrics."""
    reply = client.responses.create(model="llama3.2:3b", input=[])
    assert reply.output_text == "" and reply.usage.total_tokens == 0
