"""HTTP responses with Ollama's exact headers and body framing."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from mockserver.wire.gojson import dumps


class GoJSONResponse(Response):
    """Go ``json.Encoder`` output: ``application/json``, trailing newline (Ollama's /v1)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content) + b"\n"


class GinJSONResponse(Response):
    """gin's ``c.JSON``: ``application/json; charset=utf-8``, no trailing newline."""

    media_type = "application/json; charset=utf-8"

    def render(self, content: Any) -> bytes:
        return dumps(content)


class GinTextResponse(Response):
    media_type = "text/plain; charset=utf-8"


class EventStream(Response):
    """An unpaced SSE stream already in memory: one ``http.response.body`` message per event,
    sent back to back (no task group, no disconnect listener: nothing waits, and uvicorn drops
    writes to a client that is gone). Same headers and chunks as a ``StreamingResponse``."""

    def __init__(self, events: list[bytes]) -> None:
        self.events = events
        self.status_code = 200
        self.background = None
        self.raw_headers = [(b"content-type", b"text/event-stream")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        for event in self.events:
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
