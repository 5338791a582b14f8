"""``/v1``: Ollama's OpenAI-compatible surface, a thin translation onto the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from mockserver.engine.chat import ChatRequest
from mockserver.engine.engine import ChatResult, Engine
from mockserver.errors import OllamaError, model_not_found
from mockserver.identity import RequestIdentity
from mockserver.wire import openai as wire
from mockserver.wire.decode import parse_json, validate
from mockserver.wire.gojson import dumps
from mockserver.wire.responses import GoJSONResponse

router = APIRouter(prefix="/v1", tags=["openai"])


async def run_chat(request: Request, chat: ChatRequest) -> ChatResult:
    """Run the engine; the first request of a family loads its vocabulary off the event loop."""
    engine: Engine = request.app.state.engine
    if engine.is_loaded(chat.model):
        return engine.chat(chat)
    return await run_in_threadpool(engine.chat, chat)


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
    body = await request.body()
    parsed = validate(
        wire.ChatCompletionRequest,
        parse_json(body, from_middleware=True),
        go_struct="openai.ChatCompletionRequest",
        from_middleware=True,
    )
    chat = wire.to_chat_request(parsed)
    result = await run_chat(request, chat)
    identity = RequestIdentity(request.app.state.settings.seed, body)
    completion_id = identity.completion_id()
    call_ids = identity.call_ids(len(result.completion.tool_calls) if result.completion else 0)
    if parsed.stream and result.completion is not None:
        include_usage = bool(parsed.stream_options and parsed.stream_options.include_usage)
        chunks = wire.stream_chunks(
            result,
            model=chat.model,
            completion_id=completion_id,
            created=identity.created,
            include_usage=include_usage,
            call_ids=call_ids,
        )
        return StreamingResponse(_sse(chunks), headers={"Content-Type": "text/event-stream"})
    return GoJSONResponse(
        wire.completion_body(
            result,
            model=chat.model,
            completion_id=completion_id,
            created=identity.created,
            call_ids=call_ids,
        )
    )


async def _sse(chunks) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield b"data: " + dumps(chunk) + b"\n\n"
    yield b"data: [DONE]\n\n"


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
    card = engine.catalog.find(model)
    if card is None:
        raise model_not_found(model)
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
