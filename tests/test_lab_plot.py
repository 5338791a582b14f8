"""``--plot PATH``: the file is what its extension says (matplotlib), anything else is refused."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from lab import plot
from lab.cli import main

CHART = {
    "title": "History growth: gpt-oss:20b, 3 turns",
    "x_label": "request",
    "labels": ["1", "2", "3"],
    "bars": [79.0, 150.0, 221.0],
    "bar_label": "prompt_tokens per request",
    "line": [79.0, 229.0, 450.0],
    "line_label": "cumulative prompt tokens",
}
# The first bytes of each format, as its specification fixes them.
MAGIC = {
    ".png": b"\x89PNG\r\n\x1a\n",  # PNG signature (RFC 2083, 3.1)
    ".pdf": b"%PDF-",  # PDF header (ISO 32000-1, 7.5.2)
    ".svg": b"<?xml",  # matplotlib's SVG is an XML document...
}


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf", ".PNG"])
def test_the_chart_is_written_in_the_format_its_extension_names(
    suffix: str, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "charts" / f"growth{suffix}"

    assert plot.bars_and_line(path, **CHART) == path

    data = path.read_bytes()
    assert data.startswith(MAGIC[suffix.lower()])
    if suffix == ".svg":
        assert b"<svg" in data[:2000]  # ...whose root is an svg element
        assert b"History growth" in data  # text kept as text, not only as paths


def test_the_same_chart_draws_the_same_svg_bytes(tmp_path: Path) -> None:
    """No creation date, fixed ids: an SVG chart can be compared and committed."""
    pytest.importorskip("matplotlib")
    first = plot.bars_and_line(tmp_path / "a.svg", **CHART).read_bytes()
    second = plot.bars_and_line(tmp_path / "b.svg", **CHART).read_bytes()
    assert first == second
    assert b"CreationDate" not in plot.bars_and_line(tmp_path / "c.pdf", **CHART).read_bytes()


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("chart.jpg", "'.jpg' is not a chart format; use one of .png, .svg, .pdf"),
        ("chart", "no extension is not a chart format"),
        ("chart.svg.txt", "'.txt' is not a chart format"),
    ],
)
def test_an_unknown_extension_is_refused_before_any_request_with_exit_2(
    name: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # no --target reachable is needed: the check comes first
    code = main(["run", "history_growth", "--target", "http://127.0.0.1:9/v1", "--plot", name])

    assert code == 2
    assert says in capsys.readouterr().err


def test_without_matplotlib_the_lab_says_how_to_install_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else real_find_spec(name, *a),
    )

    assert main(["run", "history_growth", "--plot", "chart.png"]) == 2

    err = " ".join(capsys.readouterr().err.split())
    assert "--plot needs matplotlib, which is not installed" in err
    assert "pip install 'portway-lab[plot]'" in err


def test_matplotlib_is_not_loaded_until_a_chart_is_drawn() -> None:
    import subprocess
    import sys

    probe = "import lab.cli, lab.experiments, lab.plot, sys; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
