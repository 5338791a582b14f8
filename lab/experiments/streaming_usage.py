"""The streaming usage trap: a streamed answer carries no usage unless the client opts in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lab import engines
from lab.experiment import Answer, Facts, Finding, Shown, experiment

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

    from lab.context import Lab, Streamed

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Name three Canadian cities."},
]


@experiment(
    "streaming_usage",
    "Streaming usage trap",
    "The same request non-streamed, streamed, and streamed with include_usage: "
    "which of them a token meter can bill.",
    default=False,
)
def streaming_usage(lab: Lab) -> Finding:
    whole = lab.chat(MESSAGES, doing="non-streamed request")
    bare = lab.stream(MESSAGES, doing="streamed, no stream_options")
    opted = lab.stream(
        MESSAGES,
        doing="streamed with include_usage",
        stream_options={"include_usage": True},
    )
    usage, opted_usage = whole.usage, opted.usage
    data = {
        "messages": MESSAGES,
        "non_streamed": {"usage": usage},
        "streamed": _stream_data(bare),
        "streamed_include_usage": _stream_data(opted),
    }
    if usage is None:
        return Finding.not_applicable(
            "the server reports no usage even without streaming, so there is nothing to lose",
            data,
        )
    billed = (_total(usage), _total(bare.usage), _total(opted_usage))
    data["metered_tokens"] = dict(
        zip(("non_streamed", "streamed", "streamed_include_usage"), billed, strict=True)
    )
    show: list[Shown] = [
        Answer("streamed answer (the delta.content pieces joined)", bare.content or "(empty)"),
        Facts(
            "One request, three ways",
            ("request", "chunks", "chunks with usage", "prompt", "completion", "a meter bills"),
            (
                ("non-streamed", "-", "(the body)", *_counts(usage), str(billed[0])),
                ("stream=True", *_stream_cells(bare), str(billed[1])),
                ("stream=True + include_usage", *_stream_cells(opted), str(billed[2])),
            ),
        ),
    ]
    if opted_usage is None:
        reason = "this server ignores stream_options.include_usage: no chunk carried usage"
        return Finding(
            data,
            [
                f"Not applicable, because {reason} ({len(opted.chunks)} chunks with the "
                f"option, {len(bare.chunks)} without).",
                "The trap cannot be avoided here: a meter that reads usage bills every "
                "streamed request as 0 tokens. Count the tokens another way (the server's "
                "tokenizer, or a non-streamed request), as for Ollama before 0.5.2.",
            ],
            show,
            "not_applicable",
            reason,
        )
    if bare.usage is not None:
        first = [
            f"This server sends usage in a stream even without include_usage (chunk "
            f"{bare.usage_chunks[-1] + 1} of {len(bare.chunks)}), so the trap does not bite "
            "here; OpenAI and Ollama send none, so a client must still ask for it."
        ]
    else:
        first = [
            f"Streamed without stream_options: {len(bare.chunks)} chunks and not one carries "
            "usage. A meter that reads usage bills this request as 0 tokens.",
        ]
    last = opted.chunks[opted.usage_chunks[-1]]
    same_prompt = usage.get("prompt_tokens") == opted_usage.get("prompt_tokens")
    scripted = engines.answers_are_scripted(lab.engine)
    explanation = [
        *first,
        f"With stream_options={{'include_usage': True}}: one extra final chunk (chunk "
        f"{opted.usage_chunks[-1] + 1} of {len(opted.chunks)}, choices "
        f"{'[]' if not last.choices else 'not empty'}) carries usage, {billed[2]} tokens.",
        f"prompt_tokens is the same streamed or not ({usage.get('prompt_tokens')} vs "
        f"{opted_usage.get('prompt_tokens')}): the same messages render to the same prompt."
        if same_prompt
        else f"prompt_tokens differs ({usage.get('prompt_tokens')} non-streamed vs "
        f"{opted_usage.get('prompt_tokens')} streamed), although the messages are the same.",
        _completions_compared(usage, opted_usage, scripted=scripted),
        "The fix is one line in the client: stream_options={'include_usage': True}, then "
        "read usage from the last chunk (its choices list is empty, so code that indexes "
        "choices[0] on every chunk must skip it).",
    ]
    figure = f"a meter bills {billed[1]} streamed, {billed[2]} with include_usage"
    return Finding(
        data, explanation, show, status="ok" if same_prompt else "unexpected", figure=figure
    )


def _total(usage: dict[str, object] | None) -> int:
    if not usage:
        return 0
    total = usage.get("total_tokens")
    return total if isinstance(total, int) else 0


def _counts(usage: dict[str, object] | None) -> tuple[str, str]:
    if not usage:
        return ("-", "-")
    return (str(usage.get("prompt_tokens")), str(usage.get("completion_tokens")))


def _stream_cells(stream: Streamed) -> tuple[str, str, str, str]:
    return (str(len(stream.chunks)), str(len(stream.usage_chunks)), *_counts(stream.usage))


def _stream_data(stream: Streamed) -> dict[str, object]:
    return {
        "chunks": len(stream.chunks),
        "chunks_with_usage": stream.usage_chunks,
        "usage": stream.usage,
        "content": stream.content,
        "seconds": round(stream.seconds, 3),
    }


def _completions_compared(
    whole: dict[str, object], streamed: dict[str, object], *, scripted: bool
) -> str:
    """What completion_tokens did, non-streamed vs streamed with include_usage, in this run."""
    a, b = whole.get("completion_tokens"), streamed.get("completion_tokens")
    if a == b:
        why = (
            "the bundled fake answers the same canned text both ways"
            if scripted
            else "on a real model each call samples its own answer, so it can differ"
        )
        return (
            f"completion_tokens was {a} both ways here ({why}). Streaming changes how the "
            "answer travels, not what it costs."
        )
    return (
        f"completion_tokens differed ({a} non-streamed, {b} streamed): each call sampled its "
        "own answer. Streaming changes how the answer travels, not what it costs."
    )
