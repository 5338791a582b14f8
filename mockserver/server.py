"""Run the fake in a background thread on a free loopback port.

Used by ``python -m lab run --target mock``, by the test suite and by the pytest plugin: one way
to start and stop the fake in-process, on real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, TypedDict

import uvicorn

from mockserver.config import Settings
from mockserver.guards import HEADER_TIMEOUT, connection_limits, header_deadline_protocol
from mockserver.journal import Journal
from mockserver.scenarios import Scenario
from mockserver.served import serving_app


class UvicornOptions(TypedDict):
    log_level: str
    access_log: bool
    proxy_headers: bool
    http: type[asyncio.Protocol]
    timeout_keep_alive: int
    backlog: int
    ws: str


def uvicorn_options(
    log_level: str = "warning", *, header_timeout: float = HEADER_TIMEOUT
) -> UvicornOptions:
    """uvicorn settings shared by ``python -m mockserver``, the tests and ``bench/``.

    Slow clients are timed out (``mockserver.guards``: headers within 10 s, idle keep-alive
    connections closed after 5 s, a body may pause 30 s); past ``connection_limits()`` open
    connections a new one is answered 503 at once instead of running out of file descriptors.
    """
    connections, backlog = connection_limits()
    return {
        "log_level": log_level,
        "access_log": False,
        "proxy_headers": False,
        "http": header_deadline_protocol(header_timeout, connections),
        "timeout_keep_alive": 5,
        "backlog": backlog,
        "ws": "none",  # Ollama serves no WebSocket; uvicorn would import websockets for one
    }


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago (the one helper for it: the fake,
    ``bench/`` and ``tools/`` use it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class _WakeableServer(uvicorn.Server):
    """uvicorn's server, whose main loop a ``stop()`` from another thread ends at once.

    uvicorn's own loop looks at ``should_exit`` every 0.1 s; a lab run or a test that stops
    the fake would wait out that tick on every stop. This loop does the same ticks (the Date
    header, ``limit_max_requests``) and also wakes when ``wake()`` is called."""

    _loop: asyncio.AbstractEventLoop | None = None
    _woken: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._woken = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864_000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), 0.1)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown (stop accepting, ask each connection to close, wait for them and
        their tasks), polling every 5 ms where uvicorn sleeps a fixed 0.1 s and polls at 0.1 s.
        A request still running after 5 s is cancelled."""
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        state, deadline = self.server_state, time.monotonic() + 5.0
        while (state.connections or state.tasks) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        for task in state.tasks:
            task.cancel(msg="the fake is stopping")
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()

    def wake(self) -> None:
        loop, woken = self._loop, self._woken
        if loop is not None and woken is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                loop.call_soon_threadsafe(woken.set)


class BackgroundServer:
    """A uvicorn server for the fake, started and stopped from another thread."""

    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or Settings()
        if settings.port == 0:
            settings = dataclasses.replace(settings, port=free_port(settings.host))
        self.settings = settings
        self.app = serving_app(settings)  # served.py: FastAPI built when first needed
        config = uvicorn.Config(
            self.app,
            host=settings.host,
            port=settings.port,
            lifespan="off",
            **uvicorn_options(header_timeout=settings.header_timeout),
        )
        self._server = _WakeableServer(config)
        self._thread = threading.Thread(target=self._server.run, name="portway-fake", daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the native API, e.g. ``http://127.0.0.1:53117``."""
        return f"http://{self.settings.host}:{self.settings.port}"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def journal(self) -> Journal:
        """The last requests and answers (``Settings.journal`` > 0; :mod:`mockserver.journal`)."""
        journal = self.app.state.journal
        if journal is None:
            raise RuntimeError("the journal is off: start the fake with Settings(journal=N)")
        return journal

    @property
    def scenario(self) -> Scenario:
        """The scenario's rules (:mod:`mockserver.scenarios`); ``rules(...)`` adds some."""
        return self.app.state.scenario

    def rules(self, rules: list[dict[str, Any]] | dict[str, Any]):
        """``with fake.rules([{"match": ..., "reply": ...}]):`` rules first, removed after."""
        return self.scenario.rules_added(rules)

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self._thread.start()
        waited = 0.0
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the fake could not start on {self.url}")
            if waited > timeout:
                raise RuntimeError(f"the fake did not start within {timeout:.0f} s")
            threading.Event().wait(0.01)
            waited += 0.01
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._server.wake()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def serving(settings: Settings | None = None) -> Iterator[BackgroundServer]:
    """``with serving() as fake: ... fake.openai_url ...``"""
    server = BackgroundServer(settings).start()
    try:
        yield server
    finally:
        server.stop()
