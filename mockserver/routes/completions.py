"""``POST /v1/completions``: the legacy OpenAI completions API as Ollama's ``openai/`` layer
serves it (ollama/ollama@fb3076099).

``middleware/openai.go`` CompletionsMiddleware decodes ``openai.CompletionRequest`` (``prompt``
is a string only: Ollama's TODO for ``[]string`` / token arrays), ``openai.FromCompleteRequest``
turns it into an ``/api/generate`` request (``stop`` string or list, ``max_tokens`` ->
``num_predict``, ``temperature`` default 1, ``top_p`` default 1, ``seed``, penalties, ``suffix``),
GenerateHandler runs it (the same engine as ``/api/generate``), and CompleteWriter writes
``openai.ToCompletion`` (one JSON object) or, when streaming, one ``data:`` frame per NDJSON
partial of GenerateHandler (``ToCompleteChunk``; with ``stream_options.include_usage`` every
frame carries a zero usage, then a frame with no choices carries the real one), then
``data: [DONE]``. Not paced by ``--profile`` (UNLIKE /v1/chat/completions: not done yet).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mockserver.engine.chat import Options
from mockserver.engine.engine import ChatResult, CompletionUnsupported, Engine
from mockserver.errors import OllamaError
from mockserver.identity import RequestIdentity
from mockserver.modelref import validated_ref
from mockserver.routes.deferred import DeferredRouter
from mockserver.wire import ollama as native
from mockserver.wire.decode import parse_json, validate
from mockserver.wire.gojson import dumps
from mockserver.wire.responses import GoJSONResponse

router = DeferredRouter(tags=["openai"])

_STRICT = ConfigDict(strict=True, extra="ignore", populate_by_name=True, defer_build=True)


def _go(go_type: str) -> dict[str, Any]:
    return {"x-go-type": go_type}


class StreamOptionsIn(BaseModel):
    model_config = _STRICT
    include_usage: bool | None = Field(None, json_schema_extra=_go("bool"))


class CompletionRequestIn(BaseModel):
    """``openai.CompletionRequest``."""

    model_config = _STRICT
    model: str | None = Field(None, json_schema_extra=_go("string"))
    prompt: str | None = Field(None, json_schema_extra=_go("string"))
    frequency_penalty: float | None = Field(None, json_schema_extra=_go("float32"))
    max_tokens: int | None = Field(None, json_schema_extra=_go("int"))
    presence_penalty: float | None = Field(None, json_schema_extra=_go("float32"))
    seed: int | None = Field(None, json_schema_extra=_go("int"))
    stop: Any = None
    stream: bool | None = Field(None, json_schema_extra=_go("bool"))
    stream_options: StreamOptionsIn | None = Field(
        None, json_schema_extra=_go("openai.StreamOptions")
    )
    temperature: float | None = Field(None, json_schema_extra=_go("float32"))
    top_p: float | None = Field(None, json_schema_extra=_go("float32"))
    suffix: str | None = Field(None, json_schema_extra=_go("string"))
    logprobs: int | None = Field(None, json_schema_extra=_go("int"))
    debug_render_only: bool | None = Field(
        None, alias="_debug_render_only", json_schema_extra=_go("bool")
    )


def _go_type_name(value: Any) -> str:
    """Go's ``%T`` of a decoded JSON value."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "float64"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return "string"


def generate_options(body: CompletionRequestIn) -> dict[str, Any]:
    """``FromCompleteRequest``'s options map."""
    options: dict[str, Any] = {}
    if isinstance(body.stop, str):
        options["stop"] = [body.stop]
    elif isinstance(body.stop, list):
        for item in body.stop:
            if not isinstance(item, str):
                raise OllamaError(
                    400,
                    f"invalid type for 'stop' field: {_go_type_name(item)}",
                    from_middleware=True,
                )
        options["stop"] = list(body.stop)
    if body.max_tokens is not None:
        options["num_predict"] = body.max_tokens
    options["temperature"] = body.temperature if body.temperature is not None else 1.0
    if body.seed is not None:
        options["seed"] = body.seed
    options["frequency_penalty"] = body.frequency_penalty or 0.0
    options["presence_penalty"] = body.presence_penalty or 0.0
    options["top_p"] = body.top_p if body.top_p else 1.0
    return options


def _choice(text: str, reason: str) -> dict[str, Any]:
    return {"text": text, "index": 0, "finish_reason": reason or None}


def _usage(result: ChatResult | None) -> dict[str, int]:
    """``ToUsageGenerate``."""
    if result is None or result.completion is None:
        return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    prompt, completion = result.prompt.tokens, result.completion.eval_count
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


async def _generate(engine: Engine, body: CompletionRequestIn) -> ChatResult | None:
    """GenerateHandler's steps up to the engine's answer (None: an empty prompt loads).

    ``logprobs: N`` (N > 0) asks for N top logprobs (FromCompleteRequest); past 20 it is
    GenerateHandler's 400. ToCompletion / ToCompleteChunk write no logprobs: none here."""
    native.check_top_logprobs(body.logprobs if body.logprobs and body.logprobs > 0 else 0)
    model = body.model or ""
    if not model.strip():
        raise OllamaError(404, f"model '{model}' not found")
    card = engine.catalog.find(validated_ref(model).base)  # ":cloud" is refused before
    if card is None:
        raise OllamaError(404, f"model '{model}' not found")
    generate = native.GenerateRequestIn.model_validate(
        {
            "model": model,
            "prompt": body.prompt or "",
            "suffix": body.suffix or "",
            "_debug_render_only": bool(body.debug_render_only),
        }
    )
    options = native.engine_options(native.parse_options(generate_options(body)))
    chat = native.generate_to_chat_request(generate, None, Options())
    try:
        if body.suffix and not card.supports("insert"):
            engine.check(chat)
            raise OllamaError(400, f"{card.full_name} does not support insert")
        engine.check(chat)
    except CompletionUnsupported as error:
        raise error.for_generate() from None
    chat = replace(chat, options=options)
    if not body.prompt:
        if engine.is_loaded(model):
            engine.load(chat)
        else:
            await run_in_threadpool(engine.load, chat)
        return None
    if engine.is_loaded(model):
        return engine.chat(chat)
    return await run_in_threadpool(engine.chat, chat)


@router.post("/v1/completions")
async def completions(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    raw = await request.body()
    body = validate(
        CompletionRequestIn,
        parse_json(raw, from_middleware=True),
        go_struct="openai.CompletionRequest",
        from_middleware=True,
    )
    generate_options(body)  # FromCompleteRequest's errors come before the handler's
    identity = RequestIdentity(request.app.state.settings.seed, raw)
    seeded = request.app.state.settings.seed is not None
    completion_id = identity.completion_id("cmpl")
    result = await _generate(engine, body)
    model = body.model or ""

    def created() -> int:
        return identity.created if seeded else int(time.time())

    completion = result.completion if result is not None else None
    reason = "load" if result is None else (completion.done_reason if completion else "")
    if not body.stream:
        text = completion.content if completion else ""
        return GoJSONResponse(
            {
                "id": completion_id,
                "object": "text_completion",
                "created": created(),
                "model": model,
                "system_fingerprint": "fp_ollama",
                "choices": [_choice(text, reason)],
                "usage": _usage(result),
            }
        )

    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def frame(choices: list[dict[str, Any]], usage: dict[str, int] | None) -> bytes:
        chunk: dict[str, Any] = {
            "id": completion_id,
            "object": "text_completion",
            "created": created(),
            "choices": choices,
            "model": model,
            "system_fingerprint": "fp_ollama",
        }
        if usage is not None:
            chunk["usage"] = usage
        return b"data: " + dumps(chunk) + b"\n\n"

    zero = _usage(None) if include_usage else None
    partials: list[str] = []
    if result is not None and completion is not None:
        clock = native.go_time  # GenerateHandler's partials: thinking ones carry no response
        partials = [
            part["response"]
            for part in native.generate_chunks(
                result, model=model, raw=False, clock=lambda: clock(time.time_ns())
            )
        ]

    async def stream() -> AsyncIterator[bytes]:
        for text in partials:
            yield frame([_choice(text, "")], zero)
        yield frame([_choice("", reason)], zero)
        if include_usage:
            yield frame([], _usage(result))
        yield b"data: [DONE]\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


__all__ = ["router"]
