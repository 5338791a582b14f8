"""The fast path (mockserver/fastpath.py) changes no byte: a request served by direct dispatch
gives what FastAPI's router gives, a memoized answer what a fresh server gives, and errors are
never kept."""

from __future__ import annotations

import asyncio
import dataclasses

import orjson
import pytest

from mockserver.app import create_app
from mockserver.config import Settings
from mockserver.engine.catalog import Catalog
from mockserver.engine.chat import ChatRequest, Message
from mockserver.engine.engine import Engine
from mockserver.fastpath import Answer, DirectDispatch, Encoded
from mockserver.routes import ollama, openai
from mockserver.routes.lean import LeanRoute
from mockserver.wire import openai as wire
from mockserver.wire.gojson import dumps
from tests.asgi_call import call

SETTINGS = Settings(current_date="2026-03-23", seed=11)
HELLO = [{"role": "user", "content": "Say <b>hi</b> & more\u2028"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}

# (path, body): every response shape of the three generation routes, and their errors.
REQUESTS = [
    ("/v1/chat/completions", {"model": "gpt-oss:20b", "messages": HELLO}),
    ("/v1/chat/completions", {"model": "llama3.2:3b", "messages": HELLO, "stream": True}),
    (
        "/v1/chat/completions",
        {
            "model": "qwen2.5:3b",
            "messages": HELLO,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    ),
    (
        "/v1/chat/completions",
        {
            "model": "qwen2.5:3b",
            "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
            "tools": [WEATHER_TOOL],
        },
    ),
    ("/v1/chat/completions", {"model": "gpt-oss:20b", "messages": HELLO, "_debug_render_only": 1}),
    ("/v1/chat/completions", {"model": "gpt-oss:20b", "messages": []}),
    ("/v1/chat/completions", {"model": "nope", "messages": HELLO}),
    ("/api/chat", {"model": "gpt-oss:20b", "messages": HELLO, "stream": False}),
    ("/api/chat", {"model": "mistral:7b", "messages": HELLO}),
    ("/api/chat", {"model": "gpt-oss:20b"}),
    ("/api/chat", {"model": "gpt-oss:20b", "keep_alive": 0}),
    ("/api/chat", {"model": "gemma3:4b", "messages": HELLO, "tools": [WEATHER_TOOL]}),
    ("/api/generate", {"model": "llama3.2:3b", "prompt": "hello", "stream": False}),
    ("/api/generate", {"model": "llama3.2:3b", "prompt": "hello", "raw": True}),
    ("/api/generate", {"model": "nope", "prompt": "hello"}),
]
VOLATILE = ("duration", "created_at")


def _stable(path: str, body: bytes) -> object:
    """The bytes as a structure without measured durations (and, natively, the wall clock:
    with --seed it is frozen, so it stays)."""
    if path.startswith("/v1"):
        return body
    lines = [orjson.loads(line) for line in body.splitlines() if line.strip()]
    return [{k: v for k, v in line.items() if "duration" not in k} for line in lines]


async def _replies(app, requests=REQUESTS) -> list[tuple[int, dict, object]]:
    out = []
    for path, payload in requests:
        reply = await call(app, "POST", path, orjson.dumps(payload))
        assert reply.error is None, (path, payload, reply.error)
        out.append((reply.status, reply.headers.get(b"content-type"), _stable(path, reply.body)))
    return out


def _routed_by_fastapi():
    """The same app without direct dispatch: every request goes through FastAPI's router."""
    app = create_app(SETTINGS)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not DirectDispatch]
    return app


def test_direct_dispatch_gives_the_bytes_fastapis_router_gives() -> None:
    dispatched = asyncio.run(_replies(create_app(SETTINGS)))
    routed = asyncio.run(_replies(_routed_by_fastapi()))
    assert {status for status, *_ in dispatched} >= {200, 400, 404}
    assert dispatched == routed


def test_memoized_answers_give_a_fresh_servers_bytes_on_both_surfaces() -> None:
    app = create_app(SETTINGS)
    first = asyncio.run(_replies(app))
    second = asyncio.run(_replies(app))  # kept now (the memo keeps a body seen twice)
    again = asyncio.run(_replies(app))  # from the memo
    fresh = asyncio.run(_replies(create_app(SETTINGS)))
    assert first == second == again == fresh
    answers = list(app.state.fastpath.memo._items.values())
    assert {key[0] for key in app.state.fastpath.memo._items} == {
        "/v1/chat/completions",
        "/api/chat",
        "/api/generate",
    }
    assert all(isinstance(answer, Answer) and answer.hits >= 1 for answer in answers)


def test_errors_are_never_kept() -> None:
    app = create_app(SETTINGS)
    failing = [
        (path, body) for path, body in REQUESTS if "nope" in str(body) or body.get("messages") == []
    ]
    replies = asyncio.run(_replies(app, failing))
    assert all(status >= 400 for status, *_ in replies)
    assert len(app.state.fastpath.memo) == 0


def test_a_memoized_native_answer_reports_a_warm_load() -> None:
    """Served from memory, the model was loaded: load_duration is this request's, not that of
    the first request (which may have read the vocabulary: here, it says it took 9 s)."""
    app = create_app(SETTINGS)
    body = orjson.dumps({"model": "qwen2.5:3b", "messages": HELLO, "stream": False})
    cold = orjson.loads(asyncio.run(call(app, "POST", "/api/chat", body)).body)
    asyncio.run(call(app, "POST", "/api/chat", body))  # seen twice: kept
    (answer,) = app.state.fastpath.memo._items.values()
    answer.result = dataclasses.replace(answer.result, load_ns=9_000_000_000)
    warm = orjson.loads(asyncio.run(call(app, "POST", "/api/chat", body)).body)
    assert 0 < warm["load_duration"] < 1_000_000_000
    assert warm["prompt_eval_count"] == cold["prompt_eval_count"]
    assert warm["total_duration"] >= warm["load_duration"] + warm["eval_duration"]


def test_the_dispatch_table_is_the_lean_routes_and_nothing_else() -> None:
    app = create_app(SETTINGS)
    dispatch = next(m for m in app.user_middleware if m.cls is DirectDispatch)
    table = DirectDispatch(None, **dispatch.kwargs).handlers  # type: ignore[arg-type]
    assert sorted(table) == [
        ("GET", "/"),
        ("GET", "/api/tags"),
        ("GET", "/api/version"),
        ("GET", "/v1/models"),
        ("HEAD", "/"),
        ("HEAD", "/api/tags"),
        ("HEAD", "/api/version"),
        ("POST", "/api/chat"),
        ("POST", "/api/generate"),
        ("POST", "/v1/chat/completions"),
    ]
    routers = [surface.router.build() for surface in (ollama, openai)]
    lean = {
        (m, r.path)
        for rs in routers
        for r in rs.routes
        if isinstance(r, LeanRoute)
        for m in r.methods
    }
    assert lean == set(table)  # FastAPI's router holds the same routes, as LeanRoutes


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_other_methods_on_a_lean_route_are_ginss_405(method: str) -> None:
    reply = asyncio.run(call(create_app(SETTINGS), method, "/v1/chat/completions"))
    assert (reply.status, reply.body) == (405, b"405 method not allowed")


@pytest.mark.parametrize("model", ["gpt-oss:20b", "qwen2.5:3b"])
@pytest.mark.parametrize("usage", [True, False])
def test_encoded_frames_are_each_objects_json(model: str, usage: bool) -> None:
    """Serialising the shared head once is exact: every event is ``data: `` + dumps(chunk)."""
    engine = Engine(Catalog(), current_date="2026-03-23")
    result = engine.chat(ChatRequest(model=model, messages=(Message("user", "a <tag> & é"),)))
    fields = {"model": model, "completion_id": "chatcmpl-7", "created": 123, "call_ids": []}
    chunks = list(wire.stream_chunks(result, include_usage=usage, **fields))
    encoded = Encoded.of(chunks, 5, b"\n\n")
    fresh = {"id": "chatcmpl-9", "created": 456}
    assert encoded.frames(b"data: ", **fresh) == [
        b"data: " + dumps({**chunk, **fresh}) + b"\n\n" for chunk in chunks
    ]
    body = wire.completion_body(result, **fields)
    assert Encoded.of([body], 5, b"\n").frames(**fresh) == [dumps({**body, **fresh}) + b"\n"]


PIECES = ["", "a", " <tag>", " & é", '"quoted"', "\\", "\n", "\u2028", "🙂", "\x00", "\ud800"]


@pytest.mark.parametrize("usage", [True, False])
@pytest.mark.parametrize(
    ("reasoning", "content", "calls"),
    [
        (PIECES, PIECES, False),
        ([], PIECES, False),
        (PIECES, [], False),
        ([], [], False),
        (["a"], [], True),
        ([], ["x", "y"], True),
        ([], [], True),
    ],
)
def test_a_stream_written_a_piece_at_a_time_is_dumps_of_every_chunk(
    reasoning: list[str], content: list[str], calls: bool, usage: bool
) -> None:
    """``wire.stream_rests`` (fixed bytes around each piece's JSON) gives exactly the frames
    of ``stream_chunks`` serialised chunk by chunk, whatever the pieces hold (Go's escapes,
    empty pieces, a lone surrogate) and whichever chunks the stream has."""
    from dataclasses import replace

    from mockserver.engine.chat import ToolCall

    engine = Engine(Catalog(), current_date="2026-03-23")
    result = engine.chat(ChatRequest(model="qwen2.5:3b", messages=(Message("user", "hi"),)))
    assert result.completion is not None
    tool_calls = (ToolCall(name="f", arguments={"a": 1}),) if calls else ()
    completion = replace(
        result.completion,
        reasoning_pieces=list(reasoning),
        content_pieces=list(content),
        tool_calls=tool_calls,
    )
    result = replace(result, completion=completion)
    fields = {"model": "m", "completion_id": "chatcmpl-7", "created": 123, "call_ids": ["c1"]}
    chunks = list(wire.stream_chunks(result, include_usage=usage, **fields))
    head, rests = wire.stream_rests(result, include_usage=usage, **fields)
    fresh = {"id": "chatcmpl-9", "created": 456}
    frames = Encoded(head, tuple(rest + b"\n\n" for rest in rests)).frames(b"data: ", **fresh)
    assert frames == [b"data: " + dumps({**chunk, **fresh}) + b"\n\n" for chunk in chunks]


def test_a_body_is_kept_the_second_time_and_answered_from_the_memo_the_third() -> None:
    """The memo's doorkeeper: a body answered once leaves only its hash behind."""
    app = create_app(SETTINGS)
    memo = app.state.fastpath.memo
    body = orjson.dumps({"model": "qwen2.5:3b", "messages": HELLO})
    replies = [asyncio.run(call(app, "POST", "/v1/chat/completions", body)) for _ in range(3)]
    assert len({reply.body for reply in replies}) == 1
    (answer,) = memo._items.values()
    assert answer.hits == 1  # the third
    once = [orjson.dumps({"model": "qwen2.5:3b", "messages": HELLO, "seed": n}) for n in range(50)]
    for body in once:
        asyncio.run(call(app, "POST", "/v1/chat/completions", body))
    assert len(memo) == 1  # the bodies sent once are not kept, nor push the other out


@pytest.mark.parametrize("reasoning", [PIECES, []])
@pytest.mark.parametrize("content", [PIECES, [], ["x"]])
@pytest.mark.parametrize("done_reason", ["stop", "length"])
def test_a_completion_written_into_fixed_bytes_is_dumps_of_its_body(
    reasoning: list[str], content: list[str], done_reason: str
) -> None:
    """``wire.completion_rest`` + ``completion_head`` give ``dumps(completion_body)``."""
    from dataclasses import replace

    engine = Engine(Catalog(), current_date="2026-03-23")
    result = engine.chat(ChatRequest(model="qwen2.5:3b", messages=(Message("user", "hi"),)))
    assert result.completion is not None
    completion = replace(
        result.completion,
        reasoning_pieces=list(reasoning),
        content_pieces=list(content),
        done_reason=done_reason,
        eval_count=12_345,
    )
    result = replace(result, completion=completion)
    body = wire.completion_body(result, model="m", completion_id="c-1", created=12, call_ids=[])
    rest = wire.completion_rest(result)
    assert rest is not None
    frame = Encoded(wire.completion_head("m", "c-9", 3), (rest + b"\n",)).frames()
    assert frame == [dumps({**body, "id": "c-9", "created": 3}) + b"\n"]
