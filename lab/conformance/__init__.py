"""``lab report``: the OpenAI-compatible contract, point by point, as it bites in practice.

Each contract point is a small function in :data:`POINTS` (:mod:`lab.conformance.checks`) that
makes its own minimal calls against the target through a :class:`Probe`
(:mod:`lab.conformance.probe`: the SDK where it shows what matters, raw ``httpx`` where it hides
the wire) and returns an :class:`Outcome` (:mod:`lab.conformance.outcome`): ``pass``, ``fail``
or ``n/a``, with the evidence.

The report prints as a rich table; ``--out DIR`` also writes ``report.md`` (a Markdown table
under a target/engine/model/date header) and ``report.json`` (:mod:`lab.conformance.render`).
The command is :func:`lab.command.execute`'s skeleton. Exit code 0 when the report was produced,
failed points included; 2 when the target is unusable (the preflight of ``lab run``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.text import Text

from lab import command, preflight, report
from lab.bounds import past_experiment_deadline
from lab.conformance.checks import POINTS, Point, Row, run_point, run_points
from lab.conformance.outcome import FAIL, NA, PASS, Outcome, Status
from lab.conformance.probe import SSE, Probe, Raw
from lab.conformance.render import Report, markdown, table, write_files
from lab.errors import EXIT_OK, CallContext, SetupError, from_api_error
from lab.ollama import EngineInfo
from lab.targets import Target

__all__ = [
    "FAIL",
    "NA",
    "PASS",
    "POINTS",
    "SSE",
    "Outcome",
    "Point",
    "Probe",
    "Raw",
    "Report",
    "ReportOptions",
    "Row",
    "Status",
    "markdown",
    "run_point",
    "run_points",
    "run_report",
    "table",
    "write_files",
]


@dataclass(frozen=True, slots=True)
class ReportOptions:
    target: Target
    model: str
    api_key: str
    timeout: float
    out_dir: Path | None = None
    record: Path | None = None
    deadline: float | None = None  # --deadline: seconds each check may take in all


def run_report(options: ReportOptions, *, out: Console, err: Console) -> int:
    """Preflight, run every point, print the table, write the files. 0, or 2 if unusable."""

    def check(target: Target) -> EngineInfo:
        return preflight.check(target, options.model, api_key=options.api_key)

    recorded: list[int] = []  # with --record: how many exchanges were saved

    def points(target: Target, engine: EngineInfo) -> Report:
        with command.session(
            target, engine, api_key=options.api_key, timeout=options.timeout, record=options.record
        ) as (client, http):
            probe = Probe(client, http, target, options.model, engine, options.api_key)
            progress = _spinner(out) if out.is_terminal else None
            try:
                rows = run_points(probe, progress=progress, deadline=options.deadline)
            except Exception as exc:  # a check's deadline stops the report (run_point)
                deadline = past_experiment_deadline(exc)
                if deadline is None:
                    raise
                context = CallContext(target, options.model, options.timeout, engine.is_ollama)
                raise from_api_error(deadline, context) from None
        recorder = getattr(http, "recorder", None)  # closed: every exchange is written by now
        if recorder is not None:
            recorded.append(len(recorder.written))
        return Report(target, options.model, engine, rows, _now())

    def show(result: Report) -> int:
        out.print(table(result))
        if options.record is not None and recorded:
            report.recorded(out, options.record, recorded[0])
        if options.out_dir is not None:
            try:
                written = write_files(result, options.out_dir)
            except OSError as exc:
                problem = f"Cannot write the report to {options.out_dir}"
                raise SetupError(problem, str(exc)) from None
            out.print(Text("Wrote " + " and ".join(str(p) for p in written), style="dim"))
        return EXIT_OK

    return command.execute(options.target, preflight=check, run=points, show=show, err=err)


def _spinner(console: Console) -> Callable[[Point], contextlib.AbstractContextManager[object]]:
    def status(point: Point) -> contextlib.AbstractContextManager[object]:
        return console.status(f"{point.title}…")

    return status


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
