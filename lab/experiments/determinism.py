"""The same request several times: what is deterministic (the count) and what is not (the text)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lab import engines
from lab.experiment import Facts, Finding, experiment

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

    from lab.context import Call, Lab

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Name three Canadian cities."},
]


@experiment(
    "determinism",
    "Same request, N times",
    "One request sent --repeat times (default 3): prompt_tokens never changes, the answer may.",
    default=False,
)
def determinism(lab: Lab) -> Finding:
    calls = [lab.chat(MESSAGES, doing=f"run {i + 1} of {lab.repeat}") for i in range(lab.repeat)]
    prompts = [_field(call, "prompt_tokens") for call in calls]
    completions = [_field(call, "completion_tokens") for call in calls]
    texts = [call.content for call in calls]
    distinct = list(dict.fromkeys(texts))
    data = {
        "messages": MESSAGES,
        "repeat": lab.repeat,
        "prompt_tokens": prompts,
        "completion_tokens": completions,
        "distinct_texts": len(distinct),
        "contents": texts,
    }
    show = [
        Facts(
            f"The same request, {lab.repeat} times",
            ("run", "prompt_tokens", "completion_tokens", "answer"),
            tuple(
                (
                    str(i + 1),
                    _cell(prompts[i]),
                    _cell(completions[i]),
                    f"text {distinct.index(texts[i]) + 1}: {_preview(texts[i])}",
                )
                for i in range(lab.repeat)
            ),
        )
    ]
    if None in prompts:
        return Finding.not_applicable(
            "the server reports no usage.prompt_tokens, so there is no count to compare", data
        )
    if len(set(prompts)) > 1:
        return Finding(
            data,
            [
                f"Unexpected: the same messages counted {_list(prompts)} prompt tokens. A "
                "server that reports only the tokens it did not find in its prefix cache "
                "shows this; its prompt_tokens is not the size of the request.",
            ],
            show,
            status="unexpected",
        )
    varied = len(distinct) > 1 or len(set(completions)) > 1
    explanation = [
        f"prompt_tokens was {prompts[0]} all {lab.repeat} times: the same messages render "
        "through the same chat template into the same prompt, and the tokenizer is a pure "
        "function. A client can predict it before sending.",
        f"The answer: {len(distinct)} distinct text{'s' if len(distinct) != 1 else ''} in "
        f"{lab.repeat} runs; completion_tokens {_list(completions)}.",
    ]
    if varied:
        explanation.append(
            "The text and completion_tokens varied: the model samples each next token "
            "(temperature above 0), so every run draws a different answer of a different "
            "length. That is why completion_tokens cannot be known before the call, and why "
            "a budget caps it with max_tokens."
        )
    elif engines.answers_are_scripted(lab.engine):
        explanation.append(
            "The answers were identical because the bundled fake runs no model: it answers "
            "with the same canned text every time. A real model at its default temperature "
            "samples, so expect the text and completion_tokens to vary there (try --repeat 5 "
            "against Ollama)."
        )
    else:
        explanation.append(
            f"The answers were identical in these {lab.repeat} runs: this engine did not vary "
            "them (a temperature of 0, a fixed seed, or a short answer with one likely "
            "wording). Identical text is not a promise: completion_tokens still cannot be "
            "known before the call, which is why a budget caps it with max_tokens."
        )
    figure = (
        f"prompt_tokens {prompts[0]} ×{lab.repeat}; "
        f"{len(distinct)} distinct answer{'s' if len(distinct) != 1 else ''}"
    )
    return Finding(data, explanation, show, figure=figure)


def _field(call: Call, name: str) -> int | None:
    usage = call.usage or {}
    value = usage.get(name)
    return value if isinstance(value, int) else None


def _cell(value: int | None) -> str:
    return "None" if value is None else str(value)


def _list(values: list[int | None]) -> str:
    return ", ".join(_cell(v) for v in values)


def _preview(text: str, width: int = 48) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
