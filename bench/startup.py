"""How fast the lab starts: whole processes, timed from outside, against ``python -c pass``.

``python -m bench.startup`` prints the Markdown section; ``nox -s bench`` appends it to
``docs/benchmarks.md``. Targets (issue 8): ``--version``, ``list`` and ``models`` within
1.5x of ``python -c pass`` + 0.15 s; ``run --target mock`` (both Post 1 blocks) at most 2.0 s.
Each command runs once unmeasured (bytecode caches), then ``rounds`` times, interleaved with the
others so that drift in the machine's speed hits every command alike; the median is quoted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ("python -c pass", ["-c", "pass"])
COMMANDS = (
    ("python -m lab --version", ["-m", "lab", "--version"]),
    ("python -m lab list", ["-m", "lab", "list"]),
    ("python -m lab models", ["-m", "lab", "models"]),
    ("python -m lab run --target mock", ["-m", "lab", "run", "--target", "mock"]),
)
RUN_TARGET_S = 2.0


def wall(args: list[str], cwd: Path = ROOT) -> float:
    """Wall seconds of ``python ARGS`` run in the tree ``cwd`` (whose code it imports), with
    bytecode caches written and used whatever the caller's ``PYTHONDONTWRITEBYTECODE`` (with it
    set, every run compiled every import again: ``lab list`` measured 0.25 s instead of 0.1 s)."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": ""}  # empty: not set, for Python
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def measure(rounds: int = 5) -> dict[str, float]:
    """Median wall seconds of each command (and of the baseline), ``rounds`` interleaved runs."""
    everything = (BASELINE, *COMMANDS)
    for _, args in everything:  # unmeasured: writes bytecode caches, warms the page cache
        wall(args)
    samples: dict[str, list[float]] = {name: [] for name, _ in everything}
    for _ in range(rounds):
        for name, args in everything:
            samples[name].append(wall(args))
    return {name: statistics.median(times) for name, times in samples.items()}


def section(figures: dict[str, float]) -> str:
    """The Markdown section: each command's median, its target, and whether it is met."""
    baseline = figures[BASELINE[0]]
    quick = 1.5 * baseline + 0.15
    rows = [
        "## Lab start-up",
        "",
        "Whole processes (`python -m bench.startup`), median of interleaved runs; the baseline "
        f"`python -c pass` took {baseline:.3f} s.",
        "",
        "| Command | Median | Target | |",
        "|---|---|---|---|",
    ]
    for name, _ in COMMANDS:
        limit = RUN_TARGET_S if "run" in name.split() else quick
        spelled = (
            f"<= {RUN_TARGET_S:g} s"
            if limit == RUN_TARGET_S
            else f"<= 1.5 x baseline + 0.15 s = {quick:.3f} s"
        )
        met = "met" if figures[name] <= limit else "**not met**"
        rows.append(f"| `{name}` | {figures[name]:.3f} s | {spelled} | {met} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    print(section(measure(args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
