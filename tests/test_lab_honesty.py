"""An explanation states what this run observed; on the bundled fake it says the words are canned.

The ``stateless`` experiment looks at the two answers: does the 5-turn one use a word that only
the history carried, and the 1-turn one not? Servers that answer each way are mocked with respx.
"""

from __future__ import annotations

import io
import re

import pytest
import respx
from rich.console import Console

from lab import engines
from lab.context import Lab, sdk_client
from lab.experiment import registered
from lab.experiments.stateless import (
    FINAL_Q,
    FIVE_TURN,
    HISTORY_WORDS,
    answers_compared,
    history_words_in,
    stateless,
)
from lab.ollama import EngineInfo
from lab.targets import resolve
from mockserver.server import BackgroundServer

OTHER = "http://other.test"
FAKE = EngineInfo(engines.FAKE, "0.1.0", "0.32.15")
OLLAMA = EngineInfo("ollama", "0.12.6")


def lab_for(url: str, engine: EngineInfo) -> Lab:
    return Lab(
        client=sdk_client(url, "ollama", 30),
        model="gpt-oss:20b",
        console=Console(file=io.StringIO()),
        target=resolve(url),
        engine=engine,
        timeout=30,
        progress=False,
    )


def completion(content: str, prompt_tokens: int) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-oss:20b",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": 5,
            "total_tokens": prompt_tokens + 5,
        },
    }


def answering(one: str, five: str) -> None:
    """A server that answers the 1-turn request with ``one`` and the 5-turn with ``five``."""

    def reply(request):
        import json

        turns = len(json.loads(request.content)["messages"])
        return respx.MockResponse(json=completion(one if turns == 1 else five, 20 * turns))

    respx.post(f"{OTHER}/v1/chat/completions").mock(side_effect=reply)


def test_the_history_words_are_the_historys_own() -> None:
    history = " ".join(str(m["content"]) for m in FIVE_TURN[:-1])
    for word in HISTORY_WORDS:
        assert re.search(rf"\b{word}", history, re.IGNORECASE), word
        assert not re.search(rf"\b{word}", FINAL_Q, re.IGNORECASE), word


@pytest.mark.parametrize(
    ("answer", "found"),
    [
        ("Ottawa.", []),
        ("Ottawa, Ontario: on your trip from Quebec.", ["trip", "Quebec", "Ontario"]),
        ("Road TRIPS through the Maritimes", ["trip", "Maritimes"]),
        ("Striped tripod", []),  # a word's start, not any substring
    ],
)
def test_history_words_in_an_answer(answer: str, found: list[str]) -> None:
    assert sorted(history_words_in(answer)) == sorted(found)


@pytest.mark.parametrize(
    ("in_one", "in_five", "says"),
    [
        ([], ["trip", "Quebec"], "the 5-turn one uses words that only the history carried "),
        (["Ontario"], ["Ontario", "trip"], "(trip), the 1-turn one does not; the 1-turn answer"),
        ([], [], "neither uses a word of the history"),
        (["Ontario"], ["Ontario"], "the answers alone do not tell the two requests apart"),
    ],
)
def test_what_the_answers_did_is_said_as_observed(
    in_one: list[str], in_five: list[str], says: str
) -> None:
    assert says in answers_compared(in_one, in_five)


@respx.mock
def test_a_model_that_ignores_the_history_is_not_said_to_pick_it_up() -> None:
    answering("Ottawa.", "Ottawa.")

    finding = stateless(lab_for(f"{OTHER}/v1", OLLAMA))

    text = " ".join(finding.explanation)
    assert finding.status == "ok"  # the counts still show the contract
    assert "neither uses a word of the history" in text
    assert "picks up" not in text and "drew on the history" not in text
    assert finding.data["history_words_in_answer"] == {"one_turn": [], "five_turn": []}
    assert engines.SCRIPTED_NOTE not in finding.explanation


@respx.mock
def test_a_model_that_uses_the_history_is_said_to() -> None:
    answering("Ottawa.", "Ottawa, a stop between Quebec and the Maritimes on your trip.")

    finding = stateless(lab_for(f"{OTHER}/v1", OLLAMA))

    text = " ".join(finding.explanation)
    assert "the 5-turn one uses words that only the history carried" in text
    assert "(trip, Quebec, Maritimes)" in text
    assert "The model drew on the history because the client sent it." in text


def test_on_the_bundled_fake_the_answers_are_called_canned(fake: BackgroundServer) -> None:
    finding = stateless(lab_for(fake.openai_url, FAKE))

    assert finding.explanation[-1] == engines.SCRIPTED_NOTE
    assert "drew on the history" not in " ".join(finding.explanation)  # no model to draw


@pytest.fixture(scope="module")
def every_finding_on_the_fake(fake: BackgroundServer) -> dict[str, list[str]]:
    lab = lab_for(fake.openai_url, FAKE)
    return {e.name: e.run(lab).explanation for e in registered()}


@pytest.mark.parametrize("name", ["round_trip", "stateless", "context_overflow", "reasoning"])
def test_experiments_that_quote_answers_say_on_the_fake_that_they_are_canned(
    name: str, every_finding_on_the_fake: dict[str, list[str]]
) -> None:
    assert engines.SCRIPTED_NOTE in every_finding_on_the_fake[name]


def test_determinism_on_the_fake_blames_the_fake_not_the_model(
    every_finding_on_the_fake: dict[str, list[str]],
) -> None:
    assert "the bundled fake runs no model" in " ".join(every_finding_on_the_fake["determinism"])


def test_the_fake_is_recognised_by_the_name_preflight_gives_it() -> None:
    assert engines.answers_are_scripted(FAKE)
    assert not engines.answers_are_scripted(OLLAMA)
    assert not engines.answers_are_scripted(EngineInfo(engines.LLAMA_CPP))
