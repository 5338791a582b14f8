"""``--plot PATH``: history_growth's chart, drawn with matplotlib in the format PATH names.

Bars for prompt_tokens per request (left axis), a line for the cumulative tokens sent (right
axis). ``.png``, ``.svg`` and ``.pdf`` are written by matplotlib's own backends, so the file is
what its extension says. matplotlib is the optional extra ``plot`` (``pip install
'portway-lab[plot]'``) and is imported only when a chart is drawn, with the non-interactive Agg
canvas (no window, no display needed).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
INSTALL_HINT = (
    "pip install 'portway-lab[plot]' (or uv pip install 'portway-lab[plot]'; from a clone: "
    "pip install -e '.[plot]')"
)
BAR_COLOUR, LINE_COLOUR = "#4c78a8", "#e45756"


class PlotProblem(ValueError):
    """``--plot`` cannot be honoured: an unknown extension, or matplotlib is not installed."""


def check(path: Path) -> str:
    """The format ``path`` asks for; :class:`PlotProblem` before any request is made if not."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(FORMATS)
        named = f"{suffix!r}" if suffix else "no extension"
        raise PlotProblem(f"--plot {path}: {named} is not a chart format; use one of {known}")
    if importlib.util.find_spec("matplotlib") is None:
        raise PlotProblem(f"--plot needs matplotlib, which is not installed: {INSTALL_HINT}")
    return FORMATS[suffix]


def bars_and_line(
    path: Path,
    *,
    title: str,
    x_label: str,
    labels: Sequence[str],
    bars: Sequence[float],
    bar_label: str,
    line: Sequence[float],
    line_label: str,
) -> Path:
    """Draw ``bars`` (left axis) and ``line`` (right axis), one x per label; write ``path``."""
    if not (len(labels) == len(bars) == len(line)) or not labels:
        raise ValueError("labels, bars and line must be equally long and not empty")
    fmt = check(path)
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.2, 4.2), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)  # no pyplot: no global state, no display
    left = figure.add_subplot()
    xs = range(len(labels))
    left.bar(xs, bars, color=BAR_COLOUR, alpha=0.85, label=bar_label)
    left.set_xticks(list(xs), list(labels))
    left.set_xlabel(x_label)
    left.set_ylabel(f"{bar_label} (bars)", color=BAR_COLOUR)
    left.grid(axis="y", color="#e6e6e6")
    left.set_axisbelow(True)
    right = left.twinx()
    right.plot(xs, line, color=LINE_COLOUR, linewidth=2.5, marker="o", label=line_label)
    right.set_ylabel(f"{line_label} (line)", color=LINE_COLOUR)
    right.set_ylim(bottom=0)
    figure.suptitle(title, fontweight="bold")
    path.parent.mkdir(parents=True, exist_ok=True)
    # No creation date and fixed SVG ids in the file: the same figures draw the same bytes.
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt, {})
    with matplotlib.rc_context({"svg.hashsalt": "portway-lab"}):
        figure.savefig(path, format=fmt, metadata=metadata)
    return path
