"""How results look: rich panels and tables on a terminal, one JSON document with ``--json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from lab import __version__
from lab.errors import LabError
from lab.experiment import Answer, Bars, Experiment, Facts, Finding
from lab.modeltable import DEFAULT_MODEL, TABLE, fitting
from lab.ollama import EngineInfo
from lab.targets import Target

REPO_ROOT = Path(__file__).resolve().parent.parent

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
    if (REPO_ROOT / experiment.lesson).exists():
        console.print(Text(f"Lesson: {experiment.lesson}", style="dim"))


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
        min_width=len(facts.title) + 2,
    )
    first, *others = facts.columns
    table.add_column(escape(first), style="cyan", no_wrap=True)
    for column in others:
        table.add_column(escape(column), justify="right", no_wrap=True)
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
    table = Table(title=escape(chart.title), title_justify="left", title_style="bold", box=None)
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
                "status": result.status,
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
        caption = f"This machine has {ram_gib:.1f} GB of RAM. ✓ = fits, ✗ = needs more memory."
        best = fitting(ram_gib)
        caption += (
            f" The largest that fits: {best[0].model}."
            if best
            else " None of these fits; try the smallest and expect swapping."
        )
    table = Table(
        title="Post 1 models by available RAM",
        title_justify="left",
        caption=caption,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("Model", no_wrap=True)
    table.add_column("Pull command", style="cyan", no_wrap=True)
    table.add_column("Size", justify="right", no_wrap=True)
    table.add_column("Min RAM", justify="right", no_wrap=True)
    table.add_column("Notes", ratio=1, overflow="fold")
    for row in TABLE:
        fits = row.fits(ram_gib)
        mark = {True: Text("✓ ", "green"), False: Text("✗ ", "red"), None: Text("")}[fits]
        note = row.note
        if row.model == DEFAULT_MODEL and "default" not in note.lower():
            note += " (the default)"
        table.add_row(
            mark + Text(row.model, "bold"),
            row.pull_command,
            row.approx_size,
            row.min_ram,
            note,
            style="dim" if fits is False else None,
        )
    return table


def experiments_table(experiments: list[Experiment]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title="Experiments", title_justify="left")
    table.add_column("Name", style="bold", no_wrap=True)
    table.add_column("What it shows")
    table.add_column("Lesson", style="dim", no_wrap=True)
    for exp in experiments:
        table.add_row(exp.name, f"{exp.title}: {exp.summary}", exp.lesson)
    return table
