"""``POST /v1/messages`` (Anthropic Messages) as Ollama serves it, with the ``anthropic`` SDK.

``input_tokens`` / ``output_tokens`` are exact: the ``prompt_tokens`` / ``completion_tokens``
/v1/chat/completions reports for the same conversation. Errors come in Anthropic's shape.
"""

from __future__ import annotations

import anthropic
import httpx
import pytest

from mockserver.engine.chat import ToolCall
from mockserver.engine.engine import ChatResult, Completion, Prompt
from mockserver.wire import anthropic as wire

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


@pytest.fixture
def claude(fake) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.url, api_key="ollama", max_retries=0)


# (model, Messages request fields, the same conversation for /v1/chat/completions)
SAME_CONVERSATION = [
    pytest.param(
        "llama3.2:3b",
        {"system": "Be brief.", "messages": [{"role": "user", "content": "How's your day?"}]},
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "How's your day?"},
            ]
        },
        id="system-string",
    ),
    pytest.param(
        "llama3.2:3b",
        {
            "system": [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Hi there"}]},
                {"role": "assistant", "content": "Hello! How can I help?"},
                {"role": "user", "content": "Tell me a joke."},
            ],
        },
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi there"},
                {"role": "assistant", "content": "Hello! How can I help?"},
                {"role": "user", "content": "Tell me a joke."},
            ]
        },
        id="system-blocks-multi-turn",
    ),
    pytest.param(
        "qwen2.5:7b",
        {
            "tools": [
                {"name": "get_weather", "description": "Get the weather", "input_schema": WEATHER}
            ],
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "tool_use",
                            "id": "call_1",
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        }
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "call_1", "content": "18C, sunny"}
                    ],
                },
            ],
        },
        {
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "Get the weather",
                        "parameters": WEATHER,
                    },
                }
            ],
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
        id="tool-use-and-tool-result",
    ),
    pytest.param(
        "gpt-oss:20b",
        {
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [{"role": "user", "content": "What is 2+2?"}],
        },
        {"messages": [{"role": "user", "content": "What is 2+2?"}], "reasoning_effort": "medium"},
        id="gpt-oss-thinking",
    ),
]


@pytest.mark.parametrize(("model", "messages", "chat"), SAME_CONVERSATION)
def test_usage_is_the_chat_count(claude, client, model, messages, chat) -> None:
    reply = claude.messages.create(model=model, max_tokens=400, **messages)
    completion = client.chat.completions.create(model=model, max_tokens=400, **chat)
    assert reply.usage.input_tokens == completion.usage.prompt_tokens
    assert reply.usage.output_tokens == completion.usage.completion_tokens
    text = next(block.text for block in reply.content if block.type == "text")
    assert text == completion.choices[0].message.content
    assert (reply.type, reply.role, reply.model, reply.stop_reason) == (
        "message",
        "assistant",
        model,
        "end_turn",
    )
    assert reply.id.startswith("msg_") and len(reply.id) == 4 + 24


def test_gpt_oss_thinks_in_a_thinking_block(claude) -> None:
    reply = claude.messages.create(
        model="gpt-oss:20b", max_tokens=400, messages=[{"role": "user", "content": "2+2?"}]
    )
    assert [block.type for block in reply.content] == ["thinking", "text"]
    assert reply.content[0].thinking


def test_thinking_is_relaxed_for_a_model_that_cannot_think(claude) -> None:
    """Ollama sets ``relax_thinking`` on this surface: no 400, an answer without thinking."""
    reply = claude.messages.create(
        model="llama3.2:3b",
        max_tokens=50,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "Hi"}],
    )
    assert [block.type for block in reply.content] == ["text"]


def test_max_tokens_cuts_with_max_tokens_stop_reason(claude) -> None:
    reply = claude.messages.create(
        model="llama3.2:3b", max_tokens=3, messages=[{"role": "user", "content": "Say hi"}]
    )
    assert (reply.stop_reason, reply.usage.output_tokens) == ("max_tokens", 3)


def test_stream_events_message_start_to_message_stop(claude) -> None:
    request = {
        "model": "gpt-oss:20b",
        "max_tokens": 400,
        "messages": [{"role": "user", "content": "What is 2+2?"}],
    }
    with claude.messages.stream(**request) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    plain = claude.messages.create(**request)
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    raw = [kind for kind in kinds if kind not in ("text", "thinking")]  # the SDK's helpers
    thinking = raw.count("content_block_delta")
    assert raw[:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert raw.count("content_block_start") == raw.count("content_block_stop") == 2
    assert thinking > 2
    assert [block.type for block in final.content] == ["thinking", "text"]
    assert final.content[1].text == plain.content[1].text
    assert final.usage.input_tokens == plain.usage.input_tokens  # exact once done
    assert final.usage.output_tokens == plain.usage.output_tokens


def test_message_start_carries_ollamas_estimate(fake) -> None:
    """Ollama's first chunk has no metrics: ``message_start`` says len/4 of the request."""
    body = {"model": "llama3.2:3b", "max_tokens": 5, "stream": True,
            "messages": [{"role": "user", "content": "How's your day today?"}]}  # fmt: skip
    reply = httpx.post(fake.url + "/v1/messages", json=body)
    assert reply.headers["content-type"] == "text/event-stream"
    first = reply.text.split("\n\n")[0].split("\n")
    assert first[0] == "event: message_start"
    assert '"usage":{"input_tokens":6,"output_tokens":0}' in first[1]  # (4 + 21) // 4


def test_streamed_tool_use_follows_ollamas_converter() -> None:
    """The fake model does not call tools by itself yet: drive the converter."""
    result = ChatResult(
        card=None,  # type: ignore[arg-type]
        prompt=Prompt(text="", tokens=12),
        completion=Completion(
            content_pieces=["Let me check."],
            tool_calls=(ToolCall(name="get_weather", arguments={"city": "Paris"}),),
            eval_count=5,
        ),
    )
    events = wire.stream_events(
        result, model="m", message_id="msg_1", call_ids=["call_x"], estimated_input_tokens=3
    )
    assert [(kind, data.get("index")) for kind, data in events] == [
        ("message_start", None),
        ("content_block_start", 0),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_delta", 1),
        ("content_block_stop", 1),
        ("message_delta", None),
        ("message_stop", None),
    ]
    assert events[5][1]["delta"] == {"type": "input_json_delta", "partial_json": '{"city":"Paris"}'}
    assert events[7][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use"},
        "usage": {"input_tokens": 12, "output_tokens": 5},
    }
    body = wire.message_body(result, model="m", message_id="msg_1", call_ids=["call_x"])
    assert body["content"][1] == {
        "type": "tool_use",
        "id": "call_x",
        "name": "get_weather",
        "input": {"city": "Paris"},
    }


@pytest.mark.parametrize(
    ("body", "status", "kind", "message"),
    [
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, 400,
         "invalid_request_error", "model is required"),
        ({"model": "llama3.2:3b", "messages": [{"role": "user", "content": "x"}]}, 400,
         "invalid_request_error", "max_tokens is required and must be positive"),
        ({"model": "llama3.2:3b", "max_tokens": 5}, 400,
         "invalid_request_error", "messages is required"),
        ({"model": "llama3.2:3b", "max_tokens": 5,
          "messages": [{"role": "assistant", "content": [{"type": "tool_use", "name": "f"}]}]},
         400, "invalid_request_error", "tool_use block missing required 'id' field"),
        ({"model": "nope:1b", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
         404, "not_found_error", "model 'nope:1b' not found"),
    ],
)  # fmt: skip
def test_errors_are_anthropic_shaped(fake, body, status, kind, message) -> None:
    reply = httpx.post(fake.url + "/v1/messages", json=body)
    assert reply.status_code == status
    error = reply.json()
    assert (error["type"], error["error"]) == ("error", {"type": kind, "message": message})
    assert error["request_id"].startswith("req_")


def test_sdk_raises_typed_errors(claude) -> None:
    with pytest.raises(anthropic.NotFoundError, match="not found"):
        claude.messages.create(
            model="nope:1b", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )


def test_count_tokens_is_not_served_as_in_ollama(claude, fake) -> None:
    reply = httpx.post(fake.url + "/v1/messages/count_tokens", json={"model": "llama3.2:3b"})
    assert (reply.status_code, reply.text) == (404, "404 page not found")
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.count_tokens(
            model="llama3.2:3b", messages=[{"role": "user", "content": "x"}]
        )


def test_guard_errors_on_this_surface_are_anthropic_shaped() -> None:
    """The fake's own guards (here ``--api-key``) answer in the surface's error shape too."""
    from mockserver.config import Settings
    from mockserver.server import serving

    with serving(Settings(port=0, api_key="secret")) as server:
        reply = httpx.post(server.url + "/v1/messages", json={})
    assert reply.status_code == 401
    assert reply.json()["type"] == "error"
    assert reply.json()["error"]["type"] == "authentication_error"


def test_the_model_uses_a_tool_as_on_chat(claude, client) -> None:
    question = [{"role": "user", "content": "What's the weather in Paris?"}]
    tool = {"name": "get_weather", "description": "Get the weather", "input_schema": WEATHER}
    reply = claude.messages.create(
        model="qwen2.5:7b", max_tokens=300, tools=[tool], messages=question
    )
    chat = client.chat.completions.create(
        model="qwen2.5:7b",
        messages=question,
        tools=[{"type": "function", "function": {
            "name": "get_weather", "description": "Get the weather", "parameters": WEATHER}}],
    )  # fmt: skip
    (use,) = reply.content
    assert (use.type, use.name, use.input) == ("tool_use", "get_weather", {"city": "Paris"})
    assert reply.stop_reason == "tool_use" and use.id.startswith("call_")
    assert reply.usage.input_tokens == chat.usage.prompt_tokens
    assert reply.usage.output_tokens == chat.usage.completion_tokens
    with claude.messages.stream(
        model="qwen2.5:7b", max_tokens=300, tools=[tool], messages=question
    ) as stream:
        final = stream.get_final_message()
    assert [(b.type, b.input) for b in final.content] == [("tool_use", {"city": "Paris"})]
    assert final.stop_reason == "tool_use"


def test_a_message_without_blocks_only_loads_the_model(claude) -> None:
    reply = claude.messages.create(
        model="llama3.2:3b", max_tokens=5, messages=[{"role": "user", "content": []}]
    )
    assert reply.content is None or reply.content == []
    assert reply.stop_reason == "stop_sequence"  # mapStopReason("load")
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (0, 0)
