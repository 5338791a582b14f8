"""Post 7's curves side by side: a real engine and the llama-server twin, the same sweep.

    python tools/load_curves.py http://127.0.0.1:PORT/v1 --label "llama.cpp (llama-cpp-python)"
        [--clients 1,2,3,4] [--seconds 10] [--profile cpu-qwen2.5-0.5b] [--out docs/load-curves]

runs the lab's ``load`` experiment (``lab/series/load.py``) against the URL, then against the
twin (``--flavor llama-server``, the given latency profile) with ``--parallel 1`` (one request
at a time, as llama-cpp-python's server with ``--interrupt_requests False``) and with
``--parallel 4`` (llama-server's default slots), and writes ``OUT.md`` (a table: each level's
TTFT p50/p95, total tokens/s, and TTFT p50 relative to one client, which compares the shapes
whatever the machine's speed), ``OUT.json`` and ``OUT.png``. ``nox -s llamacpp`` runs it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab import plot
from lab.series import charts
from lab.series.load import load
from lab.series.targets import Backend, Stack
from lab.series.url_target import url_stack


def _run(stack: Stack, label: str) -> dict[str, Any]:
    finding = load(stack)
    data = dict(finding.data)
    data["label"] = label
    data["status"] = finding.status
    for level in data.get("levels", []):
        level.pop("records", None)
    return data


def _twin(parallel: int, profile: str, levels: tuple[int, ...], seconds: float,
          timeout: float) -> dict[str, Any]:  # fmt: skip
    from mockserver.config import Settings
    from mockserver.server import BackgroundServer

    settings = Settings(port=0, flavor="llama-server", llama_model="gpt-oss", alias="gpt-oss",
                        profile=profile, parallel=parallel)  # fmt: skip
    server = BackgroundServer(settings).start()
    try:
        stack = Stack([Backend("gpt-oss", server.url)], timeout=timeout, label="twin",
                      load_levels=levels, load_seconds=seconds)  # fmt: skip
        return _run(stack, f"twin --parallel {parallel}")
    finally:
        server.stop()


def _table(runs: list[dict[str, Any]]) -> str:
    lines = [
        "| target | clients | requests | errors | TTFT p50 | TTFT p95 | TTFT p50 / 1 client "
        "| tok/s per stream | tok/s total |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        levels = run.get("levels", [])
        base = levels[0]["ttft_ms"]["p50"] if levels else None
        for level in levels:
            p50, p95 = level["ttft_ms"]["p50"], level["ttft_ms"]["p95"]
            ratio = f"{p50 / base:.2f}x" if p50 and base else "-"
            stream = level["tokens_per_s_per_stream"]["avg"]
            total = level["total_tokens_per_s"]
            lines.append(
                f"| {run['label']} | {level['clients']} | {level['requests']} | "
                f"{level['errors']} | {_ms(p50)} | {_ms(p95)} | {ratio} | {_num(stream)} | "
                f"{_num(total)} |"
            )
    return "\n".join(lines) + "\n"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--label", default="real engine")
    parser.add_argument("--model")
    parser.add_argument("--clients", default="1,2,3,4")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--profile", default="cpu-qwen2.5-0.5b")
    parser.add_argument("--out", default="docs/load-curves")
    args = parser.parse_args(argv)
    levels = tuple(int(n) for n in args.clients.split(","))
    real = url_stack(args.url, args.timeout, args.model)
    real.load_levels, real.load_seconds = levels, args.seconds
    runs = [_run(real, args.label)]
    runs += [_twin(p, args.profile, levels, args.seconds, args.timeout) for p in (1, 4)]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(runs, indent=2) + "\n", encoding="utf-8")
    try:
        charts.ttft_against_clients(out.with_suffix(".png"), runs)
    except plot.PlotProblem as problem:  # matplotlib is the `plot` extra
        print(f"no chart: {problem}")
    table = _table(runs)
    out.with_suffix(".md").write_text(table, encoding="utf-8")
    print(table)
    return 0 if all(r["status"] == "ok" for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
