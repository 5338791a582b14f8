"""``LeanRoute``: a lean route (``mockserver/fastpath.py``) as FastAPI's router holds it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send

from mockserver.fastpath import lean_handler


class LeanRoute(APIRoute):
    """An APIRoute whose endpoint takes only the ``Request`` and returns a ``Response``, called
    as plain ASGI: no dependency solver, exit stacks or response validation (such an endpoint
    needs none). Routed and documented (OpenAPI) like any APIRoute; its handler is the one
    ``DirectDispatch`` calls for the same method and path."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.handler = lean_handler(endpoint)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            await super().handle(scope, receive, send)  # FastAPI's 405
            return
        await self.handler(scope, receive, send)
