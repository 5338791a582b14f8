"""``python -m bench.compare --before DIR``: the unseen-body cases on two codes, one run.

The fake of this tree and the fake of another source tree (``DIR``, e.g. ``git archive main |
tar -x -C DIR``) are measured back to back with the bare ceilings, in interleaved rounds
(medians), with the harness of ``bench.run`` (same uvicorn settings, same pinning, same load
generator): the before/after figures of docs/benchmarks.md. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench.run import FAKE_ARGS, PATH, PY, ROOT, Load, Proc, ceiling, loadavg, pinning, post
from bench.workload import CHAT_BODY, STREAM_BODY
from mockserver.server import free_port

CASES = [  # (label, target, body, connections, distinct)
    ("fixed ceiling, 16 conns", "fixed", CHAT_BODY, 16, False),
    ("SSE ceiling, 4 conns", "sse", STREAM_BODY, 4, False),
    ("unseen, non-streamed, 16 conns", "fake", CHAT_BODY, 16, True),
    ("unseen, streamed + usage, 4 conns", "fake", STREAM_BODY, 4, True),
    ("same body (memo), non-streamed, 16 conns", "fake", CHAT_BODY, 16, False),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare")
    parser.add_argument("--before", type=Path, required=True, help="the other source tree")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0)
    args = parser.parse_args(argv)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
