"""Why the fake serves mistral's template revision ``1ff5b64b61b9`` (``templates/mistral.py``).

The runner's tokenizer (llama.cpp SPM, a space before every text fragment after a special
token) is read from Ollama's source; the registry's template revision is not. Of the two quoted
revisions, only one gives the published counts under that rule: these tests recompute both.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mockserver.engine.families import FAMILIES

CASES = {
    case["id"]: case
    for case in json.loads(
        (Path(__file__).parents[1] / "lab" / "data" / "fidelity-cases.json").read_text("utf-8")
    )
}


def _prompt(case_id: str, *, revision: str) -> str:
    """The single-turn prompt of a published case as each revision renders it (no BOS)."""
    messages = CASES[case_id]["messages"]
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    (user,) = (m["content"] for m in messages if m["role"] == "user")
    body = f"[INST] {system}\n\n{user}[/INST]" if system else f"[INST] {user}[/INST]"
    return body + (" " if revision == "491dfa501e59" else "")


@pytest.mark.parametrize("case_id", ["M1", "M5"])
@pytest.mark.parametrize(("revision", "off_by"), [("1ff5b64b61b9", 0), ("491dfa501e59", 1)])
def test_only_one_revision_gives_the_published_count(case_id: str, revision: str, off_by: int):
    mistral = FAMILIES["mistral"]
    counted = mistral.count(_prompt(case_id, revision=revision))
    assert counted - CASES[case_id]["prompt_tokens"] == off_by


def test_the_other_rule_would_pick_the_other_revision() -> None:
    """Under a no-prefix rule (Ollama's old Go SentencePiece) 491dfa501e59 would fit instead:
    single-turn counts alone cannot choose, the runner's rule does."""
    tokenizer = FAMILIES["mistral"].tokenizer
    for case_id in ("M1", "M5"):
        prompt = _prompt(case_id, revision="491dfa501e59")
        assert 1 + len(tokenizer.output_ids(prompt)) == CASES[case_id]["prompt_tokens"]
