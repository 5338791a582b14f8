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
from collections.abc import Iterator
from typing import Any, TypedDict

import uvicorn

from mockserver.app import create_app
from mockserver.config import Settings
from mockserver.guards import HEADER_TIMEOUT, connection_limits, header_deadline_protocol
from mockserver.journal import Journal
from mockserver.scenarios import Scenario


class UvicornOptions(TypedDict):
    log_level: str
    access_log: bool
    proxy_headers: bool
    http: type[asyncio.Protocol]
    timeout_keep_alive: int
    backlog: int


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
    }


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago (the one helper for it: the fake,
    ``bench/`` and ``tools/`` use it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class BackgroundServer:
    """A uvicorn server for the fake, started and stopped from another thread."""

    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or Settings()
        if settings.port == 0:
            settings = dataclasses.replace(settings, port=free_port(settings.host))
        self.settings = settings
        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app,
            host=settings.host,
            port=settings.port,
            lifespan="off",
            **uvicorn_options(header_timeout=settings.header_timeout),
        )
        self._server = uvicorn.Server(config)
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
        self._thread.join(timeout=5)


@contextlib.contextmanager
def serving(settings: Settings | None = None) -> Iterator[BackgroundServer]:
    """``with serving() as fake: ... fake.openai_url ...``"""
    server = BackgroundServer(settings).start()
    try:
        yield server
    finally:
        server.stop()
