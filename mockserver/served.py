"""``python -m mockserver``'s app: the lean routes answered before FastAPI is imported.

Importing FastAPI and building its routers is ~0.15 s of the fake's start, as much as the
gpt-oss vocabulary, and a client that starts the fake to chat needs none of it. The served
app is the same layers (``layers.py``) around the same ``DirectDispatch`` as ``create_app``'s,
so the generation routes and the probes (``fastpath.py``) are answered by the same code;
what the dispatch passes on (``/api/show``, ``/api/pull``, a 404, the OpenAPI document...) goes
to ``app.routed_app``, imported and built at the first such request. ``tests/test_served.py``:
the two apps give the same bytes, and a chat is answered without FastAPI in the process.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.asgi import serve_lifespan
from mockserver.config import Settings
from mockserver.layers import fake_state, layers, stacked, unexpected_error

SETTINGS_ENV = "PORTWAY_FAKE_SETTINGS"


class ServedApp:
    """An ASGI app with ``state`` as a Starlette app has (``request.app.state``); its FastAPI
    router is made once, when a request first reaches it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state = fake_state(settings)
        self._routed: ASGIApp | None = None
        self._stack = ServerErrorMiddleware(
            stacked(self._to_router, layers(self.state)), handler=unexpected_error
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)  # the store and vocabularies load on demand
            return
        scope["app"] = self  # what Starlette sets: the routes read ``request.app.state``
        await self._stack(scope, receive, send)

    @property
    def routed(self) -> ASGIApp:
        """The FastAPI app of every route (no layers: they are this app's), built once."""
        if self._routed is None:
            from mockserver.app import routed_app

            self._routed = routed_app(self.state)
        return self._routed

    async def _to_router(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.routed(scope, receive, send)


def serving_app(settings: Settings) -> Any:
    """The app a server serves for ``settings``: the served app, or the llama-server twin
    (``llama_app.py``, FastAPI from the start: it loads its model before serving anyway)."""
    if settings.flavor == "llama-server":
        from mockserver.app import create_app

        return create_app(settings)
    return ServedApp(settings)


def settings_json(settings: Settings) -> str:
    return json.dumps(dataclasses.asdict(settings))


def app_from_environment() -> Any:
    """The app for one worker of ``python -m mockserver --workers N``: the settings the parent
    process parsed, passed in ``PORTWAY_FAKE_SETTINGS`` (uvicorn starts workers from an import
    string, not from an app object)."""
    values: dict[str, Any] = json.loads(os.environ[SETTINGS_ENV])
    fields: dict[str, Any] = {
        name: tuple(value) if isinstance(value, list) else value for name, value in values.items()
    }
    return serving_app(Settings(**fields))
