"""Property-based fuzzing of the lab against hostile answers: one paragraph, never a traceback.

hypothesis builds what a broken or hostile target could answer: a valid chat completion with
fields replaced by any JSON value or deleted, cut at any byte, invalid UTF-8, HTML pages, any
status and content type; streams with mutated chunks, garbage lines, and with or without the
closing ``data: [DONE]``; model lists (``/api/tags``, ``/v1/models``) of any shape. The target is
mocked in-process with respx, so thousands of answers take seconds. Properties, for every one:

- ``main`` returns 0, 1 or 2 (no exception escapes), and prints no traceback;
- a failure is reported once (one ``✗`` paragraph, or the experiment's "Unexpected result"
  verdict) and never quotes an HTML page;
- a 2xx answer that is not a JSON object, and a stream without ``[DONE]``, never exit 0.

The default run is small (``PORTWAY_FUZZ_EXAMPLES``, 30 per test); ``nox -s fuzz`` runs it at
full size with new examples each time. The real-socket attacks (a byte at a time, endless
bodies, 64 MiB) are tests/test_lab_hostile.py.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab import machine
from lab.cli import main
from lab.experiment import registered

pytest.importorskip("hypothesis")

EXAMPLES = int(os.environ.get("PORTWAY_FUZZ_EXAMPLES", "30"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("PORTWAY_FUZZ_RANDOM") is None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
ROOT = "http://hostile.test:8000"
MODEL = "m:1b"
HTML_MARKERS = ("<html", "<!doctype", "<head", "<body", "<title")

COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 0,
    "model": MODEL,
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Ottawa."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
}
CHUNK: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 0,
    "model": MODEL,
    "choices": [
        {"index": 0, "delta": {"role": "assistant", "content": "Ott"}, "finish_reason": None}
    ],
}
COMPLETION_PATHS = [
    ("usage",), ("usage", "prompt_tokens"), ("usage", "completion_tokens"),
    ("usage", "total_tokens"), ("usage", "prompt_tokens_details"), ("choices",), ("choices", 0),
    ("choices", 0, "message"), ("choices", 0, "message", "content"),
    ("choices", 0, "message", "role"), ("choices", 0, "finish_reason"), ("choices", 0, "index"),
    ("id",), ("object",), ("created",), ("model",),
]  # fmt: skip
CHUNK_PATHS = [
    ("choices",), ("choices", 0), ("choices", 0, "delta"), ("choices", 0, "delta", "content"),
    ("choices", 0, "finish_reason"), ("usage",), ("id",), ("object",),
]  # fmt: skip

DELETE = object()
text = st.text(st.characters(exclude_characters="<"), max_size=30)
json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(2**63), 2**63), st.floats(allow_nan=False), text
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
html_pages = st.sampled_from(
    [
        "<!DOCTYPE HTML><html><head><title>Error response</title></head><body></body></html>",
        "<html><head><title>502 Bad Gateway</title></head><body><h1>502</h1></body></html>",
        "<html><body><h1>It works!</h1>",  # cut off, no title
        "<!doctype html><html lang=en><meta charset=utf-8><title>Login</title><div>",
    ]
)
content_types = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "text/html; charset=utf-8",
     "text/plain", "text/event-stream", "application/octet-stream", ""]
)  # fmt: skip
statuses = st.sampled_from([200, 200, 200, 200, 201, 204, 400, 401, 404, 413, 500, 502, 503])


def _set(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of ``document`` with ``path`` replaced by ``value`` (or deleted)."""
    document = copy.deepcopy(document)
    parent = document
    for key in path[:-1]:
        try:
            parent = parent[key]
        except (KeyError, IndexError, TypeError):
            return document
    try:
        if value is DELETE:
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    except (KeyError, IndexError, TypeError):
        pass
    return document


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any], paths: list[tuple[Any, ...]]) -> Any:
    document: Any = base
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(paths))
        document = _set(document, path, draw(st.one_of(st.just(DELETE), json_values)))
    return document


@st.composite
def bodies(draw: st.DrawFn, base: dict[str, Any], paths: list[tuple[Any, ...]]) -> bytes:
    """A JSON document mutated, then maybe cut, or replaced by HTML, bytes, or nothing."""
    kind = draw(st.sampled_from(["json", "json", "json", "cut", "html", "bytes", "empty"]))
    if kind == "html":
        return draw(html_pages).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "empty":
        return b""
    encoded = json.dumps(draw(mutated(base, paths))).encode()
    if kind == "cut":
        return encoded[: draw(st.integers(0, max(len(encoded) - 1, 0)))]
    return encoded


@st.composite
def answers(draw: st.DrawFn) -> httpx.Response:
    headers = {"content-type": draw(content_types)} if draw(st.booleans()) else {}
    body = draw(bodies(COMPLETION, COMPLETION_PATHS))
    if not headers.get("content-type"):
        headers = {"content-type": "application/json"}
    return httpx.Response(draw(statuses), headers=headers, content=body)


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, bool]:
    """An SSE body: chunks (some mutated), stray lines, maybe a final ``[DONE]``."""
    frames = []
    for _ in range(draw(st.integers(0, 5))):
        choice = draw(st.sampled_from(["chunk", "chunk", "mutated", "garbage", "comment"]))
        if choice == "chunk":
            frames.append(b"data: " + json.dumps(CHUNK).encode() + b"\n\n")
        elif choice == "mutated":
            frames.append(b"data: " + draw(bodies(CHUNK, CHUNK_PATHS)) + b"\n\n")
        elif choice == "garbage":
            frames.append(draw(st.binary(max_size=20)) + b"\n")
        else:
            frames.append(b": keep-alive\n\n")
    done = draw(st.booleans())
    if done:
        frames.append(b"data: [DONE]\n\n")
    return b"".join(frames), done


def _healthy_preflight(router: respx.MockRouter) -> None:
    router.get(f"{ROOT}/api/version").respond(404, json={"detail": "Not Found"})
    listed = {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "x"}]}
    router.get(f"{ROOT}/v1/models").respond(json=listed)
    router.get(f"{ROOT}/props").respond(404)
    router.get(f"{ROOT}/version").respond(404)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["run", *args, "--target", f"{ROOT}/v1", "--model", MODEL], env={})
    captured = capsys.readouterr()
    assert code in (0, 1, 2)
    assert "Traceback" not in captured.out + captured.err
    if code != 0:  # a failure paragraph, or the experiment's own verdict ("Unexpected result")
        assert captured.err.count("✗") == 1 or "Unexpected result" in captured.out, captured.err
    lowered = captured.err.lower()
    assert not any(marker in lowered for marker in HTML_MARKERS), captured.err
    return code, captured.out, captured.err


def _is_json_object(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body), dict)
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def sixteen_gb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine, "total_ram_gib", lambda: 16.0)


EXPERIMENTS = [e.name for e in registered()]


@pytest.mark.filterwarnings("error::UserWarning")  # it would reach the reader's terminal
@FUZZ
@given(answer=answers(), experiment=st.sampled_from(EXPERIMENTS))
def test_any_chat_answer_is_a_result_or_one_paragraph(
    answer: httpx.Response, experiment: str, capsys
) -> None:
    with respx.mock(assert_all_called=False) as router:
        _healthy_preflight(router)
        router.post(f"{ROOT}/v1/chat/completions").mock(return_value=answer)
        code, _, _ = _run(capsys, experiment)
    if answer.status_code < 300 and not _is_json_object(answer.content):
        assert code != 0, "a success that is not a JSON object passed as a result"


@pytest.mark.filterwarnings("error::UserWarning")  # it would reach the reader's terminal
@FUZZ
@given(stream=streams(), first=answers())
def test_any_stream_is_a_result_or_one_paragraph(
    stream: tuple[bytes, bool], first: httpx.Response, capsys
) -> None:
    body, done = stream

    def answer(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content).get("stream"):
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)
        return httpx.Response(200, json=COMPLETION) if done else first

    with respx.mock(assert_all_called=False) as router:
        _healthy_preflight(router)
        router.post(f"{ROOT}/v1/chat/completions").mock(side_effect=answer)
        code, _, _ = _run(capsys, "streaming_usage")
    if not done:
        assert code != 0, "a stream without data: [DONE] passed as a result"


@pytest.mark.filterwarnings("error::UserWarning")  # it would reach the reader's terminal
@FUZZ
@given(
    version=st.one_of(bodies({"version": "0.12.6"}, [("version",)]), st.just(b"")),
    tags=bodies({"models": [{"name": MODEL, "model": MODEL}]}, [
        ("models",), ("models", 0), ("models", 0, "name"), ("models", 0, "model"),
    ]),
    listed=bodies({"object": "list", "data": [{"id": MODEL}]}, [
        ("data",), ("data", 0), ("data", 0, "id"), ("object",),
    ]),
    status=statuses,
)  # fmt: skip
def test_any_preflight_answer_is_a_verdict_or_one_paragraph(
    version: bytes, tags: bytes, listed: bytes, status: int, capsys
) -> None:
    with respx.mock(assert_all_called=False) as router:
        router.get(f"{ROOT}/api/version").respond(status, content=version)
        router.get(f"{ROOT}/api/tags").respond(200, content=tags)
        router.get(f"{ROOT}/v1/models").respond(200, content=listed)
        router.get(f"{ROOT}/props").respond(404)
        router.get(f"{ROOT}/version").respond(404)
        router.post(f"{ROOT}/v1/chat/completions").respond(json=COMPLETION)
        _run(capsys, "round_trip")
