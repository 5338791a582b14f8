"""The fake starts without building what a request may never need, and stops at once.

Structure, not time: the figures are measured by ``nox -s bench`` (``docs/benchmarks.md``).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import warnings

import httpx
import pytest

from mockserver.app import create_app
from mockserver.config import Settings
from mockserver.server import BackgroundServer

WIRE_MODELS = [
    "mockserver.wire.openai:ChatCompletionRequest",
    "mockserver.wire.ollama:ChatRequestIn",
    "mockserver.wire.anthropic:MessagesRequest",
    "mockserver.wire.responses_api:ResponsesRequest",
    "mockserver.wire.embed:EmbedRequestIn",
]


def test_creating_the_app_builds_no_wire_model_validator() -> None:
    """pydantic ``defer_build``: each surface's models are built on their first request."""
    probe = (
        "import importlib, json\nfrom mockserver.app import create_app\ncreate_app()\n"
        f"names = {WIRE_MODELS!r}\n"
        "built = [n for n in names if getattr(importlib.import_module(n.split(':')[0]), "
        "n.split(':')[1]).__pydantic_complete__]\nprint(json.dumps(built))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_the_openapi_document_still_describes_the_bodies_the_routes_decode_themselves() -> None:
    document = create_app(Settings()).openapi()
    for path in ("/v1/chat/completions", "/v1/messages", "/v1/responses"):
        body = document["paths"][path]["post"]["requestBody"]
        assert body["content"]["application/json"]["schema"]["type"] == "object"
    assert "x-portway-request-model" not in json.dumps(document)


def test_the_openapi_document_names_each_method_once_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # FastAPI's "Duplicate Operation ID" is a UserWarning
        document = create_app(Settings()).openapi()
    for path in ("/api/version", "/api/tags"):
        operations = document["paths"][path]
        assert set(operations) == {"get", "head"}
        assert operations["get"]["operationId"] != operations["head"]["operationId"]


def test_a_deferred_model_still_refuses_what_its_surface_refuses(fake_url: str) -> None:
    answer = httpx.post(f"{fake_url}/v1/messages", json={"model": 5}, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["type"] == "error"


@pytest.fixture
def fake_url():
    with_server = BackgroundServer(Settings(port=0)).start()
    try:
        yield with_server.url
    finally:
        with_server.stop()


def refused(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) != 0


def test_stop_ends_the_server_with_a_keep_alive_connection_still_open() -> None:
    server = BackgroundServer(Settings(port=0)).start()
    client = httpx.Client(timeout=10)
    assert client.get(f"{server.url}/api/version").status_code == 200  # kept alive
    server.stop()
    assert not server._thread.is_alive()
    assert refused(server.url)
    client.close()


@pytest.mark.slow  # PORTWAY_SLOW=1 or nox -s slow (tests/conftest.py)
def test_stop_lets_a_request_in_flight_finish_first() -> None:
    """As uvicorn's graceful shutdown does, within a bound (a request still running 5 s after
    ``stop()`` is cancelled, where uvicorn would wait for ever)."""
    server = BackgroundServer(Settings(port=0, profile="cpu-qwen2.5-0.5b")).start()
    answers: list[int] = []
    started = threading.Event()

    def ask() -> None:
        with httpx.stream(
            "POST",
            f"{server.url}/api/chat",
            json={
                "model": "llama3.2:3b",
                "messages": [{"role": "user", "content": "Hello"}],
                "options": {"num_predict": 8},  # paced: about a second
            },
            timeout=30,
        ) as answer:
            started.set()
            answer.read()
            answers.append(answer.status_code)

    asker = threading.Thread(target=ask)
    asker.start()
    assert started.wait(30)
    server.stop()
    asker.join(30)
    assert answers == [200]
    assert refused(server.url)
