"""``python -m bench.run``: the fake against bare ASGI ceilings, on loopback, in one bounded run.

Every server is a separate process on 127.0.0.1 with the same uvicorn settings
(``mockserver.server.uvicorn_options``); the load generator is ``wrk`` when installed, else
``bench.loadgen`` (Python, its own process). Rounds are interleaved (every target once per round,
the order rotated) and each figure is the median over rounds; ratios compare figures of this
run only. Writes ``docs/benchmarks.md`` (``--out``) and prints the table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import httpx

from bench import startup
from bench.workload import (
    CHAT_BODY,
    NATIVE_BODY,
    NATIVE_PATH,
    PATH,
    STREAM_BODY,
    distinct_body_parts,
    distinct_stream_parts,
)
from mockserver.server import free_port

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
# Cores (Linux): the servers on one, the load generator on another, so that neither takes the
# other's CPU; a fake with N workers gets every core (see ``pinning``). Empty: not pinned.
CORES: dict[str, set[int]] = {"server": set(), "load": set(), "all": set()}


def pinning(enabled: bool) -> str:
    """Assign the cores (the first to the servers, the last to the load generator); what
    was done, for the report."""
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not enabled or len(available) < 2:
        return "not pinned (" + ("--no-pin" if not enabled else "fewer than 2 cores") + ")"
    CORES.update(server={available[0]}, load={available[-1]}, all=set(available))
    return (
        f"each server pinned to core {available[0]}, the load generator to core "
        f"{available[-1]}; a fake with --workers N on cores {available[0]}-{available[-1]}, "
        "the load generator's core included"
    )


def on_cores(kind: str):
    """A ``preexec_fn`` that pins the child process to the cores of ``kind``, if any."""
    cores = CORES[kind]
    if not cores:
        return None
    return lambda: os.sched_setaffinity(0, cores)


FAKE_ARGS = ["--seed", "7", "--date", "2026-03-23"]
HOSTILE_HEADING = "## Under hostile load"  # written by python -m bench.hostile
OTHER_MODELS = ["llama3.2:3b", "gemma3:4b", "mistral:7b", "llama3.1:8b", "qwen2.5:7b"]


# --- processes ---------------------------------------------------------------------------


# One client for every set-up request (created once: a new client per request would add its own
# start-up to the cold-start figure).
CLIENT = httpx.Client(timeout=60, headers={"Content-Type": "application/json"})


def post(port: int, path: str, body: bytes = b"") -> httpx.Response:
    return CLIENT.post(f"http://127.0.0.1:{port}{path}", content=body)


def get(port: int, path: str) -> httpx.Response:
    return CLIENT.get(f"http://127.0.0.1:{port}{path}")


class Proc:
    def __init__(
        self,
        name: str,
        argv: list[str],
        port: int,
        env: dict | None = None,
        cores: str = "server",
        cwd: Path = ROOT,
    ) -> None:
        self.name, self.port = name, port
        self.started = time.perf_counter()
        self.popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=on_cores(cores),
        )

    def wait_listening(self, timeout: float = 30) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}")
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return time.perf_counter() - self.started
            time.sleep(0.002)
        raise RuntimeError(f"{self.name} did not listen within {timeout} s")

    def cpu_s(self) -> float | None:
        """User + system CPU seconds of the process so far (Linux /proc), else None."""
        try:
            fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float | None:
        try:
            for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def fake(port: int, env: dict | None = None, workers: int = 1) -> Proc:
    argv = [PY, "-m", "mockserver", "--port", str(port), *FAKE_ARGS]
    if workers > 1:
        argv += ["--workers", str(workers)]
    name = f"fake ({workers} workers)" if workers > 1 else "fake"
    return Proc(name, argv, port, env, cores="all" if workers > 1 else "server")


def ceiling(name: str, port: int, env: dict | None = None) -> Proc:
    return Proc(name, [PY, "-m", "bench.serve", name, str(port)], port, env)


# --- load --------------------------------------------------------------------------------


class Load:
    """wrk (one thread, so the server keeps a core) or the Python load generator."""

    def __init__(self, tmp: Path, force_python: bool = False) -> None:
        self.wrk = None if force_python else shutil.which("wrk")
        self.tmp = tmp
        self.files: dict[bytes, Path] = {}
        self.parts = {  # where the per-request counter goes, per body
            body: tuple(map(self._file, parts))
            for body, parts in (
                (CHAT_BODY, distinct_body_parts()),
                (STREAM_BODY, distinct_stream_parts()),
            )
        }
        self.salt = 0

    @property
    def name(self) -> str:
        if self.wrk:
            version = subprocess.run([self.wrk, "-v"], capture_output=True, text=True)
            return (version.stdout or version.stderr).split("\n")[0].strip() or "wrk"
        return "bench.loadgen (Python asyncio)"

    def _file(self, data: bytes) -> Path:
        if data not in self.files:
            path = self.tmp / f"body{len(self.files)}.bin"
            path.write_bytes(data)
            self.files[data] = path
        return self.files[data]

    def run(
        self,
        port: int,
        body: bytes,
        connections: int,
        duration: float,
        distinct: bool = False,
        python: bool = False,
        path: str = PATH,
    ) -> dict:
        url = f"http://127.0.0.1:{port}{path}"
        if self.wrk and not python:
            self.salt += 1
            env = {**os.environ, "BENCH_BODY": str(self._file(body)), "BENCH_SALT": str(self.salt)}
            if distinct:
                head, tail = self.parts[body]
                env |= {"BENCH_DISTINCT_HEAD": str(head), "BENCH_DISTINCT_TAIL": str(tail)}
            argv = [
                self.wrk,
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(duration))}s",
                "--timeout",
                "10s",
            ]
            argv += ["-s", str(ROOT / "bench" / "wrk.lua"), url]
            out = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=env,
                check=True,
                preexec_fn=on_cores("load"),
            )
            line = next(x for x in out.stdout.splitlines() if x.startswith("{"))
            raw = json.loads(line)
            seconds = raw["duration_us"] / 1e6
            return {
                "requests": raw["requests"],
                "rps": raw["requests"] / seconds,
                "p50_ms": raw["p50_us"] / 1000,
                "p99_ms": raw["p99_us"] / 1000,
                "errors": raw["non2xx"] + raw["socket_errors"],
            }
        argv = [PY, "-m", "bench.loadgen", "--url", url, "--body", str(self._file(body))]
        argv += ["--connections", str(connections), "--duration", str(duration)]
        if distinct:
            argv.append("--distinct")
        out = subprocess.run(
            argv, capture_output=True, text=True, cwd=ROOT, check=True, preexec_fn=on_cores("load")
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    def first_chunk(self, port: int, body: bytes, duration: float) -> float:
        """Median time to the first body bytes of a stream, one connection (Python client)."""
        url = f"http://127.0.0.1:{port}{PATH}"
        argv = [PY, "-m", "bench.loadgen", "--url", url, "--body", str(self._file(body))]
        argv += ["--connections", "1", "--duration", str(duration), "--first-chunk"]
        out = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])["ttfc_ms"]


# --- measurements ------------------------------------------------------------------------


def cold_start(rounds: int) -> dict:
    """Spawn to listening, and spawn to the first 200 on /v1/chat/completions (gpt-oss); and
    the CPU time the fake's process used until then (user + system, from /proc: on a shared
    machine it moves less than the wall time).

    One unmeasured spawn first, with bytecode writing allowed: a fresh venv (uv installs
    without compiling) or PYTHONDONTWRITEBYTECODE would otherwise make every spawn compile
    every import (~0.35 s more here); pip-installed packages start with bytecode cached."""
    listening, answered, cpu, speed = [], [], [], [machine_speed_ms()]
    for index in range(rounds + 1):
        ready, first, used = first_answer()
        if index:  # the first spawn only writes the bytecode caches
            listening.append(ready)
            answered.append(first)
            cpu.append(used)
        speed.append(machine_speed_ms())
    out = {"listening_s": statistics.median(listening), "first_200_s": statistics.median(answered)}
    out["speed_ms"] = statistics.median(speed)
    if all(value is not None for value in cpu):
        out["first_200_cpu_s"] = statistics.median(cpu)
    return out


def machine_speed_ms() -> float:
    """Milliseconds this process takes for a fixed piece of pure-Python work, at the moment.

    This machine's speed changes by up to ~1.7x within the hour with no steal time reported
    (a virtual CPU whose host is busy): the same fake took 0.45 s from spawn to its first
    answer and 0.8 s an hour later. Printed next to the cold start so that a reading says
    what state the machine was in. Run on the fake's core (when pinned), median of three."""
    previous = os.sched_getaffinity(0) if CORES["server"] else None
    if previous:
        os.sched_setaffinity(0, CORES["server"])
    try:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            total = 0
            for value in range(1_000_000):
                total += value * value
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)
    finally:
        if previous:
            os.sched_setaffinity(0, previous)


def first_answer(cwd: Path = ROOT) -> tuple[float, float, float | None]:
    """One spawn of the fake of the tree ``cwd``: seconds to listening, seconds to its first
    200 on /v1/chat/completions (gpt-oss), and the CPU seconds it used by then."""
    port = free_port()
    argv = [PY, "-m", "mockserver", "--port", str(port), *FAKE_ARGS]
    proc = Proc("fake", argv, port, {"PYTHONDONTWRITEBYTECODE": ""}, cwd=cwd)
    try:
        ready = proc.wait_listening()
        while True:
            with contextlib.suppress(httpx.TransportError):
                if post(port, PATH, CHAT_BODY).status_code == 200:
                    break
            time.sleep(0.002)
        return ready, time.perf_counter() - proc.started, proc.cpu_s()
    finally:
        proc.stop()


def memory(load: Load, total: int, step_seconds: float) -> dict:
    """RSS idle, with the gpt-oss vocabulary, over ``total`` distinct requests to that one
    family (a new conversation each: the caches fill and must stay bounded), then with every
    family's vocabulary."""
    port = free_port()
    proc = fake(port)
    try:
        proc.wait_listening()
        assert get(port, "/").status_code == 200
        time.sleep(0.3)
        out = {"idle_mb": proc.rss_mb()}
        assert post(port, PATH, CHAT_BODY).status_code == 200
        out["gpt_oss_mb"] = proc.rss_mb()
        served, curve = 0, []
        while served < total:
            result = load.run(port, CHAT_BODY, 16, step_seconds, distinct=True)
            served += result["requests"]
            curve.append((served, proc.rss_mb()))
            if result["errors"]:
                raise RuntimeError(f"errors during the memory run: {result}")
        out["curve"] = curve
        out["requests"] = served
        # Growth over the second half: the caches are bounded by bytes and fill first (the
        # prompt fragments, ~200 bytes each with their slot, take ~40,000 new conversations to
        # reach 8 MiB).
        warm = next((rss for n, rss in curve if n >= total // 2), curve[0][1])
        out["after_warmup_mb"] = warm
        out["after_total_mb"] = curve[-1][1]
        for model in OTHER_MODELS:
            body = CHAT_BODY.replace(b'"gpt-oss:20b"', json.dumps(model).encode())
            assert post(port, PATH, body).status_code == 200, model
        out["all_families_mb"] = proc.rss_mb()
        return out
    finally:
        proc.stop()


def median_of(samples: list[dict], key: str) -> float:
    return statistics.median(sample[key] for sample in samples)


def rounds_run(load: Load, args, ports: dict[str, int]) -> dict:
    cases = []  # (label, target, body, connections, distinct, path)
    c_hi = args.connections[-1]
    for conns in args.connections:
        for target in ("fixed", "parse", "fake"):
            cases.append((f"chat/{target}/c{conns}", target, CHAT_BODY, conns, False, PATH))
    cases.append((f"distinct/fake/c{c_hi}", "fake", CHAT_BODY, c_hi, True, PATH))
    cases.append((f"distinct/tokenize/c{c_hi}", "tokenize", CHAT_BODY, c_hi, True, PATH))
    if "fake2" in ports:
        cases.append((f"distinct/fake2/c{c_hi}", "fake2", CHAT_BODY, c_hi, True, PATH))
    cases.append((f"native/fake/c{c_hi}", "fake", NATIVE_BODY, c_hi, False, NATIVE_PATH))
    for target in ("sse", "fake"):
        label = f"stream/{target}/c{args.stream_connections}"
        cases.append((label, target, STREAM_BODY, args.stream_connections, False, PATH))
    label = f"dstream/fake/c{args.stream_connections}"  # unseen questions, streamed
    cases.append((label, "fake", STREAM_BODY, args.stream_connections, True, PATH))
    samples: dict[str, list[dict]] = {label: [] for label, *_ in cases}
    loads: list[float] = []  # the 1-minute load average after each round
    ttfc: dict[str, list[float]] = {"sse": [], "fake": []}
    for index in range(args.rounds):
        order = cases[index % len(cases) :] + cases[: index % len(cases)]
        for label, target, body, conns, distinct, path in order:
            result = load.run(
                ports[target], body, conns, args.duration, distinct=distinct, path=path
            )
            if result["errors"]:
                raise RuntimeError(f"{label}: {result['errors']} errors")
            samples[label].append(result)
        for target in ("sse", "fake"):
            ttfc[target].append(load.first_chunk(ports[target], STREAM_BODY, args.ttfc_duration))
        loads.append(os.getloadavg()[0])
        print(f"round {index + 1}/{args.rounds} done", file=sys.stderr)
    figures = {
        label: {key: median_of(runs, key) for key in ("rps", "p50_ms", "p99_ms")}
        for label, runs in samples.items()
    }
    figures["ttfc_ms"] = {target: statistics.median(values) for target, values in ttfc.items()}
    figures["loadavg_rounds"] = loads  # type: ignore[assignment]
    return figures


def loadgen_check(load: Load, port: int, duration: float) -> dict | None:
    """The Python load generator against the bare fixed app (and wrk, when installed)."""
    python = load.run(port, CHAT_BODY, 16, duration, python=True)
    out = {"python_rps": python["rps"]}
    if load.wrk:
        out["wrk_rps"] = load.run(port, CHAT_BODY, 16, duration)["rps"]
    return out


# --- report ------------------------------------------------------------------------------


def loadavg() -> str:
    try:
        return ", ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = None
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) / 1024**2
    versions = {}
    for name in (
        "uvicorn",
        "fastapi",
        "starlette",
        "pydantic",
        "orjson",
        "tiktoken",
        "uvloop",
        "httptools",
    ):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": ram,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": versions,
    }


def table(fig: dict, cold: dict, mem: dict, args) -> list[str]:
    c_lo, c_hi = args.connections[0], args.connections[-1]
    sc = args.stream_connections

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}x"

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    rows = ["| Measure | Fake | Ceiling | Fake / ceiling | Target | |", "|---|---|---|---|---|---|"]
    for conns in (c_lo, c_hi):
        fake_, fixed_, parse_ = (fig[f"chat/{t}/c{conns}"] for t in ("fake", "fixed", "parse"))
        r = fake_["rps"] / fixed_["rps"]
        rows.append(
            f"| Non-streamed chat, {conns} conns: req/s | {fake_['rps']:,.0f} | "
            f"fixed {fixed_['rps']:,.0f} / parse {parse_['rps']:,.0f} | "
            f"{r:.2f}x / {ratio(fake_['rps'], parse_['rps'])} "
            f"| >= 0.40x fixed | {verdict(r >= 0.40)} |"
        )
        ok = conns != c_hi or fake_["p99_ms"] < 5
        target = "p99 < 5 ms" if conns == c_hi else ""
        rows.append(
            f"| &nbsp; latency p50 / p99 (ms) | {fake_['p50_ms']:.2f} / {fake_['p99_ms']:.2f} "
            f"| fixed {fixed_['p50_ms']:.2f} / {fixed_['p99_ms']:.2f} | | {target} | "
            f"{verdict(ok) if target else ''} |"
        )
    distinct = fig[f"distinct/fake/c{c_hi}"]
    fixed_hi = fig[f"chat/fixed/c{c_hi}"]
    r = distinct["rps"] / fixed_hi["rps"]
    rows.append(
        f"| Unseen bodies (a new conversation per request), non-streamed, {c_hi} conns: req/s | "
        f"{distinct['rps']:,.0f} | fixed {fixed_hi['rps']:,.0f} | {r:.2f}x | >= 0.30x fixed "
        f"| {verdict(r >= 0.30)} |"
    )
    rows.append(
        f"| &nbsp; latency p50 / p99 (ms) | {distinct['p50_ms']:.2f} / "
        f"{distinct['p99_ms']:.2f} | | | | |"
    )
    floor = fig.get(f"distinct/tokenize/c{c_hi}")
    if floor is not None:
        rows.append(
            "| &nbsp; the tokenize ceiling on the same bodies (parse, count, tokenize an answer "
            f"of the fake's length; no engine): req/s | {distinct['rps']:,.0f} (fake) | "
            f"tokenize {floor['rps']:,.0f} ({ratio(floor['rps'], fixed_hi['rps'])} of fixed) | "
            f"{ratio(distinct['rps'], floor['rps'])} | | |"
        )
    scaled = fig.get(f"distinct/fake2/c{c_hi}")
    if scaled is not None:
        rows.append(
            f"| &nbsp; the same, 1 -> {args.workers} workers (`--workers {args.workers}`, on "
            f"every core): req/s | {scaled['rps']:,.0f} | fixed {fixed_hi['rps']:,.0f} | "
            f"{ratio(scaled['rps'], fixed_hi['rps'])} "
            f"({ratio(scaled['rps'], distinct['rps'])} of 1 worker) | | |"
        )
    unseen_stream = fig.get(f"dstream/fake/c{sc}")
    if unseen_stream is not None:
        sse = fig[f"stream/sse/c{sc}"]
        r = unseen_stream["rps"] / sse["rps"]
        rows.append(
            f"| Unseen bodies, streamed ~180 tokens + usage, {sc} conns: streams/s | "
            f"{unseen_stream['rps']:,.0f} | SSE {sse['rps']:,.0f} | {r:.2f}x | >= 0.30x SSE "
            f"| {verdict(r >= 0.30)} |"
        )
    native = fig.get(f"native/fake/c{c_hi}")
    if native is not None:
        rows.append(
            f"| Native `/api/chat` (same conversation, `stream: false`), {c_hi} conns: req/s | "
            f"{native['rps']:,.0f} | fixed {fixed_hi['rps']:,.0f} | "
            f"{ratio(native['rps'], fixed_hi['rps'])} | | |"
        )
        rows.append(
            f"| &nbsp; latency p50 / p99 (ms) | {native['p50_ms']:.2f} / "
            f"{native['p99_ms']:.2f} | | | | |"
        )
    fs, ss = fig[f"stream/fake/c{sc}"], fig[f"stream/sse/c{sc}"]
    r = fs["rps"] / ss["rps"]
    rows.append(
        f"| Streamed ~180 tokens + usage (the same body), {sc} conns: streams/s | "
        f"{fs['rps']:,.0f} | "
        f"SSE {ss['rps']:,.0f} | {r:.2f}x | >= 0.8x | {verdict(r >= 0.8)} |"
    )
    t = fig["ttfc_ms"]
    rows.append(
        f"| &nbsp; time to first chunk (ms, 1 conn) | {t['fake']:.2f} | SSE {t['sse']:.2f} | | | |"
    )
    rows.append(
        f"| Cold start: spawn to first 200, gpt-oss:20b (s) | {cold['first_200_s']:.3f} | "
        f"(listening after {cold['listening_s']:.3f}"
        + (
            f"; CPU used by then {cold['first_200_cpu_s']:.2f} s"
            if "first_200_cpu_s" in cold
            else ""
        )
        + (
            f"; the machine's speed then: a fixed Python loop in {cold['speed_ms']:.0f} ms"
            if "speed_ms" in cold
            else ""
        )
        + ") | | <= 0.5 s | "
        f"{verdict(cold['first_200_s'] <= 0.5)} |"
    )

    def mb(value):
        return "n/a" if value is None else f"{value:.0f}"

    idle, oss = mem["idle_mb"], mem["gpt_oss_mb"]
    rows.append(
        f"| RSS idle (MB) | {mb(idle)} | | | <= 80 | {verdict(idle is not None and idle <= 80)} |"
    )
    rows.append(
        f"| RSS with the gpt-oss vocabulary (MB) | {mb(oss)} | | | <= 150 | "
        f"{verdict(oss is not None and oss <= 150)} |"
    )
    warm, end = mem["after_warmup_mb"], mem["after_total_mb"]
    growth = None if warm is None or end is None else end - warm
    bounded = growth is not None and growth <= 2 and end is not None and end <= 200
    rows.append(
        f"| RSS after {mem['requests']:,} distinct requests, one family (gpt-oss) (MB) | "
        f"{mb(end)} | after {mem['requests'] // 2:,}: {mb(warm)} | growth {growth:+.1f} MB | "
        f"<= 200, no growth | {verdict(bounded)} |"
    )
    rows.append(
        f"| RSS with every family's vocabulary, after that run (MB) | "
        f"{mb(mem['all_families_mb'])} | | | | |"
    )
    return rows


def report(fig, cold, mem, check, spec, load: Load, args, elapsed: float) -> str:
    v = spec["versions"]
    lines = [
        "# Benchmarks: the fake against bare ASGI ceilings",
        "",
        f"Generated by `nox -s bench` (`python -m bench.run`) in {elapsed:.0f} s. Every figure is "
        f"the median of {args.rounds} interleaved rounds of {args.duration:g} s per case; ratios "
        "compare figures of this one run.",
        "",
        "## Machine",
        "",
        f"- CPU: {spec['cpu']}, {spec['cores']} cores; RAM {spec['ram_gib']:.1f} GiB; {spec['os']}",
        f"- Python {spec['python']}; uvicorn {v['uvicorn']} (uvloop {v['uvloop']}, httptools "
        f"{v['httptools']}), fastapi {v['fastapi']}, starlette {v['starlette']}, pydantic "
        f"{v['pydantic']}, orjson {v['orjson']}, tiktoken {v['tiktoken']}",
        f"- Load generator: {load.name}, one thread, 127.0.0.1 only",
        f"- Cores: {spec['pinning']}",
        f"- Load average (1, 5, 15 min) at start: {spec['loadavg_start']}; at end: "
        f"{spec['loadavg_end']}; 1-minute, after each round of the throughput cases: "
        + ", ".join(f"{x:.2f}" for x in fig.get("loadavg_rounds", []))
        + " (other work on the machine shows here; ratios are within one run, interleaved, "
        "so shared noise cancels more than absolute figures)",
        "",
        "## Results",
        "",
        *table(fig, cold, mem, args),
        "",
        "Ceilings (`bench/ceilings.py`), served by the same uvicorn settings as the fake "
        "(`mockserver.server.uvicorn_options`): **fixed** drains the body and returns a fixed "
        "chat completion of the fake's size; **parse** also parses the JSON body (orjson); "
        "**SSE** writes one `data:` event per token, as many events as the fake's stream; "
        "**tokenize** does the tokenizer work an exact fake cannot skip on an unseen body and "
        "nothing else (parses it, counts its messages with the gpt-oss tokenizer, the history "
        "from the fragment counts, tokenizes an answer and a reasoning of the fake's length "
        "that quote the last message): its counts are not Ollama's, it prices exactness, and "
        "the fake / tokenize ratio is what the engine and the wire layers cost above it.",
        "",
        "Requests: the Post 1 5-turn conversation on `gpt-oss:20b` (the same body each time, as a "
        "test suite re-sends it; the fake keeps its answer the second time and answers it from "
        "its memo after that), and the same conversation with a new last message per request "
        "(an unseen body: parse, render, tokenize, generate every time; the memo keeps "
        "nothing, only the history's fragments are known to the tokenizer). Stream: a "
        "200-character question with `reasoning_effort: high` and `include_usage` (176 "
        "completion tokens); unseen, the same question with a counter in it.",
        "",
    ]
    if check:
        line = (
            "Load generator check (bare fixed app, 16 conns): Python `bench.loadgen` "
            f"{check['python_rps']:,.0f} req/s"
        )
        if "wrk_rps" in check:
            share = check["python_rps"] / check["wrk_rps"]
            line += (
                f", wrk {check['wrk_rps']:,.0f} req/s: the Python generator reaches "
                f"{share:.2f}x of wrk"
                + (
                    ", so it can stand in for wrk (it is not what limits the ceiling)."
                    if share >= 0.9
                    else ": without wrk the ceilings are client-bound and ratios read high."
                )
            )
        lines += [line, ""]
    lines += [
        "Memory over the distinct-request run (requests served, RSS MB): "
        + ", ".join(f"{n:,}: {mb:.0f}" for n, mb in mem["curve"] if mb is not None),
        "",
        "Reproduce: `nox -s bench` (uses `wrk` when it is on PATH, e.g. `apt-get install wrk`, "
        "else the Python load generator), or `python -m bench.run --rounds 3 --duration 4` in "
        "an environment with `.[bench]` installed.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per case and round")
    parser.add_argument("--connections", type=int, nargs="+", default=[2, 16])
    parser.add_argument("--stream-connections", type=int, default=4)
    parser.add_argument("--ttfc-duration", type=float, default=1.0)
    parser.add_argument("--memory-requests", type=int, default=100_000)
    parser.add_argument("--python-load", action="store_true", help="never use wrk")
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin servers and load generator to cores"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="also run the unseen-body case on a fake with this many workers (1: skip)",
    )
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--json", help="also write the raw figures here")
    parser.add_argument(
        "--notes",
        default=str(ROOT / "bench" / "NOTES.md"),
        help="appended to the report (analysis written by hand)",
    )
    args = parser.parse_args(argv)
    began = time.perf_counter()
    spec = machine()
    spec["loadavg_start"] = loadavg()
    spec["pinning"] = pinning(not args.no_pin)
    with tempfile.TemporaryDirectory() as tmp:
        load = Load(Path(tmp), force_python=args.python_load)
        print(f"load generator: {load.name}", file=sys.stderr)
        cold = cold_start(args.rounds)
        print(f"cold start: {cold}", file=sys.stderr)
        procs: list[Proc] = []
        try:
            ports = {"fake": free_port()}
            procs.append(fake(ports["fake"]))
            procs[0].wait_listening()
            for body in (CHAT_BODY, STREAM_BODY, CHAT_BODY, STREAM_BODY):  # kept the 2nd time
                assert post(ports["fake"], PATH, body).status_code == 200
            assert post(ports["fake"], NATIVE_PATH, NATIVE_BODY).status_code == 200
            events = post(ports["fake"], PATH, STREAM_BODY).content.count(b"data: {")
            for name in ("fixed", "parse", "sse", "tokenize"):
                ports[name] = free_port()
                env = {"PORTWAY_BENCH_SSE_EVENTS": str(events)}
                procs.append(ceiling(name, ports[name], env))
            if args.workers > 1:
                ports["fake2"] = free_port()
                procs.append(fake(ports["fake2"], workers=args.workers))
            for proc in procs:
                proc.wait_listening()
            if "fake2" in ports:  # its workers start after the socket listens
                assert post(ports["fake2"], PATH, CHAT_BODY).status_code == 200
            for name in ("fixed", "parse", "tokenize", "fake"):  # warm-up: connections, caches
                load.run(ports[name], CHAT_BODY, 2, 1)
            fig = rounds_run(load, args, ports)
            check = loadgen_check(load, ports["fixed"], min(args.duration, 3))
        finally:
            for proc in procs:
                proc.stop()
        mem = memory(load, args.memory_requests, step_seconds=3)
    elapsed = time.perf_counter() - began
    spec["loadavg_end"] = loadavg()
    text = report(fig, cold, mem, check, spec, load, args, elapsed)
    text += "\n" + startup.section(startup.measure(args.rounds))  # bench/startup.py
    notes = Path(args.notes)
    if notes.exists():
        text += "\n" + notes.read_text()
    out = Path(args.out)
    if out.exists():  # python -m bench.hostile's section (and its notes) stay as they are
        _, marker, hostile = out.read_text().partition(HOSTILE_HEADING)
        if marker:
            text = text.rstrip("\n") + "\n\n" + marker + hostile
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"figures": fig, "cold": cold, "memory": mem, "loadgen": check, "machine": spec},
                indent=2,
            )
        )
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
