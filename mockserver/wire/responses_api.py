"""The OpenAI Responses wire format (``POST /v1/responses``), as Ollama's OpenAI layer speaks it.

Ollama's Responses support is stateless: ``previous_response_id``, ``conversation``, ``store``
and ``include`` are decoded (or not even decoded) and ignored, never refused, and every answer
says ``"store": false`` and ``"previous_response_id": null``.

``to_chat_request`` is Ollama's ``FromResponsesRequest``; ``response_body`` is ``ToResponse``
(a Go struct: fields in declaration order) and ``stream_events`` replays
``ResponsesStreamConverter.Process`` over the chat chunks the engine's completion streams as
(every payload a Go ``map[string]any``: keys sorted). Source: ``openai/responses.go`` and
``middleware/openai.go`` (``ResponsesMiddleware``, ``ResponsesWriter``) at ollama@fb3076099.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mockserver.engine.chat import ChatRequest, Message, Options, ToolCall
from mockserver.engine.engine import ChatResult, Completion
from mockserver.errors import OllamaError, bad_request
from mockserver.wire.decode import GoInt, json_kind, parse_json
from mockserver.wire.gojson import as_decoded, dumps
from mockserver.wire.openai import decode_image_url, think_from_effort

_STRICT = ConfigDict(strict=True, extra="ignore", populate_by_name=True, defer_build=True)


def _go(go_type: str) -> dict[str, Any]:
    return {"x-go-type": go_type}


class ReasoningIn(BaseModel):
    model_config = _STRICT
    effort: str | None = Field(None, json_schema_extra=_go("string"))
    generate_summary: str | None = Field(None, json_schema_extra=_go("string"))
    summary: str | None = Field(None, json_schema_extra=_go("string"))


class TextFormatIn(BaseModel):
    model_config = _STRICT
    type: str | None = Field(None, json_schema_extra=_go("string"))
    name: str | None = Field(None, json_schema_extra=_go("string"))
    schema_: Any = Field(None, alias="schema")
    strict: bool | None = Field(None, json_schema_extra=_go("bool"))


class TextIn(BaseModel):
    model_config = _STRICT
    format: TextFormatIn | None = Field(None, json_schema_extra=_go("openai.ResponsesTextFormat"))


class ToolIn(BaseModel):
    """``ResponsesTool``: flat, not nested under ``function`` as chat's tools are."""

    model_config = _STRICT
    type: str | None = Field(None, json_schema_extra=_go("string"))
    name: str | None = Field(None, json_schema_extra=_go("string"))
    description: str | None = Field(None, json_schema_extra=_go("string"))
    strict: bool | None = Field(None, json_schema_extra=_go("bool"))
    parameters: dict[str, Any] | None = Field(
        None, json_schema_extra=_go("map[string]interface {}")
    )
    tools: list[ToolIn] | None = Field(None, json_schema_extra=_go("[]openai.ResponsesTool"))


class ResponsesRequest(BaseModel):
    """``POST /v1/responses`` body, as Ollama decodes it (``openai.ResponsesRequest``)."""

    model_config = _STRICT
    model: str | None = Field(None, json_schema_extra=_go("string"))
    background: bool | None = Field(None, json_schema_extra=_go("bool"))
    input: Any = None
    instructions: str | None = Field(None, json_schema_extra=_go("string"))
    max_output_tokens: GoInt | None = Field(None, json_schema_extra=_go("int"))
    reasoning: ReasoningIn | None = Field(None, json_schema_extra=_go("openai.ResponsesReasoning"))
    temperature: float | None = Field(None, json_schema_extra=_go("float64"))
    text: TextIn | None = Field(None, json_schema_extra=_go("openai.ResponsesText"))
    top_p: float | None = Field(None, json_schema_extra=_go("float64"))
    truncation: str | None = Field(None, json_schema_extra=_go("string"))
    # Not named ``tools``: the shared decoder checks ``tools`` against chat's ``api.Tool``.
    tool_list: list[ToolIn] | None = Field(
        None, alias="tools", json_schema_extra=_go("[]openai.ResponsesTool")
    )
    stream: bool | None = Field(None, json_schema_extra=_go("bool"))


# --- request conversion (FromResponsesRequest) -----------------------------------------------


def _invalid(message: str) -> OllamaError:
    return bad_request(message, from_middleware=True)


def _string_or_items(value: Any, what: str) -> str | list[Any]:
    """``json.Unmarshal`` into a string, else into ``[]json.RawMessage``."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return value
    raise _invalid(
        f"{what} must be a string or array: json: cannot unmarshal {json_kind(value)} "
        "into Go value of type []json.RawMessage"
    )


def _content_text(parts: list[Any], where: str) -> tuple[str, tuple[bytes, ...]]:
    """``unmarshalResponsesContent`` then ``convertResponsesContent``: the text, and the images
    (``decodeImageURL``, as ``/v1/chat/completions`` decodes an ``image_url``)."""
    text = ""
    images: list[bytes] = []
    kinds: list[str] = []
    for i, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(part, dict) or not isinstance(kind, str | type(None)):
            raise _invalid(
                f"{where}[{i}]: json: cannot unmarshal {json_kind(part)} into Go value of type "
                'struct { Type string "json:\\"type\\"" }'
            )
        if kind not in ("input_text", "input_image", "output_text", "input_file"):
            raise _invalid(f"{where}[{i}]: unknown content type: {kind or ''}")
        kinds.append(kind)
    for part, kind in zip(parts, kinds, strict=True):
        if kind in ("input_text", "output_text"):
            value = part.get("text")
            text += value if isinstance(value, str) else ""
        elif kind == "input_image":
            url = part.get("image_url")
            if url:
                images.append(decode_image_url(url if isinstance(url, str) else ""))
        else:
            raise _invalid("file inputs are not currently supported")
    return text, tuple(images)


def _think(body: ResponsesRequest) -> Any:
    return think_from_effort(body.reasoning.effort if body.reasoning else None)


def _tools(tools: list[ToolIn], prefix: str = "") -> list[dict[str, Any]]:
    """``convertTools``: a ``namespace`` tool's members become ``namespace.member`` functions."""
    out: list[dict[str, Any]] = []
    for tool in tools:
        if tool.type == "namespace":
            name = tool.name or ""
            for member in _tools(tool.tools or []):
                member_function = member["function"]
                if name and not member_function["name"].startswith(name + "."):
                    member_function["name"] = f"{name}.{member_function['name']}"
                out.append(member)
            continue
        function: dict[str, Any] = {"name": tool.name or ""}
        if tool.description:
            function["description"] = tool.description
        if tool.parameters is not None:
            function["parameters"] = tool.parameters
        out.append({"type": tool.type or "", "function": function})
    return out


def items(body: ResponsesRequest) -> list[Any]:
    """The ``input`` items (a string input is none)."""
    if body.input is None:
        return []
    value = _string_or_items(body.input, "input")
    return [] if isinstance(value, str) else value


def to_chat_request(body: ResponsesRequest) -> ChatRequest:
    messages: list[Message] = []
    if body.instructions:
        messages.append(Message(role="system", content=body.instructions))
    if isinstance(body.input, str) and body.input:
        messages.append(Message(role="user", content=body.input))
    raw_items = items(body)
    parsed = [_item(raw, i) for i, raw in enumerate(raw_items)]
    pending_thinking = ""
    for i, (kind, item) in enumerate(parsed):
        if kind == "reasoning":
            value = item.get("encrypted_content")
            pending_thinking = value if isinstance(value, str) else ""
        elif kind == "message":
            role = str(item["role"]) if isinstance(item.get("role"), str) else ""
            content = item.get("content")
            text = ""
            images: tuple[bytes, ...] = ()
            if content is not None:
                value = _string_or_items(content, f"input[{i}]: content")
                text, images = (
                    (value, ())
                    if isinstance(value, str)
                    else _content_text(value, f"input[{i}]: content")
                )
            message = Message(role=role, content=text, images=images)
            if role == "assistant" and pending_thinking:
                message = _with(message, thinking=pending_thinking)
                pending_thinking = ""
            answered = (
                parsed[i + 1][1].get("call_id")
                if i + 1 < len(parsed) and parsed[i + 1][0] == "function_call_output"
                else ""
            )
            last = messages[-1] if messages else None
            if (
                role == "assistant"
                and answered
                and last is not None
                and last.role == "assistant"
                and any(call.id == answered for call in last.tool_calls)
            ):
                joined = last.content + ("\n" if last.content and text else "") + text
                messages[-1] = _with(
                    last,
                    content=joined,
                    images=last.images + images,
                    thinking=message.thinking or last.thinking,
                )
                continue
            messages.append(message)
        elif kind == "function_call":
            arguments = item.get("arguments")
            if arguments is not None and not isinstance(arguments, str):
                raise _invalid(
                    f"input[{i}]: json: cannot unmarshal {json_kind(arguments)} into Go struct "
                    "field ResponsesFunctionCall.arguments of type string"
                )
            try:
                args = parse_json(arguments.encode(), from_middleware=True) if arguments else {}
            except OllamaError as error:  # Go's syntax error, as the decoder words it
                raise _invalid(
                    f"failed to parse function call arguments: {error.message}"
                ) from None
            if not isinstance(args, dict):
                raise _invalid(
                    "failed to parse function call arguments: json: cannot unmarshal "
                    f"{json_kind(args)} into Go value of type api.ToolCallFunctionArguments"
                )
            call = ToolCall(
                name=str(item.get("name") or ""), arguments=args, id=str(item.get("call_id") or "")
            )
            if messages and messages[-1].role == "assistant":
                last = messages[-1]
                messages[-1] = _with(
                    last,
                    tool_calls=(*last.tool_calls, call),
                    thinking=pending_thinking or last.thinking,
                )
            else:
                messages.append(
                    Message(role="assistant", tool_calls=(call,), thinking=pending_thinking)
                )
            pending_thinking = ""
        elif kind == "function_call_output":
            output = item.get("output")
            text, images = "", ()
            if output is not None:
                value = _string_or_items(output, f"input[{i}]: output")
                text, images = (
                    (value, ())
                    if isinstance(value, str)
                    else _content_text(value, f"input[{i}]: output")
                )
            call_id = str(item.get("call_id") or "")
            # The chat handler names a tool result after the call it answers (as /v1/chat does).
            name = next(
                (c.name for m in messages for c in m.tool_calls if call_id and c.id == call_id), ""
            )
            messages.append(Message(role="tool", content=text, images=images, tool_name=name))
    if pending_thinking:
        messages.append(Message(role="assistant", thinking=pending_thinking))
    return ChatRequest(
        model=body.model or "",
        messages=tuple(messages),
        tools=tuple(_tools(body.tool_list or [])),
        think=_think(body),
        options=Options(
            num_predict=body.max_output_tokens,
            temperature=1.0 if body.temperature is None else body.temperature,
            top_p=body.top_p,
        ),
        format=format_schema(body),
    )


def _with(message: Message, **changes: Any) -> Message:
    from dataclasses import replace

    return replace(message, **changes)


_ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning", "web_search_call")


def _item(raw: Any, index: int) -> tuple[str, dict[str, Any]]:
    """``unmarshalResponsesInputItem``: ``{"role": ...}`` without a type is a message."""
    if not isinstance(raw, dict):
        raise _invalid(
            f"input[{index}]: json: cannot unmarshal {json_kind(raw)} into Go value of type "
            'struct { Type string "json:\\"type\\""; Role string "json:\\"role\\"" }'
        )
    kind = raw.get("type") if isinstance(raw.get("type"), str) else ""
    if not kind and isinstance(raw.get("role"), str) and raw["role"]:
        kind = "message"
    if not kind:
        raise _invalid(f"input[{index}]: input item missing required 'type' field")
    if kind not in _ITEM_TYPES:
        raise _invalid(f'input[{index}]: unknown input item type: "{kind}"')
    return kind, raw


# --- responses -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A ``json.RawMessage``: marshalled as given (compact), its object keys not re-sorted."""

    value: Any


def go_map(value: Any) -> Any:
    """``value`` as Go marshals a ``map[string]any`` tree: keys sorted, ``Raw`` kept as is."""
    if isinstance(value, Raw):
        return value.value
    if isinstance(value, dict):
        return {key: go_map(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [go_map(item) for item in value]
    return value


def _struct(value: dict[str, Any]) -> dict[str, Any]:
    """A Go struct's fields in declaration order (``Raw`` values unwrapped)."""
    return {key: item.value if isinstance(item, Raw) else item for key, item in value.items()}


@dataclass(frozen=True)
class Ids:
    """The ids Ollama draws per request: ``resp_<n>``, ``msg_<n>``, and per streamed item."""

    response: str
    message: str
    reasoning: str
    function_calls: tuple[str, ...]
    call_ids: tuple[str, ...]


def _arguments(call: ToolCall) -> str:
    return dumps(as_decoded(call.arguments)).decode()


def _usage(result: ChatResult) -> dict[str, Any]:
    prompt = result.prompt.tokens
    output = result.completion.eval_count if result.completion else 0
    return {
        "input_tokens": prompt,
        "output_tokens": output,
        "total_tokens": prompt + output,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }


def _text_format(body: ResponsesRequest) -> dict[str, Any]:
    fmt = body.text.format if body.text else None
    if fmt is None:
        return {"type": "text"}
    out: dict[str, Any] = {"type": fmt.type or ""}
    if fmt.name:
        out["name"] = fmt.name
    if fmt.schema_ is not None:
        out["schema"] = Raw(fmt.schema_)
    if fmt.strict is not None:
        out["strict"] = fmt.strict
    return out


def format_schema(body: ResponsesRequest) -> Any:
    """The JSON schema ``text.format`` asks for (Ollama's chat ``format``), if any."""
    fmt = body.text.format if body.text else None
    if fmt is not None and fmt.type == "json_schema":
        return fmt.schema_
    return None


def _tool_json(tool: ToolIn) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": tool.type or "",
        "name": tool.name or "",
        "description": tool.description,
        "strict": tool.strict,
        "parameters": None if tool.parameters is None else go_map(tool.parameters),
    }
    if tool.tools:
        out["tools"] = [_tool_json(member) for member in tool.tools]
    return out


def response_body(
    result: ChatResult, body: ResponsesRequest, *, ids: Ids, created: int
) -> dict[str, Any]:
    """``ToResponse`` plus ``completed_at`` (``ResponsesWriter``), in struct field order."""
    completion = result.completion or Completion()
    output: list[dict[str, Any]] = []
    if completion.reasoning:
        output.append(
            {
                "id": f"rs_{ids.response}",
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": completion.reasoning}],
                "encrypted_content": completion.reasoning,
            }
        )
    if completion.tool_calls:
        for i, call in enumerate(completion.tool_calls):
            item: dict[str, Any] = {
                "id": f"fc_{ids.response}_{i}",
                "type": "function_call",
                "status": "completed",
            }
            if ids.call_ids[i]:
                item["call_id"] = ids.call_ids[i]
            if call.name:
                item["name"] = call.name
            item["arguments"] = _arguments(call)
            output.append(item)
    else:
        output.append(
            {
                "id": ids.message,
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [
                    {
                        "type": "output_text",
                        "text": completion.content,
                        "annotations": [],
                        "logprobs": [],
                    }
                ],
            }
        )
    reasoning = None
    if body.reasoning and (body.reasoning.effort or body.reasoning.summary):
        reasoning = {}
        if body.reasoning.effort:
            reasoning["effort"] = body.reasoning.effort
        if body.reasoning.summary:
            reasoning["summary"] = body.reasoning.summary
    return {
        "id": ids.response,
        "object": "response",
        "created_at": created,
        "completed_at": created,
        "status": "completed",
        "incomplete_details": None,
        "model": body.model or "",
        "previous_response_id": None,
        "instructions": body.instructions or None,
        "output": output,
        "error": None,
        "tools": [_tool_json(tool) for tool in body.tool_list or []],
        "tool_choice": "auto",
        "truncation": body.truncation if body.truncation is not None else "disabled",
        "parallel_tool_calls": True,
        "text": {"format": _struct(_text_format(body))},
        "top_p": 1.0 if body.top_p is None else body.top_p,
        "presence_penalty": 0,
        "frequency_penalty": 0,
        "top_logprobs": 0,
        "temperature": 1.0 if body.temperature is None else body.temperature,
        "reasoning": reasoning,
        "usage": _usage(result),
        "max_output_tokens": body.max_output_tokens,
        "max_tool_calls": None,
        "store": False,
        "background": bool(body.background),
        "service_tier": "default",
        "metadata": {},
        "safety_identifier": None,
        "prompt_cache_key": None,
    }


class _Converter:
    """``ResponsesStreamConverter``: chat chunks in, Responses events out, in Ollama's order."""

    def __init__(self, body: ResponsesRequest, ids: Ids, created: int) -> None:
        self.body = body
        self.ids = ids
        self.created = created
        self.item_id = ids.message
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.sequence = 0
        self.output_index = 0
        self.content_started = False
        self.tool_calls_sent = False
        self.text = ""
        self.thinking = ""
        self.reasoning_started = False
        self.completed: list[dict[str, Any]] = []
        self.calls_seen = 0

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        data["type"] = kind
        data["sequence_number"] = self.sequence
        self.sequence += 1
        self.events.append((kind, go_map(data)))

    def response(self, status: str, output: list[Any], usage: Any) -> dict[str, Any]:
        body = self.body
        reasoning = None
        if body.reasoning and (body.reasoning.effort or body.reasoning.summary):
            reasoning = {
                "effort": body.reasoning.effort or None,
                "summary": body.reasoning.summary or None,
            }
        tools = [
            {
                "type": t.type or "",
                "name": t.name or "",
                "description": t.description,
                "strict": t.strict,
                "parameters": t.parameters,
            }
            for t in body.tool_list or []
        ]
        return {
            "id": self.ids.response,
            "object": "response",
            "created_at": self.created,
            "completed_at": None,
            "status": status,
            "incomplete_details": None,
            "model": body.model or "",
            "previous_response_id": None,
            "instructions": body.instructions or None,
            "output": output,
            "error": None,
            "tools": tools,
            "tool_choice": "auto",
            "truncation": body.truncation if body.truncation is not None else "disabled",
            "parallel_tool_calls": True,
            "text": {"format": _text_format(body)},
            "top_p": 1.0 if body.top_p is None else body.top_p,
            "presence_penalty": 0,
            "frequency_penalty": 0,
            "top_logprobs": 0,
            "temperature": 1.0 if body.temperature is None else body.temperature,
            "reasoning": reasoning,
            "usage": usage,
            "max_output_tokens": body.max_output_tokens,
            "max_tool_calls": None,
            "store": False,
            "background": bool(body.background),
            "service_tier": "default",
            "metadata": {},
            "safety_identifier": None,
            "prompt_cache_key": None,
        }

    def start(self) -> None:
        self.emit("response.created", {"response": self.response("in_progress", [], None)})
        self.emit("response.in_progress", {"response": self.response("in_progress", [], None)})

    def thinking_piece(self, piece: str) -> None:
        if not self.reasoning_started:
            self.reasoning_started = True
            self.emit(
                "response.output_item.added",
                {
                    "output_index": self.output_index,
                    "item": {"id": self.ids.reasoning, "type": "reasoning", "summary": []},
                },
            )
        self.thinking += piece
        self.emit(
            "response.reasoning_summary_text.delta",
            {
                "item_id": self.ids.reasoning,
                "output_index": self.output_index,
                "summary_index": 0,
                "delta": piece,
            },
        )

    def finish_reasoning(self) -> None:
        if not self.reasoning_started:
            return
        item = {
            "id": self.ids.reasoning,
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": self.thinking}],
            "encrypted_content": self.thinking,
        }
        self.completed.append(item)
        index = self.output_index
        self.emit(
            "response.reasoning_summary_text.done",
            {
                "item_id": self.ids.reasoning,
                "output_index": index,
                "summary_index": 0,
                "text": self.thinking,
            },
        )
        self.emit("response.output_item.done", {"output_index": index, "item": item})
        self.thinking = ""
        self.reasoning_started = False
        self.output_index += 1

    def tool_calls(self, calls: tuple[ToolCall, ...]) -> None:
        self.finish_reasoning()
        for i, call in enumerate(calls):
            index = self.output_index + i
            item_id = self.ids.function_calls[self.calls_seen + i]
            call_id = self.ids.call_ids[self.calls_seen + i]
            arguments = _arguments(call)
            item = {
                "id": item_id,
                "type": "function_call",
                "status": "completed",
                "call_id": call_id,
                "name": call.name,
                "arguments": arguments,
            }
            self.completed.append(item)
            added = {**item, "status": "in_progress", "arguments": ""}
            self.emit("response.output_item.added", {"output_index": index, "item": added})
            self.emit(
                "response.function_call_arguments.delta",
                {"item_id": item_id, "output_index": index, "delta": arguments},
            )
            self.emit(
                "response.function_call_arguments.done",
                {"item_id": item_id, "output_index": index, "arguments": arguments},
            )
            self.emit("response.output_item.done", {"output_index": index, "item": item})
        self.calls_seen += len(calls)
        self.output_index += len(calls)
        self.tool_calls_sent = True

    def _part(self, text: str) -> dict[str, Any]:
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

    def _message(self, status: str, content: list[Any]) -> dict[str, Any]:
        return {
            "id": self.item_id,
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    def text_piece(self, piece: str) -> None:
        self.finish_reasoning()
        if not self.content_started:
            self.content_started = True
            self.emit(
                "response.output_item.added",
                {"output_index": self.output_index, "item": self._message("in_progress", [])},
            )
            self.emit(
                "response.content_part.added",
                {
                    "item_id": self.item_id,
                    "output_index": self.output_index,
                    "content_index": 0,
                    "part": self._part(""),
                },
            )
        self.text += piece
        self.emit(
            "response.output_text.delta",
            {
                "item_id": self.item_id,
                "output_index": self.output_index,
                "content_index": 0,
                "delta": piece,
                "logprobs": [],
            },
        )

    def done(self, result: ChatResult) -> None:
        self.finish_reasoning()
        where = {"item_id": self.item_id, "output_index": self.output_index, "content_index": 0}
        if not self.tool_calls_sent and self.content_started:
            self.emit("response.output_text.done", {**where, "text": self.text, "logprobs": []})
            self.emit("response.content_part.done", {**where, "part": self._part(self.text)})
            self.emit(
                "response.output_item.done",
                {
                    "output_index": self.output_index,
                    "item": self._message("completed", [self._part(self.text)]),
                },
            )
        output = list(self.completed)
        if self.content_started:
            output.append(self._message("completed", [self._part(self.text)]))
        response = self.response("completed", output, _usage(result))
        response["completed_at"] = self.created
        self.emit("response.completed", {"response": response})


def stream_events(
    result: ChatResult, body: ResponsesRequest, *, ids: Ids, created: int
) -> list[tuple[str, dict[str, Any]]]:
    """Every event of the stream, in order, from the chat chunks the engine's completion makes:
    one per reasoning piece, one per content piece, one with the tool calls, then ``done``."""
    completion = result.completion or Completion()
    converter = _Converter(body, ids, created)
    converter.start()
    for piece in completion.reasoning_pieces:
        if piece:
            converter.thinking_piece(piece)
    for piece in completion.content_pieces:
        if piece and not converter.tool_calls_sent:
            converter.text_piece(piece)
    if completion.tool_calls:
        converter.tool_calls(completion.tool_calls)
    converter.done(result)
    return converter.events


def sse(kind: str, data: dict[str, Any]) -> bytes:
    """``ResponsesWriter.writeEvent``: a named event, its JSON on one ``data:`` line."""
    return b"event: " + kind.encode() + b"\ndata: " + dumps(data) + b"\n\n"
