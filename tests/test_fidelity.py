"""Every published real-Ollama count in the reference set, matched exactly.

Each case runs three times: through ``Engine.chat``, through ``/v1/chat/completions`` and
through the native endpoint the measurement used (``/api/generate`` or ``/api/chat``), on a real
socket. A ``generate`` case is a chat with its one user message (plus the model's default
system prompt, which the engine adds). Model names are the ones the measurements report
(``llama3.2``, ``qwen2.5:3b-instruct``...), so the fake pulls those tags.

The cases are read from ``lab/data/fidelity-cases.json`` (package data: ``lab fidelity`` sends
them too), a verbatim copy of ``shared/reference/fidelity-cases.json`` kept in the repository so
that the tests do not need the shared checkout; when the shared copy is present, the two must be
identical.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from mockserver.config import Settings
from mockserver.engine.catalog import TABLE_MODELS, Catalog
from mockserver.engine.chat import ChatRequest, Message
from mockserver.engine.engine import Engine
from mockserver.server import BackgroundServer, serving

LOCAL_CASES = Path(__file__).parents[1] / "lab" / "data" / "fidelity-cases.json"
SHARED_CASES = Path(__file__).parents[1].parent / "shared" / "reference" / "fidelity-cases.json"
CASES: list[dict[str, Any]] = json.loads(LOCAL_CASES.read_text("utf-8"))
DEFAULT_DATE = "2026-03-23"
# Every table model plus every tag the measurements name.
MODELS = tuple(dict.fromkeys((*TABLE_MODELS, *(case["model_as_reported"] for case in CASES))))


def _date(case: dict[str, Any]) -> str:
    return case.get("current_date", DEFAULT_DATE)


def _messages(case: dict[str, Any]) -> tuple[Message, ...]:
    return tuple(Message(role=m["role"], content=m["content"]) for m in case["messages"])


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, BackgroundServer]]:
    """One fake per current date the cases need (gpt-oss prompts carry the date)."""
    with serving(Settings(port=0, models=MODELS, current_date=DEFAULT_DATE, seed=7)) as first:
        running = {DEFAULT_DATE: first}
        try:
            for date in sorted({_date(case) for case in CASES} - {DEFAULT_DATE}):
                settings = Settings(port=0, models=MODELS, current_date=date, seed=7)
                running[date] = BackgroundServer(settings).start()
            yield running
        finally:
            for date, server in running.items():
                if date != DEFAULT_DATE:
                    server.stop()


def test_local_copy_matches_shared_reference() -> None:
    if not SHARED_CASES.exists():
        pytest.skip(f"no shared reference at {SHARED_CASES}")
    assert LOCAL_CASES.read_bytes() == SHARED_CASES.read_bytes()


def test_every_family_has_a_case() -> None:
    families = {Catalog(MODELS).find(case["model_as_reported"]).family for case in CASES}
    assert families == {"llama3.2", "llama3.1", "qwen2.5", "gemma3", "mistral", "gptoss"}


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_engine_count(case: dict[str, Any]) -> None:
    engine = Engine(Catalog(MODELS), current_date=_date(case))
    result = engine.chat(
        ChatRequest(
            model=case["model_as_reported"],
            messages=_messages(case),
            tools=tuple(case.get("tools", ())),
        )
    )
    assert result.prompt.tokens == case["prompt_tokens"]
    # Nothing was cut to fit the window: every message is in the prompt, no token was dropped.
    assert all(m["content"] in result.prompt.text for m in case["messages"])
    assert not result.prompt.token_truncated


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_openai_endpoint_count(case: dict[str, Any], servers: dict[str, BackgroundServer]) -> None:
    client = openai.OpenAI(base_url=servers[_date(case)].openai_url, api_key="x", max_retries=0)
    extra: dict[str, Any] = {"tools": case["tools"]} if case.get("tools") else {}
    response = client.chat.completions.create(
        model=case["model_as_reported"], messages=case["messages"], **extra
    )
    assert response.model == case["model_as_reported"]
    assert response.usage is not None
    assert response.usage.prompt_tokens == case["prompt_tokens"]
    assert response.usage.total_tokens == case["prompt_tokens"] + response.usage.completion_tokens


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_native_endpoint_count(case: dict[str, Any], servers: dict[str, BackgroundServer]) -> None:
    """The endpoint the measurement used: ``/api/generate`` with a prompt, else ``/api/chat``."""
    url = servers[_date(case)].url
    (last,) = [m for m in case["messages"] if m["role"] == "user"]
    system = "\n\n".join(m["content"] for m in case["messages"] if m["role"] == "system")
    if case["endpoint"] == "generate":
        body: dict[str, Any] = {"model": case["model_as_reported"], "prompt": last["content"]}
        if system:
            body["system"] = system
        response = httpx.post(f"{url}/api/generate", json={**body, "stream": False}, timeout=30)
    else:
        body = {"model": case["model_as_reported"], "messages": case["messages"], "stream": False}
        if case.get("tools"):
            body["tools"] = case["tools"]
        response = httpx.post(f"{url}/api/chat", json=body, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["prompt_eval_count"] == case["prompt_tokens"]
