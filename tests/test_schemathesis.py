"""Schemathesis against the fake's own OpenAPI schema (``app.openapi()``), in-process (ASGI):
every operation, generated bodies and parameters, and the server must never answer 5xx.

The schema documents the ``/v1/chat/completions`` body (the wire model); the native routes
take raw JSON (Ollama's Go decoding is emulated by hand), so for them schemathesis exercises
paths and methods, and tests/test_fuzz.py covers their bodies."""

from __future__ import annotations

import os

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402

from mockserver.app import create_app  # noqa: E402
from mockserver.config import Settings  # noqa: E402
from tests.ollama_errors import ollamas_own_500  # noqa: E402

APP = create_app(Settings(current_date="2026-03-23", seed=2, max_body_bytes=64 * 1024))
SCHEMA = schemathesis.openapi.from_dict(APP.openapi())
SCHEMA.app = APP
EXAMPLES = int(os.environ.get("PORTWAY_FUZZ_EXAMPLES", "30"))
# A loopback Host, as a local client sends: the test client's own ("testserver") is refused by
# the DNS-rebinding guard (403) before any route is reached (test_the_calls_reach_the_routes).
BASE = "http://127.0.0.1:11434"


def test_the_calls_reach_the_routes() -> None:
    assert SCHEMA["/api/version"]["GET"].Case().call(base_url=BASE).status_code == 200
    assert SCHEMA["/api/tags"]["GET"].Case().call(base_url=BASE).json()["models"]


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", "/v1/responses"])
def test_the_documented_bodies_are_generated(path: str) -> None:
    """The request bodies' nested models are components the schema's "$ref"s resolve to: a ref
    that resolves nowhere leaves schemathesis without a body to send (it sends none)."""
    from hypothesis import given

    bodies = []

    @given(SCHEMA[path]["POST"].as_strategy())
    @settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def draw(case) -> None:
        bodies.append(case.body)

    draw()
    assert bodies and all(isinstance(body, dict) for body in bodies)


@SCHEMA.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("PORTWAY_FUZZ_RANDOM") is None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_server_errors(case) -> None:
    response = case.call(base_url=BASE)
    assert response.status_code < 500 or ollamas_own_500(response.status_code, response.content), (
        case.method,
        case.path,
        case.body,
        response.text[:300],
    )
    kind = response.headers.get("content-type", "")
    kind = kind[0] if isinstance(kind, list) else kind
    json_reply = kind.startswith("application/json")
    # Unknown routes (e.g. a model name with a slash in a path) are gin's plain-text 404/405.
    if response.status_code >= 400 and case.path.startswith("/v1/") and json_reply:
        error = response.json()["error"]
        assert isinstance(error["message"], str) and error["message"]
