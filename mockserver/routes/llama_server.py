"""The llama-server surface (``--flavor llama-server``): one APIRouter, one engine.

Routes as ``tools/server/server.cpp`` registers them (the OpenAI ones with and without
``/v1``); each binds the body, asks ``LlamaEngine`` and renders with ``wire/llama_server.py``.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from mockserver.engine import jinja_templates
from mockserver.engine.llama_engine import Generation, LlamaEngine, LlamaError
from mockserver.routes.deferred import DeferredRouter
from mockserver.wire import llama_server as wire

router = DeferredRouter()


def _engine(request: Request) -> LlamaEngine:
    return request.app.state.llama


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        # nlohmann's parse_error is a std::exception, not an invalid_argument: ex_wrapper
        # (server.cpp) answers 500 server_error (checked on the real llama-server; the words
        # after the prefix are Python's, not nlohmann's).
        message = f"[json.exception.parse_error.101] parse error: {exc}"
        raise LlamaError(message, "server_error") from None
    if not isinstance(body, dict):
        raise LlamaError("request body must be a JSON object")
    return body


def _type_error(wanted: str, value: Any) -> str:
    """nlohmann's ``get<T>()`` on a value of another type (a std::exception: 500)."""
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "array",
             dict: "object", type(None): "null"}  # fmt: skip
    return f"[json.exception.type_error.302] type must be {wanted}, but is {names[type(value)]}"


@router.get("/health")
@router.get("/v1/health")
async def health() -> Response:
    return wire.json_response({"status": "ok"})


@router.get("/models")
@router.get("/v1/models")
async def models(request: Request) -> Response:
    return wire.json_response(wire.models(_engine(request)))


@router.get("/props")
async def props(request: Request) -> Response:
    engine = _engine(request)
    template = jinja_templates.source(engine.model.template)
    return wire.json_response(
        wire.props(engine, template, metrics=request.app.state.settings.metrics)
    )


@router.get("/slots")
async def slots(request: Request) -> Response:
    engine = _engine(request)
    if request.query_params.get("fail_on_no_slot") and not any(
        not slot.processing for slot in engine.pool.slots
    ):
        raise LlamaError("no slot available", "unavailable_error")
    return wire.json_response(wire.slots(engine))


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    if not request.app.state.settings.metrics:
        raise LlamaError(
            "This server does not support metrics endpoint. Start it with `--metrics`",
            "not_supported_error",
        )
    engine = _engine(request)
    return PlainTextResponse(
        wire.metrics(engine),
        media_type="text/plain; version=0.0.4",
        headers={"Process-Start-Time-Unix": str(int(engine.started))},
    )


@router.post("/tokenize")
async def tokenize(request: Request) -> Response:
    """``post_tokenize``: ``add_special`` false and ``parse_special`` true by default;
    ``with_pieces`` gives each token's text (bytes as numbers when not valid UTF-8)."""
    engine = _engine(request)
    body = await _body(request)
    tokens: list[Any] = []
    content = body.get("content")
    if content is not None:
        if not isinstance(content, str):
            raise LlamaError(_type_error("string", content), "server_error")
        ids = engine.tokenize(content, add_special=bool(body.get("add_special", False)))
        if body.get("with_pieces"):
            for token in ids:
                piece = engine.piece(token)
                try:
                    shown: Any = piece.decode("utf-8")
                except UnicodeDecodeError:
                    shown = list(piece)
                tokens.append({"id": token, "piece": shown})
        else:
            tokens = ids
    return wire.json_response({"tokens": tokens})


@router.post("/detokenize")
async def detokenize(request: Request) -> Response:
    engine = _engine(request)
    body = await _body(request)
    ids = body.get("tokens", [])
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise LlamaError(_type_error("array of numbers", ids), "server_error")
    return wire.json_response({"content": engine.detokenize(ids)})


@router.post("/apply-template")
async def apply_template(request: Request) -> Response:
    engine = _engine(request)
    prompt, _ = engine.apply_template(await _body(request))
    return wire.json_response({"prompt": prompt})


@router.post("/chat/completions")
@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    engine = _engine(request)
    body = await _body(request)
    prompt, ids, thinking = engine.prepare(body)
    generation = engine.generate(body, prompt, ids, thinking)  # the request's answer, alone
    cache_prompt = body.get("cache_prompt", True) is not False
    placement = await engine.pool.acquire(ids, cache_prompt=cache_prompt)
    placement.slot.params = body
    generation.cached, generation.slot_id = placement.cached, placement.slot.id
    cid = wire.completion_id()
    if body.get("stream"):
        options = body.get("stream_options") or {}
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        return StreamingResponse(
            _stream(engine, generation, placement.slot, cid, include_usage),
            media_type="text/event-stream",
        )
    try:
        started = time.perf_counter()
        first = None
        async with contextlib.aclosing(_sampled(engine, generation)) as sampled:
            async for n in sampled:
                first = first or (time.perf_counter() if n == 1 else None)
        ended = time.perf_counter()
        prompt_s, predicted_s = (first or ended) - started, ended - (first or ended)
        generation.timings = engine.timings(generation, prompt_s, predicted_s)
        engine.record(generation, prompt_s, predicted_s)
    finally:
        await engine.pool.release(placement.slot, generation.generated_ids)
    return wire.json_response(wire.completion(engine, generation, cid))


async def _sampled(engine: LlamaEngine, generation: Generation) -> AsyncGenerator[int]:
    """1, 2, ... as each generated token is sampled: when the continuous-batching model says
    with a latency profile (``mockserver/batching.py``), at once without one."""
    if engine.batcher is None:
        for n in range(1, generation.completion_tokens + 1):
            yield n
        return
    evaluated = len(generation.prompt_ids) - generation.cached
    async with contextlib.aclosing(
        engine.batcher.tokens(evaluated, generation.completion_tokens)
    ) as tokens:
        async for n in tokens:
            yield n


async def _stream(
    engine: LlamaEngine, generation: Generation, slot, cid: str, include_usage: bool
) -> AsyncIterator[bytes]:
    released = False
    try:
        started = time.perf_counter()
        first = None
        calls = _CallDiffs(generation)
        async with contextlib.aclosing(_sampled(engine, generation)) as sampled:
            async for n in sampled:  # token n was sampled: its piece goes out now
                if n == 1:
                    first = time.perf_counter()
                    yield wire.sse(wire.chunk(engine, cid, {"role": "assistant", "content": None}))
                if n > len(generation.pieces):
                    continue  # the end-of-generation token: no text
                piece = generation.pieces[n - 1]
                delta: dict[str, Any] = {}
                if piece.reasoning:
                    delta["reasoning_content"] = piece.reasoning
                if piece.content:
                    delta["content"] = piece.content
                if delta:
                    yield wire.sse(wire.chunk(engine, cid, delta))
                for call_delta in calls.advance(piece.tool):
                    yield wire.sse(wire.chunk(engine, cid, {"tool_calls": [call_delta]}))
        ended = time.perf_counter()
        if first is None:  # nothing generated (max_tokens 0)
            yield wire.sse(wire.chunk(engine, cid, {"role": "assistant", "content": None}))
        prompt_s, predicted_s = (first or ended) - started, ended - (first or ended)
        generation.timings = engine.timings(generation, prompt_s, predicted_s)
        engine.record(generation, prompt_s, predicted_s)
        final = wire.chunk(engine, cid, {}, generation.finish_reason)
        closing = [final]
        if include_usage:
            usage_chunk = wire.chunk(engine, cid, {})
            usage_chunk["choices"] = []
            usage_chunk["usage"] = wire.usage(generation)
            closing.append(usage_chunk)
        closing[-1]["timings"] = generation.timings
        await engine.pool.release(slot, generation.generated_ids)
        released = True
        for event in closing:
            yield wire.sse(event)
        yield wire.DONE
    finally:
        if not released:
            await engine.pool.release(slot, generation.generated_ids)


class _CallDiffs:
    """The stream's tool-call deltas (``common_chat_msg_diff::compute_diffs`` and
    ``server_chat_msg_diff_to_json_oaicompat``): a new call with its index, id, type, name and
    arguments so far; then the last call's arguments as they grow. Ids are the final message's."""

    def __init__(self, generation: Generation) -> None:
        self._text = generation.calls
        self._ids = [call["id"] for call in generation.tool_calls]
        self._read = 0
        self._seen: list[tuple[str, str]] = []

    def advance(self, n_chars: int) -> list[dict[str, Any]]:
        if self._text is None or not n_chars:
            return []
        self._read += n_chars
        now = [(c.name, c.arguments) for c in self._text.parsed(self._read) if c.name]
        deltas: list[dict[str, Any]] = []
        if self._seen and now[len(self._seen) - 1][1] != self._seen[-1][1]:
            index = len(self._seen) - 1
            grown = now[index][1][len(self._seen[-1][1]) :]
            deltas.append({"index": index, "function": {"arguments": grown}})
        for index in range(len(self._seen), len(now)):
            name, arguments = now[index]
            function = {"name": name, **({"arguments": arguments} if arguments else {})}
            call_id = self._ids[index] if index < len(self._ids) else ""
            deltas.append({"index": index, "id": call_id, "type": "function",
                           "function": function})  # fmt: skip
        self._seen = now
        return deltas
