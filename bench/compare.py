"""``python -m bench.compare --before DIR``: two codes measured in one run.

The fake of this tree and the fake of another source tree (``DIR``, e.g. ``git archive main |
tar -x -C DIR``) are measured back to back with the bare ceilings, in interleaved rounds
(medians), with the harness of ``bench.run`` (same uvicorn settings, same pinning, same load
generator); then their start-up, spawn after spawn, alternating (``--spawns``): the fake's spawn
to its first answer and ``python -m lab run --target mock``. The before/after figures of
docs/benchmarks.md. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench.run import (
    FAKE_ARGS,
    PATH,
    PY,
    ROOT,
    Load,
    Proc,
    ceiling,
    first_answer,
    loadavg,
    pinning,
    post,
)
from bench.startup import wall
from bench.workload import CHAT_BODY, STREAM_BODY
from mockserver.server import free_port

CASES = [  # (label, target, body, connections, distinct)
    ("fixed ceiling, 16 conns", "fixed", CHAT_BODY, 16, False),
    ("SSE ceiling, 4 conns", "sse", STREAM_BODY, 4, False),
    ("unseen, non-streamed, 16 conns", "fake", CHAT_BODY, 16, True),
    ("unseen, streamed + usage, 4 conns", "fake", STREAM_BODY, 4, True),
    ("same body (memo), non-streamed, 16 conns", "fake", CHAT_BODY, 16, False),
    ("same body (memo), non-streamed, 2 conns", "fake", CHAT_BODY, 2, False),
]
LAB_RUN = ["-m", "lab", "run", "--target", "mock"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare")
    parser.add_argument("--before", type=Path, required=True, help="the other source tree")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--spawns", type=int, default=7, help="start-ups per tree (0: none)")
    args = parser.parse_args(argv)
    throughput(args)
    if args.spawns:
        start_up(args.before.resolve(), args.spawns)
    return 0


def start_up(before: Path, spawns: int) -> None:
    """Spawn to first answer (wall, CPU) and ``lab run --target mock`` (wall), per tree,
    alternating spawn by spawn; the first of each only writes bytecode caches."""
    trees = {"before": before, "after": ROOT}
    first: dict[str, list[float]] = {name: [] for name in trees}
    cpu: dict[str, list[float]] = {name: [] for name in trees}
    lab: dict[str, list[float]] = {name: [] for name in trees}
    for index in range(spawns + 1):
        for name, tree in trees.items():
            _, answered, used = first_answer(tree)
            ran = wall(LAB_RUN, cwd=tree)
            if index:
                first[name].append(answered)
                cpu[name].append(used or 0.0)
                lab[name].append(ran)
    print(f"\n| Start-up ({spawns} spawns each, alternating, medians; min-max) | before | after |")
    print("|---|---|---|")
    for label, values, unit in (
        ("fake: spawn to first 200, gpt-oss (wall)", first, "s"),
        ("fake: CPU used by then", cpu, "s"),
        ("`python -m lab run --target mock` (wall)", lab, "s"),
    ):
        cells = [_spread(values[name], unit) for name in trees]
        print(f"| {label} | {cells[0]} | {cells[1]} |")
    print(f"\nLoad average at the end: {loadavg()}.")


def _spread(values: list[float], unit: str) -> str:
    return f"{statistics.median(values):.3f} {unit} ({min(values):.2f}-{max(values):.2f})"


def throughput(args: argparse.Namespace) -> None:
    cores = pinning(True)
    procs: list[Proc] = []
    ports: dict[str, int] = {}
    samples: dict[tuple[str, str], list[float]] = {}
    loads = []
    try:
        # ``python -m mockserver`` run in a tree imports that tree's code (it is sys.path[0]).
        for name, root in (("before", args.before.resolve()), ("after", ROOT)):
            ports[name] = free_port()
            command = [PY, "-m", "mockserver", "--port", str(ports[name]), *FAKE_ARGS]
            procs.append(Proc(f"fake {name}", command, ports[name], cwd=root))
            procs[-1].wait_listening()
        events = post(ports["after"], PATH, STREAM_BODY).content.count(b"data: {")
        for name in ("fixed", "sse"):
            ports[name] = free_port()
            procs.append(ceiling(name, ports[name], {"PORTWAY_BENCH_SSE_EVENTS": str(events)}))
            procs[-1].wait_listening()
        for name in ("before", "after"):
            for body in (CHAT_BODY, STREAM_BODY) * 3:  # loaded, and kept by either memo
                assert post(ports[name], PATH, body).status_code == 200
        with tempfile.TemporaryDirectory() as tmp:
            load = Load(Path(tmp))
            jobs = [
                (label, code, target, body, conns, distinct)
                for label, target, body, conns, distinct in CASES
                for code in (("before", "after") if target == "fake" else ("-",))
            ]
            for index in range(args.rounds):
                for label, code, target, body, conns, distinct in jobs[index:] + jobs[:index]:
                    port = ports[code if target == "fake" else target]
                    result = load.run(port, body, conns, args.duration, distinct=distinct)
                    if result["errors"]:
                        raise RuntimeError(f"{label} ({code}): {result}")
                    samples.setdefault((label, code), []).append(result["rps"])
                loads.append(os.getloadavg()[0])
                print(f"round {index + 1}/{args.rounds}", file=sys.stderr)
    finally:
        for proc in procs:
            proc.stop()
    median = {key: statistics.median(values) for key, values in samples.items()}
    ceil = {"non": median[(CASES[0][0], "-")], "str": median[(CASES[1][0], "-")]}
    rounds_load = ", ".join(f"{x:.2f}" for x in loads)
    print(f"Cores: {cores}. Load average (1 min) after each round: {rounds_load}.")
    print(f"Load average at the end: {loadavg()}.\n")
    print(f"| Case ({args.rounds} rounds of {args.duration:g} s, medians) | before | after |")
    print("|---|---|---|")
    for label, target, body, _, _ in CASES:
        if target != "fake":
            print(f"| {label} | {median[(label, '-')]:,.0f} | (the same run) |")
            continue
        base = ceil["str"] if body is STREAM_BODY else ceil["non"]
        cells = [
            f"{median[(label, code)]:,.0f} ({median[(label, code)] / base:.2f}x)"
            for code in ("before", "after")
        ]
        print(f"| {label} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    sys.exit(main())
