"""ASGI guards in front of both surfaces: an optional bearer key and a request-body cap.

Pure ASGI (no per-request objects) so they cost next to nothing on the hot path. Rejections use
the surface's own error shape: OpenAI-shaped on ``/v1``, ``{"error": "..."}`` natively.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.errors import OllamaError
from mockserver.wire.errors import render_for


async def send_error(
    send: Send, path: str, status: int, message: str, code: str | None = None
) -> None:
    """Answer with an error as its surface renders it (``wire/errors.py``, the one renderer)."""
    headers = {"WWW-Authenticate": 'Bearer realm="portway-fake"'} if status == 401 else None
    response = render_for(OllamaError(status, message, code=code, headers=headers), path)
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
    )
    await send({"type": "http.response.body", "body": bytes(response.body)})


class RequireApiKey:
    """Answer 401 unless ``Authorization: Bearer <key>`` matches (as vLLM and llama.cpp do).

    ``/`` stays open so that health checks keep working.
    """

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self._expected = f"Bearer {key}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        if hmac.compare_digest(given, self._expected):
            await self.app(scope, receive, send)
            return
        message = (
            "Incorrect API key provided. This server requires `Authorization: Bearer <key>` "
            "with the key it was started with (--api-key)."
            if given
            else "Missing API key: send `Authorization: Bearer <key>` (the server was started "
            "with --api-key)."
        )
        await send_error(send, scope["path"], 401, message, "invalid_api_key")


class LimitBody:
    """Refuse request bodies larger than ``limit`` bytes with a clear 413."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit():
            if int(declared) > self.limit:
                await self._refuse(scope, send)
                return
            # The server reads exactly Content-Length bytes: nothing to count or guard (and no
            # wrapper on every streamed chunk).
            await self.app(scope, receive, send)
            return
        received = 0
        too_large = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large and not started:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not started:
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        await send_error(
            send,
            scope["path"],
            413,
            f"request body too large: the limit is {self.limit} bytes (--max-body-bytes)",
        )
