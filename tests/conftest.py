"""Shared fixtures: the fake on a real loopback socket, and SDK clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from mockserver.config import Settings
from mockserver.server import BackgroundServer, serving

# The date of the public gpt-oss reference case G1; fixed so that counts are reproducible.
REFERENCE_DATE = "2026-03-23"


@pytest.fixture(scope="session")
def fake() -> Iterator[BackgroundServer]:
    """One fake for the whole session, every table model pulled, date pinned."""
    with serving(Settings(port=0, current_date=REFERENCE_DATE, seed=7)) as server:
        yield server


@pytest.fixture
def client(fake: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.openai_url, api_key="ollama", max_retries=0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` (each several seconds: worker processes, the open-file limit,
    whole tokenizer arrays, tracemalloc) run with ``PORTWAY_SLOW=1``, as ``nox -s slow`` and
    CI run them; the default suite stays under two minutes on two cores."""
    import os

    if os.environ.get("PORTWAY_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: PORTWAY_SLOW=1 or nox -s slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
