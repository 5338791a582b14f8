"""Errors the way Ollama words them, independent of the API surface that reports them.

The engine, the wire layers, the guards, the fault modes and the replayer raise (or build) an
``OllamaError``; ``mockserver.wire.errors.render`` is the one place that turns it into the
bytes of a surface: ``{"error": {...}}`` (OpenAI shape) on ``/v1``, ``{"error": "..."}`` on
``/api``.
"""

from __future__ import annotations

from collections.abc import Mapping


class OllamaError(Exception):
    """An error Ollama answers with ``status`` and ``message``.

    ``from_middleware`` marks errors Ollama raises while decoding an OpenAI request (gin's
    ``AbortWithStatusJSON``: charset in the content type, no trailing newline) as opposed to
    errors the native handler returns and the OpenAI layer re-wraps. ``code`` is the OpenAI
    ``error.code`` (Ollama always sends null; the fake's own guards name theirs, e.g.
    ``invalid_api_key``) and ``headers`` are extra response headers (``WWW-Authenticate``).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        from_middleware: bool = False,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.from_middleware = from_middleware
        self.code = code
        self.headers = dict(headers or {})


def bad_request(message: str, *, from_middleware: bool = False) -> OllamaError:
    return OllamaError(400, message, from_middleware=from_middleware)


def model_not_found(name: str) -> OllamaError:
    return OllamaError(404, f"model '{name}' not found")


def model_required() -> OllamaError:
    return OllamaError(400, "model is required")
