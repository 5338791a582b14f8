"""The OpenAI wire format, as Ollama's OpenAI layer speaks it.

Request models mirror ``openai.ChatCompletionRequest`` (unknown fields ignored, ``null`` means
unset, JSON types checked strictly as Go does); ``to_chat_request`` is Ollama's
``FromChatRequest``; the ``*_body`` / ``*_chunk`` functions build responses field for field in
Ollama's serialisation order (``openai/openai.go``).
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mockserver.engine.chat import ChatRequest, Message, Options, ToolCall
from mockserver.engine.engine import ChatResult, Completion
from mockserver.errors import OllamaError
from mockserver.wire import gobase64
from mockserver.wire.decode import GoInt, tool_call_arguments
from mockserver.wire.gojson import as_decoded, dumps, dumps_strings

_STRICT = ConfigDict(strict=True, extra="ignore", populate_by_name=True, defer_build=True)


def _go(go_type: str) -> dict[str, Any]:
    """The Go type Ollama decodes this field into (used in its decoding error messages)."""
    return {"x-go-type": go_type}


class FunctionCall(BaseModel):
    model_config = _STRICT
    name: str | None = Field(None, json_schema_extra=_go("string"))
    arguments: Any = None


class ToolCallIn(BaseModel):
    model_config = _STRICT
    id: str | None = Field(None, json_schema_extra=_go("string"))
    index: GoInt | None = Field(None, json_schema_extra=_go("int"))
    type: str | None = Field(None, json_schema_extra=_go("string"))
    function: FunctionCall | None = Field(None, json_schema_extra=_go("openai.Function"))


class MessageIn(BaseModel):
    model_config = _STRICT
    role: str | None = Field(None, json_schema_extra=_go("string"))
    content: Any = None
    reasoning: str | None = Field(None, json_schema_extra=_go("string"))
    tool_calls: list[ToolCallIn] | None = Field(None, json_schema_extra=_go("[]openai.ToolCall"))
    name: str | None = Field(None, json_schema_extra=_go("string"))
    tool_call_id: str | None = Field(None, json_schema_extra=_go("string"))


class StreamOptions(BaseModel):
    model_config = _STRICT
    include_usage: bool | None = Field(None, json_schema_extra=_go("bool"))


class ReasoningIn(BaseModel):
    model_config = _STRICT
    effort: str | None = Field(None, json_schema_extra=_go("string"))


class JsonSchemaIn(BaseModel):
    model_config = _STRICT
    schema_: Any = Field(None, alias="schema")


class ResponseFormatIn(BaseModel):
    model_config = _STRICT
    type: str | None = Field(None, json_schema_extra=_go("string"))
    json_schema: JsonSchemaIn | None = Field(None, json_schema_extra=_go("openai.JsonSchema"))


class ChatCompletionRequest(BaseModel):
    """``POST /v1/chat/completions`` body, as Ollama decodes it."""

    model_config = _STRICT
    model: str | None = Field(None, json_schema_extra=_go("string"))
    messages: list[MessageIn] | None = Field(None, json_schema_extra=_go("[]openai.Message"))
    stream: bool | None = Field(None, json_schema_extra=_go("bool"))
    stream_options: StreamOptions | None = Field(
        None, json_schema_extra=_go("openai.StreamOptions")
    )
    max_tokens: GoInt | None = Field(None, json_schema_extra=_go("int"))
    seed: GoInt | None = Field(None, json_schema_extra=_go("int"))
    stop: Any = None
    temperature: float | None = Field(None, json_schema_extra=_go("float64"))
    top_p: float | None = Field(None, json_schema_extra=_go("float64"))
    frequency_penalty: float | None = Field(None, json_schema_extra=_go("float64"))
    presence_penalty: float | None = Field(None, json_schema_extra=_go("float64"))
    tools: list[dict[str, Any]] | None = Field(None, json_schema_extra=_go("[]api.Tool"))
    reasoning_effort: str | None = Field(None, json_schema_extra=_go("string"))
    reasoning: ReasoningIn | None = Field(None, json_schema_extra=_go("openai.Reasoning"))
    response_format: ResponseFormatIn | None = Field(
        None, json_schema_extra=_go("openai.ResponseFormat")
    )
    debug_render_only: bool | None = Field(
        None, alias="_debug_render_only", json_schema_extra=_go("bool")
    )
    logprobs: bool | None = Field(None, json_schema_extra=_go("bool"))
    top_logprobs: GoInt | None = Field(None, json_schema_extra=_go("int"))


# --- request conversion (Ollama's FromChatRequest) -------------------------------------------

_EFFORTS = {
    "none": False,
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "max": "max",
    "xhigh": "max",
    "ultra": "max",
}


def to_chat_request(body: ChatCompletionRequest) -> ChatRequest:
    if not body.messages:
        raise _invalid("[] is too short - 'messages'")
    messages: list[Message] = []
    for message in body.messages:
        messages.extend(_convert_message(message, messages))
    stop = body.stop
    if isinstance(stop, str):
        stops: tuple[str, ...] = (stop,)
    elif isinstance(stop, list):
        stops = tuple(s for s in stop if isinstance(s, str))
    else:
        stops = ()
    return ChatRequest(
        model=body.model or "",
        messages=tuple(messages),
        tools=tuple(body.tools or ()),
        think=_think(body),
        options=Options(
            num_predict=body.max_tokens,
            seed=body.seed,
            temperature=1.0 if body.temperature is None else body.temperature,
            top_p=1.0 if body.top_p is None else body.top_p,
            stop=stops,
        ),
        render_only=bool(body.debug_render_only),
        format=_format(body.response_format),
        logprobs=bool(body.logprobs),
        top_logprobs=body.top_logprobs or 0,
    )


def _format(response_format: ResponseFormatIn | None) -> Any:
    """``response_format`` -> native ``format`` (``openai/openai.go`` FromChatRequest):
    ``json_object`` is ``"json"``, ``json_schema`` its raw ``schema`` (none without one);
    the type is trimmed and lower-cased; ``text`` and anything else: no format."""
    if response_format is None:
        return None
    kind = (response_format.type or "").strip().lower()
    if kind == "json_object":
        return "json"
    if kind == "json_schema" and response_format.json_schema is not None:
        return response_format.json_schema.schema_
    return None


def _think(body: ChatCompletionRequest) -> Any:
    """``thinkFromReasoningEffort`` (``openai/openai.go``). A ``reasoning`` object, even one
    without an effort, takes precedence over ``reasoning_effort``."""
    effort = body.reasoning.effort if body.reasoning is not None else body.reasoning_effort
    return think_from_effort(effort)


def think_from_effort(effort: str | None) -> Any:
    """``thinkFromReasoningEffort``: the ``think`` value of an effort (None: not asked), or
    Ollama's 400 for a name it does not know; shared by chat and Responses."""
    if not effort:
        return None
    if effort not in _EFFORTS:
        raise _invalid(
            f'invalid reasoning value: "{effort}" (must be "minimal", "low", "medium", '
            '"high", "xhigh", "ultra", "max", or "none")'
        )
    return _EFFORTS[effort]


def _convert_message(message: MessageIn, earlier: list[Message]) -> list[Message]:
    role = (message.role or "").lower()
    content = message.content
    if type(content) is str and not message.tool_calls and role != "tool":  # the usual case
        return [Message(role, content, message.reasoning or "", (), message.name or "")]
    calls = tuple(_convert_tool_call(call) for call in message.tool_calls or ())
    tool_name = message.name or ""
    if role == "tool" and not tool_name and message.tool_call_id:
        tool_name = next(
            (c.name for m in earlier for c in m.tool_calls if c.id == message.tool_call_id), ""
        )
    base: dict[str, Any] = {
        "role": role,
        "thinking": message.reasoning or "",
        "tool_name": tool_name,
    }
    content = message.content
    if isinstance(content, str):
        return [Message(content=content, tool_calls=calls, **base)]
    if content is None:
        if calls:
            return [Message(content="", tool_calls=calls, **base)]
        raise _invalid("invalid message content type: <nil>")
    if isinstance(content, list):
        return _convert_parts(content, calls, base, earlier)
    raise _invalid(f"invalid message content type: {_go_kind(content)}")


def _convert_parts(
    parts: list, calls: tuple[ToolCall, ...], base: dict, earlier: list[Message]
) -> list[Message]:
    """A content list (``FromChatRequest``): one message per part, with only the role and the
    part's text or payload; the message's tool calls, tool name and reasoning go on the last
    message converted so far (``messages[len(messages)-1]``: an earlier message's when this
    list is empty)."""
    out: list[Message] = []
    role = base["role"]
    for part in parts:
        if not isinstance(part, dict):
            raise _invalid("invalid message format")
        kind = part.get("type")
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise _invalid("invalid message format")
            out.append(Message(role=role, content=text))
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str):
                raise _invalid("invalid message format")
            out.append(Message(role=role, images=(decode_image_url(url),)))
        elif kind == "input_audio":
            out.append(Message(role=role, images=(_input_audio(part.get("input_audio")),)))
        else:
            raise _invalid("invalid message format")
    if calls:
        extra = {key: value for key, value in base.items() if key != "role"}
        if out:
            out[-1] = replace(out[-1], tool_calls=calls, **extra)
        elif earlier:
            earlier[-1] = replace(earlier[-1], tool_calls=calls, **extra)
    return out


_IMAGE_PREFIXES = tuple(f"data:image/{kind};base64," for kind in ("jpeg", "jpg", "png", "webp"))


def decode_image_url(url: str) -> bytes:
    """``decodeImageURL`` (``openai/openai.go``): no http(s) URLs (Ollama fetches nothing), a
    data URL of a JPEG, PNG or WebP (or a blank type, as ``/api/chat`` takes bare base64),
    prefixes matched case-sensitively; any failure, a bad base64 body included, is
    ``invalid image input``."""
    if url.startswith(("http://", "https://")):
        raise _invalid(
            "image URLs are not currently supported, please use base64 encoded data instead"
        )
    if url.startswith("data:;base64,"):
        data = url.removeprefix("data:;base64,")
    else:
        prefix = next((p for p in _IMAGE_PREFIXES if url.startswith(p)), None)
        if prefix is None:
            raise _invalid("invalid image input")
        data = url.removeprefix(prefix)
    try:
        return gobase64.decode(data)
    except gobase64.CorruptInput:
        raise _invalid("invalid image input") from None


def _input_audio(audio: Any) -> bytes:
    """An ``input_audio`` part: ``{"data": base64}`` decoded (``format`` is not read); the
    bytes reach the runner as one more payload, like an image."""
    if not isinstance(audio, dict):
        raise _invalid("invalid input_audio format")
    data = audio.get("data")
    if not isinstance(data, str):
        raise _invalid("invalid input_audio format: missing data")
    try:
        return gobase64.decode(data)
    except gobase64.CorruptInput as error:
        raise _invalid(f"invalid input_audio base64 data: {error}") from None


def _convert_tool_call(call: ToolCallIn) -> ToolCall:
    function = call.function or FunctionCall(name=None)
    arguments = function.arguments
    if not isinstance(arguments, str):
        raise _invalid("invalid tool call arguments")
    try:
        parsed = tool_call_arguments(arguments)
    except ValueError:
        raise _invalid("invalid tool call arguments") from None
    return ToolCall(name=function.name or "", arguments=parsed, id=call.id or "")


def _go_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "float64"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return type(value).__name__


def _invalid(message: str) -> OllamaError:
    return OllamaError(400, message, from_middleware=True)


# --- responses -------------------------------------------------------------------------------


def tool_call_json(call: ToolCall, index: int, call_id: str) -> dict[str, Any]:

    # Ollama parses the arguments out of the model's output (the fake's model writes them as
    # the template shows them: keys sorted) into an ordered map of decoded values.
    return {
        "id": call_id,
        "index": index,
        "type": "function",
        "function": {"name": call.name, "arguments": dumps(as_decoded(call.arguments)).decode()},
    }


def usage(result: ChatResult) -> dict[str, int]:
    prompt = result.prompt.tokens
    completion = result.completion.eval_count if result.completion else 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion_head(model: str, completion_id: str, created: int) -> dict[str, Any]:
    """A non-streamed answer's first fields, in ``completion_body``'s order."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": "fp_ollama",
    }


def completion_body(
    result: ChatResult, *, model: str, completion_id: str, created: int, call_ids: list[str]
) -> dict[str, Any]:
    completion = result.completion
    if completion is None:  # _debug_render_only
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_ollama",
            "choices": [
                {"index": 0, "message": {"role": "", "content": ""}, "finish_reason": None}
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "_debug_info": debug_info(result),
        }
    message: dict[str, Any] = {"role": "assistant", "content": completion.content}
    if completion.reasoning:
        message["reasoning"] = completion.reasoning
    if completion.tool_calls:
        message["tool_calls"] = [
            tool_call_json(call, i, call_ids[i]) for i, call in enumerate(completion.tool_calls)
        ]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": "fp_ollama",
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason(completion),
                **_logprobs(completion.logprobs),
            }
        ],
        "usage": usage(result),
    }


def _logprobs(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """``ChoiceLogprobs`` (``openai/openai.go``): ``{"content": [...]}``, omitted when none."""
    return {"logprobs": {"content": entries}} if entries else {}


def debug_info(result: ChatResult) -> dict[str, Any]:
    """``api.DebugInfo``: ``image_count`` is omitempty."""
    info: dict[str, Any] = {"rendered_template": result.prompt.text}
    images = result.prompt.images
    if images:
        info["image_count"] = images
    return info


def finish_reason(completion: Completion) -> str:
    if completion.tool_calls and completion.done_reason == "stop":
        return "tool_calls"
    return completion.done_reason or "stop"


def stream_chunks(
    result: ChatResult,
    *,
    model: str,
    completion_id: str,
    created: int,
    include_usage: bool,
    call_ids: list[str],
):
    """The chunk objects of a stream, in order (current Ollama, v0.32.6+).

    ``_debug_render_only`` (no completion): the handler writes one ChatResponse with the
    rendered prompt and returns, and the middleware's ChatWriter frames it as it frames every
    response of a stream: one chunk (``toChunk``: the role, empty content; the chunk type has no
    ``_debug_info``), no finish chunk and no ``[DONE]``, since the response is not ``done``
    (``server/routes.go`` ChatHandler, ``middleware/openai.go`` writeResponse)."""
    if result.completion is None:
        opening: dict[str, Any] = {"role": "assistant", "content": ""}
        yield {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_ollama",
            "choices": [{"index": 0, "delta": opening, "finish_reason": None}],
        }
        return
    completion = result.completion

    def chunk(choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_ollama",
            "choices": choices,
        }

    first = True
    if completion.logprobs:  # a chunk per token, each with its logprob (ToStreamChunks)
        from mockserver.wire.ollama import token_chunks

        for content, thinking, logprob in token_chunks(completion):
            token_delta: dict[str, Any] = {"role": "assistant"} if first else {}
            token_delta["content"] = content
            if thinking:
                token_delta["reasoning"] = thinking
            first = False
            choice = {"index": 0, "delta": token_delta, "finish_reason": None}
            yield chunk([{**choice, **_logprobs([logprob])}])
    for piece in completion.reasoning_pieces if not completion.logprobs else ():
        delta: dict[str, Any] = {"role": "assistant"} if first else {}
        delta["content"] = ""
        delta["reasoning"] = piece
        first = False
        yield chunk([{"index": 0, "delta": delta, "finish_reason": None}])
    for piece in completion.content_pieces if not completion.logprobs else ():
        delta = {"role": "assistant"} if first else {}
        delta["content"] = piece
        first = False
        yield chunk([{"index": 0, "delta": delta, "finish_reason": None}])
    # Each call in a chunk of its own, as Ollama's parser hands them on (engine/agent.py).
    for i, call in enumerate(completion.tool_calls):
        delta = {"role": "assistant"} if first else {}
        delta["tool_calls"] = [tool_call_json(call, i, call_ids[i])]
        first = False
        yield chunk([{"index": 0, "delta": delta, "finish_reason": None}])
    if first:  # an entirely empty completion still opens with the role
        yield chunk(
            [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
        )
    finish = chunk([{"index": 0, "delta": {}, "finish_reason": finish_reason(completion)}])
    yield finish
    if include_usage:
        yield {**finish, "choices": [], "usage": usage(result)}


# --- streams, serialised a piece at a time ------------------------------------------------------

_SENTINEL = "\x00piece\x00"  # a string no piece equals, to cut a serialised chunk around


def _around_piece(delta: dict[str, Any]) -> tuple[bytes, bytes]:
    """The bytes of a chunk's ``"choices":...}`` before and after its piece's JSON string
    (``delta`` holds the sentinel where the piece goes): serialised once, by ``dumps`` itself,
    so that ``before + dumps(piece) + after`` is exactly ``dumps`` of the chunk's rest (JSON
    concatenates: a string value's encoding does not depend on what is around it)."""

    rest = dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})[1:]
    before, marker, after = rest.partition(dumps(_SENTINEL))
    assert marker and _SENTINEL.encode() not in after
    return before, after


_REASONING_AROUND = _around_piece({"content": "", "reasoning": _SENTINEL})
_CONTENT_AROUND = _around_piece({"content": _SENTINEL})


def stream_rests(
    result: ChatResult,
    *,
    model: str,
    completion_id: str,
    created: int,
    include_usage: bool,
    call_ids: list[str],
) -> tuple[dict[str, Any], list[bytes]]:
    """``stream_chunks`` cut as ``fastpath.Encoded`` keeps it: the head (``id`` ...
    ``system_fingerprint``, the same in every chunk) and each chunk's serialised rest
    (without the framing).

    The chunks that carry one piece each, after the first (which also carries the role), are
    written as the piece's JSON between fixed bytes (``_around_piece``); the others are built
    by ``stream_chunks`` itself, from the completion with only its first piece. ``tests/
    test_fastpath.py`` checks every frame against ``dumps(chunk)``."""
    from dataclasses import replace

    def whole(chunks: Any) -> tuple[dict[str, Any], list[bytes]]:
        items = list(next(chunks).items())
        rests = [dumps(dict(items[5:]))[1:]]
        return dict(items[:5]), rests + [dumps(dict(list(c.items())[5:]))[1:] for c in chunks]

    completion = result.completion
    if completion is None or completion.logprobs:  # render-only; a chunk per token's logprob
        return whole(
            stream_chunks(
                result,
                model=model,
                completion_id=completion_id,
                created=created,
                include_usage=include_usage,
                call_ids=call_ids,
            )
        )
    reasoning, content = completion.reasoning_pieces, completion.content_pieces
    if reasoning:
        opening = replace(completion, reasoning_pieces=reasoning[:1], content_pieces=[])
        pieces = [(reasoning[1:], _REASONING_AROUND), (content, _CONTENT_AROUND)]
    else:
        opening = replace(completion, content_pieces=content[:1])
        pieces = [(content[1:], _CONTENT_AROUND)]
    chunks = stream_chunks(
        replace(result, completion=opening),
        model=model,
        completion_id=completion_id,
        created=created,
        include_usage=include_usage,
        call_ids=call_ids,
    )
    items = list(next(chunks).items())
    head = dict(items[:5])
    rests = [dumps(dict(items[5:]))[1:]]
    for texts, (before, after) in pieces:
        rests += [before + text + after for text in dumps_strings(texts)]
    rests += [dumps(dict(list(chunk.items())[5:]))[1:] for chunk in chunks]
    return head, rests


def _holes(count: int) -> list[str]:
    return [f"\x00hole{index}\x00" for index in range(count)]


def _cut_at_holes(value: dict[str, Any], holes: list[str]) -> tuple[bytes, ...]:
    """``dumps(value)`` (its ``{`` left off) cut where each hole's JSON string stands, in
    order: filling the holes with values' JSON gives ``dumps`` of the filled value."""

    rest = dumps(value)[1:]
    parts = []
    for hole in holes:
        before, marker, rest = rest.partition(dumps(hole))
        assert marker, hole
        parts.append(before)
    return (*parts, rest)


@functools.cache
def _completion_parts(reasoning: bool) -> tuple[bytes, ...]:
    """A non-streamed answer's ``"choices":...}`` with holes for content, reasoning (when it
    has some), finish reason and the three usage numbers."""
    holes = _holes(6 if reasoning else 5)
    texts = iter(holes)
    message = {"role": "assistant", "content": next(texts)}
    if reasoning:
        message["reasoning"] = next(texts)
    finish, prompt, completion, total = texts
    body = {
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total},
    }
    return _cut_at_holes(body, holes)


def completion_rest(result: ChatResult) -> bytes | None:
    """``completion_body``'s ``"choices":...}`` (as ``fastpath.Encoded`` keeps it) written
    into fixed bytes; None where ``completion_body`` must build it (tool calls, logprobs,
    render-only).
    ``tests/test_fastpath.py`` checks it against ``dumps``."""

    completion = result.completion
    if completion is None or completion.tool_calls or completion.logprobs:
        return None
    reasoning = completion.reasoning
    texts = [completion.content, reasoning] if reasoning else [completion.content]
    numbers = usage(result)
    values = [
        *dumps_strings([*texts, finish_reason(completion)]),
        *(str(numbers[key]).encode() for key in ("prompt_tokens", "completion_tokens")),
        str(numbers["total_tokens"]).encode(),
    ]
    parts = _completion_parts(bool(reasoning))
    out = [parts[0]]
    for value, part in zip(values, parts[1:], strict=True):
        out += (value, part)
    return b"".join(out)
