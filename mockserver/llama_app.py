"""The app factory of the llama-server flavor: settings -> LlamaEngine -> its router.

Same outer layers as the Ollama flavor (body limit, API key, faults); errors are rendered by
``wire/llama_server.py`` only.
"""

from __future__ import annotations

import hmac

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver import __version__
from mockserver.config import Settings
from mockserver.engine.llama_engine import LlamaEngine, LlamaError
from mockserver.engine.llama_models import model_named
from mockserver.faults import Faults, InjectFaults
from mockserver.guards import LimitBody
from mockserver.journal import Journal, KeepJournal
from mockserver.pacing import PROFILES
from mockserver.routes import llama_server, portway
from mockserver.wire import llama_server as wire


def create_llama_app(settings: Settings) -> FastAPI:
    model = model_named(settings.llama_model)
    model.tokenizer  # noqa: B018  (loaded before serving, as llama-server loads its model)
    profile = PROFILES.get(settings.profile or "")
    if settings.profile and profile is None:
        raise ValueError(f"unknown profile {settings.profile!r}; known: {', '.join(PROFILES)}")
    app = FastAPI(title="Portway llama-server twin", version=__version__, docs_url=None,
                  redoc_url=None, openapi_url=None)  # fmt: skip
    app.state.settings = settings
    app.state.llama = LlamaEngine(
        model,
        alias=settings.alias or model.file,
        n_ctx=settings.ctx_size,
        n_parallel=settings.parallel,
        kv_unified=settings.kv_unified,
        current_date=settings.current_date,
        prefill_tps=profile.prefill_tps if profile else None,
        decode_tps=profile.decode_tps if profile else None,
    )
    app.include_router(llama_server.router.build())
    app.add_exception_handler(LlamaError, _llama_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
    faults = Faults.parse(settings.faults)
    if faults:
        app.add_middleware(InjectFaults, faults=faults)
    if settings.api_key:
        app.add_middleware(RequireLlamaApiKey, key=settings.api_key)
    app.add_middleware(LimitBody, limit=settings.max_body_bytes)
    app.state.journal = Journal(settings.journal) if settings.journal > 0 else None
    if app.state.journal is not None:  # --journal N: GET /_portway/journal, as the Ollama flavor
        app.include_router(portway.router.build())
        app.add_middleware(KeepJournal, journal=app.state.journal)
    return app


async def _llama_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LlamaError)
    return wire.error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    return wire.not_found()  # httplib: no route for this path and method


async def _validation_error(request: Request, exc: Exception) -> Response:
    return wire.error_response(LlamaError("invalid request"))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    return wire.error_response(LlamaError(f"got exception: {type(exc).__name__}", "server_error"))


class RequireLlamaApiKey:
    """``--api-key``: llama-server's ``middleware_validate_api_key`` (``server-http.cpp``).

    ``/health`` and ``/v1/health`` stay public; the key comes from ``Authorization`` (with or
    without ``Bearer ``) or else ``X-Api-Key``; anything else is 401 ``Invalid API Key``.
    """

    PUBLIC = frozenset({"/health", "/v1/health"})

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self._key = key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.PUBLIC:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"authorization") or headers.get(b"x-api-key") or b""
        given = given.removeprefix(b"Bearer ")
        if hmac.compare_digest(given, self._key):
            await self.app(scope, receive, send)
            return
        body = {
            "error": {"message": "Invalid API Key", "type": "authentication_error", "code": 401}
        }
        await wire.json_response(body, 401)(scope, receive, send)
