"""``python -m bench.hostile``: the fake under hostile load, measured (issue 10).

Two measurements, each against a fake in its own process (``python -m mockserver``) on
loopback, printed as Markdown for ``docs/benchmarks.md`` (section "Under hostile load"):

- **responsiveness**: ``/api/version`` latency (p50, p99, max over one keep-alive client polling
  back to back) while a 10 MB prompt, or 1,000 messages over the context window, is being
  answered, and how long that answer takes;
- **memory**: RSS idle, with one family's vocabulary, with every family's, and after N distinct
  requests (``--requests``, default 100,000: new conversations, a tenth of them 124 KB emoji
  prompts that fill the prompt caches), for one family; the target is <= 200 MiB.

``--source DIR`` measures another checkout (e.g. the code before the fix, from ``git archive``)
with the same client. Nothing here asserts a time: the figures are published, not tested.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
TEN_MB = "lorem ipsum dolor sit amet " * (10_000_000 // 27)
# 124 KB of 4-byte characters: 31,000 characters, under the prompt caches' 32,768-character
# cutoff, each costing 124 KB in the cache (Python holds them 4 bytes a character).
EMOJI_PROMPT = "🦜🧭" * 15_500
FAMILIES = ("gpt-oss:20b", "llama3.2:3b", "qwen2.5:3b", "mistral:7b", "gemma3:4b")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Fake:
    """``python -m mockserver`` from ``source`` (this checkout by default), on a free port."""

    def __init__(self, models: tuple[str, ...], source: Path = ROOT) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "mockserver", "--port", str(self.port)]
        argv += ["--models", ",".join(models), "--date", "2026-03-23", "--seed", "7"]
        env = {**os.environ, "PYTHONPATH": str(source), "PYTHONDONTWRITEBYTECODE": "1"}
        self.popen = subprocess.Popen(
            argv, cwd=source, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("the fake did not start within 60 s")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def chat_body(model: str, content: str) -> bytes:
    return orjson.dumps({"model": model, "messages": [{"role": "user", "content": content}]})


def thousand_messages(model: str) -> bytes:
    """1,000 messages of ~280 bytes (280 KB), far over a 4,096-token window: truncation."""
    turn = "please tell me more about the history of this region and its rivers " * 4
    messages = [
        {"role": "user" if n % 2 == 0 else "assistant", "content": f"{n}: {turn}"}
        for n in range(1000)
    ]
    return orjson.dumps({"model": model, "messages": messages})


CASES = {
    "10 MB prompt": lambda model: chat_body(model, TEN_MB),
    "1,000 messages": thousand_messages,
}


# --- responsiveness ----------------------------------------------------------------------------


def responsiveness(
    model: str, source: Path = ROOT, case: str = "10 MB prompt", budget_s: float = 120.0
) -> dict:
    """``/api/version`` latencies while one heavy request (``CASES``) is answered on another
    connection."""
    fake = Fake((model,), source)
    try:
        with httpx.Client(base_url=fake.url, timeout=budget_s) as http:
            http.post("/v1/chat/completions", content=chat_body(model, "hi"))  # load the vocab
            done = threading.Event()
            big: dict = {}

            def send_big() -> None:
                started = time.perf_counter()
                try:
                    with httpx.Client(base_url=fake.url, timeout=budget_s) as other:
                        body = CASES[case](model)
                        reply = other.post("/v1/chat/completions", content=body)
                    big["status"] = reply.status_code
                except httpx.HTTPError as exc:
                    big["status"] = type(exc).__name__
                big["seconds"] = time.perf_counter() - started
                done.set()

            thread = threading.Thread(target=send_big)
            thread.start()
            latencies: list[float] = []
            while not done.is_set():
                started = time.perf_counter()
                try:
                    http.get("/api/version", timeout=budget_s)
                except httpx.HTTPError:
                    break
                latencies.append((time.perf_counter() - started) * 1000)
            thread.join()
    finally:
        fake.stop()
    latencies.sort()
    return {
        "model": model,
        "case": case,
        "big_status": big.get("status"),
        "big_seconds": big.get("seconds"),
        "polls": len(latencies),
        "p50_ms": statistics.median(latencies) if latencies else None,
        "p99_ms": latencies[int(len(latencies) * 0.99)] if latencies else None,
        "max_ms": latencies[-1] if latencies else None,
    }


# --- memory -----------------------------------------------------------------------------------


async def _distinct_requests(url: str, model: str, total: int, connections: int = 8) -> int:
    """``total`` new conversations (a counter in the message; every tenth a 124 KB emoji
    prompt, a new one each time), ``connections`` at a time; returns how many got 200."""
    ok = 0
    counter = iter(range(total))

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal ok
        for n in counter:
            text = f"{n} {EMOJI_PROMPT[:-8]}" if n % 10 == 0 else f"Question number {n}: why?"
            reply = await client.post("/v1/chat/completions", content=chat_body(model, text))
            ok += reply.status_code == 200

    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(connections)))
    return ok


def memory(model: str, requests: int, source: Path = ROOT) -> dict:
    fake = Fake((model,), source)
    try:
        idle = fake.rss_mib()
        httpx.post(f"{fake.url}/v1/chat/completions", content=chat_body(model, "hi"), timeout=120)
        loaded = fake.rss_mib()
        started = time.perf_counter()
        ok = asyncio.run(_distinct_requests(fake.url, model, requests))
        seconds = time.perf_counter() - started
        after = fake.rss_mib()
    finally:
        fake.stop()
    everything = Fake(FAMILIES, source)
    try:
        for name in FAMILIES:
            httpx.post(
                f"{everything.url}/v1/chat/completions", content=chat_body(name, "hi"), timeout=120
            )
        all_families = everything.rss_mib()
    finally:
        everything.stop()
    return {
        "model": model,
        "idle_mib": idle,
        "one_family_mib": loaded,
        "all_families_mib": all_families,
        "requests": requests,
        "ok": ok,
        "seconds": seconds,
        "after_mib": after,
    }


# --- report -----------------------------------------------------------------------------------


def markdown(runs: list[tuple[str, list[dict], dict | None]]) -> str:
    lines = [
        "| Code | Model | Heavy request: answer (s) | `/api/version` during it: polls, p50 / "
        "p99 / max (ms) |",
        "|---|---|---|---|",
    ]
    for label, latency, _ in runs:
        for row in latency:
            seconds = f"{row['big_seconds']:.1f}" if row["big_seconds"] is not None else "-"
            lines.append(
                f"| {label} | {row['model']} | {row['case']}: {seconds} ({row['big_status']}) | "
                f"{row['polls']}, {row['p50_ms'] or 0:.1f} / {row['p99_ms'] or 0:.1f} / "
                f"{row['max_ms'] or 0:.1f} |"
            )
    lines += [
        "",
        "| Code | Model | RSS idle | one family | all families | after N distinct requests "
        "(200s, s) | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, _, mem in runs:
        if mem is None:
            continue
        lines.append(
            f"| {label} | {mem['model']} | {mem['idle_mib']:.0f} MiB | "
            f"{mem['one_family_mib']:.0f} MiB | {mem['all_families_mib']:.0f} MiB | "
            f"{mem['after_mib']:.0f} MiB after {mem['requests']:,} ({mem['ok']:,}, "
            f"{mem['seconds']:.0f} s) | <= 200 MiB: "
            f"{'met' if mem['after_mib'] <= 200 else '**not met**'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__)
    parser.add_argument("--models", default="llama3.2:3b,gemma3:4b,gpt-oss:20b")
    parser.add_argument("--memory-model", default="gpt-oss:20b")
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="also measure the checkout in DIR (e.g. before=/tmp/before); repeatable",
    )
    parser.add_argument(
        "--write",
        type=Path,
        metavar="FILE",
        help="put the tables into FILE (docs/benchmarks.md) between the hostile-load markers",
    )
    args = parser.parse_args(argv)
    sources = [("this", ROOT)] + [
        (label, Path(path)) for label, _, path in (s.partition("=") for s in args.source)
    ]
    runs = []
    for label, source in sources:
        latency = [
            responsiveness(model, source, case)
            for case in CASES
            for model in args.models.split(",")
        ]
        mem = None if args.no_memory else memory(args.memory_model, args.requests, source)
        runs.append((label, latency, mem))
        print(markdown([runs[-1]]), flush=True)
    print()
    print(markdown(runs))
    if args.write:
        write_section(args.write, markdown(runs), argv if argv is not None else sys.argv[1:])
    return 0


BEGIN, END = "<!-- bench.hostile: begin -->", "<!-- bench.hostile: end -->"


def write_section(path: Path, tables: str, argv: list[str]) -> None:
    """Replace the text between the markers (or append the section) in ``path``."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    body = (
        f"{BEGIN}\n\nGenerated by `python -m bench.hostile {' '.join(argv)}` "
        f"(load average at the end: {load}).\n\n{tables}\n\n{END}"
    )
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        text = head + body + rest.partition(END)[2]
    else:
        text = text.rstrip("\n") + "\n\n## Under hostile load\n\n" + body + "\n"
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
