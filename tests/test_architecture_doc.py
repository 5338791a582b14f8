"""ARCHITECTURE.md stays one true screen: short, and every file it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
# Where a bare name is looked for: the doc follows a request through these packages.
HOMES = [
    "",
    "mockserver",
    "mockserver/engine",
    "mockserver/engine/templates",
    "lab",
    "lab/series",
    "tools",
]
NAMED = sorted(set(re.findall(r"[\w<>/.-]+\.(?:py|gotmpl|json|md)\b", DOC)))


def exists(name: str) -> bool:
    pattern = re.sub(r"<[a-z-]+>", "*", name)
    return any(list((ROOT / home).glob(pattern)) for home in HOMES)


def test_the_architecture_page_fits_one_screen() -> None:
    assert len(DOC.splitlines()) <= 60
    assert max(map(len, DOC.splitlines())) <= 100


def test_every_file_the_architecture_page_names_exists() -> None:
    assert len(NAMED) > 30  # the page names the files, it does not only describe them
    assert [name for name in NAMED if not exists(name)] == []
