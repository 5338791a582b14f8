"""``/v1``: Ollama's OpenAI-compatible surface, a thin translation onto the engine.

As ``middleware/openai.go`` does for Ollama: bind the OpenAI request, translate it
(``FromChatRequest``), hand it to the engine (through ``mockserver.fastpath``, as the native
routes do), translate the answer back (``ToChatCompletion``, ``ToChunk``).
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mockserver.engine.engine import Engine
from mockserver.errors import OllamaError, model_not_found
from mockserver.fastpath import Answer, Bound, Encoded, FastPath, Ids, Shape
from mockserver.modelref import validated_ref
from mockserver.pacing import paced, plan_for
from mockserver.routes import json_body
from mockserver.routes.deferred import DeferredRouter
from mockserver.wire import openai as wire
from mockserver.wire.decode import parse_json, validate
from mockserver.wire.ollama import check_top_logprobs
from mockserver.wire.responses import EventStream, GoJSONResponse

router = DeferredRouter(prefix="/v1", tags=["openai"])
CHAT_PATH = "/v1/chat/completions"
_HEAD_KEYS = 5  # id, object, created, model, system_fingerprint: the same in every chunk
_DONE = b"data: [DONE]\n\n"


def bind_chat(engine: Engine, body: bytes) -> Bound:
    """``ChatMiddleware``: decode ``openai.ChatCompletionRequest``, then ``FromChatRequest``."""
    parsed = validate(
        wire.ChatCompletionRequest,
        parse_json(body, from_middleware=True),
        go_struct="openai.ChatCompletionRequest",
        from_middleware=True,
    )
    chat = wire.to_chat_request(parsed)  # the middleware's own 400s come first
    check_top_logprobs(parsed.top_logprobs)  # then ChatHandler's first check
    return Bound(parsed, chat)


async def chat_completions(request: Request) -> Response:
    """``POST /v1/chat/completions``."""
    body = await request.body()
    fast: FastPath = request.app.state.fastpath
    answer = fast.recall(CHAT_PATH, body) or await fast.compute(CHAT_PATH, body, bind_chat)
    parsed: wire.ChatCompletionRequest = answer.bound.request
    result = answer.result
    assert result is not None and answer.bound.chat is not None
    completion = result.completion
    ids = fast.ids(answer, body, len(completion.tool_calls) if completion else 0)
    plan = plan_for(request.app.state.pacer, answer.bound.chat.model, result, body)
    if parsed.stream:
        usage = bool(parsed.stream_options and parsed.stream_options.include_usage)
        shape = Shape(stream=True, include_usage=usage, call_ids=ids.call_ids)
        events = _encoded(answer, shape, ids).frames(
            b"data: ", id=ids.completion_id, created=ids.created
        )
        if completion is not None:  # a _debug_render_only stream ends without [DONE]
            events.append(_DONE)
        if plan is None:
            return EventStream(events)
        # An async iterator: Starlette would iterate a plain one in a thread, chunk by chunk.
        return StreamingResponse(
            paced(events, plan.chunk_delays(len(events))),
            headers={"Content-Type": "text/event-stream"},
        )
    if plan is not None:
        await asyncio.sleep(plan.total_s)
    shape = Shape(stream=False, include_usage=False, call_ids=ids.call_ids)
    (content,) = _encoded(answer, shape, ids).frames(id=ids.completion_id, created=ids.created)
    return Response(content, media_type=GoJSONResponse.media_type)


def _encoded(answer: Answer, shape: Shape, ids: Ids) -> Encoded:
    """The answer's chunks (or body) for this shape, serialised once and kept with the answer:
    only the head (id, time) is serialised per request."""
    encoded = answer.encoded.get(shape)
    if encoded is None:
        assert answer.result is not None and answer.bound.chat is not None
        model = answer.bound.chat.model
        call_ids = list(shape.call_ids)
        if shape.stream:
            head, rests = wire.stream_rests(
                answer.result,
                model=model,
                completion_id=ids.completion_id,
                created=ids.created,
                include_usage=shape.include_usage,
                call_ids=call_ids,
            )
            encoded = Encoded(head, tuple(rest + b"\n\n" for rest in rests))
        else:
            rest = wire.completion_rest(answer.result)
            if rest is not None:  # the common shape, written into fixed bytes
                head = wire.completion_head(model, ids.completion_id, ids.created)
                encoded = Encoded(head, (rest + b"\n",))
            else:
                body = wire.completion_body(
                    answer.result,
                    model=model,
                    completion_id=ids.completion_id,
                    created=ids.created,
                    call_ids=call_ids,
                )
                encoded = Encoded.of([body], _HEAD_KEYS, b"\n")
        answer.keep(shape, encoded)
    return encoded


router.add_api_route(
    "/chat/completions",
    chat_completions,
    methods=["POST"],
    lean=True,
    openapi_extra=json_body(wire.ChatCompletionRequest),
)


@router.get("/models", lean=True)
async def list_models(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    created = int(engine.catalog.modified_at.timestamp())
    data = [
        {"id": card.name, "object": "model", "created": created, "owned_by": _owner(card.name)}
        for card in engine.catalog
    ]
    return GoJSONResponse({"object": "list", "data": data or None})


# The path parameter is read from the request and documented by hand: a typed parameter makes
# FastAPI import pydantic.v1 at start-up (~50 ms) to check whether ``str`` is a v1 model.
_MODEL_PARAMETER = {
    "name": "model",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "title": "Model"},
}


@router.get("/models/{model:path}", openapi_extra={"parameters": [_MODEL_PARAMETER]})
async def retrieve_model(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    model: str = request.path_params["model"]
    if not model.strip():
        raise OllamaError(400, "model is required")
    base = validated_ref(model).base  # ShowHandler's parseAndValidateModelRef (":cloud": 403)
    card = engine.catalog.find(base)
    if card is None:
        # RetrieveMiddleware runs ShowHandler, which re-spells the name before the lookup
        # (getExistingName, DisplayShortest): "nope" is reported as "nope:latest".
        raise model_not_found(engine.catalog.display_name(base))
    created = int(engine.catalog.modified_at.timestamp())
    return GoJSONResponse(
        {"id": model, "object": "model", "created": created, "owned_by": _owner(card.name)}
    )


def _owner(name: str) -> str:
    namespace = name.rpartition("/")[0]
    return namespace.rsplit("/", 1)[-1] if namespace else "library"
