"""The Anthropic Messages wire format (``POST /v1/messages``), as Ollama serves it.

``to_chat_request`` is Ollama's ``FromMessagesRequest`` (system string or text blocks,
``tool_use`` / ``tool_result`` / ``thinking`` blocks, ``thinking`` and ``output_config.effort``
as think); ``message_body`` is ``ToMessagesResponse``; ``stream_events`` replays
``StreamConverter.Process`` over the chat chunks of the engine's completion (``message_start``
with ``EstimateInputTokens``' len/4 guess, since Ollama's first chunk carries no metrics, then
the blocks, ``message_delta`` with the exact usage, ``message_stop``); ``error_body`` is
``NewError`` (``{"type":"error","error":{...},"request_id":...}``; rendered by
``wire.errors``). Ollama registers no other
``/v1/messages`` route: ``count_tokens`` is gin's 404. Source: ``anthropic/anthropic.go`` and
``middleware/anthropic.go`` at ollama@fb3076099.
"""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mockserver.engine.chat import ChatRequest, Message, Options, ToolCall
from mockserver.engine.engine import ChatResult, Completion
from mockserver.errors import OllamaError, bad_request
from mockserver.wire import gobase64
from mockserver.wire.decode import GoInt, json_kind
from mockserver.wire.gojson import as_decoded, dumps

_STRICT = ConfigDict(strict=True, extra="ignore", populate_by_name=True, defer_build=True)


def _go(go_type: str) -> dict[str, Any]:
    return {"x-go-type": go_type}


class ThinkingIn(BaseModel):
    model_config = _STRICT
    type: str | None = Field(None, json_schema_extra=_go("string"))
    budget_tokens: GoInt | None = Field(None, json_schema_extra=_go("int"))


class OutputConfigIn(BaseModel):
    model_config = _STRICT
    effort: str | None = Field(None, json_schema_extra=_go("string"))


class ToolIn(BaseModel):
    model_config = _STRICT
    type: str | None = Field(None, json_schema_extra=_go("string"))
    name: str | None = Field(None, json_schema_extra=_go("string"))
    description: str | None = Field(None, json_schema_extra=_go("string"))
    input_schema: Any = None


class MessageIn(BaseModel):
    model_config = _STRICT
    role: str | None = Field(None, json_schema_extra=_go("string"))
    content: Any = None


class MessagesRequest(BaseModel):
    """``POST /v1/messages`` body, as Ollama decodes it (``anthropic.MessagesRequest``)."""

    model_config = _STRICT
    model: str | None = Field(None, json_schema_extra=_go("string"))
    max_tokens: GoInt | None = Field(None, json_schema_extra=_go("int"))
    messages: list[MessageIn] | None = Field(
        None, json_schema_extra=_go("[]anthropic.MessageParam")
    )
    system: Any = None
    stream: bool | None = Field(None, json_schema_extra=_go("bool"))
    temperature: float | None = Field(None, json_schema_extra=_go("float64"))
    top_p: float | None = Field(None, json_schema_extra=_go("float64"))
    top_k: GoInt | None = Field(None, json_schema_extra=_go("int"))
    stop_sequences: list[str] | None = Field(None, json_schema_extra=_go("[]string"))
    # Not named ``tools``: the shared decoder checks ``tools`` against chat's ``api.Tool``.
    tool_list: list[ToolIn] | None = Field(
        None, alias="tools", json_schema_extra=_go("[]anthropic.Tool")
    )
    thinking: ThinkingIn | None = Field(None, json_schema_extra=_go("anthropic.ThinkingConfig"))
    output_config: OutputConfigIn | None = Field(
        None, json_schema_extra=_go("anthropic.OutputConfig")
    )


# --- errors ----------------------------------------------------------------------------------

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def generate_id(prefix: str) -> str:
    """``generateID``: the prefix, ``_``, 12 random bytes in hex."""
    return f"{prefix}_{secrets.token_hex(12)}"


def error_body(error: OllamaError) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": _ERROR_TYPES.get(error.status, "api_error"), "message": error.message},
        "request_id": generate_id("req"),
    }


def _invalid(message: str) -> OllamaError:
    return bad_request(message, from_middleware=True)


# --- request conversion (FromMessagesRequest) ------------------------------------------------


def blocks(message: MessageIn) -> list[dict[str, Any]]:
    """``MessageParam.UnmarshalJSON``: a string is one text block, else ``[]ContentBlock``."""
    content = message.content
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if content is None:
        return []
    if not isinstance(content, list):
        raise _invalid(
            f"json: cannot unmarshal {json_kind(content)} into Go value of type "
            "[]anthropic.ContentBlock"
        )
    for block in content:
        if not isinstance(block, dict):
            raise _invalid(
                f"json: cannot unmarshal {json_kind(block)} into Go value of type "
                "anthropic.ContentBlock"
            )
    return content


def check(body: MessagesRequest) -> None:
    """``AnthropicMessagesMiddleware``'s own checks, in its order."""
    if not body.model:
        raise _invalid("model is required")
    if (body.max_tokens or 0) <= 0:
        raise _invalid("max_tokens is required and must be positive")
    if not body.messages:
        raise _invalid("messages is required")


def _system(system: Any) -> str:
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "".join(
            block["text"]
            for block in system
            if isinstance(block, dict)
            and block.get("type") == "text"
            and isinstance(block.get("text"), str)
        )
    return ""


def _tool_result_text(content: Any) -> tuple[str, tuple[bytes, ...]]:
    """``convertToolResultContent``: text blocks joined; base64 images decoded."""
    if isinstance(content, str):
        return content, ()
    if not isinstance(content, list):
        return "", ()
    text, images = "", []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            text += block["text"]
        elif block.get("type") == "image":
            source = block.get("source")
            if not isinstance(source, dict):
                raise _invalid("invalid tool_result image source")
            images.append(_image(source))
    return text, tuple(images)


def _image(source: dict[str, Any]) -> bytes:
    """``resolveImageSource``: base64 sources only, decoded with ``base64.StdEncoding``."""
    kind = source.get("type") if isinstance(source.get("type"), str) else ""
    if kind != "base64":
        raise _invalid(f"invalid image source type: {kind}. Only base64 images are supported.")
    data = source.get("data")
    try:
        return gobase64.decode(data if isinstance(data, str) else "")
    except gobase64.CorruptInput as error:
        raise _invalid(f"invalid base64 image data: {error}") from None


def _convert(message: MessageIn) -> list[Message]:
    role = (message.role or "").lower()
    text, thinking = "", ""
    images: list[bytes] = []
    calls: list[ToolCall] = []
    results: list[Message] = []
    for block in blocks(message):
        kind = block.get("type")
        if kind == "text":
            if isinstance(block.get("text"), str):
                text += block["text"]
        elif kind == "image":
            source = block.get("source")
            if not isinstance(source, dict):
                raise _invalid("invalid image source")
            images.append(_image(source))
        elif kind in ("tool_use", "server_tool_use"):
            if kind == "tool_use" and not block.get("id"):
                raise _invalid("tool_use block missing required 'id' field")
            if kind == "tool_use" and not block.get("name"):
                raise _invalid("tool_use block missing required 'name' field")
            arguments = block.get("input")
            calls.append(
                ToolCall(
                    name=str(block.get("name") or ""),
                    arguments=arguments if isinstance(arguments, dict) else {},
                    id=str(block.get("id") or ""),
                )
            )
        elif kind == "tool_result":
            content, result_images = _tool_result_text(block.get("content"))
            results.append(Message(role="tool", content=content, images=result_images))
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            thinking = block["thinking"]
    out: list[Message] = []
    if role == "user":
        out.extend(results)
    if text or images or calls or thinking:
        out.append(
            Message(
                role=role,
                content=text,
                images=tuple(images),
                tool_calls=tuple(calls),
                thinking=thinking,
            )
        )
    if role != "user":
        out.extend(results)
    return out


def _tool(tool: ToolIn) -> dict[str, Any]:
    if (tool.type or "").startswith("web_search"):
        return {
            "type": "function",
            "function": {
                "name": "web_search",
                "description": "Search the web for current information. Use this to find "
                "up-to-date information about any topic.",
                "parameters": {
                    "type": "object",
                    "required": ["query"],
                    "properties": {
                        "query": {
                            "type": "string",
                            "description": "The search query to look up on the web",
                        }
                    },
                },
            },
        }
    schema = tool.input_schema
    if schema is not None and not isinstance(schema, dict):
        raise _invalid(
            f'invalid input_schema for tool "{tool.name or ""}": json: cannot unmarshal '
            f"{json_kind(schema)} into Go value of type api.ToolFunctionParameters"
        )
    function: dict[str, Any] = {"name": tool.name or ""}
    if tool.description:
        function["description"] = tool.description
    if schema is not None:
        function["parameters"] = schema
    return {"type": "function", "function": function}


def _think(body: MessagesRequest) -> Any:
    if body.thinking is not None and body.thinking.type == "enabled":
        return True
    if body.thinking is not None and body.thinking.type == "disabled":
        return False
    effort = (body.output_config.effort or "").strip().lower() if body.output_config else ""
    effort = "high" if effort == "xhigh" else effort
    return effort if effort in ("high", "medium", "low", "max") else None


def to_chat_request(body: MessagesRequest) -> ChatRequest:
    messages: list[Message] = []
    system = _system(body.system)
    if system:
        messages.append(Message(role="system", content=system))
    for message in body.messages or []:
        messages.extend(_convert(message))
    tools = body.tool_list or []
    builtin = any((t.type or "").startswith("web_search") for t in tools)
    return ChatRequest(
        model=body.model or "",
        messages=tuple(messages),
        tools=tuple(
            _tool(t)
            for t in tools
            if not (
                builtin and not (t.type or "").startswith("web_search") and t.name == "web_search"
            )
        ),
        think=_think(body),
        options=Options(
            num_predict=body.max_tokens,
            temperature=body.temperature,
            top_p=body.top_p,
            stop=tuple(body.stop_sequences or ()),
        ),
    )


def estimate_input_tokens(body: MessagesRequest) -> int:
    """``EstimateInputTokens``: (bytes of system, roles, texts, tool blocks, tools) / 4."""
    total = _system_length(body.system)
    for message in body.messages or []:
        total += len((message.role or "").encode())
        for block in blocks(message):
            total += _block_length(block)
    for tool in body.tool_list or []:
        total += len((tool.name or "").encode()) + len((tool.description or "").encode())
        if tool.input_schema is not None:
            total += len(dumps(tool.input_schema))
    tokens = total // 4
    if tokens == 0 and (body.messages or body.system is not None):
        tokens = 1
    return tokens


def _system_length(system: Any) -> int:
    """``countAnyContent`` of ``system``: a string's bytes, or each block's count."""
    if system is None:
        return 0
    if isinstance(system, str):
        return len(system.encode())
    if isinstance(system, list):
        return sum(_block_length(block) for block in system if isinstance(block, dict))
    return len(dumps(system))


def _block_length(block: dict[str, Any]) -> int:
    """``countContentBlock``: text and thinking bytes; a tool block's whole JSON."""
    total = 0
    if isinstance(block.get("text"), str):
        total += len(block["text"].encode())
    if isinstance(block.get("thinking"), str):
        total += len(block["thinking"].encode())
    if block.get("type") in ("tool_use", "tool_result"):
        total += len(dumps(_content_block(block)))
    return total


_BLOCK_FIELDS = (
    "type", "text", "citations", "source", "id", "name", "input",
    "tool_use_id", "content", "is_error", "thinking", "signature",
)  # fmt: skip


def _content_block(block: dict[str, Any]) -> dict[str, Any]:
    """A ``ContentBlock`` as Go re-marshals it: struct order, empty fields omitted."""
    out: dict[str, Any] = {"type": block.get("type") or ""}
    for name in _BLOCK_FIELDS[1:]:
        value = block.get(name)
        if value in (None, "", False, [], {}) and name not in ("text", "thinking"):
            continue
        if value is None:
            continue
        out[name] = as_decoded(value) if name == "content" else value
    return out


# --- responses -------------------------------------------------------------------------------


def stop_reason(completion: Completion, has_tool_calls: bool) -> str:
    """``mapStopReason``."""
    if has_tool_calls:
        return "tool_use"
    reason = completion.done_reason
    if reason == "stop":
        return "end_turn"
    if reason == "length":
        return "max_tokens"
    return "stop_sequence" if reason else ""


def _input(call: ToolCall) -> Any:
    return call.arguments


def message_body(
    result: ChatResult, *, model: str, message_id: str, call_ids: list[str]
) -> dict[str, Any]:
    completion = result.completion or Completion()
    content: list[dict[str, Any]] = []
    if completion.reasoning:
        content.append({"type": "thinking", "thinking": completion.reasoning})
    if completion.content:
        content.append({"type": "text", "text": completion.content})
    for call, call_id in zip(completion.tool_calls, call_ids, strict=True):
        block: dict[str, Any] = {"type": "tool_use"}
        if call_id:
            block["id"] = call_id
        if call.name:
            block["name"] = call.name
        if call.arguments:
            block["input"] = _input(call)
        content.append(block)
    body: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content or None,
    }
    reason = stop_reason(completion, bool(completion.tool_calls))
    if reason:
        body["stop_reason"] = reason
    body["usage"] = {
        "input_tokens": result.prompt.tokens,
        "output_tokens": completion.eval_count,
    }
    return body


def stream_events(
    result: ChatResult,
    *,
    model: str,
    message_id: str,
    call_ids: list[str],
    estimated_input_tokens: int,
) -> list[tuple[str, dict[str, Any]]]:
    """Every event of the stream in Ollama's order: the engine's chat chunks (one per
    reasoning piece, one per content piece, one with the tool calls, then ``done``) through
    ``StreamConverter.Process``."""
    completion = result.completion or Completion()
    events: list[tuple[str, dict[str, Any]]] = []
    index = 0
    thinking_started = thinking_done = text_started = False

    def emit(kind: str, data: dict[str, Any]) -> None:
        events.append((kind, {"type": kind, **data}))

    def stop() -> None:
        emit("content_block_stop", {"index": index})

    emit(
        "message_start",
        {
            "message": {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "usage": {"input_tokens": estimated_input_tokens, "output_tokens": 0},
            }
        },
    )
    for piece in completion.reasoning_pieces:
        if not piece or thinking_done:
            continue
        if text_started:
            stop()
            index += 1
            text_started = False
        if not thinking_started:
            thinking_started = True
            emit(
                "content_block_start",
                {"index": index, "content_block": {"type": "thinking", "thinking": ""}},
            )
        emit(
            "content_block_delta",
            {"index": index, "delta": {"type": "thinking_delta", "thinking": piece}},
        )
    for piece in completion.content_pieces:
        if not piece:
            continue
        if thinking_started and not thinking_done:
            thinking_done = True
            stop()
            index += 1
        if not text_started:
            text_started = True
            emit(
                "content_block_start",
                {"index": index, "content_block": {"type": "text", "text": ""}},
            )
        emit(
            "content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": piece}}
        )
    sent: set[str] = set()
    for call, call_id in zip(completion.tool_calls, call_ids, strict=True):
        if call_id in sent:
            continue
        if thinking_started and not thinking_done:
            thinking_done = True
            stop()
            index += 1
        if text_started:
            stop()
            index += 1
            text_started = False
        start: dict[str, Any] = {"type": "tool_use"}
        if call_id:
            start["id"] = call_id
        if call.name:
            start["name"] = call.name
        start["input"] = {}  # NewToolCallFunctionArguments(): an empty map, not a zero value
        emit("content_block_start", {"index": index, "content_block": start})
        emit(
            "content_block_delta",
            {
                "index": index,
                "delta": {"type": "input_json_delta", "partial_json": dumps(_input(call)).decode()},
            },
        )
        stop()
        sent.add(call_id)
        index += 1
    if text_started or (thinking_started and not thinking_done):
        stop()
    delta: dict[str, Any] = {}
    reason = stop_reason(completion, bool(sent))
    if reason:
        delta["stop_reason"] = reason
    emit(
        "message_delta",
        {
            "delta": delta,
            "usage": {"input_tokens": result.prompt.tokens, "output_tokens": completion.eval_count},
        },
    )
    emit("message_stop", {})
    return events


def sse(kind: str, data: dict[str, Any]) -> bytes:
    """``writeSSE``: a named event, its JSON on one ``data:`` line."""
    return b"event: " + kind.encode() + b"\ndata: " + dumps(data) + b"\n\n"
