"""Block 2 of Post 1: the same final question, sent alone and with four turns of history."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from lab import engines
from lab.experiment import Answer, Facts, Finding, Shown, experiment

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

    from lab.context import Call, Lab

FINAL_Q = "Driving. What's the capital of Canada?"
ONE_TURN: list[ChatCompletionMessageParam] = [{"role": "user", "content": FINAL_Q}]
FIVE_TURN: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Hi, I'm planning a trip across Canada."},
    {"role": "assistant", "content": "Nice! Which provinces are you thinking of visiting?"},
    {"role": "user", "content": "Mainly Quebec and Ontario, with a stop in the Maritimes."},
    {"role": "assistant", "content": "Great picks. Are you flying in or driving?"},
    {"role": "user", "content": FINAL_Q},
]
# Words only the history carries (the final question has none of them): an answer that uses
# one drew on the history. Matched as whole words, case-insensitively, plurals too ("trips").
HISTORY_WORDS = ("trip", "provinces", "Quebec", "Ontario", "Maritimes", "visiting", "flying")


@experiment(
    "stateless",
    "Block 2 · Stateless proof",
    "The same final question sent with 1 and with 5 turns: only the client's history differs.",
)
def stateless(lab: Lab) -> Finding:
    one = lab.chat(ONE_TURN, doing="1-turn request")
    five = lab.chat(FIVE_TURN, doing="5-turn request")
    data: dict[str, Any] = {
        "final_question": FINAL_Q,
        "one_turn": _call_data(ONE_TURN, one),
        "five_turn": _call_data(FIVE_TURN, five),
    }
    show: list[Shown] = [
        Answer("1-turn answer (just the final question)", one.content or "(empty)"),
        Answer(
            "5-turn answer (the same question after the road-trip history)",
            five.content or "(empty)",
        ),
    ]
    one_tokens, five_tokens = _prompt_tokens(one), _prompt_tokens(five)
    if one_tokens is None or five_tokens is None:
        return Finding.not_applicable(
            "the server reports no usage.prompt_tokens, so the two requests cannot be compared",
            data,
        )
    delta = five_tokens - one_tokens
    data["prompt_tokens_delta"] = delta
    show.append(
        Facts(
            "The same final question, two request bodies",
            ("request", "messages sent", "prompt_tokens", "completion_tokens"),
            (
                ("1-turn", str(len(ONE_TURN)), str(one_tokens), _completion(one)),
                ("5-turn", str(len(FIVE_TURN)), str(five_tokens), _completion(five)),
                ("delta", f"{len(FIVE_TURN) - len(ONE_TURN):+d}", f"{delta:+d}", ""),
            ),
        )
    )
    if delta <= 0:
        return Finding(
            data,
            [
                f"Unexpected: the 5-turn request counted {five_tokens} prompt tokens, not more "
                f"than the 1-turn request's {one_tokens}, although it carried four more "
                "messages. This server may report only the tokens it did not find in its "
                "prefix cache, or may drop history; its prompt_tokens cannot show the contract.",
            ],
            show,
            status="unexpected",
        )
    in_one, in_five = history_words_in(one.content), history_words_in(five.content)
    data["history_words_in_answer"] = {"one_turn": in_one, "five_turn": in_five}
    explanation = [
        f"The 5-turn request counted {five_tokens} prompt tokens, the 1-turn one {one_tokens} "
        f"({delta:+d}): the same final question, plus the {len(FIVE_TURN) - len(ONE_TURN)} "
        "messages of history the client put in the request body.",
        "That is the contract: the server keeps no conversation between requests, so each "
        "call is evaluated from what it carries, and keeping the history, and sending it, "
        "is the client's job.",
    ]
    scripted = engines.answers_are_scripted(lab.engine)
    explanation.append(answers_compared(in_one, in_five, scripted=scripted))
    if scripted:
        explanation.append(engines.SCRIPTED_NOTE)
    figure = f"prompt_tokens {one_tokens} → {five_tokens} ({delta:+d})"
    return Finding(data, explanation, show, figure=figure)


def history_words_in(answer: str) -> list[str]:
    """The :data:`HISTORY_WORDS` an answer uses."""
    return [w for w in HISTORY_WORDS if re.search(rf"\b{w}s?\b", answer, re.IGNORECASE)]


def answers_compared(in_one: list[str], in_five: list[str], *, scripted: bool = False) -> str:
    """What the two answers did with the history, as observed in their words.

    ``scripted``: the answers are the fake's canned text, so no model "drew on" anything.
    """
    only_five = [w for w in in_five if w not in in_one]
    listed = ", ".join(HISTORY_WORDS)
    if only_five:
        also = f"; the 1-turn answer uses {', '.join(in_one)} too" if in_one else ""
        return (
            f"The answers: the 5-turn one uses words that only the history carried "
            f"({', '.join(only_five)}), the 1-turn one does not{also}."
            + ("" if scripted else " The model drew on the history because the client sent it.")
        )
    if not in_five and not in_one:
        return (
            f"The answers: neither uses a word of the history ({listed}), so in this run the "
            "answers do not show the history being used; prompt_tokens does."
        )
    return (
        f"The answers use the same words of the history ({', '.join(in_five or in_one)}), "
        "so in this run the answers alone do not tell the two requests apart; "
        "prompt_tokens does."
    )


def _prompt_tokens(call: Call) -> int | None:
    usage = call.response.usage
    return usage.prompt_tokens if usage is not None else None


def _completion(call: Call) -> str:
    usage = call.response.usage
    return str(usage.completion_tokens) if usage is not None else "None"


def _call_data(messages: list[ChatCompletionMessageParam], call: Call) -> dict[str, object]:
    return {
        "messages": messages,
        "content": call.content,
        "prompt_tokens": _prompt_tokens(call),
        "completion_tokens": call.response.usage.completion_tokens if call.response.usage else None,
        "usage": call.usage,
        "seconds": round(call.seconds, 3),
    }
