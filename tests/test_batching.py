"""The twin's latency under load (mockserver/batching.py), in virtual time: its shape.

Calibration first (one request reproduces the profile's two measured rates), then the shape a
real llama-server shows as clients are added: time to first token flat while slots are free,
rising with every client past ``--parallel``; total tokens/s rising, then saturating.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics

import httpx
import pytest

from mockserver.batching import Arrival, Batcher, Schedule, closed_loop, simulate
from mockserver.pacing import PROFILES

PROFILE = PROFILES["m2-max-gpt-oss-20b"]  # prefill 220.6 tok/s, decode 91.5 tok/s


def schedule(parallel: int = 4, profile=PROFILE) -> Schedule:
    return Schedule(profile.prefill_tps, profile.decode_tps, parallel)


@pytest.mark.parametrize("profile", list(PROFILES.values()), ids=list(PROFILES))
def test_one_request_gets_the_profile_rates_back(profile):
    prompt = 2 * round(profile.prefill_tps / profile.decode_tps) + 90  # past the knee P/D
    (line,) = simulate(schedule(profile=profile), [Arrival(0.0, prompt, 200)])
    assert line.ttft == pytest.approx(prompt / profile.prefill_tps)
    decode_s = line.token_at[-1] - line.token_at[0]
    assert 199 / decode_s == pytest.approx(profile.decode_tps)


def test_a_short_prompt_costs_one_step():
    (line,) = simulate(schedule(), [Arrival(0.0, 2, 1)])  # 2 tokens < P/D = 2.4
    assert line.ttft == pytest.approx(1 / PROFILE.decode_tps)


def test_the_task_past_parallel_waits_for_a_slot():
    arrivals = [Arrival(0.0, 100, 50) for _ in range(3)]
    first, second, third = simulate(schedule(parallel=2), arrivals)
    assert third.arrival.at == 0.0
    assert third.token_at[0] > min(first.done_at, second.done_at)  # queued until one ended
    assert third.ttft > 2 * first.ttft


def test_a_new_prompt_delays_the_streams_already_generating():
    alone = simulate(schedule(), [Arrival(0.0, 100, 40)])[0]
    joined = simulate(schedule(), [Arrival(0.0, 100, 40), Arrival(0.5, 1000, 5)])[0]
    assert joined.done_at > alone.done_at + 3  # ~1000 prompt tokens at 220.6 tok/s in its batch


def _level(clients: int, parallel: int = 4) -> tuple[float, float, float]:
    """Mean and median time to first token, and total tokens/s, of ``clients`` in a loop."""
    lines = closed_loop(schedule(parallel), clients, requests_each=6, prompt_tokens=120, tokens=64)
    ttfts = [line.ttft or 0.0 for line in lines]
    total = sum(len(line.token_at) for line in lines) / max(line.done_at for line in lines)
    return statistics.mean(ttfts), statistics.median(ttfts), total


LEVELS = (1, 2, 4, 6, 8, 12, 16)


def test_ttft_rises_monotonically_with_clients_past_parallel():
    levels = [_level(n) for n in LEVELS]
    means = [mean for n, (mean, _, _) in zip(LEVELS, levels, strict=True) if n >= 4]
    medians = [median for n, (_, median, _) in zip(LEVELS, levels, strict=True) if n >= 4]
    assert all(a < b for a, b in itertools.pairwise(means))  # every client past 4 adds wait
    assert medians == sorted(medians)
    assert medians[-1] > 3 * medians[0]  # 16 clients on 4 slots: queueing dominates


def test_total_tokens_per_second_rises_then_saturates():
    totals = [_level(n)[2] for n in LEVELS]
    assert totals[1] > 1.2 * totals[0]  # a second stream nearly rides free (P/D = 2.4)
    assert all(t <= PROFILE.prefill_tps * 1.001 for t in totals)  # the compute roof
    at_parallel = totals[LEVELS.index(4)]
    assert all(t == pytest.approx(at_parallel, rel=0.1) for t in totals[LEVELS.index(4) :])


def test_the_same_arrivals_give_the_same_schedule():
    arrivals = [Arrival(0.01 * i, 50 + 7 * i, 20 + i) for i in range(12)]
    once = [(line.token_at, line.done_at) for line in simulate(schedule(), arrivals)]
    again = [(line.token_at, line.done_at) for line in simulate(schedule(), arrivals)]
    assert once == again


def test_the_batcher_runs_the_schedule_on_the_loop_with_virtual_sleep():
    """The real-time driver, its sleeps recorded instead of slept: the same steps."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(0)

    async def main() -> list[int]:
        batcher = Batcher(schedule(parallel=1), sleep=sleep)

        async def one() -> int:
            return len([n async for n in batcher.tokens(100, 3)])

        return list(await asyncio.gather(one(), one()))

    assert asyncio.run(main()) == [3, 3]
    step = 100 / PROFILE.prefill_tps
    token = 1 / PROFILE.decode_tps
    assert slept == pytest.approx([step, token, token] * 2)  # one slot: one after the other


def test_a_client_that_hangs_up_leaves_the_schedule():
    async def main() -> Schedule:
        batcher = Batcher(schedule(parallel=1), sleep=lambda s: asyncio.sleep(0))
        async for _ in batcher.tokens(10, 100):
            break  # the async generator is closed here
        await asyncio.sleep(0)
        return batcher.schedule

    assert not asyncio.run(main()).busy


def test_the_paced_twin_streams_the_unpaced_bytes():
    """With a profile the twin's stream carries the same tokens; only the timing changes."""
    from mockserver.config import Settings
    from mockserver.server import BackgroundServer

    body = {"messages": [{"role": "user", "content": "Hi"}], "stream": True, "max_tokens": 8,
            "stream_options": {"include_usage": True}}  # fmt: skip
    texts = []
    for profile in (None, "instant-load"):
        settings = Settings(port=0, flavor="llama-server", llama_model="gpt-oss", alias="gpt-oss",
                            profile=profile)  # fmt: skip
        server = BackgroundServer(settings).start()
        try:
            lines = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=30).text
        finally:
            server.stop()
        events = [json.loads(line[6:]) for line in lines.splitlines()
                  if line.startswith("data: {")]  # fmt: skip
        texts.append(
            [(e["choices"] or [{}])[0].get("delta") for e in events] + [events[-1]["usage"]]
        )
    assert texts[0] == texts[1] and len(texts[0]) >= 6
