"""Each Python renderer agrees with its registry template text, run by Go's text/template.

``mockserver/engine/templates/*.gotmpl`` are the Go templates ``/api/show`` serves. Here each is
executed by Go's own ``text/template`` (``tests/gotemplate/render.go``, a small harness that
passes the template what Ollama's ``template.Execute`` passes: the collated messages, the
template-side tool types, the think values, Ollama's template functions) on every case of the
corpus, of the published fidelity cases and of spec §8's worked examples, and the fake's
renderer must produce the same string. A renderer that drifts from its template text fails here.

The harness is built from source with the ``go`` on PATH (``tests/goharness.py``; the CI installs
Go); without Go the comparison is skipped, but the tests that tie each renderer to its data file
still run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import goharness
import pytest
from test_templates import SPEC_EXAMPLES

from mockserver.engine.catalog import TABLE_MODELS, Catalog
from mockserver.engine.chat import ChatRequest, Message, ToolCall
from mockserver.engine.engine import Engine
from mockserver.engine.families import FAMILIES
from mockserver.engine.modelfiles import MODELFILES, template_text

DATA = Path(__file__).parents[1] / "lab" / "data"
CORPUS: list[dict[str, Any]] = json.loads((DATA / "fidelity_corpus.json").read_text("utf-8"))
PUBLISHED: list[dict[str, Any]] = json.loads((DATA / "fidelity-cases.json").read_text("utf-8"))
DEFAULT_DATE = "2026-03-23"
MODELS = tuple(dict.fromkeys((*TABLE_MODELS, *(c["model_as_reported"] for c in PUBLISHED))))
CATALOG = Catalog(MODELS)


def _cases() -> list[dict[str, Any]]:
    """The corpus, the published cases and spec §8's worked examples (``test_templates.py``),
    in one form: id, model, messages, tools, think, current_date."""
    cases = [dict(case) for case in CORPUS]
    cases += [
        {
            "id": f"published/{case['id']}",
            "model": case["model_as_reported"],
            "messages": case["messages"],
            "tools": case.get("tools", []),
            "current_date": case.get("current_date", DEFAULT_DATE),
        }
        for case in PUBLISHED
    ]
    cases += [
        {"id": f"spec/{index}", "model": model, "messages": messages}
        for index, (model, messages, _) in enumerate(SPEC_EXAMPLES)
    ]
    return cases


CASES = _cases()


def _message(data: dict[str, Any]) -> Message:
    calls = tuple(
        ToolCall(call["function"]["name"], call["function"].get("arguments") or {})
        for call in data.get("tool_calls", ())
    )
    return Message(
        role=data["role"],
        content=data.get("content", ""),
        thinking=data.get("thinking", ""),
        tool_calls=calls,
        tool_name=data.get("tool_name", ""),
    )


def _python_render(case: dict[str, Any]) -> str:
    engine = Engine(CATALOG, current_date=case.get("current_date", DEFAULT_DATE))
    request = ChatRequest(
        model=case["model"],
        messages=tuple(_message(m) for m in case["messages"]),
        tools=tuple(case.get("tools", ())),
        think=case.get("think"),
        render_only=True,
    )
    return engine.chat(request).prompt.text


def _harness_case(case: dict[str, Any]) -> dict[str, Any]:
    """What Ollama's ChatHandler hands ``template.Execute`` for this request."""
    card = CATALOG.find(case["model"])
    assert card is not None
    family = FAMILIES[card.family]
    messages = list(case["messages"])
    # ChatHandler: the Modelfile's SYSTEM is prepended when the first message is not system.
    if family.default_system and (not messages or messages[0]["role"] != "system"):
        messages.insert(0, {"role": "system", "content": family.default_system})
    think = case.get("think")
    if family.thinking and think == "max":
        think = "high"  # server/routes.go: harmony only knows low/medium/high
    return {
        "id": case["id"],
        "template": template_text(card.family),
        "messages": messages,
        "tools": case.get("tools") or None,
        "think": think,
        "current_date": case.get("current_date", DEFAULT_DATE),
    }


@pytest.fixture(scope="module")
def go_renders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    binary = goharness.build("gotemplate", tmp_path_factory.mktemp("gotemplate"))
    results = goharness.run(binary, [_harness_case(case) for case in CASES])
    return {result["id"]: result for result in results}


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_renderer_agrees_with_its_template_text(
    case: dict[str, Any], go_renders: dict[str, dict[str, str]]
) -> None:
    result = go_renders[case["id"]]
    assert not result.get("error"), result["error"]
    assert _python_render(case) == result["rendered"]


def test_every_family_has_its_template_text() -> None:
    assert set(MODELFILES) == set(FAMILIES)
    for name, modelfile in MODELFILES.items():
        assert modelfile.template == template_text(name)
        assert "{{" in modelfile.template


def test_the_cases_cover_every_family() -> None:
    cards = [CATALOG.find(case["model"]) for case in CASES]
    assert {card.family for card in cards if card is not None} == set(FAMILIES)
    assert None not in cards


def test_a_drifted_template_text_is_told_apart(go_renders: dict[str, dict[str, str]]) -> None:
    """The comparison can fail: one character changed in a template text changes Go's output,
    which then no longer matches the renderer."""
    case = next(c for c in CASES if c["id"].startswith("mistral/"))
    drifted = dict(_harness_case(case))
    drifted["template"] = drifted["template"].replace("[INST] {{", "[INST]  {{", 1)
    binary = goharness.build("gotemplate", Path("/nonexistent"))  # built by go_renders already
    (result,) = goharness.run(binary, [drifted])
    assert result["rendered"] != go_renders[case["id"]]["rendered"]
    assert result["rendered"] != _python_render(case)
