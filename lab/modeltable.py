"""The Post 1 model table, and which of its models fit this machine.

The rows come from the fake's catalog (:data:`mockserver.engine.catalog.KNOWN_MODELS`), which
carries each tag's published size, the table's minimum RAM and its note, so the table the lab
prints and the models the fake serves cannot drift apart. The catalog is read on first use
(:func:`table`), so commands that never show the table do not load it.

One rule decides whether a model fits, :meth:`TableRow.fits`, and one sentence states it,
:data:`FIT_RULE`: ``lab models`` prints it under the table and the missing-model paragraph
(:func:`memory_advice`) uses the same words and the same figures.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from lab import machine

DEFAULT_MODEL = "gpt-oss:20b"

# A machine sold as "24 GB" reports a little less (firmware, kernel and GPU reservations: this
# one reads 23.5), so a model fits when the machine has at least 90 % of the table's minimum.
RAM_TOLERANCE = 0.9
FIT_RULE = (
    f"a model fits when this machine has at least {RAM_TOLERANCE:.0%} of its minimum RAM "
    "(a machine sold as 24 GB reports about 23.5 GB)"
)


@dataclass(frozen=True, slots=True)
class TableRow:
    model: str
    size_bytes: int
    min_ram_gb: float
    note: str

    @property
    def pull_command(self) -> str:
        return f"ollama pull {self.model}"

    @property
    def approx_size(self) -> str:
        """Download size as Ollama prints it (decimal GB)."""
        return f"~{self.size_bytes / 1e9:.1f} GB"

    @property
    def min_ram(self) -> str:
        return f"{self.min_ram_gb:g} GB"

    def fits(self, ram_gib: float | None) -> bool | None:
        """Whether the model fits ``ram_gib`` of memory (:data:`FIT_RULE`); ``None`` if unknown."""
        if ram_gib is None:
            return None
        return ram_gib >= self.min_ram_gb * RAM_TOLERANCE

    def as_dict(self, ram_gib: float | None) -> dict[str, object]:
        return {
            "model": self.model,
            "pull_command": self.pull_command,
            "size_bytes": self.size_bytes,
            "approx_size": self.approx_size,
            "min_ram_gb": self.min_ram_gb,
            "notes": self.note,
            "fits": self.fits(ram_gib),
        }


@functools.cache
def table() -> tuple[TableRow, ...]:
    """The Post 1 table's rows, in the table's order."""
    from mockserver.engine.catalog import KNOWN_MODELS, TABLE_MODELS

    cards = {card.name: card for card in KNOWN_MODELS}
    return tuple(
        TableRow(card.name, card.size, card.min_ram_gb, card.note)
        for card in (cards[name] for name in TABLE_MODELS)
    )


def row_for(model: str) -> TableRow | None:
    from lab.ollama import same_model

    return next((row for row in table() if same_model(row.model, model)), None)


def fitting(ram_gib: float | None) -> list[TableRow]:
    """Table models that fit, largest first (the best one this machine can run leads)."""
    rows = [row for row in table() if row.fits(ram_gib)]
    return sorted(rows, key=lambda row: (row.min_ram_gb, row.size_bytes), reverse=True)


def ram_text(ram_gib: float) -> str:
    """This machine's memory as every message prints it: ``23.5 GB``."""
    return f"{ram_gib:.1f} GB"


def memory_advice(model: str, ram_gib: float | None = None) -> str:
    """What the missing-model paragraph says about memory: size, need, this machine, the rule."""
    ram_gib = machine.total_ram_gib() if ram_gib is None else ram_gib
    row = row_for(model)
    parts: list[str] = []
    if row is not None:
        parts.append(f"It is a {row.approx_size} download and wants {row.min_ram} of RAM.")
    if ram_gib is None:
        parts.append(
            "This machine's memory could not be read; python -m lab models shows the table."
        )
        return " ".join(parts)
    have = f"This machine has {ram_text(ram_gib)} of RAM"
    if row is not None:
        verdict = "fits" if row.fits(ram_gib) else "does not fit"
        parts.append(f"{have}, so {model} {verdict} ({FIT_RULE}).")
    else:
        parts.append(f"{have}.")
    fit = fitting(ram_gib)
    if fit:
        parts.append(
            "Models of the Post 1 table that fit: "
            + ", ".join(r.model for r in fit)
            + " (python -m lab models for the table)."
        )
    else:
        parts.append("None of the Post 1 table's models fits; try a smaller model.")
    return " ".join(parts)
