"""One renderer per surface (mockserver/wire/errors.py): the bytes every error is sent with,
whoever raises it (a handler, a guard, a fault, the replayer)."""

from __future__ import annotations

import asyncio

import pytest

from mockserver.app import create_app
from mockserver.config import Settings
from mockserver.errors import OllamaError
from mockserver.wire.errors import Surface, render, surface_of
from tests.asgi_call import call

GIN = b"application/json; charset=utf-8"
GO = b"application/json"


@pytest.mark.parametrize(
    ("error", "surface", "content_type", "body"),
    [
        # Ollama's handler errors, re-wrapped by the OpenAI middleware (json.NewEncoder).
        (
            OllamaError(404, "model 'x' not found"),
            Surface.OPENAI,
            GO,
            b'{"error":{"message":"model \'x\' not found","type":"not_found_error",'
            b'"param":null,"code":null}}\n',
        ),
        (
            OllamaError(500, "boom"),
            Surface.OPENAI,
            GO,
            b'{"error":{"message":"boom","type":"api_error","param":null,"code":null}}\n',
        ),
        (
            OllamaError(503, "busy"),
            Surface.OPENAI,
            GO,
            b'{"error":{"message":"busy","type":"api_error","param":null,"code":null}}\n',
        ),
        # Decoding errors of the middleware itself (gin AbortWithStatusJSON: no newline).
        (
            OllamaError(400, "EOF", from_middleware=True),
            Surface.OPENAI,
            GIN,
            b'{"error":{"message":"EOF","type":"invalid_request_error","param":null,"code":null}}',
        ),
        # The fake's own guard, in OpenAI's words.
        (
            OllamaError(401, "no key", code="invalid_api_key"),
            Surface.OPENAI,
            GO,
            b'{"error":{"message":"no key","type":"invalid_request_error","param":null,'
            b'"code":"invalid_api_key"}}\n',
        ),
        # Natively: gin's c.JSON.
        (
            OllamaError(404, "model 'x' not found"),
            Surface.NATIVE,
            GIN,
            b'{"error":"model \'x\' not found"}',
        ),
        (
            OllamaError(400, "a <b> & c"),
            Surface.NATIVE,
            GIN,
            b'{"error":"a \\u003cb\\u003e \\u0026 c"}',
        ),
    ],
)
def test_each_surface_renders_errors_as_ollama_sends_them(error, surface, content_type, body):
    response = render(error, surface)
    assert response.status_code == error.status
    assert dict(response.raw_headers)[b"content-type"] == content_type
    assert response.body == body


@pytest.mark.parametrize(
    ("path", "surface"),
    [
        ("/v1/chat/completions", Surface.OPENAI),
        ("/v1/models", Surface.OPENAI),
        ("/api/chat", Surface.NATIVE),
        ("/", Surface.NATIVE),
    ],
)
def test_the_path_decides_the_surface(path: str, surface: Surface) -> None:
    assert surface_of(path) is surface


@pytest.mark.parametrize(
    ("settings", "headers", "path", "status"),
    [
        (Settings(api_key="k"), [], "/v1/chat/completions", 401),
        (Settings(api_key="k"), [], "/api/chat", 401),
        (Settings(max_body_bytes=4), [], "/v1/chat/completions", 413),
        (Settings(max_body_bytes=4), [], "/api/generate", 413),
        (Settings(faults=("busy",)), [], "/v1/chat/completions", 503),
        (Settings(faults=("error",)), [], "/api/chat", 500),
    ],
)
def test_guards_and_faults_use_the_same_renderer(settings, headers, path, status) -> None:
    body = b'{"model": "gpt-oss:20b", "messages": [{"role": "user", "content": "hi"}]}'
    reply = asyncio.run(call(create_app(settings), "POST", path, body))
    assert reply.status == status
    message = (
        reply.body.split(b'"message":"', 1)[1].split(b'"', 1)[0]
        if path.startswith("/v1")
        else reply.body[len(b'{"error":"') : -2]
    )
    expected = render(OllamaError(status, message.decode()), surface_of(path))
    assert reply.headers[b"content-type"] == dict(expected.raw_headers)[b"content-type"]
    if status != 401:  # the guard names its code
        assert reply.body == expected.body
