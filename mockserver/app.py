"""The application factory: settings -> engine -> one router per API surface."""

from __future__ import annotations

import inspect

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from mockserver import __version__
from mockserver.config import Settings
from mockserver.engine.catalog import Catalog
from mockserver.engine.engine import Engine
from mockserver.errors import OllamaError
from mockserver.faults import Faults, InjectFaults
from mockserver.guards import LimitBody, RequireApiKey
from mockserver.pacing import pacer_for
from mockserver.routes import ollama, openai
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
    app.state.chat_memo = openai.ChatMemo()
    app.state.pacer = pacer_for(settings.profile)
    app.include_router(openai.router)
    app.include_router(ollama.router)
    app.add_exception_handler(OllamaError, _ollama_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(openai.HotPath, owner=app)  # innermost: every guard below applies
    if settings.replay_dir:  # innermost: guards and faults apply to replies from recordings too
        from mockserver.replay import install

        install(app, settings)
    faults = Faults.parse(settings.faults)
    if faults:
        app.add_middleware(InjectFaults, faults=faults)
    if settings.api_key:
        app.add_middleware(RequireApiKey, key=settings.api_key)
    app.add_middleware(LimitBody, limit=settings.max_body_bytes)
    return app


# FastAPI >= 0.16x checks OpenTelemetry providers (environment lookups) on every request unless
# told there is nothing to report; a fake server reports nothing.
_NO_TELEMETRY = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


def _is_openai(request: Request) -> bool:
    return request.url.path.startswith("/v1/")


async def _ollama_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OllamaError)
    if _is_openai(request):
        return openai.openai_error_response(exc)
    return ollama.native_error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Routing errors as gin words them: plain text, not JSON."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return GinTextResponse("405 method not allowed", status_code=405)
    if exc.status_code == 404:
        return GinTextResponse("404 page not found", status_code=404)
    return await _ollama_error(request, OllamaError(exc.status_code, str(exc.detail)))


async def _validation_error(request: Request, exc: Exception) -> Response:
    return await _ollama_error(request, OllamaError(400, "invalid request", from_middleware=True))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug in the fake: answer like Ollama's 500, never with a stack trace."""
    return await _ollama_error(request, OllamaError(500, f"internal error: {type(exc).__name__}"))
