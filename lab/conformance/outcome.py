"""What a contract point comes to: ``pass``, ``fail`` or ``n/a``, with the evidence in words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["pass", "fail", "n/a"]
PASS: Status = "pass"
FAIL: Status = "fail"
NA: Status = "n/a"
EXCERPT = 160  # the longest excerpt of what a server sent that evidence quotes


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Status
    evidence: str


def passed(evidence: str) -> Outcome:
    return Outcome(PASS, evidence)


def failed(evidence: str) -> Outcome:
    return Outcome(FAIL, evidence)


def not_applicable(reason: str) -> Outcome:
    return Outcome(NA, reason)


class Failed(Exception):
    """Raised inside a check: the point fails with this evidence."""


def cut(text: str, limit: int = EXCERPT) -> str:
    """``text`` on one line, at most ``limit`` characters (an ellipsis marks the cut)."""
    text = " ".join(text.split()) if "\n" in text else text
    return text if len(text) <= limit else text[: limit - 1] + "…"
