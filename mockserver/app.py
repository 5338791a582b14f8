"""The application factory: settings -> engine -> one router per API surface.

``create_app`` builds the whole FastAPI app at once (the tests, the lab's in-process fake);
``python -m mockserver`` serves ``served.ServedApp``, the same layers and lean routes, which
builds the FastAPI part (``routed_app``) only when a request needs it.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.responses import Response

from mockserver import __version__
from mockserver.config import Settings
from mockserver.errors import OllamaError
from mockserver.layers import fake_state, layers, unexpected_error
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
from mockserver.wire.errors import render_for
from mockserver.wire.responses import GinTextResponse


def create_app(settings: Settings | None = None) -> FastAPI:
    """The fake as one FastAPI app: the routes behind every layer (``layers.py``), built now."""
    settings = settings or Settings()
    if settings.flavor == "llama-server":  # a second wire surface over its own engine
        from mockserver.llama_app import create_llama_app

        return create_llama_app(settings)
    state = fake_state(settings)
    app = routed_app(state)
    for layer, options in reversed(layers(state)):  # add_middleware: the last added is outermost
        app.add_middleware(layer, **options)
    return app


def routed_app(state: State) -> FastAPI:
    """The FastAPI app of every route, without the layers: ``create_app`` adds them, the served
    app (``served.py``) builds this behind its own stack of them at the first request that is
    not a lean route."""
    app = FastAPI(
        title="Portway fake Ollama",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        **_NO_TELEMETRY,
    )
    app.state = state
    for surface in (openai, ollama, embed, models, completions, portway, responses, anthropic):
        app.include_router(surface.router.build())
    document = app.openapi  # the request bodies the routes decode themselves, filled in lazily
    app.openapi = lambda: with_request_bodies(document())  # type: ignore[method-assign]
    app.add_exception_handler(OllamaError, _ollama_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, unexpected_error)
    return app


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
