"""How results look: rich panels and tables on a terminal, one JSON document with ``--json``.

Every table stays readable at 80 columns (a CI log, a default terminal): headers and cells wrap
at word boundaries instead of being cut, and wide information (lesson paths, pull commands) is
said once under a table rather than repeated in a column. ``tests/test_lab_80_columns.py``
renders each experiment's output, ``lab list``, ``lab models`` and the summary at width 80.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.markup import escape
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from lab import __version__
from lab.experiment import Answer, Bars, Experiment, Facts, Finding
from lab.modeltable import DEFAULT_MODEL, FIT_RULE, fitting, ram_text, table

if TYPE_CHECKING:
    from rich.console import Console

    from lab.errors import LabError
    from lab.ollama import EngineInfo
    from lab.targets import Target

_STATUS_STYLE = {
    "ok": ("What this shows", "green"),
    "not_applicable": ("Not applicable", "yellow"),
    "unexpected": ("Unexpected result", "red"),
}


def header(console: Console, target: Target, model: str, engine: EngineInfo) -> None:
    console.print(
        Panel(
            Text.assemble(
                ("model   ", "dim"),
                (model, "bold"),
                ("\ntarget  ", "dim"),
                target.openai_url,
                ("\nengine  ", "dim"),
                engine.describe(),
            ),
            title=f"Portway Lab {__version__}",
            title_align="left",
            box=box.ROUNDED,
            expand=False,
        )
    )


def heading(console: Console, experiment: Experiment) -> None:
    """Printed before the experiment runs, so the reader knows what the wait is for."""
    console.print()
    console.print(Rule(Text(experiment.title, style="bold"), align="left"))
    console.print(Text(experiment.summary, style="dim"))


def finding(console: Console, experiment: Experiment, result: Finding) -> None:
    for item in result.show:
        if isinstance(item, Answer):
            console.print(Panel(Text(item.text), title=escape(item.label), title_align="left"))
        elif isinstance(item, Facts):
            console.print(_facts_table(item))
        elif isinstance(item, Bars):
            console.print(_bars_chart(item))
    heading, colour = _STATUS_STYLE[result.status]
    console.print(
        Panel(
            _bullets(result.explanation),
            title=heading,
            title_align="left",
            border_style=colour,
            box=box.HEAVY,
        )
    )
    console.print(Text(f"Lesson: {lesson_location(experiment)}", style="dim"))


def lesson_location(experiment: Experiment) -> str:
    """Where the lesson page is on this machine: relative to the working folder when inside it
    (a checkout), else the installed file's absolute path."""
    return _shown_path(experiment.lesson_file)


def lessons_folder(experiments: list[Experiment]) -> str:
    return _shown_path(experiments[0].lesson_file.parent) if experiments else ""


def _shown_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


_VERDICTS = {
    "ok": Text("shown", "green"),
    "not_applicable": Text("not applicable", "yellow"),
    "unexpected": Text("UNEXPECTED", "bold red"),
}


def summary(console: Console, results: list[tuple[Experiment, Finding]]) -> None:
    """One table after a run of several experiments: verdict, the key figure, the lesson."""
    console.print()
    console.print(summary_table(results))


def summary_table(results: list[tuple[Experiment, Finding]]) -> Table:
    counts = {status: sum(r.status == status for _, r in results) for status in _VERDICTS}
    caption = (
        f"{counts['ok']} shown, {counts['not_applicable']} not applicable, "
        f"{counts['unexpected']} unexpected. Lessons: "
        f"{lessons_folder([e for e, _ in results])}{os.sep}<lesson>"
    )
    grid = Table(
        title=f"Summary: {len(results)} experiment{'s' if len(results) != 1 else ''}",
        title_justify="left",
        title_style="bold",
        caption=caption,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        expand=True,
    )
    grid.add_column("experiment", style="bold", overflow="fold")
    grid.add_column("verdict")
    grid.add_column("key figure", ratio=1)
    grid.add_column("lesson", style="dim", overflow="fold")
    for exp, result in results:
        figure = result.figure or (result.reason if result.status == "not_applicable" else "")
        grid.add_row(exp.name, _VERDICTS[result.status], Text(figure), exp.lesson_file.name)
    return grid


def recorded(console: Console, directory: Path, count: int) -> None:
    """What ``--record DIR`` saved, and how to use it. The folder is on a line of its own, so
    that a path up to the line's width is never cut by a line break inside it (it copies
    whole; a longer one is folded, as every line is kept within the terminal's width)."""
    console.print()
    console.print(Text(f"Recorded {count} exchange{'s' if count != 1 else ''} in:", style="bold"))
    console.print(Text(f"  {directory}", style="bold"))
    console.print(Text(f"python -m mockserver --replay {directory} answers them offline."))


def error(console: Console, problem: LabError) -> None:
    console.print()
    console.print(Text(f"✗ {problem.title}", style="bold red"), soft_wrap=True)
    console.print(Text(problem.body), soft_wrap=True)


def _facts_table(facts: Facts) -> Table:
    table = Table(
        title=escape(facts.title),
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    first, *others = facts.columns
    # No no_wrap: when 80 columns are too few, a header or a cell wraps between words.
    table.add_column(escape(first), style="cyan", overflow="fold")
    for column in others:
        table.add_column(escape(column), justify="right", overflow="fold")
    for row in facts.rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


_EIGHTHS = " ▏▎▍▌▋▊▉"
BAR_WIDTH = 40


def bar(value: float, top: float, width: int = BAR_WIDTH) -> str:
    """``value`` as a bar of block characters, ``width`` cells long at ``top``."""
    if top <= 0 or value <= 0:
        return ""
    eighths = round(min(value / top, 1.0) * width * 8)
    return "█" * (eighths // 8) + (_EIGHTHS[eighths % 8] if eighths % 8 else "")


def _bars_chart(chart: Bars) -> Table:
    table = Table(
        title=escape(chart.title),
        title_justify="left",
        title_style="bold",
        box=None,
        pad_edge=False,
    )
    table.add_column(style="cyan", no_wrap=True)
    table.add_column(no_wrap=True, style="blue")
    table.add_column(justify="right", no_wrap=True)
    top = max(chart.values, default=0)
    unit = f" {chart.unit}" if chart.unit else ""
    for label, value in zip(chart.labels, chart.values, strict=True):
        table.add_row(Text(label), bar(value, top), Text(f"{value:,.0f}{unit}"))
    return table


def _bullets(lines: list[str]) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for line in lines:
        grid.add_row("•", Text(line))
    return grid


def run_document(
    *,
    target: Target,
    model: str,
    engine: EngineInfo | None,
    results: list[tuple[Experiment, Finding]],
    problem: LabError | None,
    exit_code: int,
) -> dict[str, Any]:
    """The ``--json`` output of ``lab run``."""
    return {
        "lab": {"name": "portway-lab", "version": __version__},
        "target": target.as_dict(),
        "model": model,
        "engine": engine.as_dict() if engine else None,
        "experiments": [
            {
                "name": exp.name,
                "title": exp.title,
                "lesson": exp.lesson,
                "lesson_file": str(exp.lesson_file),
                "status": result.status,
                "figure": result.figure or None,
                "reason": result.reason or None,
                "data": result.data,
                "explanation": result.explanation,
            }
            for exp, result in results
        ],
        "error": problem.as_dict() if problem else None,
        "exit_code": exit_code,
    }


def write_json(console: Console, document: dict[str, Any]) -> None:
    console.file.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    console.file.flush()


def models_table(ram_gib: float | None) -> Table:
    if ram_gib is None:
        caption = "This machine's memory could not be read, so no model is marked."
    else:
        caption = f"This machine has {ram_text(ram_gib)} of RAM. ✓ fits, ✗ needs more: {FIT_RULE}."
        best = fitting(ram_gib)
        caption += (
            f" The largest that fits: {best[0].model}."
            if best
            else " None of these fits; try the smallest and expect swapping."
        )
    caption += " Get one with: ollama pull MODEL."
    grid = Table(
        title="Post 1 models by available RAM",
        title_justify="left",
        caption=caption,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    grid.add_column("Model", no_wrap=True)
    grid.add_column("Download", justify="right", no_wrap=True)
    grid.add_column("Min RAM", justify="right", no_wrap=True)
    grid.add_column("Notes", ratio=1)
    for row in table():
        fits = row.fits(ram_gib)
        mark = {True: Text("✓ ", "green"), False: Text("✗ ", "red"), None: Text("")}[fits]
        note = row.note
        if row.model == DEFAULT_MODEL and "default" not in note.lower():
            note += " (the default)"
        grid.add_row(
            mark + Text(row.model, "bold"),
            row.approx_size,
            row.min_ram,
            note,
            style="dim" if fits is False else None,
        )
    return grid


def experiments_table(experiments: list[Experiment]) -> Table:
    defaults = ", ".join(e.name for e in experiments if e.default)
    grid = Table(
        box=box.SIMPLE_HEAD,
        title="Experiments",
        title_justify="left",
        caption=f"python -m lab run NAME ... (no name: {defaults}; --all: every one). "
        f"Each has a lesson: {lessons_folder(experiments)}{os.sep}NAME.md",
        caption_justify="left",
        pad_edge=False,
    )
    grid.add_column("Name", style="bold", no_wrap=True)
    grid.add_column("What it shows", ratio=1)
    for exp in experiments:
        grid.add_row(exp.name, Text.assemble((exp.title, "bold"), ": ", exp.summary))
    return grid
