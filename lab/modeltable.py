"""The Post 1 model table, and which of its models fit this machine.

The rows come from the fake's catalog (:data:`mockserver.engine.catalog.KNOWN_MODELS`), which
carries each tag's published size, the table's minimum RAM and its note, so the table the lab
prints and the models the fake serves cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from mockserver.engine.catalog import KNOWN_MODELS, TABLE_MODELS, ModelCard

DEFAULT_MODEL = "gpt-oss:20b"

# A machine sold as "8 GB" reports a little less (firmware and GPU reservations), so the check
# allows 10 % below the table's figure.
RAM_TOLERANCE = 0.9


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
        """Whether the model fits ``ram_gib`` of memory; ``None`` when memory is unknown."""
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


def _row(card: ModelCard) -> TableRow:
    return TableRow(card.name, card.size, card.min_ram_gb, card.note)


_CARDS = {card.name: card for card in KNOWN_MODELS}
TABLE: tuple[TableRow, ...] = tuple(_row(_CARDS[name]) for name in TABLE_MODELS)


def row_for(model: str) -> TableRow | None:
    from lab.ollama import same_model

    return next((row for row in TABLE if same_model(row.model, model)), None)


def fitting(ram_gib: float | None) -> list[TableRow]:
    """Table models that fit, largest first (the best one this machine can run leads)."""
    rows = [row for row in TABLE if row.fits(ram_gib)]
    return sorted(rows, key=lambda row: (row.min_ram_gb, row.size_bytes), reverse=True)
