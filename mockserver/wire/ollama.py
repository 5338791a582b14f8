"""Ollama's native wire format (``api/types.go`` at ollama/ollama@fb3076099, v0.33.0-rc2).

Request models mirror ``api.ChatRequest`` / ``api.GenerateRequest`` / ``api.ShowRequest``
(unknown fields ignored, ``null`` = unset, JSON types checked as Go's decoder does, with its
error wording); ``think`` and ``keep_alive`` have custom decoders in Go and are checked here the
same way. ``options`` is a free map applied like ``Options.FromMap``. The ``*_body`` functions
build responses in Go's field order, dropping ``omitempty`` zero values.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mockserver.engine.chat import ChatRequest, Message, Options, Think, ToolCall
from mockserver.engine.engine import ChatResult, Completion
from mockserver.errors import OllamaError
from mockserver.wire import gobase64
from mockserver.wire.decode import GoInt
from mockserver.wire.gojson import as_decoded

_STRICT = ConfigDict(strict=True, extra="ignore", populate_by_name=True, defer_build=True)


def _go(go_type: str) -> dict[str, Any]:
    return {"x-go-type": go_type}


class ToolCallFunctionIn(BaseModel):
    model_config = _STRICT
    index: GoInt | None = Field(None, json_schema_extra=_go("int"))
    name: str | None = Field(None, json_schema_extra=_go("string"))
    arguments: dict[str, Any] | None = Field(
        None, json_schema_extra=_go("api.ToolCallFunctionArguments")
    )


class ToolCallIn(BaseModel):
    model_config = _STRICT
    id: str | None = Field(None, json_schema_extra=_go("string"))
    function: ToolCallFunctionIn | None = Field(None, json_schema_extra=_go("api.ToolCallFunction"))


class MessageIn(BaseModel):
    model_config = _STRICT
    role: str | None = Field(None, json_schema_extra=_go("string"))
    content: str | None = Field(None, json_schema_extra=_go("string"))
    thinking: str | None = Field(None, json_schema_extra=_go("string"))
    images: list[str] | None = Field(None, json_schema_extra=_go("[]api.ImageData"))
    tool_calls: list[ToolCallIn] | None = Field(None, json_schema_extra=_go("[]api.ToolCall"))
    tool_name: str | None = Field(None, json_schema_extra=_go("string"))
    tool_call_id: str | None = Field(None, json_schema_extra=_go("string"))


class _Common(BaseModel):
    """Fields ``api.ChatRequest`` and ``api.GenerateRequest`` share."""

    model_config = _STRICT
    model: str | None = Field(None, json_schema_extra=_go("string"))
    stream: bool | None = Field(None, json_schema_extra=_go("bool"))
    format: Any = None
    keep_alive: Any = None
    options: dict[str, Any] | None = Field(None, json_schema_extra=_go("map[string]interface {}"))
    think: Any = None
    truncate: bool | None = Field(None, json_schema_extra=_go("bool"))
    shift: bool | None = Field(None, json_schema_extra=_go("bool"))
    debug_render_only: bool | None = Field(
        None, alias="_debug_render_only", json_schema_extra=_go("bool")
    )
    logprobs: bool | None = Field(None, json_schema_extra=_go("bool"))
    top_logprobs: GoInt | None = Field(None, json_schema_extra=_go("int"))


class ChatRequestIn(_Common):
    """``POST /api/chat`` body."""

    messages: list[MessageIn] | None = Field(None, json_schema_extra=_go("[]api.Message"))
    tools: list[dict[str, Any]] | None = Field(None, json_schema_extra=_go("api.Tools"))


class GenerateRequestIn(_Common):
    """``POST /api/generate`` body."""

    prompt: str | None = Field(None, json_schema_extra=_go("string"))
    suffix: str | None = Field(None, json_schema_extra=_go("string"))
    system: str | None = Field(None, json_schema_extra=_go("string"))
    template: str | None = Field(None, json_schema_extra=_go("string"))
    context: list[GoInt] | None = Field(None, json_schema_extra=_go("[]int"))
    raw: bool | None = Field(None, json_schema_extra=_go("bool"))
    images: list[str] | None = Field(None, json_schema_extra=_go("[]api.ImageData"))


class ShowRequestIn(BaseModel):
    """``POST /api/show`` body."""

    model_config = _STRICT
    model: str | None = Field(None, json_schema_extra=_go("string"))
    system: str | None = Field(None, json_schema_extra=_go("string"))
    template: str | None = Field(None, json_schema_extra=_go("string"))
    verbose: bool | None = Field(None, json_schema_extra=_go("bool"))
    options: dict[str, Any] | None = Field(None, json_schema_extra=_go("map[string]interface {}"))
    name: str | None = Field(None, json_schema_extra=_go("string"))


# --- custom decoders: think (api.ThinkValue), keep_alive (api.Duration) ------------------------


def go_quote(text: str) -> str:
    """Go's ``%q`` for the strings that reach error messages."""
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{out}"'


_THINK_LEVELS: dict[str, Think] = {"high": "high", "medium": "medium", "low": "low", "max": "max"}


def parse_think(value: Any) -> Think:
    """``ThinkValue.UnmarshalJSON``: a bool, or "high" / "medium" / "low" / "max"."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        level = _THINK_LEVELS.get(value)
        if level is not None:
            return level
        raise OllamaError(
            400,
            f"invalid think value: {go_quote(value)} "
            '(must be "high", "medium", "low", "max", true, or false)',
        )
    raise OllamaError(
        400, 'think must be a boolean or string ("high", "medium", "low", "max", true, or false)'
    )


def check_top_logprobs(value: int | None) -> None:
    """ChatHandler / GenerateHandler, before the model is looked up."""
    if value is not None and not 0 <= value <= 20:
        raise OllamaError(400, "top_logprobs must be between 0 and 20")


_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)([a-zµμ]*)")


def parse_go_duration(text: str) -> float:
    """``time.ParseDuration``, in seconds; errors worded as Go words them."""
    original = text
    invalid = OllamaError(400, f"time: invalid duration {go_quote(original)}")
    sign = -1.0 if text.startswith("-") else 1.0
    text = text[1:] if text[:1] in "+-" else text
    if text == "0":
        return 0.0
    if not text:
        raise invalid
    total = 0.0
    position = 0
    while position < len(text):
        match = _DURATION_PART.match(text, position)
        if match is None or match.group(1) == ".":
            raise invalid
        number, unit = match.groups()
        if not unit:
            raise OllamaError(400, f"time: missing unit in duration {go_quote(original)}")
        if unit not in _UNITS:
            raise OllamaError(
                400, f"time: unknown unit {go_quote(unit)} in duration {go_quote(original)}"
            )
        total += float(number) * _UNITS[unit]
        position = match.end()
    return sign * total


def parse_keep_alive(value: Any) -> float | None:
    """``Duration.UnmarshalJSON``: seconds, or a Go duration string; negative = forever."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise OllamaError(400, "Unsupported type: 'bool'")
    if isinstance(value, int | float):
        return -1.0 if value < 0 else float(value)
    if isinstance(value, str):
        seconds = parse_go_duration(value)
        return -1.0 if seconds < 0 else seconds
    kind = "[]interface {}" if isinstance(value, list) else "map[string]interface {}"
    raise OllamaError(400, f"Unsupported type: '{kind}'")


# --- model references (internal/modelref/modelref.go) ---------------------------------------


def local_model_ref(raw: str) -> str:
    """``ParseRef`` for a local run (``mockserver/modelref.py``): the trimmed name without a
    ``:local`` suffix; two suffixes are the 400."""
    from mockserver.modelref import local_base

    return local_base(raw)


# --- options (api.Options.FromMap) --------------------------------------------------------------

_INT_OPTIONS = {
    "num_keep", "seed", "num_predict", "top_k", "repeat_last_n", "num_ctx", "num_batch",
    "num_gpu", "main_gpu", "num_thread", "draft_num_predict",
}  # fmt: skip
_FLOAT_OPTIONS = {
    "top_p", "min_p", "typical_p", "temperature", "repeat_penalty", "presence_penalty",
    "frequency_penalty",
}  # fmt: skip
_BOOL_OPTIONS = {"use_mmap"}
_FROM_MAP_STATUS = 500  # handleScheduleError: not one of its typed errors


def parse_options(raw: dict[str, Any] | None) -> dict[str, Any]:
    """Type-check options as ``FromMap`` does (``api/types.go``); unknown keys are ignored
    (Ollama logs a warning) and ``null`` values skipped.

    ``FromMap``'s errors surface from ``scheduleRunner`` through ``handleScheduleError``'s
    default branch (``server/routes.go``), so Ollama answers them with status 500 and the
    error's text: the fake copies both. (Go walks the map in random order, so with several
    wrongly typed options Ollama names any one of them; the fake names the first.)
    """
    options: dict[str, Any] = {}
    for key, value in (raw or {}).items():
        if value is None:
            continue
        if key in _INT_OPTIONS:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise OllamaError(
                    _FROM_MAP_STATUS, f"option {go_quote(key)} must be of type integer"
                )
            options[key] = int(value)
        elif key in _FLOAT_OPTIONS:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise OllamaError(
                    _FROM_MAP_STATUS, f"option {go_quote(key)} must be of type float32"
                )
            options[key] = float(value)
        elif key in _BOOL_OPTIONS:
            if not isinstance(value, bool):
                raise OllamaError(
                    _FROM_MAP_STATUS, f"option {go_quote(key)} must be of type boolean"
                )
            options[key] = value
        elif key == "stop":
            if not isinstance(value, list):
                raise OllamaError(_FROM_MAP_STATUS, f"option {go_quote(key)} must be of type array")
            if not all(isinstance(item, str) for item in value):
                raise OllamaError(
                    _FROM_MAP_STATUS, f"option {go_quote(key)} must be of an array of strings"
                )
            options[key] = tuple(value)
    return options


def engine_options(options: dict[str, Any]) -> Options:
    return Options(
        num_predict=options.get("num_predict"),
        num_ctx=options.get("num_ctx"),
        num_keep=options.get("num_keep"),
        seed=options.get("seed"),
        temperature=options.get("temperature"),
        top_p=options.get("top_p"),
        stop=options.get("stop", ()),
    )


# --- request conversion ---------------------------------------------------------------------


def decode_images(values: list[str] | None) -> tuple[bytes, ...]:
    """``[]api.ImageData``: ``encoding/json`` decodes each string with ``base64.StdEncoding``;
    a failure is ``ShouldBindJSON``'s error, the handler's 400 (``illegal base64 data at input
    byte N``). Checked after the JSON types (a type error elsewhere is reported first)."""
    out: list[bytes] = []
    for value in values or ():
        try:
            out.append(gobase64.decode(value))
        except gobase64.CorruptInput as error:
            raise OllamaError(400, str(error)) from None
    return tuple(out)


def chat_messages(
    messages: list[MessageIn], images: list[tuple[bytes, ...]] | None = None
) -> tuple[Message, ...]:
    decoded = images if images is not None else [decode_images(m.images) for m in messages]
    return tuple(
        Message(
            role=(m.role or "").lower(),
            content=m.content or "",
            thinking=m.thinking or "",
            tool_calls=tuple(
                ToolCall(
                    name=(call.function.name if call.function else None) or "",
                    arguments=(call.function.arguments if call.function else None) or {},
                    id=call.id or "",
                )
                for call in m.tool_calls or ()
            ),
            tool_name=m.tool_name or "",
            images=payloads,
        )
        for m, payloads in zip(messages, decoded, strict=True)
    )


def to_chat_request(
    body: ChatRequestIn,
    think: Think,
    options: Options,
    images: list[tuple[bytes, ...]] | None = None,
) -> ChatRequest:
    return ChatRequest(
        model=body.model or "",
        messages=chat_messages(body.messages or [], images),
        tools=tuple(body.tools or ()),
        think=think,
        options=options,
        render_only=bool(body.debug_render_only),
        truncate=body.truncate is not False,
        shift=body.shift is not False,
        format=body.format,
        logprobs=bool(body.logprobs),
        top_logprobs=body.top_logprobs or 0,
    )


def generate_to_chat_request(
    body: GenerateRequestIn,
    think: Think,
    options: Options,
    images: tuple[bytes, ...] | None = None,
) -> ChatRequest:
    """``GenerateHandler``'s chat-like flow: [system] + one user message, or the raw prompt.

    The model's default system prompt is added by the engine when ``system`` is empty, as
    ``m.System`` is in Ollama.
    """
    messages: list[Message] = []
    if body.system and not body.raw:
        messages.append(Message(role="system", content=body.system))
    payloads = images if images is not None else decode_images(body.images)
    messages.append(Message(role="user", content=body.prompt or "", images=payloads))
    return ChatRequest(
        model=body.model or "",
        messages=tuple(messages),
        think=think,
        options=options,
        render_only=bool(body.debug_render_only),
        raw=bool(body.raw),
        truncate=body.truncate is not False,
        shift=body.shift is not False,
        format=body.format,
        template="" if body.raw else body.template or "",
        logprobs=bool(body.logprobs),
        top_logprobs=body.top_logprobs or 0,
    )


# --- responses -------------------------------------------------------------------------------


def go_time(ns: int) -> str:
    """A UTC ``time.Time`` as Go's JSON writes it: RFC 3339, nanoseconds, trailing zeros cut."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
    return f"{stamp}{fraction}Z"


def go_local_time(moment: datetime) -> str:
    """A local ``time.Time`` (a file's ModTime, ``expires_at``) as Go's JSON writes it:
    RFC 3339 with nanoseconds (trailing zeros cut) and the server's UTC offset, ``Z`` when the
    offset is zero, e.g. ``2025-05-04T17:37:44.706015396-07:00``."""
    local = moment.astimezone()
    stamp = local.strftime("%Y-%m-%dT%H:%M:%S")
    nanos = local.microsecond * 1000
    fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
    offset = local.utcoffset()
    minutes = int(offset.total_seconds()) // 60 if offset else 0
    if minutes == 0:
        return f"{stamp}{fraction}Z"
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{stamp}{fraction}{sign}{hours:02d}:{rest:02d}"


def metrics(result: ChatResult, total_ns: int) -> dict[str, int]:
    """``api.Metrics`` (all omitempty). total >= load + prompt eval + eval, none zero."""
    completion = result.completion or Completion()
    load = max(result.load_ns, 1)
    prompt_eval = max(result.prompt_eval_ns, 1)
    evaluation = max(result.eval_ns, 1)
    out = {
        "total_duration": max(total_ns, load + prompt_eval + evaluation),
        "load_duration": load,
        "prompt_eval_count": result.prompt.tokens,
        "prompt_eval_duration": prompt_eval,
        "eval_count": completion.eval_count,
        "eval_duration": evaluation,
    }
    return {key: value for key, value in out.items() if value}


def native_tool_calls(calls: tuple[ToolCall, ...], call_ids: list[str]) -> list[dict[str, Any]]:
    """``api.ToolCall``: ``id`` (``call_`` + 8 of [a-z0-9], ``toolCallId`` in
    ``server/routes.go``, the same id /v1 shows), ``function`` = index, name, arguments."""
    return [
        {
            "id": call_ids[i],
            "function": {"index": i, "name": call.name, "arguments": as_decoded(call.arguments)},
        }
        for i, call in enumerate(calls)
    ]


def _message(
    content: str, thinking: str = "", tool_calls: tuple = (), call_ids: list[str] | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking:
        message["thinking"] = thinking
    if tool_calls:
        message["tool_calls"] = native_tool_calls(tool_calls, call_ids or [])
    return message


def chat_final(
    result: ChatResult,
    *,
    model: str,
    created_at: str,
    total_ns: int,
    stream: bool,
    call_ids: list[str],
) -> dict[str, Any]:
    """The ``done:true`` object; non-streamed it carries the whole message."""
    completion = result.completion or Completion()
    if stream:
        message = _message("")
    else:
        message = _message(
            completion.content, completion.reasoning, completion.tool_calls, call_ids
        )
    return {
        "model": model,
        "created_at": created_at,
        "message": message,
        "done": True,
        "done_reason": completion.done_reason,
        **({"logprobs": completion.logprobs} if completion.logprobs and not stream else {}),
        **metrics(result, total_ns),
    }


def token_chunks(completion: Completion) -> list[tuple[str, str, dict[str, Any]]]:
    """With ``logprobs``, one streamed response per emitted token, as the runner sends them:
    (content, thinking, its logprob); a control token's content is empty (the parsers hold
    it back) but its response is still sent, for its logprob (ChatHandler)."""
    out = []
    for kind, piece, logprob in zip(
        completion.raw_kinds, completion.raw_pieces, completion.logprobs, strict=False
    ):
        out.append(
            (
                piece if kind == "content" else "",
                piece if kind == "reasoning" else "",
                logprob,
            )
        )
    return out


def chat_chunks(
    result: ChatResult, *, model: str, clock, call_ids: list[str]
) -> list[dict[str, Any]]:
    """Streamed partial responses: one per emitted token (parser output that is not empty)."""
    completion = result.completion or Completion()
    chunks: list[dict[str, Any]] = []

    def chunk(message: dict[str, Any]) -> dict[str, Any]:
        return {"model": model, "created_at": clock(), "message": message, "done": False}

    if completion.logprobs:
        for content, thinking, logprob in token_chunks(completion):
            chunks.append({**chunk(_message(content, thinking)), "logprobs": [logprob]})
    else:
        chunks += [chunk(_message("", p)) for p in completion.reasoning_pieces if p]
        chunks += [chunk(_message(piece)) for piece in completion.content_pieces if piece]
    # Each call in a chunk of its own, where its JSON closes (tools/tools.go; engine/agent.py).
    calls = native_tool_calls(completion.tool_calls, call_ids)
    chunks += [chunk({"role": "assistant", "content": "", "tool_calls": [c]}) for c in calls]
    return chunks


def generate_final(
    result: ChatResult,
    *,
    model: str,
    created_at: str,
    total_ns: int,
    stream: bool,
    raw: bool,
    context: list[int] | None,
) -> dict[str, Any]:
    completion = result.completion or Completion()
    body: dict[str, Any] = {"model": model, "created_at": created_at}
    if stream:
        body["response"] = ""
    elif raw:
        body["response"] = completion.raw
    else:
        body["response"] = completion.content
        if completion.reasoning:
            body["thinking"] = completion.reasoning
    body["done"] = True
    body["done_reason"] = completion.done_reason
    if context:
        body["context"] = context
    if completion.logprobs and not stream:
        body["logprobs"] = completion.logprobs
    body.update(metrics(result, total_ns))
    return body


def generate_chunks(result: ChatResult, *, model: str, raw: bool, clock) -> list[dict[str, Any]]:
    completion = result.completion or Completion()

    def chunk(response: str, thinking: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {"model": model, "created_at": clock(), "response": response}
        if thinking:
            out["thinking"] = thinking
        out["done"] = False
        return out

    if completion.logprobs:
        chunks = []
        for (content, thinking, logprob), piece in zip(
            token_chunks(completion), completion.raw_pieces, strict=False
        ):
            chunks.append({**chunk(piece if raw else content, thinking), "logprobs": [logprob]})
        return chunks
    if raw:  # no parser in raw mode: the runner's text, control tokens included
        return [chunk(piece) for piece in completion.raw_pieces if piece]
    return [chunk("", piece) for piece in completion.reasoning_pieces if piece] + [
        chunk(piece) for piece in completion.content_pieces if piece
    ]


def render_only_body(
    result: ChatResult, *, model: str, created_at: str, chat: bool, images: int
) -> dict[str, Any]:
    """``_debug_render_only``: an unfinished response carrying ``_debug_info``."""
    debug: dict[str, Any] = {"rendered_template": result.prompt.text}
    if images:  # image_count is omitempty
        debug["image_count"] = images
    if chat:
        return {
            "model": model,
            "created_at": created_at,
            "message": {"role": "", "content": ""},
            "done": False,
            "_debug_info": debug,
        }
    return {
        "model": model,
        "created_at": created_at,
        "response": "",
        "done": False,
        "_debug_info": debug,
    }


def load_body(model: str, created_at: str, reason: str, *, chat: bool) -> dict[str, Any]:
    """The answer to a request without messages/prompt: ``load``, or ``unload`` (keep_alive 0)."""
    if chat:
        return {
            "model": model,
            "created_at": created_at,
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": reason,
        }
    return {
        "model": model,
        "created_at": created_at,
        "response": "",
        "done": True,
        "done_reason": reason,
    }
