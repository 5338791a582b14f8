"""The memo (``mockserver/fastpath.py``) is bounded by bytes, keys and answers together, not by
a count of entries: many large distinct answers never take more than its budget, and what it
accounts for an answer is not less than the memory the answer really keeps alive."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

import orjson
import pytest

from mockserver.app import create_app
from mockserver.config import Settings
from mockserver.fastpath import Answer, Bound, Memo, answer_size
from mockserver.routes.openai import CHAT_PATH
from tests.asgi_call import call

SETTINGS = Settings(seed=7, current_date="2026-03-23")
DAY = "2026-03-23"


def chat_body(index: int, size: int, *, stream: bool = False) -> bytes:
    """A new conversation of about ``size`` bytes (emoji: 4 bytes each in UTF-8)."""
    text = f"question {index}: " + "🙂 " * (size // 5)
    body = {"model": "gpt-oss:20b", "messages": [{"role": "user", "content": text}]}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    # A copy of exactly its size, as a server reads a body (orjson's own output has room
    # to spare that a server's body would not).
    return bytes(memoryview(orjson.dumps(body)))


def test_many_large_distinct_answers_stay_under_the_budget() -> None:
    """Real answers through the app (both shapes serialised and kept), 12 KB bodies: the
    accounted size never passes the budget, and the memo keeps only what fits."""
    budget = 4 * 1024 * 1024
    app = create_app(SETTINGS)
    memo = app.state.fastpath.memo = Memo(budget, admit_after=1)
    seen = []
    for index in range(120):
        for stream in (False, True):
            body = chat_body(index, 12_000, stream=stream)
            reply = asyncio.run(call(app, "POST", CHAT_PATH, body))
            assert reply.status == 200
            assert 0 < memo.size <= budget
            seen.append(memo.size)
    assert sum(answer.size for answer in memo._items.values()) == memo.size
    assert 10 < len(memo) < 240  # it held many, and let the oldest go
    assert max(seen) > budget * 0.9  # the budget, not something smaller, is what bounded it


def test_an_answer_over_a_32nd_of_the_budget_is_not_kept() -> None:
    memo = Memo(32 * 1000, admit_after=1)
    memo.put(("/api/chat", b"x" * 1001, DAY), Answer(Bound(request=None, chat=None), None))
    memo.put(("/api/chat", b"y" * 10, DAY), Answer(Bound(request=None, chat=None), None))
    assert len(memo) == 1
    assert memo.get(("/api/chat", b"y" * 10, DAY)) is not None


def test_the_least_recently_used_answer_leaves_first() -> None:
    empty = Answer(Bound(request=None, chat=None), None)
    one = answer_size(("/api/chat", b"a", DAY), empty)
    memo = Memo(one * 3 + one // 2, max_entry=one, admit_after=1)
    for body in (b"a", b"b", b"c"):
        memo.put(("/api/chat", body, DAY), Answer(Bound(request=None, chat=None), None))
    memo.get(("/api/chat", b"a", DAY))  # used again: "b" is now the oldest
    memo.put(("/api/chat", b"d", DAY), Answer(Bound(request=None, chat=None), None))
    assert memo.get(("/api/chat", b"b", DAY)) is None
    assert all(memo.get(("/api/chat", k, DAY)) for k in (b"a", b"c", b"d"))
    memo.clear()
    assert (len(memo), memo.size) == (0, 0)


@pytest.mark.slow  # PORTWAY_SLOW=1 or nox -s slow (tests/conftest.py)
@pytest.mark.parametrize("size", [300, 12_000])
def test_the_accounted_size_is_not_below_what_an_answer_keeps_alive(size: int) -> None:
    """``tracemalloc``, traced while the answers are made: the memory given back when the memo
    forgets them (bodies, bound requests, results, serialisations) is at most what it
    accounted for them. (The engine's own caches keep what they keep: not given back.)"""
    app = create_app(SETTINGS)
    fast = app.state.fastpath
    fast.memo = Memo(admit_after=1)
    for index in range(3):  # warm: vocabulary, compiled templates and regexes
        asyncio.run(call(app, "POST", CHAT_PATH, chat_body(-index - 1, size)))
    fast.memo.clear()
    gc.collect()
    tracemalloc.start()
    try:
        for index in range(40):
            body = chat_body(index, size, stream=index % 2 == 1)
            assert asyncio.run(call(app, "POST", CHAT_PATH, body)).status == 200
        del body
        assert len(fast.memo) == 40
        accounted = fast.memo.size
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        fast.memo.clear()
        gc.collect()
        freed = before - tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert 0 < freed <= accounted, (freed, accounted)


def test_the_hashes_of_bodies_seen_once_are_within_the_budget() -> None:
    """The doorkeeper's notes (a hash per body answered once) count in the budget, and at
    most a 32nd of it; the oldest are forgotten first."""
    memo = Memo(32 * 100 * 50)  # room for 50 hashes
    empty = Answer(Bound(request=None, chat=None), None)
    for index in range(500):
        memo.put(("/api/chat", b"%d" % index, DAY), empty)
        assert memo.size <= memo.budget
    assert len(memo) == 0 and len(memo._seen) == 50
    memo.put(("/api/chat", b"499", DAY), empty)  # seen before: kept now
    memo.put(("/api/chat", b"0", DAY), empty)  # forgotten: noted again
    assert len(memo) == 1
