"""gpt-oss's reasoning channel: a second text beside the answer, billed in completion_tokens."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from lab import engines
from lab.experiment import Answer, Facts, Finding, Shown, experiment

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

    from lab.context import Call, Lab

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Why is the sky blue? Answer in two sentences."},
]
EFFORTS = ("low", "medium", "high")
REASONING_FIELDS = ("reasoning", "reasoning_content")  # Ollama, LM Studio; vLLM, llama.cpp


@experiment(
    "reasoning",
    "Reasoning channel",
    "One question with reasoning_effort unset, low, medium and high: content vs reasoning, "
    "and what the reasoning costs in completion_tokens.",
    default=False,
)
def reasoning(lab: Lab) -> Finding:
    import openai

    from lab.errors import server_message

    plain = lab.chat(MESSAGES, doing="reasoning_effort unset")
    key, thought = reasoning_of(plain)
    data: dict[str, Any] = {"messages": MESSAGES, "default": _run_data(plain, key, thought)}
    if key is None:
        return _no_channel(lab, plain, data)
    runs: dict[str, dict[str, Any]] = {}
    for effort in EFFORTS:
        try:
            call = lab.chat(MESSAGES, doing=f"reasoning_effort={effort}", reasoning_effort=effort)
        except openai.BadRequestError as exc:
            runs[effort] = {"error": f"HTTP 400: {server_message(exc)}"}
            continue
        runs[effort] = _run_data(call, *reasoning_of(call))
    data["efforts"] = runs
    base = data["default"]
    show: list[Shown] = [
        Answer("choices[0].message.content (the answer)", plain.content or "(empty)"),
        Answer(f"choices[0].message.{key} (the reasoning channel)", thought or "(empty)"),
        Facts(
            "What each effort produced",
            ("effort", "reasoning chars", "content chars", "completion", "≈ reasoning", "prompt"),
            tuple(
                (name, *_cells(run))
                for name, run in (("unset", base), *((e, runs[e]) for e in EFFORTS))
            ),
        ),
    ]
    measured = [runs[e] for e in EFFORTS if "error" not in runs[e]]
    grows = len(measured) == len(EFFORTS) and all(
        a["completion_tokens"] < b["completion_tokens"] for a, b in itertools.pairwise(measured)
    )
    split = (
        "the server reports the split (completion_tokens_details.reasoning_tokens)"
        if base["reasoning_tokens_reported"] is not None
        else "the API gives no split; the estimate divides completion_tokens by the share of "
        "characters"
    )
    explanation = [
        f"The answer arrives in two fields: message.content ({base['content_chars']} chars), "
        f"what a chat UI shows, and message.{key} ({base['reasoning_chars']} chars), the "
        "model's analysis channel. A client that prints content never shows the reasoning.",
        f"completion_tokens ({base['completion_tokens']}) counts both: about "
        f"{base['reasoning_tokens']} of them are reasoning ({split}). You pay for thinking "
        "you may never display.",
        "reasoning_effort "
        + " → ".join(EFFORTS)
        + ": reasoning "
        + " → ".join(_chars(runs[e]) for e in EFFORTS)
        + " chars, completion_tokens "
        + " → ".join(_tokens(runs[e]) for e in EFFORTS)
        + (
            ". More effort, more reasoning, more tokens billed: each step up cost more "
            "completion_tokens in this run."
            if grows
            else ". On a real model one run per effort is noisy; repeat it to see the trend."
        ),
    ]
    prompts = sorted({r["prompt_tokens"] for r in (base, *measured)} - {None})
    explanation.append(
        f"prompt_tokens stays {prompts[0]} whatever the effort: "
        + (
            "Ollama renders it as one word in the system message (Harmony's "
            "'Reasoning: low|medium|high'); "
            if lab.engine.is_ollama
            else "the effort is a setting, not text you send; "
        )
        + "the cost is in the output."
        if len(prompts) == 1
        else f"prompt_tokens moves with the effort ({', '.join(map(str, prompts))}): the "
        "effort is rendered into the prompt; the larger cost is still in the output."
    )
    if engines.answers_are_scripted(lab.engine):
        explanation.append(engines.SCRIPTED_NOTE)
    figure = (
        f"~{base['reasoning_tokens']} of {base['completion_tokens']} completion_tokens "
        "are reasoning"
    )
    return Finding(data, explanation, show, figure=figure)


def reasoning_of(call: Call) -> tuple[str | None, str]:
    """The field the reasoning came in and its text, or ``(None, "")`` if there is none."""
    message = call.response.choices[0].message
    extra = message.model_extra or {}
    for key in REASONING_FIELDS:
        value = extra.get(key, getattr(message, key, None))
        if isinstance(value, str) and value.strip():
            return key, value.strip()
    return None, ""


def _no_channel(lab: Lab, plain: Call, data: dict[str, Any]) -> Finding:
    import openai

    from lab.errors import server_message

    try:
        lab.chat(MESSAGES, doing="reasoning_effort=low", reasoning_effort="low")
        evidence = "asked for reasoning_effort=low, it answered without a reasoning field too"
    except openai.BadRequestError as exc:
        evidence = f"asked for reasoning_effort=low, it answered HTTP 400: {server_message(exc)}"
    data["effort_probe"] = evidence
    fields = sorted(
        k
        for k, v in plain.response.choices[0].message.model_dump(warnings=False).items()
        if v not in (None, "", [])
    )
    reason = f"{lab.model} has no reasoning channel"
    think_tags = "<think>" in plain.content
    explanation = [
        f"Not applicable, because {reason}: its message carries no "
        f"{' or '.join(REASONING_FIELDS)} field (it has: {', '.join(fields)}).",
        f"Evidence: {evidence}.",
        "Its completion_tokens are all answer. Run this with a reasoning model "
        "(--model gpt-oss:20b) to see a second channel billed in completion_tokens.",
    ]
    if think_tags:
        explanation.append(
            "The content contains <think> tags: this server passes the model's reasoning "
            "inline, in content, instead of a separate field."
        )
    show: list[Shown] = [Answer("choices[0].message.content", plain.content or "(empty)")]
    return Finding(data, explanation, show, "not_applicable", reason)


def _run_data(call: Call, key: str | None, thought: str) -> dict[str, Any]:
    usage = call.usage or {}
    completion = usage.get("completion_tokens")
    details = usage.get("completion_tokens_details") or {}
    reported = details.get("reasoning_tokens") if isinstance(details, dict) else None
    content = call.content
    share = len(thought) / (len(thought) + len(content)) if thought or content else 0.0
    estimated = round(completion * share) if isinstance(completion, int) else None
    return {
        "field": key,
        "reasoning": thought,
        "content": content,
        "reasoning_chars": len(thought),
        "content_chars": len(content),
        "prompt_tokens": usage.get("prompt_tokens"),
        "completion_tokens": completion,
        "reasoning_tokens_reported": reported,
        "reasoning_tokens": reported if isinstance(reported, int) else estimated,
    }


def _cells(run: dict[str, Any]) -> tuple[str, ...]:
    if "error" in run:
        return (run["error"], "", "", "", "")
    return (
        str(run["reasoning_chars"]),
        str(run["content_chars"]),
        str(run["completion_tokens"]),
        f"~{run['reasoning_tokens']}",
        str(run["prompt_tokens"]),
    )


def _chars(run: dict[str, Any]) -> str:
    return "error" if "error" in run else str(run["reasoning_chars"])


def _tokens(run: dict[str, Any]) -> str:
    return "error" if "error" in run else str(run["completion_tokens"])
