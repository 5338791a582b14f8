"""Block 2 of Post 1: the same final question, sent alone and with four turns of history."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lab.experiment import Answer, Facts, Finding, experiment

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


@experiment(
    "stateless",
    "Block 2 · Stateless proof",
    "The same final question sent with 1 and with 5 turns: only the client's history differs.",
)
def stateless(lab: Lab) -> Finding:
    one = lab.chat(ONE_TURN, doing="1-turn request")
    five = lab.chat(FIVE_TURN, doing="5-turn request")
    data = {
        "final_question": FINAL_Q,
        "one_turn": _call_data(ONE_TURN, one),
        "five_turn": _call_data(FIVE_TURN, five),
    }
    show = [
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
    explanation = [
        "The server holds NO conversation state between requests.",
        f"The 5-turn call's prompt_tokens is higher ({five_tokens} vs {one_tokens}, {delta:+d}) "
        "only because the client re-sent the full history in the request body.",
        "Each call is evaluated from scratch; keeping the history, and sending it, is the "
        "client's responsibility.",
        "Compare the answers: the 5-turn answer picks up the road-trip context, the 1-turn "
        'answer riffs on the bare "Driving." Same model, different framing in the '
        "client-supplied messages.",
        "Run it again: prompt_tokens reproduce exactly (same input, same count); on a real "
        "model the text and completion_tokens vary. The server's only memory between "
        "requests is its prefix cache, a compute optimisation invisible in the API, never "
        "conversation state.",
    ]
    return Finding(data, explanation, show)


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
