"""A small, self-contained SVG chart, written by hand: bars for one series, a line for another.

Used by ``history_growth --plot PATH``: prompt_tokens per request as bars (left axis) and the
cumulative tokens sent as a line (right axis). No plotting library; the file opens in any browser.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 720, 420
LEFT, RIGHT, TOP, BOTTOM = 72, 84, 56, 64
BAR_COLOUR, LINE_COLOUR, INK, GRID = "#4c78a8", "#e45756", "#333333", "#e6e6e6"


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``top`` (steps of 1, 2, 2.5 or 5 times 10^k)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    ticks = [0.0]
    while ticks[-1] < top:
        ticks.append(ticks[-1] + step)
    return ticks


def bars_and_line_svg(
    *,
    title: str,
    x_label: str,
    labels: Sequence[str],
    bars: Sequence[float],
    bar_label: str,
    line: Sequence[float],
    line_label: str,
) -> str:
    """The SVG document: ``bars`` on the left axis, ``line`` on the right, one x per label."""
    if not (len(labels) == len(bars) == len(line)) or not labels:
        raise ValueError("labels, bars and line must be equally long and not empty")
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    left_ticks, right_ticks = nice_ticks(max(bars)), nice_ticks(max(line))
    left_top, right_top = left_ticks[-1], right_ticks[-1]
    slot = plot_w / len(labels)

    def y(value: float, top: float) -> float:
        return TOP + plot_h - value / top * plot_h

    def x(i: int) -> float:
        return LEFT + slot * (i + 0.5)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Helvetica, Arial, sans-serif" '
        f'font-size="12" fill="{INK}">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2:.1f}" y="28" text-anchor="middle" font-size="16" '
        f'font-weight="bold">{escape(title)}</text>',
    ]
    for tick in left_ticks:  # grid and left axis labels
        ty = y(tick, left_top)
        out.append(
            f'<line x1="{LEFT}" y1="{ty:.1f}" x2="{LEFT + plot_w}" y2="{ty:.1f}" stroke="{GRID}"/>'
        )
        out.append(
            f'<text x="{LEFT - 8}" y="{ty + 4:.1f}" text-anchor="end" fill="{BAR_COLOUR}">'
            f"{tick:,.0f}</text>"
        )
    for tick in right_ticks:
        ty = y(tick, right_top)
        out.append(
            f'<text x="{LEFT + plot_w + 8}" y="{ty + 4:.1f}" fill="{LINE_COLOUR}">'
            f"{tick:,.0f}</text>"
        )
    for i, (label, value) in enumerate(zip(labels, bars, strict=True)):
        top_y = y(value, left_top)
        out.append(
            f'<rect x="{x(i) - slot * 0.3:.1f}" y="{top_y:.1f}" width="{slot * 0.6:.1f}" '
            f'height="{TOP + plot_h - top_y:.1f}" fill="{BAR_COLOUR}" opacity="0.85">'
            f"<title>{escape(label)}: {value:,.0f} {escape(bar_label)}</title></rect>"
        )
        out.append(
            f'<text x="{x(i):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    points = " ".join(f"{x(i):.1f},{y(v, right_top):.1f}" for i, v in enumerate(line))
    out.append(
        f'<polyline points="{points}" fill="none" stroke="{LINE_COLOUR}" stroke-width="2.5"/>'
    )
    for i, value in enumerate(line):
        out.append(
            f'<circle cx="{x(i):.1f}" cy="{y(value, right_top):.1f}" r="3.5" '
            f'fill="{LINE_COLOUR}"><title>{escape(labels[i])}: {value:,.0f} '
            f"{escape(line_label)}</title></circle>"
        )
    bottom = TOP + plot_h
    out += [
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="{INK}"/>',
        f'<line x1="{LEFT + plot_w}" y1="{TOP}" x2="{LEFT + plot_w}" y2="{bottom}" '
        f'stroke="{INK}"/>',
        f'<line x1="{LEFT}" y1="{bottom}" x2="{LEFT + plot_w}" y2="{bottom}" stroke="{INK}"/>',
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 18}" text-anchor="middle">'
        f"{escape(x_label)}</text>",
        f'<text transform="translate(18 {TOP + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle" fill="{BAR_COLOUR}">{escape(bar_label)} (bars)</text>',
        f'<text transform="translate({WIDTH - 14} {TOP + plot_h / 2:.1f}) rotate(90)" '
        f'text-anchor="middle" fill="{LINE_COLOUR}">{escape(line_label)} (line)</text>',
        "</svg>",
    ]
    return "\n".join(out) + "\n"


def write_svg(path: Path, document: str) -> Path:
    """Write ``document`` to ``path`` (creating its folder) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document, encoding="utf-8")
    return path
