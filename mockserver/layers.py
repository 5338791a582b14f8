"""What the fake is made of, FastAPI-free: its state and its ASGI layers, outermost first.

The one wiring of both apps: ``app.create_app`` (a FastAPI app, the tests' and the lab's)
installs these layers as its middleware; ``served.ServedApp`` (``python -m mockserver``)
stacks the same layers around the same innermost ``DirectDispatch`` and builds the FastAPI
router behind them only when a request needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from mockserver.config import Settings
from mockserver.engine.catalog import Catalog
from mockserver.engine.engine import Engine
from mockserver.errors import OllamaError
from mockserver.fastpath import DirectDispatch, Endpoint, FastPath
from mockserver.faults import Faults, InjectFaults
from mockserver.guards import (
    CheckOrigin,
    LimitBody,
    OriginPolicy,
    QuietDisconnects,
    ReadDeadlines,
    RequireApiKey,
)
from mockserver.journal import Journal, KeepJournal
from mockserver.modelref import PASSTHROUGH_POSTS, RefuseCloudModels
from mockserver.pacing import pacer_for
from mockserver.scenarios import PlayScenario, Scenario
from mockserver.wire.errors import render_for
from mockserver.wire.zstd_body import ReadZstdBodies

# An ASGI middleware class (called with the app it wraps) and its keyword arguments.
Layer = tuple[Callable[..., ASGIApp], dict[str, Any]]


def fake_state(settings: Settings) -> State:
    """``app.state``: the engine and everything the layers and routes share. A bad setting
    (a scenario file, faults, recordings) is a ``ValueError`` now, not at a request."""
    state = State()
    state.settings = settings
    state.engine = Engine(
        Catalog(settings.models),
        num_ctx=settings.effective_num_ctx,
        current_date=settings.current_date,
    )
    state.fastpath = FastPath(state.engine, settings.seed)
    state.pacer = pacer_for(settings.profile)
    state.scenario = (
        Scenario.load(settings.scenario, strict=settings.scenario_strict)
        if settings.scenario
        else Scenario(strict=settings.scenario_strict)
    )
    state.faults = Faults.parse(settings.faults)
    state.journal = Journal(settings.journal) if settings.journal > 0 else None
    if settings.replay_dir:
        from mockserver.replay import Recordings

        if settings.replay_speed < 0:
            raise ValueError("--replay-speed must be 0 (no delays) or more")
        state.replay = Recordings.load(settings.replay_dir)
    return state


def lean_endpoints() -> dict[tuple[str, str], Endpoint]:
    """The routes ``DirectDispatch`` answers itself (``fastpath.py``): the generation routes
    and the probes, ``(method, path) -> endpoint``."""
    from mockserver.routes import ollama, openai

    return {**openai.router.lean_endpoints(), **ollama.router.lean_endpoints()}


def layers(state: State) -> list[Layer]:
    """The ASGI layers around the routes, outermost first; ``DirectDispatch`` innermost, so
    that every layer applies to the lean routes too."""
    settings: Settings = state.settings
    stack: list[Layer] = [(QuietDisconnects, {})]
    if state.journal is not None:  # every request and answer, refusals too
        stack.append((KeepJournal, {"journal": state.journal}))
    stack += [
        (ReadDeadlines, {"timeout": settings.body_timeout}),
        (CheckOrigin, {"policy": OriginPolicy(settings.origins), "bound_to": settings.host}),
        (LimitBody, {"limit": settings.max_body_bytes}),
    ]
    if settings.api_key:
        stack.append((RequireApiKey, {"key": settings.api_key}))
    # cloudPassthroughMiddleware's first step, before every layer that reads the body.
    stack.append((ReadZstdBodies, {"paths": PASSTHROUGH_POSTS}))
    if state.faults:
        stack.append((InjectFaults, {"faults": state.faults}))
    if settings.replay_dir:  # inside guards and faults: they apply to replies from recordings
        from mockserver.replay import ReplayRecordings

        options = {"strict": settings.replay_strict, "speed": settings.replay_speed}
        stack.append(
            (ReplayRecordings, {"recordings": state.replay, **options, "engine": state.engine})
        )
    stack += [
        (PlayScenario, {"scenario": state.scenario}),
        (RefuseCloudModels, {}),  # /v1's cloudPassthroughMiddleware, before decoding
        (DirectDispatch, {"endpoints": lean_endpoints()}),
    ]
    return stack


def stacked(app: ASGIApp, stack: list[Layer]) -> ASGIApp:
    """``app`` inside ``stack`` (outermost first)."""
    for layer, options in reversed(stack):
        app = layer(app, **options)
    return app


async def unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug in the fake: answer like Ollama's 500, never with a stack trace.

    uvicorn closes the connection after an exception (the response has started): say so, so
    that a keep-alive client sends its next request on a new connection instead of losing it.
    """
    response = render_for(
        OllamaError(500, f"internal error: {type(exc).__name__}"), request.url.path
    )
    response.headers["connection"] = "close"
    return response
