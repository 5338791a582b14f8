"""The served app (mockserver/served.py), what ``python -m mockserver`` serves: the same bytes
as ``create_app``'s, route for route, and the lean routes answered without FastAPI imported."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from mockserver.app import create_app
from mockserver.config import Settings
from mockserver.served import ServedApp, app_from_environment, serving_app, settings_json
from tests.asgi_call import call
from tests.test_fastpath import REQUESTS, _stable

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = Settings(current_date="2026-03-23", seed=11)

# (method, path, body): lean routes, routes FastAPI serves, and FastAPI's own answers.
OTHERS = [
    ("GET", "/", b""),
    ("HEAD", "/", b""),
    ("GET", "/api/version", b""),
    ("GET", "/api/tags", b""),
    ("HEAD", "/api/tags", b""),
    ("GET", "/v1/models", b""),
    ("GET", "/v1/models/gpt-oss:20b", b""),
    ("POST", "/api/show", b'{"model":"llama3.2:3b"}'),
    ("POST", "/api/show", b'{"model":"\\ud800"}'),
    ("POST", "/api/embed", b'{"model":"all-minilm","input":"hi"}'),
    ("POST", "/v1/completions", b'{"model":"llama3.2:3b","prompt":"hi"}'),
    ("GET", "/openapi.json", b""),
    ("GET", "/nowhere", b""),
    ("PUT", "/api/chat", b""),
    ("GET", "/v1/chat/completions", b""),
    ("POST", "/v1/chat/completions", b"{not json"),
    ("OPTIONS", "/api/chat", b""),
]


async def _everything(app) -> list[tuple[int, object, object]]:
    out = []
    for path, payload in REQUESTS:
        reply = await call(app, "POST", path, orjson.dumps(payload))
        assert reply.error is None, (path, reply.error)
        out.append((reply.status, reply.headers.get(b"content-type"), _stable(path, reply.body)))
    for method, path, body in OTHERS:
        reply = await call(app, method, path, body)
        assert reply.error is None, (method, path, reply.error)
        out.append((reply.status, sorted(reply.headers.items()), reply.body))
    return out


def test_the_served_app_gives_the_bytes_create_app_gives() -> None:
    served = asyncio.run(_everything(ServedApp(SETTINGS)))
    created = asyncio.run(_everything(create_app(SETTINGS)))
    assert {status for status, *_ in served} >= {200, 400, 404, 405}
    assert served == created


def test_requests_a_guard_refuses_are_refused_alike() -> None:
    settings = Settings(current_date="2026-03-23", seed=11, api_key="sekret")
    cases = [
        ("POST", "/api/chat", [(b"origin", b"http://evil.example")]),
        ("POST", "/api/chat", []),  # no key
        ("GET", "/api/ps", [(b"authorization", b"Bearer nope")]),
    ]

    async def replies(app) -> list[tuple[int, bytes]]:
        out = []
        for method, path, headers in cases:
            reply = await call(app, method, path, b"{}", headers=headers)
            out.append((reply.status, reply.body))
        return out

    served = asyncio.run(replies(ServedApp(settings)))
    assert served == asyncio.run(replies(create_app(settings)))
    assert [status for status, _ in served] == [403, 401, 401]


def test_a_bug_is_ollamas_500_with_connection_close(monkeypatch) -> None:
    app = ServedApp(SETTINGS)

    def a_bug(*args, **kwargs):
        raise ZeroDivisionError

    monkeypatch.setattr(app.state.engine, "chat", a_bug)
    body = orjson.dumps({"model": "llama3.2:3b", "messages": [{"role": "user", "content": "x"}]})
    reply = asyncio.run(call(app, "POST", "/api/chat", body))
    assert reply.status == 500
    assert reply.headers[b"connection"] == b"close"
    assert orjson.loads(reply.body) == {"error": "internal error: ZeroDivisionError"}


def test_a_bad_setting_fails_when_the_app_is_made_not_at_a_request(tmp_path) -> None:
    with pytest.raises(ValueError):
        ServedApp(Settings(faults=("no-such-fault",)))
    with pytest.raises(ValueError):
        ServedApp(Settings(replay_dir=str(tmp_path), replay_speed=-1))


def test_lifespan_starts_and_stops() -> None:
    async def run() -> list[str]:
        inbox = asyncio.Queue()
        for kind in ("lifespan.startup", "lifespan.shutdown"):
            inbox.put_nowait({"type": kind})
        sent: list[str] = []

        async def send(message):
            sent.append(message["type"])

        await ServedApp(SETTINGS)({"type": "lifespan"}, inbox.get, send)
        return sent

    assert asyncio.run(run()) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_the_router_is_built_once_at_the_first_request_that_needs_it() -> None:
    app = ServedApp(SETTINGS)
    assert app._routed is None
    assert asyncio.run(call(app, "GET", "/api/version")).status == 200
    assert app._routed is None  # a lean route: no router needed
    assert asyncio.run(call(app, "GET", "/api/ps")).status == 200
    routed = app._routed
    assert routed is not None and routed.state is app.state  # one engine, one memo
    assert asyncio.run(call(app, "GET", "/api/ps")).status == 200
    assert app._routed is routed


def test_workers_and_the_llama_flavor_get_their_apps(monkeypatch) -> None:
    monkeypatch.setenv("PORTWAY_FAKE_SETTINGS", settings_json(SETTINGS))
    worker = app_from_environment()
    assert isinstance(worker, ServedApp) and worker.settings == SETTINGS
    llama = serving_app(Settings(flavor="llama-server"))
    assert not isinstance(llama, ServedApp) and hasattr(llama.state, "llama")


# A fresh interpreter: the fake's entry point, then a chat, the probes, then a route that is not
# lean. FastAPI is imported at that last request and not before.
_WITHOUT_FASTAPI = textwrap.dedent(
    """
    import asyncio, sys
    import mockserver.__main__
    from mockserver.config import Settings
    from mockserver.served import ServedApp
    from tests.asgi_call import call

    app = ServedApp(Settings())
    chat = b'{"model":"gpt-oss:20b","messages":[{"role":"user","content":"hi"}]}'
    for method, path, body in [
        ("POST", "/v1/chat/completions", chat),
        ("POST", "/api/chat", chat),
        ("POST", "/api/generate", b'{"model":"llama3.2:3b","prompt":"hi","stream":false}'),
        ("GET", "/", b""), ("GET", "/api/version", b""), ("GET", "/api/tags", b""),
        ("GET", "/v1/models", b""),
    ]:
        assert asyncio.run(call(app, method, path, body)).status == 200, path
    print(sorted(m for m in sys.modules if m.split(".")[0] == "fastapi"))
    assert asyncio.run(call(app, "GET", "/api/ps")).status == 200
    print("fastapi" in sys.modules)
    """
)


def test_the_lean_routes_answer_before_fastapi_is_imported() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_FASTAPI],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[]", "True"]
