"""ASGI guards in front of both surfaces: browsers' Origin and Host as Ollama checks them, an
optional bearer key and a request-body cap.

Pure ASGI (no per-request objects) so they cost next to nothing on the hot path. Rejections use
the surface's own error shape: OpenAI-shaped on ``/v1``, ``{"error": "..."}`` natively.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import ipaddress
import logging
import socket
import time
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from mockserver.config import is_loopback
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
            if too_large:  # told the app the client left: it must not wait for more body
                return {"type": "http.disconnect"}
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


# --- browsers: Origin and Host, as Ollama checks them ------------------------------------------


# gin-contrib/cors v1.7.2 (config.go): the schemes an origin without ``*`` must start with, with
# Ollama's ``AllowBrowserExtensions = true``.
_ORIGIN_SCHEMES = (
    "http://",
    "https://",
    "chrome-extension://",
    "safari-extension://",
    "moz-extension://",
    "ms-browser-extension://",
)
# server/routes.go GenerateRoutes: corsConfig.AllowHeaders, after gin-contrib's normalize
# (trimmed, lower-cased) and http.CanonicalHeaderKey.
_ALLOW_HEADERS = (
    "Authorization,Content-Type,User-Agent,Accept,X-Requested-With,Openai-Beta,"
    "X-Stainless-Arch,X-Stainless-Async,X-Stainless-Custom-Poll-Interval,"
    "X-Stainless-Helper-Method,X-Stainless-Lang,X-Stainless-Os,X-Stainless-Package-Version,"
    "X-Stainless-Poll-Helper,X-Stainless-Retry-Count,X-Stainless-Runtime,"
    "X-Stainless-Runtime-Version,X-Stainless-Timeout"
)
_PREFLIGHT_HEADERS = [
    (b"access-control-allow-methods", b"GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS"),
    (b"access-control-allow-headers", _ALLOW_HEADERS.encode()),
    (b"access-control-max-age", b"43200"),  # cors.DefaultConfig MaxAge, 12 h
]


class OriginPolicy:
    """gin-contrib/cors v1.7.2 as Ollama configures it (``AllowWildcard``,
    ``AllowBrowserExtensions``, ``AllowOrigins = envconfig.AllowedOrigins()``)."""

    def __init__(self, origins: tuple[str, ...]) -> None:
        for origin in origins:  # Config.Validate: newCors panics, Ollama does not start
            if "*" not in origin and not origin.startswith(_ORIGIN_SCHEMES):
                raise ValueError(
                    f"OLLAMA_ORIGINS: bad origin {origin!r}: origins must contain '*' or "
                    f"include {','.join(_ORIGIN_SCHEMES)}"
                )
            if origin.count("*") > 1:
                raise ValueError(f"OLLAMA_ORIGINS: bad origin {origin!r}: only one * is allowed")
        self.allow_all = "*" in origins
        self.exact = frozenset(o.strip().lower() for o in origins)  # normalize()
        self.wildcards = tuple(tuple(o.split("*", 1)) for o in origins if "*" in o)

    def allows(self, origin: str) -> bool:
        """``validateOrigin``: an exact (lower-cased list) match, else a wildcard rule."""
        if self.allow_all or origin in self.exact:
            return True
        return any(
            (start == "" or origin.startswith(start)) and (end == "" or origin.endswith(end))
            for start, end in self.wildcards
        )


class CheckOrigin:
    """A browser's cross-origin request, refused or allowed as Ollama does (403, no body).

    Two gin middlewares of ``server/routes.go`` GenerateRoutes, in their order:
    ``cors.New(corsConfig)`` (the ``Origin`` header against ``OLLAMA_ORIGINS`` and the local
    defaults; an allowed preflight ``OPTIONS`` gets 204 with the CORS headers), then
    ``allowedHostsMiddleware`` (when bound to a loopback address, the ``Host`` header must name
    this machine: DNS-rebinding protection).
    """

    def __init__(self, app: ASGIApp, policy: OriginPolicy, bound_to: str) -> None:
        self.app = app
        self.policy = policy
        self.check_hosts = is_loopback(bound_to)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin_raw = host_raw = b""
        for name, value in scope["headers"]:
            if name == b"origin" and not origin_raw:
                origin_raw = value
            elif name == b"host" and not host_raw:
                host_raw = value
        if not origin_raw and not self.check_hosts:
            await self.app(scope, receive, send)
            return
        origin = origin_raw.decode("latin-1")
        host = host_raw.decode("latin-1")
        extra: list[tuple[bytes, bytes]] = []
        if origin and origin not in (f"http://{host}", f"https://{host}"):
            if not self.policy.allows(origin):
                await _empty(send, 403)
                return
            extra = [(b"vary", b"Origin")] if not self.policy.allow_all else []
            extra.append(
                (b"access-control-allow-origin", b"*" if self.policy.allow_all else origin_raw)
            )
            if scope["method"] == "OPTIONS":
                await _empty(send, 204, [*_PREFLIGHT_HEADERS, *extra])
                return
        if self.check_hosts:
            hostname = _host_of(host)
            if not _is_local_address(hostname):
                if not allowed_host(hostname):
                    await _empty(send, 403, extra)
                    return
                if scope["method"] == "OPTIONS":
                    await _empty(send, 204, extra)
                    return
        if not extra:
            await self.app(scope, receive, send)
            return

        async def with_cors_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_cors_headers)


async def _empty(send: Send, status: int, headers: list[tuple[bytes, bytes]] = ()) -> None:  # type: ignore[assignment]
    """``c.AbortWithStatus(status)``: no body."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def _host_of(host: str) -> str:
    """``net.SplitHostPort(c.Request.Host)``, else the header as is."""
    if host.startswith("["):
        end = host.find("]")
        if end > 0 and (host[end + 1 :] == "" or host[end + 1 :].startswith(":")):
            return host[1:end] if host[end + 1 :] else host
    elif host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


@functools.lru_cache(maxsize=1024)  # a client's Host header, once per distinct value
def _is_local_address(host: str) -> bool:
    """An IP ``Host`` that is loopback, private, unspecified or one of this machine's."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if address.is_loopback or address.is_private or address.is_unspecified:
        return True
    return host in _machine_addresses()


@functools.cache
def _machine_addresses() -> frozenset[str]:
    """``isLocalIP``: Ollama lists the interfaces' addresses; the addresses this machine's name
    resolves to are the portable approximation (UNVERIFIED on multi-homed hosts)."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None)
    except OSError:
        return frozenset()
    return frozenset(str(info[4][0]) for info in infos)


def allowed_host(host: str) -> bool:
    """``allowedHost`` of ``server/routes.go``: empty, localhost, this machine's name, or a
    name under ``.localhost``, ``.local`` or ``.internal``."""
    host = host.lower()
    if host in ("", "localhost") or host == socket.gethostname().lower():
        return True
    return host.endswith((".localhost", ".local", ".internal"))


class QuietDisconnects:
    """A client that hangs up mid-body is no error of the server's: no traceback in the log.

    ``Request.body()`` raises ``ClientDisconnect`` when the connection closes before the body
    has arrived (``Content-Length: 1000``, 10 bytes, close); uvicorn would log ``Exception in
    ASGI application`` for each one. There is nobody left to answer.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except ClientDisconnect:
            return


# --- slow clients ---------------------------------------------------------------------------

HEADER_TIMEOUT = 10.0  # seconds from connecting (or from the last answer) to complete headers
BODY_TIMEOUT = 30.0  # seconds a request body may go without a byte arriving


class _SlowBody(Exception):
    pass


class ReadDeadlines:
    """A request body that stops arriving gets 408 and the connection is closed.

    Ollama's ``http.Server`` sets no timeouts (Go's defaults: none), so a slowloris client
    holds a connection, and here a file descriptor, forever; uvicorn's keep-alive timeout only
    covers idle connections between requests. Header deadlines are the protocol's
    (``header_deadline_protocol``); this is the body's: ``BODY_TIMEOUT`` without data.
    """

    def __init__(self, app: ASGIApp, timeout: float = BODY_TIMEOUT) -> None:
        self.app = app
        self.timeout = timeout
        self._deadlines = _Deadlines(timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        reading = True
        started = False
        deadlines = self._deadlines

        async def timed_receive() -> Message:
            nonlocal reading
            if not reading:  # the body is in: waiting for a disconnect is no read
                return await receive()
            message = await deadlines.within(receive)
            if message["type"] != "http.request" or not message.get("more_body", False):
                reading = False
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, tracking_send)
        except ClientDisconnect:
            return  # nobody left to answer, nothing to log (QuietDisconnects)
        except _SlowBody:
            if not started:
                error = OllamaError(
                    408,
                    f"request body timeout: no data for {self.timeout:g} s",
                    headers={"Connection": "close"},
                )
                await render_for(error, scope["path"])(scope, receive, send)


class _Deadlines:
    """``await within(receive)``: ``receive()``, or ``_SlowBody`` when it has waited
    ``timeout`` seconds.

    One sweep a tick (a quarter of the timeout, at most a second) cancels the reads past
    their deadline, instead of a timer per read: nearly every body is in before its request
    starts, and arming and cancelling ``asyncio.timeout`` cost more than the rest of a
    memoized answer's guards together (~6 us a read). A slow read is cut between ``timeout``
    and ``timeout`` + a tick."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.tick = min(1.0, timeout / 4)
        self._waiting: dict[asyncio.Task[Any], float] = {}  # a read waiting -> its deadline
        self._expired: set[asyncio.Task[Any]] = set()
        self._sweeping_on: asyncio.AbstractEventLoop | None = None

    async def within(self, receive: Receive) -> Message:
        task = asyncio.current_task()
        if task is None:  # not in a task: nothing to cancel, no deadline
            return await receive()
        loop = asyncio.get_running_loop()
        self._waiting[task] = loop.time() + self.timeout
        if self._sweeping_on is not loop:
            self._sweep_later(loop)
        try:
            return await receive()
        except asyncio.CancelledError:
            if task not in self._expired:
                raise
            task.uncancel()  # this cancellation was the deadline's, not the caller's
            raise _SlowBody from None
        finally:
            self._waiting.pop(task, None)
            self._expired.discard(task)

    def _sweep_later(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweeping_on = loop
        loop.call_later(self.tick, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for task, deadline in list(self._waiting.items()):
            if deadline <= now and task not in self._expired:
                self._expired.add(task)
                task.cancel()
        self._sweeping_on = None
        if self._waiting:
            self._sweep_later(loop)


_BUSY_TEXT = b"too many open connections, try again later"
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_BUSY_TEXT), _BUSY_TEXT)
)


def header_deadline_protocol(
    timeout: float = HEADER_TIMEOUT, max_connections: int | None = None
) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (httptools if installed, else h11, as ``http="auto"``) that
    closes a connection whose request headers are not complete ``timeout`` seconds after it
    opened or after its previous answer: a client that connects and sends nothing, or sends
    its headers a byte at a time, no longer holds a file descriptor for good.

    Past ``max_connections`` open connections, a new one is answered 503 and closed at once,
    so that the process never reaches its open-file limit: there, asyncio's accept loop logs a
    traceback per attempt, thousands a second (CPython 3.11 ``_accept_connection``).

    With the defaults this is ``HeaderDeadlineProtocol`` itself, a module-level class that
    pickles by reference (uvicorn hands it to ``--workers`` processes); other values make a
    subclass (tests).
    """
    if timeout == HEADER_TIMEOUT and max_connections == HeaderDeadlineProtocol.max_connections:
        return HeaderDeadlineProtocol
    return type(
        "HeaderDeadlineProtocol",
        (HeaderDeadlineProtocol,),
        {"header_timeout": timeout, "max_connections": max_connections},
    )


def connection_limits() -> tuple[int | None, int]:
    """(open connections allowed, listen backlog) under the process's open-file limit.

    asyncio accepts up to ``backlog`` waiting connections in one go before any of them can
    be turned away, so the limit leaves room for a whole backlog plus the server's own files
    (vocabularies, logs, the event loop): with macOS's default of 256 files, 160 connections
    and a backlog of 64. No limit where it is unknown (no ``resource``: Windows).
    """
    try:
        import resource
    except ImportError:  # Windows
        return None, 2048
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None, 2048
    backlog = min(2048, max(16, soft // 4))
    return max(soft - backlog - 32, 16), backlog


class HeaderDeadlineProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """See ``header_deadline_protocol``."""

    header_timeout: float = HEADER_TIMEOUT
    max_connections: int | None = connection_limits()[0]
    _deadline: asyncio.TimerHandle | None = None
    _waiting_after: Any = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        limit = self.max_connections
        if limit is not None and len(self.connections) > limit:
            transport.write(_BUSY)
            transport.close()
            return
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._deadline is not None and self.cycle is not self._waiting_after:
            self._disarm()  # a new request's headers are complete

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self._deadline is None:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._waiting_after = self.cycle
        self._deadline = self.loop.call_later(self.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.cycle is self._waiting_after and not self.transport.is_closing():
            self.transport.close()


class _OncePerInterval(logging.Filter):
    """asyncio's ``socket.accept() out of system resource``: one line (no traceback) every
    ``interval`` seconds instead of one traceback per failed accept."""

    def __init__(self, interval: float = 10.0) -> None:
        super().__init__()
        self.interval = interval
        self._last = -interval
        self._dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "out of system resource" not in record.getMessage():
            return True
        now = time.monotonic()
        if now - self._last < self.interval:
            self._dropped += 1
            return False
        self._last = now
        error = record.exc_info[1] if record.exc_info else None
        record.msg = f"cannot accept connections: {error or 'out of resources'}" + (
            f" ({self._dropped} more since the last report)" if self._dropped else ""
        )
        record.args = ()
        record.exc_info = None
        self._dropped = 0
        return True


def quiet_accept_errors() -> None:
    """Install ``_OncePerInterval`` on the ``asyncio`` logger (once)."""
    logger = logging.getLogger("asyncio")
    if not any(isinstance(f, _OncePerInterval) for f in logger.filters):
        logger.addFilter(_OncePerInterval())


quiet_accept_errors()  # here, so that every process that serves (--workers too) has it
