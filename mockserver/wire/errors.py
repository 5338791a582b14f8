"""The one place that renders an error, per API surface.

Every error the fake answers (the engine's, a decoding failure, a guard's 401/413, a fault's
503/500, a strict replay's 404, an unexpected 500) is an ``OllamaError`` rendered here:

- ``/v1`` (``Surface.OPENAI``): Ollama's ``openai.NewError`` body ``{"error": {"message",
  "type", "param", "code"}}``. Errors raised while the OpenAI middleware decodes the request
  (``from_middleware``) are gin's ``AbortWithStatusJSON`` (``; charset=utf-8``, no newline);
  the others are re-wrapped by the middleware's writer with ``json.NewEncoder``
  (``application/json``, trailing newline). ``middleware/openai.go``, ``openai/openai.go``.
- native (``Surface.NATIVE``): gin's ``c.JSON(status, gin.H{"error": message})``.
- ``/v1/messages`` (``Surface.ANTHROPIC``): ``anthropic.NewError``, ``{"type": "error",
  "error": {"type", "message"}, "request_id"}``, framed as on ``/v1`` (the middleware's
  refusals are gin's, the chat handler's errors pass through ``AnthropicWriter.writeError``).
  ``anthropic/anthropic.go``, ``middleware/anthropic.go``.
"""

from __future__ import annotations

import enum

from starlette.responses import Response

from mockserver.errors import OllamaError
from mockserver.wire.responses import GinJSONResponse, GoJSONResponse


class Surface(enum.Enum):
    OPENAI = "openai"
    NATIVE = "native"
    ANTHROPIC = "anthropic"


def surface_of(path: str) -> Surface:
    if path == "/v1/messages" or path.startswith("/v1/messages/"):
        return Surface.ANTHROPIC
    return Surface.OPENAI if path.startswith("/v1/") else Surface.NATIVE


# openai.NewError: 400 and 404 have their own type, every other status is api_error. Ollama
# never answers 401; the fake's --api-key guard speaks OpenAI's words for it.
_OPENAI_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "not_found_error"}


def openai_type(error: OllamaError) -> str:
    """The OpenAI error ``type`` for the status, as Ollama (>= 0.18) derives it."""
    if error.from_middleware:
        return "invalid_request_error"
    return _OPENAI_TYPES.get(error.status, "api_error")


def render(error: OllamaError, surface: Surface) -> Response:
    if surface is Surface.NATIVE:
        return GinJSONResponse(
            {"error": error.message}, status_code=error.status, headers=error.headers
        )
    if surface is Surface.ANTHROPIC:
        from mockserver.wire.anthropic import error_body

        kind = GinJSONResponse if error.from_middleware else GoJSONResponse
        return kind(error_body(error), status_code=error.status, headers=error.headers)
    body = {
        "error": {
            "message": error.message,
            "type": openai_type(error),
            "param": None,
            "code": error.code,
        }
    }
    kind = GinJSONResponse if error.from_middleware else GoJSONResponse
    return kind(body, status_code=error.status, headers=error.headers)


def render_for(error: OllamaError, path: str) -> Response:
    """``render`` for the surface a request path belongs to."""
    return render(error, surface_of(path))
