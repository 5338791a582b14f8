"""``/v1``: Ollama's OpenAI-compatible surface, a thin translation onto the engine."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from fastapi import APIRouter, Request
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.engine.catalog import is_valid_name
from mockserver.engine.chat import ChatRequest
from mockserver.engine.engine import ChatResult, Engine
from mockserver.errors import OllamaError, model_not_found
from mockserver.identity import RequestIdentity
from mockserver.pacing import Pacer, paced
from mockserver.wire import openai as wire
from mockserver.wire.decode import decode_body
from mockserver.wire.gojson import dumps
from mockserver.wire.responses import GoJSONResponse

router = APIRouter(prefix="/v1", tags=["openai"])


async def run_chat(engine: Engine, chat: ChatRequest) -> ChatResult:
    """Run the engine; loading a vocabulary and heavy requests run off the event loop."""
    return await engine.run(engine.chat, chat)


@router.post(
    "/chat/completions",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": wire.ChatCompletionRequest.model_json_schema()}
            },
        }
    },
)
async def chat_completions(request: Request) -> Response:
    return await complete(request.app, await request.body())


async def complete(app: Starlette, body: bytes) -> Response:
    """``POST /v1/chat/completions`` from the raw body (also served by ``HotPath``)."""
    engine: Engine = app.state.engine
    memo: ChatMemo = app.state.chat_memo
    key = (body, engine.current_date())
    hit = memo.get(key)
    if hit is not None:
        parsed, chat, result, streams = hit
        engine.touch(result)
    else:
        parsed = await decode_body(
            wire.ChatCompletionRequest,
            body,
            go_struct="openai.ChatCompletionRequest",
            from_middleware=True,
        )
        chat = wire.to_chat_request(parsed)
        result = await run_chat(engine, chat)
        streams = {}
        memo.put(key, (parsed, chat, result, streams))
    seeded = app.state.settings.seed is not None
    ids = streams.get("ids") if seeded else None  # under --seed, a pure function of the body
    if ids is None:
        identity = RequestIdentity(app.state.settings.seed, body)
        completion_id = identity.completion_id()
        call_ids = identity.call_ids(len(result.completion.tool_calls) if result.completion else 0)
        ids = (completion_id, call_ids, identity.created)
        if seeded:
            streams["ids"] = ids
    completion_id, call_ids, created = ids
    pacer: Pacer | None = app.state.pacer
    plan = None
    if pacer is not None and result.completion is not None:
        plan = pacer.plan(chat.model, result.prompt.tokens, result.completion.eval_count, body)
    if parsed.stream and result.completion is not None:
        include_usage = bool(parsed.stream_options and parsed.stream_options.include_usage)
        shape = (include_usage, tuple(call_ids))
        cached = streams.get(shape)
        if cached is None:
            chunks = wire.stream_chunks(
                result,
                model=chat.model,
                completion_id=completion_id,
                created=created,
                include_usage=include_usage,
                call_ids=call_ids,
            )
            cached = streams[shape] = _split_chunks(chunks)
        events = _sse(*cached, completion_id=completion_id, created=created)
        if plan is None:
            return EventStream(events)
        # An async iterator: Starlette would iterate a plain one in a thread, chunk by chunk.
        return StreamingResponse(
            paced(events, plan.chunk_delays(len(events))),
            headers={"Content-Type": "text/event-stream"},
        )
    if plan is not None:
        await asyncio.sleep(plan.total_s)
    shape = ("body", tuple(call_ids))
    cached = streams.get(shape)
    if cached is None:
        body_json = wire.completion_body(
            result,
            model=chat.model,
            completion_id=completion_id,
            created=created,
            call_ids=call_ids,
        )
        cached = streams[shape] = _split_chunks([body_json], b"\n")
    head, (rest,) = cached
    fresh = {**head, "id": completion_id, "created": created}
    # GoJSONResponse's bytes (its trailing newline is in ``rest``), head serialised anew.
    return Response(dumps(fresh)[:-1] + b"," + rest, media_type=GoJSONResponse.media_type)


class ChatMemo:
    """The engine's answers to recently seen request bodies (an LRU, bounded in count and size).

    The engine is a pure function of the body and the server's date, and test suites send the
    same requests over and over: the second time, parsing, rendering, tokenizing and generating
    are skipped. Ids and timestamps are still made per request; residency is still refreshed.
    """

    def __init__(self, entries: int = 512, max_body: int = 16_384) -> None:
        self._entries = entries
        self._max_body = max_body
        # body, date -> (parsed request, engine request, engine result, serialised streams)
        self._items: OrderedDict[tuple[bytes, str], tuple] = OrderedDict()

    def get(self, key: tuple[bytes, str]) -> tuple | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: tuple[bytes, str], value: tuple) -> None:
        if len(key[0]) > self._max_body or self._entries <= 0:
            return
        self._items[key] = value
        if len(self._items) > self._entries:
            self._items.popitem(last=False)


class HotPath:
    """Serve ``POST /v1/chat/completions`` without FastAPI's per-request machinery.

    Routing, the dependency solver, ``Request`` objects and the exception middleware cost
    more than the engine on this route; this ASGI layer, inside every guard (body cap, API key,
    faults, replay), hands the body straight to ``complete``. Same code, same bytes: Ollama
    errors are rendered by ``openai_error_response`` as the app's handler does, anything else
    propagates to the app's 500 handler. The FastAPI route stays (OpenAPI schema, tests).
    """

    def __init__(self, app: ASGIApp, owner: Starlette) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != "/v1/chat/completions"
            or scope["method"] != "POST"
        ):
            await self.app(scope, receive, send)
            return
        try:
            response = await complete(self.owner, await _read_body(receive))
        except OllamaError as exc:
            response = openai_error_response(exc)
        await response(scope, receive, send)


async def _read_body(receive: Receive) -> bytes:
    """``Request.body()``: every chunk; a disconnect raises ``ClientDisconnect``."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _split_chunks(chunks, end: bytes = b"\n\n") -> tuple[dict, list[bytes]]:
    """A stream's chunks as their shared head (``id`` ... ``system_fingerprint``, the same in
    every chunk) and, per chunk, the JSON of the rest (``"choices":[...]}``, usage included).

    Compact JSON concatenates: ``"data: " + dumps(head)[:-1] + "," + rest`` is exactly
    ``"data: " + dumps(chunk)``. The rests do not depend on the id or the time, so a memoized
    answer streams again with only the head serialised anew."""
    head: dict = {}
    rests: list[bytes] = []
    for chunk in chunks:
        items = list(chunk.items())
        if not head:
            head = dict(items[: len(_HEAD)])
        assert tuple(chunk)[: len(_HEAD)] == _HEAD
        rests.append(dumps(dict(items[len(_HEAD) :]))[1:] + end)
    return head, rests


_HEAD = ("id", "object", "created", "model", "system_fingerprint")


def _sse(head: dict, rests: list[bytes], *, completion_id: str, created: int) -> list[bytes]:
    """The stream's events (then ``[DONE]``) for this request's id and time."""
    fresh = {**head, "id": completion_id, "created": created}
    prefix = b"data: " + dumps(fresh)[:-1] + b","
    return [prefix + rest for rest in rests] + [b"data: [DONE]\n\n"]


class EventStream(Response):
    """An unpaced SSE stream already in memory: one ``http.response.body`` message per event,
    sent back to back (no task group, no disconnect listener: nothing waits, and uvicorn drops
    writes to a client that is gone). Same headers and chunks as the ``StreamingResponse``."""

    def __init__(self, events: list[bytes]) -> None:
        self.events = events
        self.status_code = 200
        self.background = None
        self.raw_headers = [(b"content-type", b"text/event-stream")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        for event in self.events:
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


@router.get("/models")
async def list_models(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    created = int(engine.catalog.modified_at.timestamp())
    data = [
        {"id": card.name, "object": "model", "created": created, "owned_by": _owner(card.name)}
        for card in engine.catalog
    ]
    return GoJSONResponse({"object": "list", "data": data or None})


@router.get("/models/{model:path}")
async def retrieve_model(model: str, request: Request) -> Response:
    engine: Engine = request.app.state.engine
    if not model.strip():
        raise OllamaError(400, "model is required")
    if not is_valid_name(model.strip()):
        raise OllamaError(400, "invalid model name")
    card = engine.catalog.find(model)
    if card is None:
        # RetrieveMiddleware runs ShowHandler, which re-spells the name before the lookup
        # (getExistingName, DisplayShortest): "nope" is reported as "nope:latest".
        raise model_not_found(engine.catalog.display_name(model))
    created = int(engine.catalog.modified_at.timestamp())
    return GoJSONResponse(
        {"id": model, "object": "model", "created": created, "owned_by": _owner(card.name)}
    )


def _owner(name: str) -> str:
    namespace = name.rpartition("/")[0]
    return namespace.rsplit("/", 1)[-1] if namespace else "library"


def openai_error_response(error: OllamaError) -> Response:
    from mockserver.wire.responses import GinJSONResponse

    body = wire.error_body(error)
    if error.from_middleware:
        return GinJSONResponse(body, status_code=error.status)
    return GoJSONResponse(body, status_code=error.status)
