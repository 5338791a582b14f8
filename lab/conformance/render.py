"""How a report looks: the rich table, ``report.md`` and ``report.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from lab import __version__
from lab.conformance.checks import Row
from lab.conformance.outcome import FAIL, NA, PASS
from lab.ollama import EngineInfo
from lab.targets import Target


@dataclass(slots=True)
class Report:
    target: Target
    model: str
    engine: EngineInfo
    rows: list[Row]
    date: str

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for r in self.rows if r.outcome.status == s) for s in (PASS, FAIL, NA)}

    def summary(self) -> str:
        counts = self.counts()
        return f"{counts[PASS]} pass · {counts[FAIL]} fail · {counts[NA]} n/a"

    def as_dict(self) -> dict[str, Any]:
        return {
            "lab": {"name": "portway-lab", "version": __version__},
            "target": self.target.as_dict(),
            "engine": self.engine.as_dict(),
            "model": self.model,
            "date": self.date,
            "summary": self.counts(),
            "points": [row.as_dict() for row in self.rows],
        }


_STYLE = {PASS: ("✓ pass", "green"), FAIL: ("✗ fail", "bold red"), NA: ("– n/a", "yellow")}


def table(result: Report) -> Table:
    grid = Table(
        title=f"OpenAI-compatible conformance: {result.model} on {result.target.openai_url}",
        title_justify="left",
        title_style="bold",
        caption=f"{result.engine.describe()} · {result.date} · {result.summary()}",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
    )
    grid.add_column("#", justify="right", style="dim", no_wrap=True)
    grid.add_column("Contract point", ratio=2)
    grid.add_column("Result", no_wrap=True)
    grid.add_column("Evidence", ratio=3, overflow="fold")
    for number, row in enumerate(result.rows, 1):
        label, style = _STYLE[row.outcome.status]
        grid.add_row(
            str(number), Text(row.point.title), Text(label, style), Text(row.outcome.evidence)
        )
    return grid


def markdown(result: Report) -> str:
    counts = result.counts()
    lines = [
        "# OpenAI-compatible conformance report",
        "",
        f"- **target**: `{result.target.openai_url}` ({result.target.kind})",
        f"- **engine**: {result.engine.describe()}",
        f"- **model**: `{result.model}`",
        f"- **date**: {result.date}",
        f"- **lab**: portway-lab {__version__}",
        f"- **result**: {counts[PASS]} pass, {counts[FAIL]} fail, {counts[NA]} not applicable",
        "",
        "| # | Contract point | Result | Evidence |",
        "|---:|---|---|---|",
    ]
    for number, row in enumerate(result.rows, 1):
        lines.append(
            f"| {number} | {_md(row.point.title)} | {row.outcome.status} "
            f"| {_md(row.outcome.evidence)} |"
        )
    return "\n".join(lines) + "\n"


def write_files(result: Report, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    md, js = directory / "report.md", directory / "report.json"
    md.write_text(markdown(result), "utf-8")
    js.write_text(json.dumps(result.as_dict(), indent=2, ensure_ascii=False) + "\n", "utf-8")
    return [md, js]


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
