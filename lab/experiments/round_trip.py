"""Block 1 of Post 1: one request, one response, and the usage the server counted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lab import engines
from lab.experiment import Answer, Facts, Finding, Shown, experiment

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

    from lab.context import Lab

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Name three Canadian cities."},
]


@experiment(
    "round_trip",
    "Block 1 · Round trip",
    "One chat.completions.create call: the answer and the whole usage object.",
)
def round_trip(lab: Lab) -> Finding:
    call = lab.chat(MESSAGES, doing="round trip")
    usage = call.usage
    data = {
        "messages": MESSAGES,
        "content": call.content,
        "usage": usage,
        "finish_reason": call.response.choices[0].finish_reason,
        "response_model": call.response.model,
        "seconds": round(call.seconds, 3),
    }
    show: list[Shown] = [
        Answer("choices[0].message.content", call.content or "(empty)"),
        Facts(
            "usage (the whole object)",
            ("field", "value"),
            tuple((key, _value(value)) for key, value in (usage or {}).items())
            or (("usage", "None: the server sent no usage"),),
        ),
    ]
    if usage is None:
        return Finding(
            data,
            [
                "The call worked, but the server sent no usage object, so there is nothing "
                "to count; an OpenAI-compatible server is expected to send one."
            ],
            show,
            status="unexpected",
        )
    explanation = [
        f"One request, one response: the SDK POSTed one user message to "
        f"{lab.target.openai_url}/chat/completions and got back a choice and a usage object "
        f"in {call.seconds:.1f} s.",
        f"prompt_tokens ({usage.get('prompt_tokens')}) counts the message as the model sees "
        "it, not the words typed: the server renders it through the model's chat template "
        "(role markers, and for some models a system preamble), then tokenizes it.",
        f"completion_tokens ({usage.get('completion_tokens')}) counts everything the model "
        "generated, including a reasoning channel if the model has one (gpt-oss does). "
        "The determinism experiment sends this request several times: on a real model the "
        "text and completion_tokens change (sampling), prompt_tokens does not.",
    ]
    if engines.answers_are_scripted(lab.engine):
        explanation.append(engines.SCRIPTED_NOTE)
    figure = (
        f"prompt_tokens {usage.get('prompt_tokens')}, "
        f"completion_tokens {usage.get('completion_tokens')}"
    )
    return Finding(data, explanation, show, figure=figure)


def _value(value: object) -> str:
    return "None" if value is None else str(value)
