"""Errors the way Ollama words them, independent of the API surface that reports them.

The engine and the wire layers raise ``OllamaError``; each router's handler turns it into its
surface's body: ``{"error": {...}}`` (OpenAI shape) on ``/v1``, ``{"error": "..."}`` on ``/api``.
"""

from __future__ import annotations


class OllamaError(Exception):
    """An error Ollama answers with ``status`` and ``message``.

    ``from_middleware`` marks errors Ollama raises while decoding an OpenAI request (gin's
    ``AbortWithStatusJSON``: charset in the content type, no trailing newline) as opposed to
    errors the native handler returns and the OpenAI layer re-wraps.
    """

    def __init__(self, status: int, message: str, *, from_middleware: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.from_middleware = from_middleware

    @property
    def openai_type(self) -> str:
        """OpenAI error ``type`` from the status, as Ollama >= 0.18 derives it."""
        if self.from_middleware or self.status == 400:
            return "invalid_request_error"
        if self.status == 404:
            return "not_found_error"
        return "api_error"


def bad_request(message: str, *, from_middleware: bool = False) -> OllamaError:
    return OllamaError(400, message, from_middleware=from_middleware)


def model_not_found(name: str) -> OllamaError:
    return OllamaError(404, f"model '{name}' not found")


def model_required() -> OllamaError:
    return OllamaError(400, "model is required")
