"""Every table the lab prints stays readable at 80 columns: a default terminal, a CI log.

Rendered with ``Console(width=80, record=True)``: no line is wider than 80 cells, and every word
of every header and cell appears whole (a cut header, ``ch…``, or a word folded across lines
fails).
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from rich.console import Console

from lab import engines, machine, report
from lab.context import Lab, sdk_client
from lab.experiment import Bars, Experiment, Facts, Finding, registered
from lab.ollama import EngineInfo
from lab.targets import resolve
from mockserver.server import BackgroundServer

WIDTH = 80
FAKE = EngineInfo(engines.FAKE, "0.1.0", "0.32.15")


def at_80_columns() -> Console:
    return Console(width=WIDTH, record=True, file=io.StringIO(), highlight=False)


def rendered(draw) -> str:
    console = at_80_columns()
    draw(console)
    return console.export_text()


def assert_readable(text: str, words: list[str]) -> None:
    too_wide = [line for line in text.splitlines() if len(line.rstrip()) > WIDTH]
    assert not too_wide, too_wide
    missing = [word for word in words if word not in text]
    assert not missing, f"cut or folded at {WIDTH} columns: {missing}\n{text}"


def words_of(*cells: str) -> list[str]:
    return [word for cell in cells for word in cell.split()]


@pytest.fixture(scope="module")
def findings(fake: BackgroundServer) -> Iterator[list[tuple[Experiment, Finding]]]:
    """Every experiment, run once against the fake."""
    lab = Lab(
        client=sdk_client(fake.openai_url, "ollama", 60),
        model="gpt-oss:20b",
        console=Console(file=io.StringIO()),
        target=resolve(fake.openai_url),
        engine=FAKE,
        timeout=60,
        progress=False,
    )
    try:
        yield [(experiment, experiment.run(lab)) for experiment in registered()]
    finally:
        lab.close()


@pytest.mark.parametrize("name", [e.name for e in registered()])
def test_each_experiments_tables_are_whole_at_80_columns(
    name: str, findings: list[tuple[Experiment, Finding]]
) -> None:
    experiment, finding = next((e, f) for e, f in findings if e.name == name)
    text = rendered(lambda console: report.finding(console, experiment, finding))

    words: list[str] = []
    for item in finding.show:
        if isinstance(item, Facts):
            words += words_of(item.title, *item.columns, *(c for row in item.rows for c in row))
        elif isinstance(item, Bars):
            words += words_of(item.title, *item.labels)
    assert_readable(text, words)


def test_the_summary_is_whole_at_80_columns(findings: list[tuple[Experiment, Finding]]) -> None:
    text = rendered(lambda console: report.summary(console, findings))

    assert_readable(
        text,
        ["experiment", "verdict", "key", "figure", "lesson"]
        + [e.name for e, _ in findings]
        + [e.lesson_file.name for e, _ in findings]
        + words_of(*(f.figure for _, f in findings)),
    )
    assert all(finding.figure for _, finding in findings)  # every experiment has its figure


def test_lab_list_is_whole_at_80_columns() -> None:
    experiments = registered()
    text = rendered(lambda console: console.print(report.experiments_table(experiments)))

    assert_readable(text, words_of(*(f"{e.name} {e.title}: {e.summary}" for e in experiments)))
    summaries = [line for line in text.splitlines() if line.strip()]
    assert len(summaries) <= 4 * len(experiments)  # not three words a line


@pytest.mark.parametrize("ram_gib", [9.0, 23.5, None])
def test_lab_models_is_whole_at_80_columns(ram_gib: float | None) -> None:
    from lab.modeltable import table

    text = rendered(lambda console: console.print(report.models_table(ram_gib)))

    rows = table()
    assert_readable(
        text, words_of(*(f"{r.model} {r.approx_size} {r.min_ram} {r.note}" for r in rows))
    )


def test_lab_models_on_this_machine_is_whole_at_80_columns() -> None:
    text = rendered(lambda console: console.print(report.models_table(machine.total_ram_gib())))
    assert_readable(text, ["Model", "Download", "Min", "RAM", "Notes"])


def test_lab_report_is_whole_at_80_columns_and_says_what_it_recorded(
    fake: BackgroundServer, tmp_path
) -> None:
    """``lab report``: every contract point's title and the headers whole; ``--record`` says
    where the exchanges went and how many."""
    from lab.conformance import POINTS, ReportOptions, run_report

    out = at_80_columns()
    options = ReportOptions(
        target=resolve(fake.openai_url),
        model="gpt-oss:20b",
        api_key="ollama",
        timeout=60,
        record=tmp_path / "rec",
    )
    assert run_report(options, out=out, err=at_80_columns()) == 0
    text = out.export_text()
    assert_readable(text, words_of("Contract point", "Result", "Evidence"))
    assert_readable(text, [word for point in POINTS for word in point.title.split()])
    saved = len(list((tmp_path / "rec").iterdir()))
    squeezed = "".join(text.split())  # a path longer than its line is folded, not cut short
    assert saved > 0 and f"Recorded{saved}exchangesin:{tmp_path / 'rec'}python-m" in squeezed
