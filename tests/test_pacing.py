"""Latency profiles: plans are deterministic (sha256 of the request), load only when cold,
chunk delays add up to the plan, native durations report it. No wall-clock assertions."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from mockserver.app import create_app
from mockserver.config import Settings
from mockserver.pacing import PROFILES, Pacer, Profile, pacer_for
from tests.asgi_call import call

# Fast enough that a paced request takes milliseconds.
QUICK = Profile(
    "quick", "test", load_s=0.003, prefill_tps=1e5, decode_tps=1e5, jitter=0.2, source=""
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_plans_are_deterministic_and_jittered() -> None:
    a = Pacer(PROFILES["m2-max-gpt-oss-20b"]).plan("gpt-oss:20b", 100, 50, b"body")
    b = Pacer(PROFILES["m2-max-gpt-oss-20b"]).plan("gpt-oss:20b", 100, 50, b"body")
    other = Pacer(PROFILES["m2-max-gpt-oss-20b"]).plan("gpt-oss:20b", 100, 50, b"other")
    assert a == b
    assert a.token_s != other.token_s
    assert len(set(a.token_s)) > 1
    interval = 1 / 91.5
    assert all(0.9 * interval - 1e-12 <= t <= 1.1 * interval + 1e-12 for t in a.token_s)
    assert a.prefill_s == pytest.approx(100 / 220.6)


def test_load_only_when_cold_and_again_after_keep_alive() -> None:
    clock = Clock()
    pacer = Pacer(QUICK, keep_alive_s=300, clock=clock)
    assert pacer.plan("m", 10, 10, b"x").load_s == QUICK.load_s
    clock.now += 60
    assert pacer.plan("M", 10, 10, b"x").load_s == 0.0  # names are case-insensitive
    clock.now += 301
    assert pacer.plan("m", 10, 10, b"x").load_s == QUICK.load_s
    pacer.unload("m")
    assert pacer.plan("m", 10, 10, b"x").load_s == QUICK.load_s


@pytest.mark.parametrize("chunks", [1, 3, 50, 500])
def test_chunk_delays_sum_to_the_plan(chunks: int) -> None:
    plan = Pacer(QUICK).plan("m", 40, 120, b"y")
    delays = plan.chunk_delays(chunks)
    assert len(delays) == chunks
    assert sum(delays) == pytest.approx(plan.total_s)
    assert delays[0] >= plan.load_s + plan.prefill_s


def test_unknown_profile_is_refused() -> None:
    assert pacer_for(None) is None and pacer_for("none") is None
    with pytest.raises(ValueError, match="unknown latency profile"):
        pacer_for("warp-speed")
    with pytest.raises(ValueError):
        create_app(Settings(profile="warp-speed"))


def test_every_profile_names_its_source() -> None:
    for profile in PROFILES.values():
        assert profile.source and profile.decode_tps > 0 and profile.prefill_tps > 0


def _paced_app():
    app = create_app(Settings(current_date="2026-03-23", seed=3))
    app.state.pacer = Pacer(QUICK)
    return app


def test_native_durations_report_the_plan() -> None:
    app = _paced_app()
    body = orjson.dumps(
        {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}], "stream": False}
    )
    reply = asyncio.run(call(app, "POST", "/api/chat", body))
    assert reply.status == 200
    first = orjson.loads(reply.body)
    plan = Pacer(QUICK).plan("llama3.2:3b", first["prompt_eval_count"], first["eval_count"], body)
    assert first["load_duration"] == int(plan.load_s * 1e9)
    assert first["prompt_eval_duration"] == int(plan.prefill_s * 1e9)
    assert first["eval_duration"] == int(plan.decode_s * 1e9)
    assert first["total_duration"] >= int(plan.total_s * 1e9)
    second = orjson.loads(asyncio.run(call(app, "POST", "/api/chat", body)).body)
    assert second["load_duration"] == 1  # warm: no load
    assert second["eval_duration"] == first["eval_duration"]  # same request, same jitter


def test_keep_alive_zero_unloads_so_the_next_request_loads_again() -> None:
    app = _paced_app()
    body = orjson.dumps(
        {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}], "stream": False}
    )
    unload = orjson.dumps({"model": "llama3.2:3b", "keep_alive": 0})
    asyncio.run(call(app, "POST", "/api/chat", body))
    warm = orjson.loads(asyncio.run(call(app, "POST", "/api/chat", body)).body)
    assert orjson.loads(asyncio.run(call(app, "POST", "/api/chat", unload)).body)[
        "done_reason"
    ] == ("unload")
    cold = orjson.loads(asyncio.run(call(app, "POST", "/api/chat", body)).body)
    assert warm["load_duration"] == 1
    assert cold["load_duration"] == int(QUICK.load_s * 1e9)


_HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("path", "request_body"),
    [
        ("/v1/chat/completions", {"model": "gpt-oss:20b", "messages": _HI, "stream": True}),
        ("/v1/responses", {"model": "gpt-oss:20b", "input": "hi", "stream": True}),
        ("/v1/responses", {"model": "gpt-oss:20b", "input": "hi"}),
        (
            "/v1/messages",
            {"model": "gpt-oss:20b", "max_tokens": 50, "messages": _HI, "stream": True},
        ),
        ("/v1/messages", {"model": "gpt-oss:20b", "max_tokens": 50, "messages": _HI}),
    ],
)
def test_paced_streams_carry_the_same_bytes(path: str, request_body: dict) -> None:
    """Pacing changes timing only: the stream's chunks are those of an unpaced fake."""
    body = orjson.dumps(request_body)
    plain = create_app(Settings(current_date="2026-03-23", seed=3))
    unpaced = asyncio.run(call(plain, "POST", path, body))
    paced = asyncio.run(call(_paced_app(), "POST", path, body))
    assert paced.status == unpaced.status == 200
    assert paced.chunks == unpaced.chunks
