"""Call an ASGI app in-process with raw bytes (no client library in between): for the fuzz,
concurrency and disconnect tests, which need odd bodies, many requests and control of the
connection."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class Reply:
    status: int = 0
    headers: dict[bytes, bytes] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    error: BaseException | None = None  # an exception the app let escape (a crash)

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


async def call(
    app,
    method: str,
    path: str,
    body: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    chunk: int = 0,
) -> Reply:
    """One request; ``chunk`` > 0 sends the body in pieces of that size (``more_body``)."""
    if headers is None:
        headers = [(b"content-type", b"application/json")]
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 11434),
    }
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] if chunk else [body]
    pieces = pieces or [b""]
    sent = 0
    done = asyncio.Event()
    reply = Reply()

    async def receive():
        nonlocal sent
        if sent < len(pieces):
            sent += 1
            return {
                "type": "http.request",
                "body": pieces[sent - 1],
                "more_body": sent < len(pieces),
            }
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            reply.status = message["status"]
            reply.headers = dict(message.get("headers", []))
        elif message["type"] == "http.response.body":
            if message.get("body"):
                reply.chunks.append(message["body"])
            if not message.get("more_body"):
                done.set()

    try:
        await app(scope, receive, send)
    except Exception as exc:
        reply.error = exc
    done.set()
    return reply
