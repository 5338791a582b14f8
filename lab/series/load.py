"""Post 7: N concurrent streaming clients for a bounded time; TTFT, inter-token latency, tokens/s.

Each of N clients sends a streamed chat completion, reads it to the end, and sends the next,
until the level's time is up (requests in flight then finish, each bounded by ``--timeout``).
The statistics use the definitions of NVIDIA's AIPerf (``aiperf profile``; its metrics
reference, checked against its own exports by ``tests/test_load_stats.py`` and, live, by
``nox -s loadtool``):

- **TTFT**: from sending the request to the first chunk that carries generated text
  (``content`` or ``reasoning_content``); p50/p95 are linear-interpolated percentiles;
- **inter-token latency** (ITL) of a request: ``(end - first token) / (tokens - 1)``;
- **tokens/s per stream**: ``1 / ITL``; **total tokens/s**: every generated token of the
  level over its benchmark duration (first request sent to last request ended);
- **tokens**: ``usage.completion_tokens`` when the server sends a usage chunk
  (``stream_options.include_usage``), else the number of text-carrying chunks (one per token on
  llama.cpp's servers; llama-cpp-python ignores ``include_usage``);
- **errors**: requests that ended in an HTTP error, a broken stream or a timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lab.experiment import Facts, Finding
from lab.series.targets import BACKEND_KEY, Stack

PROMPT = "In one sentence, what makes Ottawa Canada's capital?"  # Post 2's prompt
MAX_TOKENS = 32  # every request: a bounded answer (engines without a stop would run on)
KNEE_FACTOR = 2.0  # the knee: the first level whose p95 TTFT is twice that of one client


@dataclass(frozen=True, slots=True)
class Record:
    """One request as the client saw it (seconds on the client's monotonic clock)."""

    sent: float
    first_token: float | None
    ended: float
    tokens: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.first_token is not None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default, AIPerf's percentiles)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(records: Sequence[Record]) -> dict[str, Any]:
    """The level's figures (milliseconds and tokens/s), from its records alone."""
    good = [r for r in records if r.ok]
    ttft = [((r.first_token or r.sent) - r.sent) * 1e3 for r in good]
    itl = [((r.ended - (r.first_token or r.ended)) / (r.tokens - 1)) * 1e3
           for r in good if r.tokens > 1]  # fmt: skip
    per_stream = [1e3 / x for x in itl if x > 0]
    duration = (max(r.ended for r in records) - min(r.sent for r in records)) if records else 0.0
    tokens = sum(r.tokens for r in good)
    return {
        "requests": len(records),
        "errors": len(records) - len(good),
        "ttft_ms": {"p50": percentile(ttft, 50), "p95": percentile(ttft, 95), "avg": _mean(ttft)},
        "itl_ms": {"p50": percentile(itl, 50), "avg": _mean(itl)},
        "tokens_per_s_per_stream": {"p50": percentile(per_stream, 50), "avg": _mean(per_stream)},
        "total_tokens_per_s": tokens / duration if duration > 0 else None,
        "output_tokens": tokens,
        "duration_s": duration,
    }


def records_from_aiperf(lines: Iterable[str]) -> list[Record]:
    """AIPerf's per-request export (``profile_export.jsonl``) as this module's records (the
    profiling phase's: ``--warmup-request-count`` requests are left out, as AIPerf does)."""
    entries = [json.loads(line) for line in lines if line.strip()]
    # The summary covers the profiling phase only: warm-up requests are in the file too.
    entries = [e for e in entries if e["metadata"].get("benchmark_phase", "profiling")
               == "profiling"]  # fmt: skip
    origin = min((e["metadata"]["request_start_ns"] for e in entries), default=0)
    records = []
    for entry in entries:  # seconds from the first request: no precision lost to the epoch
        meta, metrics = entry["metadata"], entry.get("metrics") or {}
        sent = (meta["request_start_ns"] - origin) / 1e9
        ended = (meta["request_end_ns"] - origin) / 1e9
        ttft = (metrics.get("time_to_first_token") or {}).get("value")
        osl = (metrics.get("output_sequence_length") or {}).get("value")
        latency = (metrics.get("request_latency") or {}).get("value")
        if latency is not None:
            ended = sent + latency / 1e3  # AIPerf's own latency (its end-of-stream timestamp)
        error = entry.get("error")
        records.append(Record(sent, sent + ttft / 1e3 if ttft is not None else None, ended,
                              int(osl or 0), str(error) if error else None))  # fmt: skip
    return records


# --- the clients ------------------------------------------------------------------------------


async def _one(client: Any, model: str, index: int, timeout: float) -> Record:
    import openai

    sent = time.perf_counter()
    first: float | None = None
    chunks = 0
    usage_tokens: int | None = None
    try:
        async with asyncio.timeout(timeout):
            stream = await client.chat.completions.create(
                model=model, max_tokens=MAX_TOKENS, stream=True,
                stream_options={"include_usage": True},
                messages=[{"role": "user", "content": f"Request {index}: {PROMPT}"}],
            )  # fmt: skip
            async for chunk in stream:
                if chunk.usage and chunk.usage.completion_tokens is not None:
                    usage_tokens = chunk.usage.completion_tokens
                delta = chunk.choices[0].delta if chunk.choices else None
                if delta is not None and (
                    delta.content or (delta.model_extra or {}).get("reasoning_content")
                ):
                    first = first or time.perf_counter()
                    chunks += 1
    except TimeoutError:
        return Record(sent, first, time.perf_counter(), chunks, f"timeout after {timeout:g} s")
    except openai.APIStatusError as exc:
        return Record(sent, None, time.perf_counter(), 0, f"HTTP {exc.status_code}")
    except openai.APIError as exc:
        return Record(sent, first, time.perf_counter(), chunks, type(exc).__name__)
    tokens = usage_tokens if usage_tokens is not None else chunks
    return Record(sent, first, time.perf_counter(), tokens)


async def run_level(
    base_url: str,
    model: str,
    clients: int,
    seconds: float,
    timeout: float,
    api_key: str,
    *,
    requests: int | None = None,
) -> list[Record]:
    """``clients`` closed-loop streams for ``seconds`` (or ``requests`` in all); then the
    requests in flight finish."""
    import openai

    # The SDK's own connection pool (up to 1000 connections): every client streams at once.
    async with openai.AsyncOpenAI(
        base_url=base_url, api_key=api_key, max_retries=0, timeout=timeout
    ) as client:  # fmt: skip
        records: list[Record] = []
        stop = time.perf_counter() + seconds
        counter = itertools.count()
        started = 0

        async def loop() -> None:
            nonlocal started
            while (time.perf_counter() < stop) if requests is None else started < requests:
                started += 1
                records.append(await _one(client, model, next(counter), timeout))

        await asyncio.gather(*(loop() for _ in range(clients)))
    return records


# --- the experiment -----------------------------------------------------------------------------


def load(stack: Stack) -> Finding:
    """Post 7: a sweep of concurrency levels against one backend; a chart of TTFT against N."""
    backend = stack.backends[0]
    levels = list(stack.load_levels)
    slots = _slots(backend.url, stack.timeout)
    results: list[dict[str, Any]] = []
    # One request first, not counted (AIPerf's --warmup-request-count): connection set up, a
    # model loaded on first use, the client's own imports.
    warm = asyncio.run(run_level(f"{backend.url}/v1", backend.name, 1, 0.0, stack.timeout,
                                 BACKEND_KEY, requests=1))  # fmt: skip
    if not warm[0].ok:
        return Finding({"warmup": asdict(warm[0])},
                       [f"The first request failed ({warm[0].error}): nothing to measure."],
                       status="unexpected")  # fmt: skip
    for clients in levels:
        records = asyncio.run(
            run_level(
                f"{backend.url}/v1",
                backend.name,
                clients,
                stack.load_seconds,
                stack.timeout,
                BACKEND_KEY,
            )
        )
        summary = summarize(records)
        errors = sorted({r.error for r in records if r.error})
        results.append({"clients": clients, **summary, "error_kinds": errors,
                        "records": [_compact(r, records) for r in records]})  # fmt: skip
    data: dict[str, Any] = {"backend": {"model": backend.name, "url": backend.url},
            "slots": slots, "seconds_per_level": stack.load_seconds, "max_tokens": MAX_TOKENS,
            "levels": results}  # fmt: skip
    chart = _chart(stack, data)
    if chart:
        data["chart"] = str(chart)
    rows = tuple(
        (str(r["clients"]), str(r["requests"]), str(r["errors"]), _num(r["ttft_ms"]["p50"]),
         _num(r["ttft_ms"]["p95"]), _num(r["itl_ms"]["avg"]),
         _rate(r["tokens_per_s_per_stream"]["avg"]), _rate(r["total_tokens_per_s"]))
        for r in results
    )  # fmt: skip
    show = [Facts(f"{backend.name}: {stack.load_seconds:g} s per level, max_tokens "
                  f"{MAX_TOKENS}" + (f", {slots} slots" if slots else "") + " (TTFT and ITL "
                  "in ms; tokens/s per stream and in total)",
                  ("clients", "reqs", "errors", "TTFT p50", "TTFT p95", "ITL", "per stream",
                   "total"), rows)]  # fmt: skip
    return _explain(data, results, show, slots, chart)


def _explain(data: dict[str, Any], results: list[dict[str, Any]], show: list, slots: int | None,
             chart: Path | None) -> Finding:  # fmt: skip
    served = [r for r in results if r["requests"] > r["errors"]]
    if not served:
        kinds = sorted({k for r in results for k in r["error_kinds"]})
        return Finding(data, [f"Every request failed ({', '.join(kinds) or 'no answer'}): "
                              "nothing to measure."], show, status="unexpected")  # fmt: skip
    low, high = served[0], served[-1]
    base = low["ttft_ms"]["p95"] or 0.0
    knee = next((r["clients"] for r in served if base and (r["ttft_ms"]["p95"] or 0) >
                 KNEE_FACTOR * base), None)  # fmt: skip
    best = max(served, key=lambda r: r["total_tokens_per_s"] or 0)
    explanation = [
        f"TTFT p50 went from {_ms(low['ttft_ms']['p50'])} with {low['clients']} client(s) to "
        f"{_ms(high['ttft_ms']['p50'])} with {high['clients']} (p95 {_ms(base)} -> "
        f"{_ms(high['ttft_ms']['p95'])}).",
        (
            f"The knee: from {knee} clients p95 TTFT is more than {KNEE_FACTOR:g}x that of "
            f"{low['clients']}"
            + (
                f": past the {slots} slots a request waits in the queue for one to free."
                if slots and knee > slots
                else f", within the {slots} slots: the new requests' prompts share each batch "
                "with the streams already generating (prefill competes with decoding)."
                if slots
                else "."
            )
        )
        if knee
        else f"No knee in this sweep: p95 TTFT stayed under {KNEE_FACTOR:g}x that of "
        f"{low['clients']} client(s).",
        f"Total throughput peaked at {_rate(best['total_tokens_per_s'])} tokens/s with "
        f"{best['clients']} clients, while one stream's rate went from "
        f"{_rate(low['tokens_per_s_per_stream']['avg'])} to "
        f"{_rate(high['tokens_per_s_per_stream']['avg'])} tokens/s: the streams share one "
        "machine.",
    ]
    errors = sum(r["errors"] for r in results)
    explanation.append(f"{errors} request(s) failed." if errors else "No request failed.")
    if chart:
        explanation.append(f"Chart: {chart}")
    figure = (
        f"TTFT p50 {_ms(low['ttft_ms']['p50'])} -> {_ms(high['ttft_ms']['p50'])} at "
        f"{high['clients']} clients; peak {_rate(best['total_tokens_per_s'])} tok/s"
    )
    return Finding(data, explanation, show, status="unexpected" if errors else "ok",
                   figure=figure)  # fmt: skip


def _compact(record: Record, records: Sequence[Record]) -> dict[str, Any]:
    origin = min(r.sent for r in records)
    row = asdict(record)
    for key in ("sent", "first_token", "ended"):
        if row[key] is not None:
            row[key] = round(row[key] - origin, 6)
    return row


def _slots(url: str, timeout: float) -> int | None:
    """llama-server's ``/props`` ``total_slots`` (its ``--parallel``), where there is one."""
    import httpx

    try:
        props = httpx.get(f"{url}/props", timeout=min(timeout, 10)).json()
    except (httpx.HTTPError, ValueError):
        return None
    value = props.get("total_slots") if isinstance(props, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _chart(stack: Stack, data: dict[str, Any]) -> Path | None:
    if stack.plot_dir is None:
        return None
    from lab.series import charts

    return charts.ttft_against_clients(Path(stack.plot_dir) / "load.png", [data])
