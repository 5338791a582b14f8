"""HTTP responses with Ollama's exact headers and body framing."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

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
