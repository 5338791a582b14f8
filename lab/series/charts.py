"""The charts of Posts 6 and 7 (``lab post 6 7 --plot DIR``), drawn as :mod:`lab.plot` draws:
matplotlib's Agg canvas, no pyplot, no dates in the file; matplotlib (the ``plot`` extra) is
imported only here, when a chart is drawn."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lab import plot

COLOURS = ("#4c78a8", "#e45756", "#54a24b", "#f58518", "#b279a2", "#72b7b2")


def _figure(width: float = 7.2, height: float = 4.2) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, path: Path) -> Path:
    import matplotlib

    fmt = plot.check(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt, {})
    with matplotlib.rc_context({"svg.hashsalt": "portway-lab"}):
        figure.savefig(path, format=fmt, metadata=metadata)
    return path


def ttft_against_clients(path: Path, runs: Sequence[dict[str, Any]]) -> Path:
    """Post 7: TTFT p50 (solid) and p95 (dashed) against clients, one colour per run (a
    ``load`` experiment's data); TTFT p50 relative to the first level (the shape); total
    tokens/s."""
    plot.check(path)
    figure = _figure(13.2, 4.2)
    left, middle, right = figure.subplots(1, 3)
    for colour, run in zip(COLOURS, runs, strict=False):
        label = str(run.get("label") or run["backend"]["model"])
        levels = [r for r in run["levels"] if r["ttft_ms"]["p50"] is not None]
        xs = [r["clients"] for r in levels]
        left.plot(xs, [r["ttft_ms"]["p50"] for r in levels], color=colour, marker="o",
                  label=f"{label} p50")  # fmt: skip
        left.plot(xs, [r["ttft_ms"]["p95"] for r in levels], color=colour, marker="^",
                  linestyle="--", label=f"{label} p95")  # fmt: skip
        right.plot(xs, [r["total_tokens_per_s"] or 0 for r in levels], color=colour, marker="o",
                   label=label)  # fmt: skip
        if levels:  # the shape, whatever the machine's speed
            base = levels[0]["ttft_ms"]["p50"] or 1.0
            middle.plot(xs, [r["ttft_ms"]["p50"] / base for r in levels], color=colour,
                        marker="o", label=label)  # fmt: skip
    ticks = sorted({r["clients"] for run in runs for r in run["levels"]})
    for axes, title, unit in ((left, "Time to first token", "ms"),
                              (middle, "TTFT p50 / TTFT p50 of the first level", "ratio"),
                              (right, "Total generated tokens/s", "tokens/s")):  # fmt: skip
        axes.set_xticks(ticks)
        axes.set_title(title)
        axes.set_xlabel("concurrent streaming clients")
        axes.set_ylabel(unit)
        axes.set_ylim(bottom=0)
        axes.grid(color="#e6e6e6")
        axes.legend(fontsize=8)
    figure.suptitle("Post 7 · latency under load", fontweight="bold")
    return _save(figure, path)


def tokens_per_turn(path: Path, window: int, series: Sequence[tuple[str, Sequence[int | None]]],
                    refused_at: int | None = None) -> Path:  # fmt: skip
    """Post 6: prompt tokens sent per turn by each strategy, and the context window's line."""
    plot.check(path)
    figure = _figure()
    axes = figure.add_subplot()
    for index, (colour, (label, values)) in enumerate(zip(COLOURS, series, strict=False)):
        points = [(turn, v) for turn, v in enumerate(values, start=1) if v is not None]
        if points:  # wider lines first: a strategy that sends the same as another still shows
            axes.plot([t for t, _ in points], [v for _, v in points], color=colour,
                      marker=".", label=label, linewidth=max(4.5 - 1.2 * index, 1.2))  # fmt: skip
    axes.axhline(window, color="#333333", linestyle="--", linewidth=1.5,
                 label=f"context window ({window:,})")  # fmt: skip
    if refused_at:
        axes.axvline(refused_at, color="#999999", linestyle=":",
                     label=f"llama-server refuses (turn {refused_at})")  # fmt: skip
    axes.set_xlabel("turn")
    axes.set_ylabel("prompt tokens of the request")
    axes.set_ylim(bottom=0)
    axes.grid(color="#e6e6e6")
    axes.legend(fontsize=8)
    figure.suptitle("Post 6 · a 50-turn thread and the context window", fontweight="bold")
    return _save(figure, path)
