"""Latency profiles (``--profile NAME``): optional pacing that makes the fake feel like a machine.

Default: no pacing, answers as fast as the fake computes them. With a profile, each generation
request is given a plan, a pure function of the request (and of whether the model is "loaded"):

- ``load``: the profile's model-load time, on the first request for a model and on the first
  after it sat idle past ``keep_alive`` (Ollama's default, 5 minutes), as ``load_duration`` shows;
- ``prefill``: prompt tokens / the profile's prompt-processing rate;
- one interval per generated token at the profile's decode rate, with deterministic jitter
  (+/- ``jitter`` of the interval) from sha256 of the request body: never Python's ``hash()``,
  so the same request paces the same in every process.

Streams sleep before each chunk (time to first chunk = load + prefill + first token); other
answers wait for the total. Native durations (``load_duration``, ``prompt_eval_duration``,
``eval_duration``, ``total_duration``) report the plan. The numbers and their sources are in
``docs/latency-profiles.md``.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mockserver.engine.engine import ChatResult

DEFAULT_KEEP_ALIVE_S = 300.0


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    machine: str
    load_s: float  # model load on a cold request
    prefill_tps: float  # prompt tokens per second
    decode_tps: float  # generated tokens per second
    jitter: float  # +/- fraction of each token interval
    source: str


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(
            name="m2-max-gpt-oss-20b",
            machine="Apple M2 Max (30-core GPU, 32 GB), gpt-oss-20b 4-bit on MLX",
            load_s=2.0,
            prefill_tps=220.6,
            decode_tps=91.5,
            jitter=0.10,
            source="prefill and decode: Jackrong/gpt-oss-20b-MLX-4bit model card, 'GPT-OSS-20B "
            "MLX Performance Report' (90-token prompt: 220.6 tok/s; 200 tokens generated: 91.5 "
            "tok/s). load: an assumption (12 GB of weights from SSD), not measured",
        ),
        Profile(
            name="cpu-qwen2.5-0.5b",
            machine="a small Linux CPU box, Qwen2.5-0.5B-Instruct Q4_K_M on llama.cpp",
            load_s=0.5,
            prefill_tps=16.6,
            decode_tps=10.4,
            jitter=0.15,
            source="prefill and decode: github.com/emigazp/companion-alzheimer issue #7, "
            "'Benchmark de llama.cpp' (Qwen2.5-0.5B Q4_K_M: generation 10.4 tok/s, prompt 16.6 "
            "tok/s). load: an assumption (400 MB GGUF), not measured",
        ),
        Profile(
            name="instant-load",
            machine="no machine: only the decode rate of a fast GPU, for quick demos of streaming",
            load_s=0.0,
            prefill_tps=5000.0,
            decode_tps=200.0,
            jitter=0.05,
            source="round numbers chosen for demos, not a measurement",
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Plan:
    load_s: float
    prefill_s: float
    token_s: tuple[float, ...]  # one interval per generated token

    @property
    def decode_s(self) -> float:
        return sum(self.token_s)

    @property
    def total_s(self) -> float:
        return self.load_s + self.prefill_s + self.decode_s

    def chunk_delays(self, chunks: int) -> list[float]:
        """Sleep before each of ``chunks`` stream chunks: load and prefill before the first,
        the generated tokens' intervals spread over the chunks in order; they sum to total_s."""
        if chunks <= 0:
            return []
        tokens = len(self.token_s)
        bounds = [round(i * tokens / chunks) for i in range(chunks + 1)]
        delays = [sum(self.token_s[bounds[i] : bounds[i + 1]]) for i in range(chunks)]
        delays[0] += self.load_s + self.prefill_s
        return delays


MAX_MODELS = 256  # models remembered as loaded; a client may send any number of names


class Pacer:
    """Plans per request; remembers which models are "loaded" (until keep_alive runs out)."""

    def __init__(
        self,
        profile: Profile,
        keep_alive_s: float = DEFAULT_KEEP_ALIVE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.profile = profile
        self.keep_alive_s = keep_alive_s
        self._clock = clock
        self._expires: dict[str, float] = {}
        self._lock = threading.Lock()

    def plan(self, model: str, prompt_tokens: int, completion_tokens: int, key: bytes) -> Plan:
        profile = self.profile
        digest = hashlib.sha256(b"portway-pacing\0" + key).digest()
        rng = random.Random(int.from_bytes(digest[:16], "big"))
        interval = 1.0 / profile.decode_tps
        token_s = tuple(
            interval * (1.0 + profile.jitter * (2.0 * rng.random() - 1.0))
            for _ in range(max(completion_tokens, 0))
        )
        prefill_s = max(prompt_tokens, 0) / profile.prefill_tps
        name = model.strip().lower()
        with self._lock:
            now = self._clock()
            expires = self._expires.get(name)
            load_s = profile.load_s if expires is None or expires <= now else 0.0
            plan = Plan(load_s, prefill_s, token_s)
            if len(self._expires) >= MAX_MODELS and name not in self._expires:
                # Bounded: expired models leave first; if none has, the soonest to expire.
                for stale in [n for n, at in self._expires.items() if at <= now] or [
                    min(self._expires, key=self._expires.__getitem__)
                ]:
                    del self._expires[stale]
            self._expires[name] = now + plan.total_s + self.keep_alive_s
        return plan

    def unload(self, model: str) -> None:
        with self._lock:
            self._expires.pop(model.strip().lower(), None)


def pacer_for(name: str | None) -> Pacer | None:
    """``--profile NAME``; None or "none": no pacing."""
    if not name or name == "none":
        return None
    try:
        return Pacer(PROFILES[name])
    except KeyError:
        known = ", ".join(PROFILES)
        raise ValueError(f"unknown latency profile {name!r}; known: none, {known}") from None


def plan_for(pacer: Pacer | None, model: str, result: ChatResult, key: bytes) -> Plan | None:
    """The plan for a generated answer, or None without a profile (or with nothing generated)."""
    if pacer is None or result.completion is None:
        return None
    return pacer.plan(model, result.prompt.tokens, result.completion.eval_count, key)


async def paced(chunks: Iterable[bytes], delays: list[float]) -> AsyncIterator[bytes]:
    """Yield ``chunks``, sleeping ``delays[i]`` before chunk i (missing delays: none)."""
    for index, chunk in enumerate(chunks):
        if index < len(delays) and delays[index] > 0:
            await asyncio.sleep(delays[index])
        yield chunk
