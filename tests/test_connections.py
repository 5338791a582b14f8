"""Connections under hostile clients: slow, hanging up, or hitting a bug; bounded in time.

Found by an attack on the fake (issue 10): 400 slowloris connections stayed open forever, a
client hanging up mid-body logged a traceback each time, and after a 500 the next request on
the keep-alive connection was lost.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from mockserver.config import Settings
from mockserver.server import BackgroundServer, free_port, serving

TIMEOUTS = Settings(port=0, header_timeout=0.5, body_timeout=0.5)


@pytest.fixture(scope="module")
def strict_fake() -> Iterator[BackgroundServer]:
    with serving(TIMEOUTS) as server:
        yield server


@pytest.fixture
def errors_logged() -> Iterator[list[logging.LogRecord]]:
    """What uvicorn logs at ERROR (its logger does not propagate to the root)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def connect(fake: BackgroundServer) -> socket.socket:
    sock = socket.create_connection((fake.settings.host, fake.settings.port), timeout=10)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """Reads until the server closes (b"") or answers; the socket timeout bounds the wait."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        return False
    return True


def test_a_connection_that_sends_nothing_is_closed(strict_fake):
    with connect(strict_fake) as sock:
        assert closed_by_server(sock)


def test_headers_sent_a_byte_at_a_time_are_cut_off(strict_fake):
    with connect(strict_fake) as sock:
        sock.sendall(b"GET /api/version HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        assert closed_by_server(sock)


def test_a_body_that_stops_arriving_gets_408(strict_fake):
    with connect(strict_fake) as sock:
        sock.sendall(
            b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"model":"'
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in data.lower()
    assert b'{"error":"request body timeout: no data for 0.5 s"}' in data


def test_a_prompt_request_is_not_cut_by_the_deadlines(strict_fake):
    """The header deadline is re-armed per request and cancelled once headers are in."""
    with httpx.Client(base_url=strict_fake.url, timeout=30) as http:
        for _ in range(3):
            assert http.get("/api/version").status_code == 200


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/chat", "/api/show"])
def test_a_client_hanging_up_mid_body_is_not_an_error(fake, errors_logged, path):
    with connect(fake) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n".encode()
            + b'{"model":"'
        )
    with httpx.Client(base_url=fake.url, timeout=30) as http:  # the server is still there
        assert http.get("/api/version").status_code == 200
    assert [r.getMessage() for r in errors_logged] == []


def test_after_a_500_the_next_request_on_the_connection_is_answered(monkeypatch, errors_logged):
    """uvicorn closes the connection after an exception: the 500 says ``Connection: close``."""
    with serving(Settings(port=0)) as fake:

        def a_bug(*args, **kwargs):
            raise RuntimeError("a bug in the fake")

        monkeypatch.setattr(fake.app.state.engine, "chat", a_bug)
        body = {"model": "gpt-oss:20b", "messages": [{"role": "user", "content": "x"}]}
        with httpx.Client(base_url=fake.url, timeout=30) as http:
            for path in ("/api/chat", "/v1/chat/completions"):
                failed = http.post(path, json=body)
                assert failed.status_code == 500
                assert failed.headers["connection"] == "close"
                assert http.get("/api/version").status_code == 200


SERVE_WITH_256_FILES = """
import resource, sys, uvicorn
resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))  # macOS's default
from mockserver.app import create_app
from mockserver.config import Settings
from mockserver.server import uvicorn_options
settings = Settings(port=int(sys.argv[1]), models=("llama3.2:3b",), header_timeout=1.0)
print("ready", file=sys.stderr, flush=True)
uvicorn.run(create_app(settings), host="127.0.0.1", port=settings.port, loop="asyncio",
            **uvicorn_options(header_timeout=settings.header_timeout))
"""


@pytest.mark.slow  # PORTWAY_SLOW=1 or nox -s slow (tests/conftest.py)
@pytest.mark.skipif(sys.platform == "win32", reason="no open-file limit to reach")
def test_at_the_open_file_limit_the_fake_says_busy_quietly_and_recovers():
    """300 idle connections against 256 files: new clients get 503 (not a hang), nothing is
    logged but one line, and once the idle ones time out the fake answers again."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE_WITH_256_FILES, str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    idle: list[socket.socket] = []
    try:
        assert server.stderr is not None and "ready" in server.stderr.readline()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # until uvicorn listens
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            time.sleep(0.05)
        for _ in range(300):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            assert http.get("/api/version").status_code in (200, 503)
            time.sleep(1.5)  # the idle connections miss their header deadline
            assert http.get("/api/version").status_code == 200
    finally:
        for sock in idle:
            sock.close()
        server.terminate()
        _, log = server.communicate(timeout=10)
    assert "Traceback" not in log
    assert len(log.splitlines()) <= 3


def test_the_protocol_travels_to_worker_processes():
    """uvicorn pickles its settings for ``--workers``: the protocol class must pickle."""
    import pickle

    from mockserver.server import uvicorn_options

    protocol = uvicorn_options()["http"]
    assert pickle.loads(pickle.dumps(protocol)) is protocol
