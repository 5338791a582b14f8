"""Every per-key structure of the fake is bounded: a client cannot grow the server for good.

Found by an attack on the fake (issue 10): ``--fault slow-load`` kept every ``model`` string
sent (3,000 distinct 32 KB names: +92 MiB), and the prompt cache held up to ~250 MB.
"""

from __future__ import annotations

import asyncio
import json
import re

from mockserver.engine import engine as engine_module
from mockserver.engine.lru import SizedLRU
from mockserver.faults import MAX_LOADED, Faults, InjectFaults
from mockserver.pacing import MAX_MODELS, PROFILES, Pacer
from tests.asgi_call import call


async def _ok(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def test_slow_load_remembers_only_model_names_and_a_bounded_number_of_them():
    guard = InjectFaults(_ok, faults=Faults.parse(("slow-load=0.0001",)))
    loop = asyncio.new_event_loop()
    names = ["x" * 32_768] + [f"model{i}:1b" for i in range(MAX_LOADED * 3 + 1)]
    for name in names:
        reply = loop.run_until_complete(
            call(guard, "POST", "/api/chat", json.dumps({"model": name}).encode())
        )
        assert reply.status == 200
    assert 0 < len(guard._loaded) <= MAX_LOADED
    assert all(len(name) < 100 for name in guard._loaded)


def test_the_pacer_remembers_a_bounded_number_of_models():
    now = [0.0]
    pacer = Pacer(PROFILES["instant-load"], clock=lambda: now[0])
    for i in range(MAX_MODELS * 4):
        pacer.plan(f"m{i}", 10, 10, b"body")
        now[0] += 0.001
    assert len(pacer._expires) <= MAX_MODELS


def test_a_sized_lru_is_bounded_by_bytes_whatever_the_entries():
    cache: SizedLRU[int] = SizedLRU(100_000, max_entry=20_000)
    for i in range(1000):
        cache.put(("family", f"{i}" + "é" * 5_000), i)  # ~10 KB each
    assert cache.size <= 100_000 and 1 <= len(cache) < 20
    assert cache.get(("family", "999" + "é" * 5_000)) == 999  # the newest stays
    cache.put(("family", "x" * 50_000), 1)  # larger than an entry may be: not kept
    assert cache.get(("family", "x" * 50_000)) is None


def test_the_engine_caches_are_bounded_by_bytes():
    from mockserver.engine.fragments import FragmentCounts

    # The prompts' fragments, one cache per vocabulary (fragments.py), and the reply segments.
    assert FragmentCounts(re.compile("(<s>)"), len).budget <= 8 * 1024 * 1024
    assert engine_module._SEGMENTS.budget <= 8 * 1024 * 1024
