"""The application factory: settings -> engine -> one router per API surface."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from mockserver import __version__
from mockserver.config import Settings
from mockserver.engine.catalog import Catalog
from mockserver.engine.engine import Engine
from mockserver.errors import OllamaError
from mockserver.fastpath import DirectDispatch, FastPath
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
from mockserver.modelref import RefuseCloudModels
from mockserver.pacing import pacer_for
from mockserver.routes import (
    anthropic,
    completions,
    embed,
    models,
    ollama,
    openai,
    portway,
    responses,
    with_request_bodies,
)
from mockserver.scenarios import PlayScenario, Scenario
from mockserver.wire.errors import render_for
from mockserver.wire.responses import GinTextResponse


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    if settings.flavor == "llama-server":  # a second wire surface over its own engine
        from mockserver.llama_app import create_llama_app

        return create_llama_app(settings)
    app = FastAPI(
        title="Portway fake Ollama",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        **_NO_TELEMETRY,
    )
    app.state.settings = settings
    app.state.engine = Engine(
        Catalog(settings.models),
        num_ctx=settings.effective_num_ctx,
        current_date=settings.current_date,
    )
    app.state.fastpath = FastPath(app.state.engine, settings.seed)
    app.state.pacer = pacer_for(settings.profile)
    app.include_router(openai.router)
    app.include_router(ollama.router)
    app.include_router(embed.router)
    app.include_router(models.router)
    app.include_router(completions.router)
    app.include_router(portway.router)
    app.include_router(responses.router)
    app.include_router(anthropic.router)
    document = app.openapi  # the request bodies the routes decode themselves, filled in lazily
    app.openapi = lambda: with_request_bodies(document())  # type: ignore[method-assign]
    app.add_exception_handler(OllamaError, _ollama_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
    # Innermost: every layer below applies to the generation routes too (mockserver/fastpath.py).
    app.add_middleware(DirectDispatch, routes=[*openai.router.routes, *ollama.router.routes])
    app.add_middleware(RefuseCloudModels)  # /v1's cloudPassthroughMiddleware, before decoding
    app.state.scenario = (
        Scenario.load(settings.scenario, strict=settings.scenario_strict)
        if settings.scenario
        else Scenario(strict=settings.scenario_strict)
    )
    app.add_middleware(PlayScenario, scenario=app.state.scenario)
    if settings.replay_dir:  # inside guards and faults: they apply to replies from recordings too
        from mockserver.replay import install

        install(app, settings)
    faults = Faults.parse(settings.faults)
    if faults:
        app.add_middleware(InjectFaults, faults=faults)
    if settings.api_key:
        app.add_middleware(RequireApiKey, key=settings.api_key)
    app.add_middleware(LimitBody, limit=settings.max_body_bytes)
    app.add_middleware(CheckOrigin, policy=OriginPolicy(settings.origins), bound_to=settings.host)
    app.add_middleware(ReadDeadlines, timeout=settings.body_timeout)
    app.state.journal = Journal(settings.journal) if settings.journal > 0 else None
    if app.state.journal is not None:  # every request and answer, refusals too
        app.add_middleware(KeepJournal, journal=app.state.journal)
    app.add_middleware(QuietDisconnects)  # outermost
    return app


SETTINGS_ENV = "PORTWAY_FAKE_SETTINGS"


def settings_json(settings: Settings) -> str:
    return json.dumps(dataclasses.asdict(settings))


def app_from_environment() -> FastAPI:
    """The app for one worker of ``python -m mockserver --workers N``: the settings the parent
    process parsed, passed in ``PORTWAY_FAKE_SETTINGS`` (uvicorn starts workers from an import
    string, not from an app object)."""
    values: dict[str, Any] = json.loads(os.environ[SETTINGS_ENV])
    fields: dict[str, Any] = {
        name: tuple(value) if isinstance(value, list) else value for name, value in values.items()
    }
    return create_app(Settings(**fields))


# FastAPI >= 0.16x checks OpenTelemetry providers (environment lookups) on every request unless
# told there is nothing to report; a fake server reports nothing.
_NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


async def _ollama_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OllamaError)
    return render_for(exc, request.url.path)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Routing errors as gin words them: plain text, not JSON."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return GinTextResponse("405 method not allowed", status_code=405)
    if exc.status_code == 404:
        return GinTextResponse("404 page not found", status_code=404)
    return render_for(OllamaError(exc.status_code, str(exc.detail)), request.url.path)


async def _validation_error(request: Request, exc: Exception) -> Response:
    return render_for(OllamaError(400, "invalid request", from_middleware=True), request.url.path)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug in the fake: answer like Ollama's 500, never with a stack trace.

    uvicorn closes the connection after an exception (the response has started): say so, so
    that a keep-alive client sends its next request on a new connection instead of losing it.
    """
    response = render_for(
        OllamaError(500, f"internal error: {type(exc).__name__}"), request.url.path
    )
    response.headers["connection"] = "close"
    return response
