"""``POST /v1/messages``: the Anthropic Messages API as Ollama serves it.

Bind and check (``AnthropicMessagesMiddleware``), translate onto the one engine, translate
back; every error in Anthropic's shape (``wire.errors``, ``Surface.ANTHROPIC``). Thinking is
relaxed as Ollama relaxes it for this surface (``relax_thinking``): a model that cannot think
answers without thinking instead of refusing. Source: ``middleware/anthropic.go`` and
``server/routes.go`` at ollama@fb3076099.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import Response

from mockserver.engine.engine import Engine
from mockserver.identity import RequestIdentity
from mockserver.modelref import local_base
from mockserver.pacing import plan_for
from mockserver.routes import json_body
from mockserver.routes.deferred import DeferredRouter
from mockserver.routes.responses import chat_or_load, event_stream
from mockserver.wire import anthropic as wire
from mockserver.wire.decode import decode_body
from mockserver.wire.responses import GoJSONResponse

router = DeferredRouter(prefix="/v1", tags=["anthropic"])


@router.post(
    "/messages",
    openapi_extra=json_body(wire.MessagesRequest),
)
async def messages(request: Request) -> Response:
    body = await request.body()
    parsed = await decode_body(  # a large body is parsed off the event loop
        wire.MessagesRequest, body, go_struct="anthropic.MessagesRequest", from_middleware=True
    )
    wire.check(parsed)
    chat = wire.to_chat_request(parsed)
    engine: Engine = request.app.state.engine
    card = engine.catalog.find(local_base(chat.model))
    if chat.think is not None and card is not None and not card.supports("thinking"):
        chat = replace(chat, think=None)
    result = await chat_or_load(engine, chat)
    identity = RequestIdentity(request.app.state.settings.seed, body)
    calls = len(result.completion.tool_calls) if result.completion else 0
    call_ids = identity.call_ids(calls)
    message_id = f"msg_{identity.token_hex(12)}"  # generateID: 12 random bytes
    plan = plan_for(request.app.state.pacer, chat.model, result, body)
    if parsed.stream:
        events = wire.stream_events(
            result,
            model=chat.model,
            message_id=message_id,
            call_ids=call_ids,
            estimated_input_tokens=wire.estimate_input_tokens(parsed),
        )
        return event_stream([wire.sse(kind, data) for kind, data in events], plan)
    if plan is not None:
        await asyncio.sleep(plan.total_s)
    return GoJSONResponse(
        wire.message_body(result, model=chat.model, message_id=message_id, call_ids=call_ids)
    )
