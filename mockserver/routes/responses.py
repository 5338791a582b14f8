"""``POST /v1/responses``: the OpenAI Responses API as Ollama serves it (stateless).

Bind and translate (``wire.responses_api``), run the one engine, translate back; errors are
the ``/v1`` surface's (``openai_error_response``). Source: ``middleware/openai.go``
``ResponsesMiddleware`` at ollama@fb3076099.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mockserver.engine.chat import ChatRequest
from mockserver.engine.engine import ChatResult, Completion, Engine
from mockserver.fastpath import run_engine
from mockserver.identity import RequestIdentity
from mockserver.pacing import Plan, paced, plan_for
from mockserver.routes import json_body
from mockserver.routes.deferred import DeferredRouter
from mockserver.wire import responses_api as wire
from mockserver.wire.decode import decode_body
from mockserver.wire.responses import GoJSONResponse

router = DeferredRouter(prefix="/v1", tags=["openai"])


def event_stream(frames: list[bytes], plan: Plan | None) -> StreamingResponse:
    """Server-sent events as Ollama's writers set them, paced by ``--profile`` when set."""
    return StreamingResponse(
        paced(frames, plan.chunk_delays(len(frames)) if plan else []),
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "Connection": "keep-alive",
        },
    )


async def chat_or_load(engine: Engine, chat: ChatRequest) -> ChatResult:
    """The chat handler: a conversation is generated; none (no input, no instructions) only
    loads the model and answers ``done_reason: "load"`` without metrics (``ChatHandler``,
    ``server/routes.go``), which these surfaces translate as any other answer."""
    if chat.messages:
        return await run_engine(engine, chat)
    loaded = await engine.run(engine.load, chat)  # off the loop when it is not quick
    return replace(loaded, completion=Completion(done_reason="load"))


@router.post(
    "/responses",
    openapi_extra=json_body(wire.ResponsesRequest),
)
async def responses(request: Request) -> Response:
    body = await request.body()
    parsed = await decode_body(  # a large body is parsed off the event loop
        wire.ResponsesRequest, body, go_struct="openai.ResponsesRequest", from_middleware=True
    )
    chat = wire.to_chat_request(parsed)
    result = await chat_or_load(request.app.state.engine, chat)
    identity = RequestIdentity(request.app.state.settings.seed, body)
    calls = len(result.completion.tool_calls) if result.completion else 0
    ids = wire.Ids(
        response=f"resp_{identity.number(999999)}",
        message=f"msg_{identity.number(999999)}",
        reasoning=f"rs_{identity.number(999999)}",
        function_calls=tuple(f"fc_{identity.number(999999)}_{i}" for i in range(calls)),
        call_ids=tuple(identity.call_ids(calls)),
    )
    plan = plan_for(request.app.state.pacer, chat.model, result, body)
    if parsed.stream:
        events = wire.stream_events(result, parsed, ids=ids, created=identity.created)
        frames = [wire.sse(kind, data) for kind, data in events]
        return event_stream(frames, plan)
    if plan is not None:
        await asyncio.sleep(plan.total_s)
    return GoJSONResponse(wire.response_body(result, parsed, ids=ids, created=identity.created))
