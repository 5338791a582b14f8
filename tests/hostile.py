"""A hostile target: an HTTP server that answers one route the way no healthy server would.

It is a raw asyncio socket server (no framework), so that it can do what frameworks prevent:
trickle a byte at a time, never end a body, declare 64 MiB, end a stream early, send invalid
JSON with ``Content-Type: application/json``. Every route it does not attack answers like a
small healthy Ollama (``/api/version``, ``/api/tags``, ``/v1/models``, chat completions, the
preflight's empty-body probe), so the lab gets as far as the attacked route::

    with Hostile("trickle", at="chat") as server:
        main(["run", "--target", server.openai_url, "--timeout", "1"])

``at`` is the route attacked: ``version``, ``tags``, ``models``, ``chat`` (a chat completion),
``stream`` (a streamed one) or ``native`` (``POST /api/chat``, as ``lab fidelity`` asks it:
``_debug_render_only`` or a count); ``all`` for every route (``html`` only). With
``ollama=False`` it is a generic OpenAI-compatible server (``/api/*`` answer 404 JSON, as
vLLM's would). Behaviours: see :data:`BEHAVIOURS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable
from typing import Any

MODEL = "llama3.2:3b"
WORDS = ["Toronto", ",", " Montreal", " and", " Vancouver", "."]
USAGE = {"prompt_tokens": 31, "completion_tokens": 6, "total_tokens": 37}
MIB = 1024 * 1024

BEHAVIOURS = {
    "healthy": "answer like a small Ollama",
    "invalid-json": "200, application/json, a body cut in the middle of an object",
    "empty-200": "200, application/json, Content-Length: 0",
    "usage-lots": 'a whole chat completion whose "usage" is "lots"',
    "no-name": "/api/tags entries without a name",
    "id-5": "/v1/models entries whose id is 5",
    "id-null": "/v1/models entries whose id is null",
    "trickle": "the healthy answer, one byte at a time (every `interval` seconds)",
    "stall": "the status line and headers, then nothing (the connection stays open)",
    "endless-json": "200, application/json, chunked, a JSON array that never ends",
    "endless-sse": "200, text/event-stream, valid chunks forever, never [DONE]",
    "huge": "200, application/json, Content-Length: 64 MiB, and the bytes",
    "huge-chunked": "200, application/json, chunked, 64 MiB without a length",
    "no-done": "a whole stream with finish_reason and usage, but no data: [DONE]",
    "cut-before-finish": "a stream that ends cleanly after three content chunks",
    "html": "404, text/html: the page Python's http.server sends",
    "html-500": "502, text/html: nginx's page when its backend is down",
}

HTML_404 = (
    '<!DOCTYPE HTML>\n<html lang="en">\n    <head>\n        <meta charset="utf-8">\n'
    "        <title>Error response</title>\n    </head>\n    <body>\n"
    "        <h1>Error response</h1>\n        <p>Error code: 404</p>\n"
    "        <p>Message: File not found.</p>\n    </body>\n</html>\n"
)
HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.27.0</center>\r\n"
    "</body>\r\n</html>\r\n"
)

Writer = Callable[[bytes], Awaitable[None]]


class Hostile:
    """The server, on a free loopback port, in a thread of its own while the block runs."""

    def __init__(
        self, behaviour: str, at: str = "chat", *, ollama: bool = True, interval: float = 0.05
    ) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}; known: {', '.join(BEHAVIOURS)}")
        self.behaviour = behaviour
        self.at = at
        self.ollama = ollama
        self.interval = interval
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request received
        self.bytes_sent = 0  # body bytes written on attacked routes
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    def __enter__(self) -> Hostile:
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- HTTP/1.1, just enough -----------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # CancelledError too: the server is shutting down (Python 3.11's stream callback would
        # log a cancelled connection task as an error).
        quiet = (ConnectionError, asyncio.IncompleteReadError, OSError, asyncio.CancelledError)
        with contextlib.suppress(*quiet):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *lines = head.decode("latin-1").split("\r\n")
                method, path, _ = request_line.split(" ", 2)
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in lines if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append((method, path))
                keep_open = await self._answer(method, path.split("?")[0], body, writer)
                await writer.drain()
                if not keep_open:
                    break
        with contextlib.suppress(Exception):
            writer.close()

    async def _answer(
        self, method: str, path: str, body: bytes, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; ``False`` closes the connection afterwards."""
        route, stream, payload = _route(method, path, body)
        if self.behaviour in ("html", "html-500") and (route == self.at or self.at == "all"):
            status, page, server = (
                (404, HTML_404, "SimpleHTTP/0.6 Python/3.12.3")
                if self.behaviour == "html"
                else (502, HTML_502, "nginx/1.27.0")
            )
            return self._send(writer, status, page.encode(), "text/html;charset=utf-8", server)
        if route == "probe":  # the preflight's empty-body POST: the JSON 400 of an API
            return self._send(writer, 400, _openai_error("model is required"))
        if route != self.at:
            return self._healthy(writer, route, stream, payload)
        return await self._attack(writer, route, stream, payload)

    def _healthy(
        self, writer: asyncio.StreamWriter, route: str, stream: bool, payload: dict[str, Any]
    ) -> bool:
        if route in ("version", "tags") and not self.ollama:
            return self._send(writer, 404, b'{"detail":"Not Found"}')
        if route == "version":
            return self._send(writer, 200, b'{"version":"0.12.6"}')
        if route == "tags":
            return self._send(writer, 200, json.dumps({"models": [_tag(MODEL)]}).encode())
        if route == "models":
            return self._send(writer, 200, json.dumps(_model_list([MODEL])).encode())
        if route == "stream":
            frames = _frames(payload, done=True)
            return self._send(writer, 200, b"".join(frames), "text/event-stream")
        if route in ("chat", "native"):
            return self._send(writer, 200, _healthy_body(route, stream, payload))
        return self._send(writer, 404, b'{"error":"not found"}', "application/json")

    async def _attack(
        self, writer: asyncio.StreamWriter, route: str, stream: bool, payload: dict[str, Any]
    ) -> bool:
        behaviour = self.behaviour
        if behaviour == "invalid-json":
            return self._send(writer, 200, b'{"id": "chatcmpl-1", "choices": [{"index": 0,')
        if behaviour == "empty-200":
            return self._send(writer, 200, b"")
        if behaviour == "usage-lots":
            if stream:
                frames = _frames(payload, done=True, usage="lots")
                return self._send(writer, 200, b"".join(frames), "text/event-stream")
            return self._send(writer, 200, json.dumps(_completion(usage="lots")).encode())
        if behaviour == "no-name":
            return self._send(writer, 200, b'{"models":[{"size":2019393189,"digest":"a80c4f"}]}')
        if behaviour in ("id-5", "id-null"):
            listed = _model_list([5 if behaviour == "id-5" else None])
            return self._send(writer, 200, json.dumps(listed).encode())
        if behaviour == "trickle":
            whole = _healthy_body(route, stream, payload)
            writer.write(_head(200, len(whole), _type(route, stream)))
            for byte in whole:
                writer.write(bytes([byte]))
                self.bytes_sent += 1
                await writer.drain()
                await asyncio.sleep(self.interval)
            return False
        if behaviour == "stall":
            writer.write(_head(200, 1000, _type(route, stream)))
            await writer.drain()
            await asyncio.sleep(3600)
            return False
        if behaviour == "endless-json":
            writer.write(_head(200, None, "application/json"))
            await self._chunk(writer, b'{"id":"chatcmpl-1","choices":[')
            while True:
                await self._chunk(writer, b'{"index":0,"message":{"content":"x"}},' * 200)
        if behaviour == "endless-sse":
            writer.write(_head(200, None, "text/event-stream"))
            while True:
                await self._chunk(writer, b"".join(_frames(payload, done=False)[:-1]) * 20)
        if behaviour in ("huge", "huge-chunked"):
            size = 64 * MIB
            block = b" " * MIB
            if behaviour == "huge":
                writer.write(_head(200, size, "application/json"))
                for _ in range(64):
                    writer.write(block)
                    self.bytes_sent += len(block)
                    await writer.drain()
            else:
                writer.write(_head(200, None, "application/json"))
                for _ in range(64):
                    await self._chunk(writer, block)
                writer.write(b"0\r\n\r\n")
            return False
        if behaviour == "no-done":
            frames = _frames(payload, done=False)
            return self._send(writer, 200, b"".join(frames), "text/event-stream")
        if behaviour == "cut-before-finish":
            frames = _frames(payload, done=False)[:3]
            return self._send(writer, 200, b"".join(frames), "text/event-stream")
        return self._healthy(writer, route, stream, payload)

    def _send(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        server: str = "",
    ) -> bool:
        writer.write(_head(status, len(body), content_type, server) + body)
        return True

    async def _chunk(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.bytes_sent += len(data)
        await writer.drain()


def _route(method: str, path: str, body: bytes) -> tuple[str, bool, dict[str, Any]]:
    """Which route a request is for, whether it asks for a stream, and its JSON body."""
    try:
        payload = json.loads(body) if body else {}
    except ValueError:
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    if path == "/api/version":
        return "version", False, payload
    if path == "/api/tags":
        return "tags", False, payload
    if path == "/v1/models":
        return "models", False, payload
    if method == "POST" and path == "/api/chat" and "messages" in payload:
        return "native", False, payload
    if method == "POST" and path == "/v1/chat/completions":
        if "messages" not in payload:
            return "probe", False, payload
        return ("stream" if payload.get("stream") else "chat"), bool(payload.get("stream")), payload
    return "other", False, payload


def _head(status: int, length: int | None, content_type: str, server: str = "") -> bytes:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 502: "Bad Gateway"}
    lines = [f"HTTP/1.1 {status} {reason.get(status, 'Status')}", f"Content-Type: {content_type}"]
    if server:
        lines.append(f"Server: {server}")
    if length is None:
        lines.append("Transfer-Encoding: chunked")
    else:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _type(route: str, stream: bool) -> str:
    return "text/event-stream" if stream else "application/json"


def _healthy_body(route: str, stream: bool, payload: dict[str, Any]) -> bytes:
    if stream:
        return b"".join(_frames(payload, done=True))
    if route == "chat":
        return json.dumps(_completion()).encode()
    if route == "native":
        return json.dumps(_native_chat(payload)).encode()
    if route == "version":
        return b'{"version":"0.12.6"}'
    if route == "tags":
        return json.dumps({"models": [_tag(MODEL)]}).encode()
    return json.dumps(_model_list([MODEL])).encode()


def _native_chat(payload: dict[str, Any]) -> dict[str, Any]:
    """``/api/chat`` with ``stream: false``: the rendered prompt for ``_debug_render_only``
    (a template of its own, not Llama's), else a one-token answer with its prompt count."""
    answer: dict[str, Any] = {"model": MODEL, "created_at": "2026-03-23T00:00:00Z"}
    if payload.get("_debug_render_only"):
        turns = payload.get("messages") or []
        text = "".join(
            f"{m.get('role')}: {m.get('content')}\n" for m in turns if isinstance(m, dict)
        )
        return answer | {"_debug_info": {"rendered_template": text, "image_count": 0}}
    message = {"role": "assistant", "content": WORDS[0]}
    return answer | {"message": message, "done": True, "done_reason": "length",
                     "prompt_eval_count": USAGE["prompt_tokens"], "eval_count": 1}  # fmt: skip


def _openai_error(message: str) -> bytes:
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": None}
    return json.dumps({"error": error}).encode()


def _tag(name: str) -> dict[str, Any]:
    return {"name": name, "model": name, "size": 2019393189, "digest": "a80c4f17acd5"}


def _model_list(ids: list[Any]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": i, "object": "model", "created": 0, "owned_by": "library"} for i in ids],
    }


def _completion(usage: Any = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": MODEL,
        "system_fingerprint": "fp_ollama",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(WORDS)},
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE if usage is None else usage,
    }


def _frames(payload: dict[str, Any], *, done: bool, usage: Any = None) -> list[bytes]:
    """The SSE frames of a healthy stream: content chunks, the finish chunk, usage, [DONE]."""

    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": MODEL,
            "system_fingerprint": "fp_ollama",
            "choices": [choice],
        }

    events = [chunk({"role": "assistant", "content": word}, None) for word in WORDS]
    events.append(chunk({"role": "assistant", "content": ""}, "stop"))
    options = payload.get("stream_options")
    if (isinstance(options, dict) and options.get("include_usage")) or usage is not None:
        events.append(
            {**chunk({}, None), "choices": [], "usage": USAGE if usage is None else usage}
        )
    frames = [b"data: " + json.dumps(event).encode() + b"\n\n" for event in events]
    if done:
        frames.append(b"data: [DONE]\n\n")
    return frames
