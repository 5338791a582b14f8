"""Bounds on every answer the lab reads: a deadline per call, one per experiment, a byte cap.

httpx's timeouts bound each socket operation (a read may wait ``--timeout`` seconds for the
*next* byte), not a whole answer: a server that sends one byte every 5 s, or a body that never
ends, would hold a call forever and fill memory. Every HTTP client of the lab goes through a
:class:`BoundedTransport` instead, which guarantees three things:

- **a deadline per call**: connect, send, and read the whole answer within ``seconds``
  (``--timeout``), else :class:`DeadlineExceeded`;
- **a deadline per experiment**: inside :func:`experiment_deadline` (``--deadline``), every
  call also ends by the experiment's deadline, whichever comes first;
- **a byte cap per answer**: at most ``max_bytes`` of body are read (a declared
  ``Content-Length`` above it is refused before reading), else :class:`AnswerTooLarge`.

How the deadline reaches the socket: httpcore's documented extension point, the network
backend. :class:`BoundedTransport` gives the transport's connection pool a backend whose
streams wait, on each read and write, at most until the current call's deadline (kept in a
context variable while the transport works). A server that trickles bytes is stopped at the
deadline, not one read timeout after it.

Both errors subclass httpx's own (a timeout, a transport error), so the ``openai`` SDK maps
them to ``APITimeoutError`` / ``APIConnectionError`` like any other; :mod:`lab.errors` finds
them in the cause chain and says which bound was hit.
"""

from __future__ import annotations

import contextlib
import functools
import re
import ssl
import time
import typing
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal

import httpcore
import httpx

MAX_ANSWER_BYTES = 4 * 1024 * 1024  # 4 MiB: a 4,096-token answer streamed by Ollama is ~1 MiB
METER = "lab.meter"  # the response extension that carries the :class:`BodyMeter`

Scope = Literal["call", "experiment"]


@dataclass(frozen=True, slots=True)
class Deadline:
    """A point on the monotonic clock, and the bound it came from (for the error paragraph)."""

    at: float
    seconds: float
    scope: Scope
    unit: str = "experiment"  # what an experiment deadline bounds: "experiment", "check ..."

    def left(self) -> float:
        return self.at - time.monotonic()

    def passed(self) -> bool:
        return self.left() <= 0


class DeadlineExceeded(httpx.TimeoutException):
    """The whole answer did not arrive by the call's (or the experiment's) deadline."""

    def __init__(self, deadline: Deadline, request: httpx.Request | None = None) -> None:
        super().__init__(
            f"no complete answer within the {deadline.scope} deadline of {deadline.seconds:g} s",
            request=request,
        )
        self.seconds = deadline.seconds
        self.scope: Scope = deadline.scope
        self.unit = deadline.unit


class AnswerTooLarge(httpx.TransportError):
    """The answer is longer than the byte cap; reading stopped there."""

    def __init__(self, limit: int, request: httpx.Request | None = None) -> None:
        super().__init__(f"the answer passed {_size(limit)}", request=request)
        self.limit = limit


_CALL: ContextVar[Deadline | None] = ContextVar("lab_call_deadline", default=None)
_EXPERIMENT: ContextVar[Deadline | None] = ContextVar("lab_experiment_deadline", default=None)


@contextlib.contextmanager
def experiment_deadline(seconds: float | None, unit: str = "experiment") -> Iterator[None]:
    """Every call made inside ends by ``seconds`` from now (``None``: no experiment bound).

    ``unit`` names what is bounded, for the error paragraph: an experiment of ``lab run``, a
    check of ``lab report`` (``check "Streaming usage"``), a case of ``lab fidelity``."""
    if seconds is None:
        yield
        return
    token = _EXPERIMENT.set(Deadline(time.monotonic() + seconds, seconds, "experiment", unit))
    try:
        yield
    finally:
        _EXPERIMENT.reset(token)


def past_experiment_deadline(exc: BaseException) -> DeadlineExceeded | None:
    """The experiment's :class:`DeadlineExceeded` in ``exc``'s cause chain (the SDK wraps it
    in ``APITimeoutError``), if that is what ended it; else None (a call's own deadline, or
    any other failure)."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, DeadlineExceeded):
            return seen if seen.scope == "experiment" else None
        seen = seen.__cause__ or seen.__context__
    return None


@dataclass(slots=True)
class BodyMeter:
    """What was read of one answer: bytes, whether it ended, whether SSE's ``[DONE]`` passed."""

    bytes_read: int = 0
    ended: bool = False  # the body reached its end (not cut by an error or closed early)
    saw_done: bool = False  # a ``data: [DONE]`` line went by (an OpenAI stream's last line)
    _tail: bytes = field(default=b"\n", repr=False)  # the body starts at the start of a line

    def add(self, chunk: bytes) -> None:
        self.bytes_read += len(chunk)
        if not self.saw_done:
            window = self._tail + chunk
            self.saw_done = _DONE.search(window) is not None
            self._tail = window[-16:]


_DONE = re.compile(rb"\ndata: ?\[DONE\]")


def meter_of(response: httpx.Response) -> BodyMeter | None:
    """The :class:`BodyMeter` of a response that came through a :class:`BoundedTransport`."""
    meter = response.extensions.get(METER)
    return meter if isinstance(meter, BodyMeter) else None


class BoundedTransport(httpx.BaseTransport):
    """Wrap ``inner`` (default: httpx's own transport) with a call deadline and a byte cap."""

    def __init__(
        self,
        inner: httpx.BaseTransport | None = None,
        *,
        seconds: float,
        max_bytes: int | None = None,
    ) -> None:
        self.inner = inner if inner is not None else httpx.HTTPTransport(verify=ssl_context())
        self.seconds = seconds
        self.max_bytes = MAX_ANSWER_BYTES if max_bytes is None else max_bytes
        _install_deadline_backend(self.inner)

    def deadline(self) -> Deadline:
        """This call's deadline: ``seconds`` from now, or the experiment's if that is sooner."""
        call = Deadline(time.monotonic() + self.seconds, self.seconds, "call")
        experiment = _EXPERIMENT.get()
        return experiment if experiment is not None and experiment.at < call.at else call

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = self.deadline()
        if deadline.passed():
            raise DeadlineExceeded(deadline, request)
        token = _CALL.set(deadline)
        try:
            response = self.inner.handle_request(request)
        except httpx.TimeoutException as exc:
            if deadline.passed() and not isinstance(exc, DeadlineExceeded):
                raise DeadlineExceeded(deadline, request) from exc
            raise
        finally:
            _CALL.reset(token)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response.close()
            raise AnswerTooLarge(self.max_bytes, request)
        meter = BodyMeter()
        assert isinstance(response.stream, httpx.SyncByteStream)  # a sync transport's answer
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers.raw,
            stream=_BoundedStream(response.stream, deadline, self.max_bytes, meter, request),
            extensions={**response.extensions, METER: meter},
        )

    def close(self) -> None:
        self.inner.close()


class _BoundedStream(httpx.SyncByteStream):
    def __init__(
        self,
        inner: httpx.SyncByteStream | typing.Iterable[bytes],
        deadline: Deadline,
        max_bytes: int,
        meter: BodyMeter,
        request: httpx.Request,
    ) -> None:
        self._inner = inner
        self._deadline = deadline
        self._max_bytes = max_bytes
        self._meter = meter
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self._inner)
        while True:
            token = _CALL.set(self._deadline)  # reset before each yield: the caller's context
            try:
                chunk = next(chunks)
            except StopIteration:
                self._meter.ended = True
                return
            except httpx.TimeoutException as exc:
                if self._deadline.passed() and not isinstance(exc, DeadlineExceeded):
                    raise DeadlineExceeded(self._deadline, self._request) from exc
                raise
            finally:
                _CALL.reset(token)
            self._meter.add(chunk)
            if self._meter.bytes_read > self._max_bytes:
                raise AnswerTooLarge(self._max_bytes, self._request)
            if self._deadline.passed():
                raise DeadlineExceeded(self._deadline, self._request)
            yield chunk

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """httpx's default TLS context, made once: loading the CA bundle costs ~50 ms a client."""
    return httpx.create_ssl_context()


def bounded_client(
    seconds: float, *, max_bytes: int | None = None, **kwargs: typing.Any
) -> httpx.Client:
    """An ``httpx.Client`` whose every call is bounded (``kwargs`` go to ``httpx.Client``)."""
    from lab.context import http_timeout

    client = httpx.Client(
        transport=BoundedTransport(seconds=seconds, max_bytes=max_bytes),
        timeout=http_timeout(seconds),
        **kwargs,
    )
    return bound(client, seconds, max_bytes=max_bytes)


def bound(client: httpx.Client, seconds: float, *, max_bytes: int | None = None) -> httpx.Client:
    """Bound an existing client in place (e.g. ``--record``'s), proxy transports included.

    A client already bounded keeps its transports; its deadline becomes ``seconds``.
    """
    transport = getattr(client, "_transport", None)
    max_bytes = MAX_ANSWER_BYTES if max_bytes is None else max_bytes
    if isinstance(transport, BoundedTransport):
        transport.seconds = seconds
        transport.max_bytes = max_bytes
    elif isinstance(transport, httpx.BaseTransport):
        client._transport = BoundedTransport(transport, seconds=seconds, max_bytes=max_bytes)
    mounts = getattr(client, "_mounts", None)  # proxies from the environment: bound them too
    if isinstance(mounts, dict):
        for pattern, mounted in list(mounts.items()):
            if isinstance(mounted, httpx.BaseTransport) and not isinstance(
                mounted, BoundedTransport
            ):
                mounts[pattern] = BoundedTransport(mounted, seconds=seconds, max_bytes=max_bytes)
    return client


# --- the network backend: every socket wait ends by the current call's deadline --------------


def _install_deadline_backend(transport: object) -> None:
    """Give the connection pool under ``transport`` (through any wrappers) the deadline backend.

    httpx builds its ``httpcore`` pool itself and takes no backend argument, so the pool's
    backend is wrapped where httpx keeps it. If a future httpx moves it, calls stay bounded by
    the checks between chunks (a stalled read then ends one read timeout late).
    """
    for _ in range(8):  # follow wrappers (recording, bounding) down to httpx's transport
        pool = getattr(transport, "_pool", None)
        if pool is not None:
            backend = getattr(pool, "_network_backend", None)
            if isinstance(backend, httpcore.NetworkBackend) and not isinstance(
                backend, _DeadlineBackend
            ):
                pool._network_backend = _DeadlineBackend(backend)
            return
        transport = getattr(transport, "inner", None) or getattr(transport, "_inner", None)
        if transport is None:
            return


def _clamp(timeout: float | None) -> float | None:
    """``timeout``, shortened to what is left of the current call's deadline."""
    deadline = _CALL.get()
    if deadline is None:
        return timeout
    left = max(deadline.left(), 0.001)  # 0 would make the socket non-blocking
    return left if timeout is None else min(timeout, left)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, _clamp(timeout), local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._inner.connect_unix_socket(path, _clamp(timeout), socket_options)
        )

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: typing.Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _clamp(timeout)))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


def _size(count: int) -> str:
    return f"{count / 2**20:g} MiB" if count >= 2**20 else f"{count:,} bytes"
