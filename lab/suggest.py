"""``Did you mean ...?`` for a mistyped model, target or experiment name (:mod:`difflib`)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

CUTOFF = 0.6  # difflib's own default: "llama3.2:3" finds "llama3.2:3b", "mokc" finds "mock"


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice most like ``word`` (case-insensitive), or ``None`` if none is close."""
    by_folded = {choice.lower(): choice for choice in choices}
    found = difflib.get_close_matches(word.strip().lower(), by_folded, n=1, cutoff=CUTOFF)
    return by_folded[found[0]] if found else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` Did you mean X?`` (with its leading space) when one choice is close, else ``""``."""
    choices = [c for c in choices if c.strip().lower() != word.strip().lower()]
    match = closest(word, choices)
    return f" Did you mean {match}?" if match else ""
