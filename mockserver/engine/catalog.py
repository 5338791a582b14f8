"""The models the fake knows, and which of them it "has pulled".

Names resolve as Ollama resolves them: a bare name means ``name:latest``, matching is
case-insensitive, and the client's spelling is echoed back verbatim by the wire layer.
Sizes, parameter counts and quantizations are the registry's published figures for each tag;
digests are synthetic (sha256 of the tag) except where the registry's is public.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from mockserver.engine.families import FAMILIES, Family


@dataclass(frozen=True, slots=True)
class ModelCard:
    """One tag as ``ollama list`` / ``ollama show`` describe it."""

    name: str
    family: str
    arch_family: str
    parameter_size: str
    quantization_level: str
    size: int
    context_length: int
    capabilities: tuple[str, ...]
    digest: str = ""
    min_ram_gb: float = 0.0
    note: str = ""

    @property
    def full_digest(self) -> str:
        return self.digest or hashlib.sha256(f"portway-fake/{self.name}".encode()).hexdigest()

    @property
    def full_name(self) -> str:
        """The fully qualified name Ollama prints in capability errors."""
        namespace, _, rest = self.name.rpartition("/")
        return f"registry.ollama.ai/{namespace or 'library'}/{rest}"

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities


_TEXT_TOOLS = ("completion", "tools")

# The Post 1 model table first (the default "pulled" set), then other tags of the same families.
KNOWN_MODELS: tuple[ModelCard, ...] = (
    ModelCard("llama3.2:3b", "llama3.2", "llama", "3.2B", "Q4_K_M", 2019393189, 131072,
              _TEXT_TOOLS, "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
              8, "Fastest; good for testing the contract"),
    ModelCard("gemma3:4b", "gemma3", "gemma3", "4.3B", "Q4_K_M", 3338801804, 131072,
              ("completion", "vision"), min_ram_gb=8, note="Google; solid instruction-following"),
    ModelCard("mistral:7b", "mistral", "llama", "7.2B", "Q4_0", 4113301824, 32768,
              _TEXT_TOOLS, min_ram_gb=8, note="Classic 7B baseline"),
    ModelCard("llama3.1:8b", "llama3.1", "llama", "8.0B", "Q4_K_M", 4920753328, 131072,
              _TEXT_TOOLS, min_ram_gb=9, note="Best quality under 10 GB"),
    ModelCard("qwen2.5:7b", "qwen2.5", "qwen2", "7.6B", "Q4_K_M", 4683087332, 32768,
              _TEXT_TOOLS, min_ram_gb=9, note="Strong at instruction + reasoning"),
    ModelCard("qwen2.5:3b", "qwen2.5", "qwen2", "3.1B", "Q4_K_M", 1929912432, 32768,
              _TEXT_TOOLS, min_ram_gb=4, note="Small alternative"),
    ModelCard("gpt-oss:20b", "gptoss", "gptoss", "20.9B", "MXFP4", 13780173734, 131072,
              ("completion", "tools", "thinking"), min_ram_gb=24, note="The default"),
)
TABLE_MODELS: tuple[str, ...] = tuple(card.name for card in KNOWN_MODELS)

# Release date of the fake's catalog: every model's modified_at (deterministic listings).
_MODIFIED_AT = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)


def family_of(card: ModelCard) -> Family | None:
    return FAMILIES.get(card.family)


class Catalog:
    """The pulled models: the ones named at start-up whose family the engine can count."""

    def __init__(self, pulled: tuple[str, ...] | None = None) -> None:
        wanted = pulled if pulled is not None else TABLE_MODELS
        by_name = {card.name: card for card in KNOWN_MODELS}
        cards: list[ModelCard] = []
        for name in wanted:
            card = by_name.get(_canonical(name))
            if card is None:
                raise ValueError(
                    f"unknown model {name!r}; the fake knows: {', '.join(by_name)}"
                )
            if family_of(card) is not None:
                cards.append(card)
        self.cards: tuple[ModelCard, ...] = tuple(cards)
        self._by_name = {card.name.lower(): card for card in cards}

    def find(self, name: str) -> ModelCard | None:
        return self._by_name.get(_canonical(name).lower())

    @property
    def modified_at(self) -> datetime:
        return _MODIFIED_AT

    def __iter__(self):
        return iter(self.cards)


def _canonical(name: str) -> str:
    name = name.strip()
    if ":" not in name.rpartition("/")[2]:
        name += ":latest"
    return name


def unavailable_models(names: tuple[str, ...]) -> list[str]:
    """Known models whose family's exact counting is not implemented yet."""
    by_name = {card.name: card for card in KNOWN_MODELS}
    return [n for n in names if (c := by_name.get(_canonical(n))) and family_of(c) is None]
