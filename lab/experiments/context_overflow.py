"""A conversation grown past the context window: Ollama silently drops its oldest turns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lab import engines
from lab.experiment import Answer, Facts, Finding, Shown, experiment

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletionMessageParam

    from lab.context import Call, Lab

CODE = "4912"
PLANT = f"My locker code is {CODE}. Please remember it; I will ask for it later."
QUESTION = "What is my locker code? Answer with the number only."
FILLER_SENTENCES = (
    "The ferry left the harbour at dawn and the gulls followed it past the breakwater.",
    "We counted eleven fishing boats, two sailboats and a lighthouse painted red and white.",
    "Lunch was chowder in a café whose owner had sailed to Newfoundland and back twice.",
    "In the afternoon the fog rolled in so quickly that the far shore vanished in minutes.",
    "A heron stood in the shallows for an hour without moving, then caught a small fish.",
    "The road inland climbed through birch woods where the leaves were already turning.",
    "At the campground a ranger warned us about bears and showed us the food lockers.",
    "Night came with a sky so clear that the Milky Way looked like spilled flour.",
)
TARGET_FILLERS = 9  # filler requests that should fill a known window
PLATEAU_REQUESTS = 2  # requests past the first truncation, to show the plateau
MAX_REQUESTS = 16
REPLY_TOKENS = 128  # max_tokens for each turn: short answers, and a cap for engines
CHARS_PER_TOKEN = 4.0  # a first guess for English prose, corrected after one filler
UNKNOWN_WINDOW_START = 512  # tokens in the first filler when the window is unknown (doubles)
TRUNCATED_BELOW = 0.9  # prompt_tokens under 90% of the local estimate: something was dropped


@dataclass(slots=True)
class Grown:
    """The conversation as sent, and what the server counted for each request."""

    messages: list[ChatCompletionMessageParam]
    rows: list[dict[str, Any]] = field(default_factory=list)
    tokens_per_char: float | None = None  # measured on requests nothing was dropped from

    @property
    def chars(self) -> int:
        return sum(len(str(m.get("content") or "")) for m in self.messages)

    def estimate(self) -> int:
        """What the server should count if it kept everything: last kept count + new chars."""
        kept = [r for r in self.rows if not r["truncated"]]
        rate = self.tokens_per_char or 1 / CHARS_PER_TOKEN
        if not kept:
            return round(self.chars * rate)
        return round(kept[-1]["prompt_tokens"] + (self.chars - kept[-1]["chars_sent"]) * rate)

    def record(self, prompt_tokens: int) -> dict[str, Any]:
        """Log one request; it was truncated if its count fell behind what was sent."""
        estimate = self.estimate()
        stopped = bool(self.rows) and prompt_tokens <= self.rows[-1]["prompt_tokens"]
        behind = self.tokens_per_char is not None and prompt_tokens < TRUNCATED_BELOW * estimate
        row = {
            "request": len(self.rows) + 1,
            "messages_sent": len(self.messages),
            "chars_sent": self.chars,
            "estimated_tokens": estimate,
            "prompt_tokens": prompt_tokens,
            "truncated": stopped or behind,
        }
        kept = [r for r in self.rows if not r["truncated"]]
        if kept and not row["truncated"] and row["chars_sent"] > kept[0]["chars_sent"]:
            self.tokens_per_char = (prompt_tokens - kept[0]["prompt_tokens"]) / (
                row["chars_sent"] - kept[0]["chars_sent"]
            )
        self.rows.append(row)
        return row


@experiment(
    "context_overflow",
    "Context overflow",
    "A conversation grown past the context window, with a fact planted in turn 1: "
    "prompt_tokens plateaus and the fact is silently gone.",
    default=False,
)
def context_overflow(lab: Lab) -> Finding:
    import openai

    from lab.errors import server_message

    grown = Grown([{"role": "user", "content": PLANT}])
    first = lab.chat(list(grown.messages), doing="turn 1 (the locker code)", max_tokens=64)
    if _prompt_tokens(first) is None:
        return Finding.not_applicable("the server reports no usage.prompt_tokens", {})
    grown.record(_prompt_tokens(first) or 0)
    grown.messages.append({"role": "assistant", "content": first.content})
    window = engines.context_window(lab.http, lab.target, lab.model, lab.engine)
    data: dict[str, Any] = {
        "planted": PLANT,
        "window": {"tokens": window.tokens, "source": window.source} if window else None,
        "requests": grown.rows,
    }
    target_tokens = (
        max(64, (window.tokens - grown.rows[0]["prompt_tokens"]) // TARGET_FILLERS)
        if window
        else UNKNOWN_WINDOW_START
    )
    overflow_at: int | None = None
    part = 0
    while len(grown.rows) < MAX_REQUESTS:
        part += 1
        if window is None and overflow_at is None:
            size = UNKNOWN_WINDOW_START * 2 ** (part - 1)  # double until something gives
        else:
            size = target_tokens
        chars = round(size / (grown.tokens_per_char or 1 / CHARS_PER_TOKEN))
        grown.messages.append({"role": "user", "content": filler(part, chars)})
        try:
            call = lab.chat(
                list(grown.messages), doing=f"request {part + 1}", max_tokens=REPLY_TOKENS
            )
        except openai.APIStatusError as exc:
            message = server_message(exc)
            if not engines.refuses_long_prompt(exc.status_code, message):
                raise
            return _refused(lab, grown, data, exc.status_code, message, exc)
        row = grown.record(_prompt_tokens(call) or 0)
        grown.messages.append({"role": "assistant", "content": call.content})
        if row["truncated"] and overflow_at is None:
            overflow_at = row["request"]
        if overflow_at is not None and row["request"] >= overflow_at + PLATEAU_REQUESTS:
            break
    data["overflow_at_request"] = overflow_at
    if overflow_at is None:
        table = _table(grown, window)
        sent = grown.rows[-1]["estimated_tokens"]
        if window is None:
            return Finding(
                data,
                [
                    f"Not applicable, because the lab could not learn this engine's context "
                    f"window and ~{sent:,} tokens of history did not overflow it.",
                ],
                [table],
                "not_applicable",
                f"~{sent:,} tokens of history did not overflow the context window",
            )
        return Finding(
            data,
            [
                f"Unexpected: about {sent:,} tokens were sent, past the {window.tokens:,}-token "
                f"window ({window.source}), yet prompt_tokens kept up and nothing was refused.",
            ],
            [table],
            status="unexpected",
        )
    grown.messages.append({"role": "user", "content": QUESTION})
    asked = lab.chat(list(grown.messages), doing="the question", max_tokens=2 * REPLY_TOKENS)
    grown.record(_prompt_tokens(asked) or 0)
    rendered = _rendered_prompt(lab, grown.messages)
    kept_from = _earliest_part(rendered) if rendered is not None else None
    data.update(
        {
            "question": QUESTION,
            "answer": asked.content,
            "code_in_answer": CODE in asked.content,
            "rendered_prompt_checked": rendered is not None,
            "code_in_rendered_prompt": (CODE in rendered) if rendered is not None else None,
            "earliest_part_in_rendered_prompt": kept_from,
        }
    )
    peak = max(r["prompt_tokens"] for r in grown.rows)
    last = grown.rows[-1]
    explanation = [
        f"prompt_tokens grew with the history until request {overflow_at}, then stopped "
        f"tracking it: the client sent about {last['estimated_tokens']:,} tokens in the last "
        f"request, the server counted {last['prompt_tokens']:,} (never more than {peak:,}"
        + (f", the window is {window.tokens:,} from {window.source})." if window else ")."),
        "Nothing said so: every request was answered normally, without an error. "
        + (
            "Ollama re-renders the prompt dropping the oldest messages (keeping system "
            "messages and the last one) until it fits num_ctx, and counts what is left."
            if lab.engine.is_ollama
            else "This engine dropped part of the history on its own."
        ),
    ]
    if rendered is not None:
        explanation.append(
            "The rendered prompt (_debug_render_only) "
            + (
                f"no longer contains turn 1: the locker code {CODE} is gone"
                if CODE not in rendered
                else f"still contains the locker code {CODE}"
            )
            + (f"; it starts at part {kept_from} of the notes." if kept_from else ".")
        )
    explanation += [
        f"Asked for the code at the end, the model answered {_quote(asked.content)}"
        + (
            ": it still had it."
            if CODE in asked.content
            else f", not {CODE}: it cannot know what it was never shown."
            if rendered is not None and CODE not in rendered
            else f", not {CODE}."
        ),
        "How a client notices: compare prompt_tokens with its own estimate of what it sent "
        "(here: chars sent × tokens per char measured on earlier requests); when the count "
        "stops tracking the growth, history was dropped. On Ollama, _debug_render_only "
        "(v0.12+) shows the prompt the model would see.",
        "The fix is the client's: raise num_ctx (costs memory), or summarise / trim the "
        "history yourself, so that you choose what the model forgets.",
    ]
    if engines.answers_are_scripted(lab.engine):
        explanation.append(engines.SCRIPTED_NOTE)
    show: list[Shown] = [
        _table(grown, window),
        Answer(f"answer to {_quote(QUESTION)}", asked.content or "(empty)"),
    ]
    figure = (
        f"prompt_tokens stopped at {peak:,} from request {overflow_at}; "
        f"~{last['estimated_tokens']:,} sent"
    )
    return Finding(data, explanation, show, figure=figure)


def filler(part: int, chars: int) -> str:
    """A user turn of about ``chars`` characters of travel notes, numbered so it can be found."""
    text = f"Part {part} of my travel notes; just reply 'Noted.'"
    i = part
    while len(text) < chars:
        text += " " + FILLER_SENTENCES[i % len(FILLER_SENTENCES)]
        i += 1
    return text


def _refused(
    lab: Lab,
    grown: Grown,
    data: dict[str, Any],
    status: int,
    message: str,
    exc: openai.APIStatusError,
) -> Finding:
    limit = engines.window_in_error(message)
    error = exc.body.get("error", exc.body) if isinstance(exc.body, dict) else None
    if limit is None and isinstance(error, dict) and isinstance(error.get("n_ctx"), int):
        limit = error["n_ctx"]  # llama-server puts the window beside the message
    data["refused"] = {
        "request": len(grown.rows) + 1,
        "status": status,
        "message": message,
        "body": exc.body,
        "window_in_message": limit,
        "estimated_tokens": grown.estimate(),
    }
    reason = (
        f"this engine refuses prompts longer than its context window (HTTP {status}) "
        "instead of truncating them"
    )
    explanation = [
        f"Not applicable, because {reason}: there is no silent truncation to show.",
        f"Request {len(grown.rows) + 1} (about {grown.estimate():,} tokens) was answered "
        f"HTTP {status}: {message}",
        "That is itself the lesson: this engine fails loudly, so the client learns at once "
        "that the history no longer fits and must trim or summarise it. Ollama instead "
        "drops the oldest turns and answers as if nothing happened.",
    ]
    table = _table(grown, engines.Window(limit, "the error message") if limit else None)
    return Finding(data, explanation, [table], "not_applicable", reason)


def _table(grown: Grown, window: engines.Window | None) -> Facts:
    title = "prompt_tokens as the history grows"
    if window:
        title += f" (context window {window.tokens:,} tokens)"
    return Facts(
        title,
        ("request", "messages", "chars sent", "estimate", "prompt_tokens", ""),
        tuple(
            (
                str(r["request"]),
                str(r["messages_sent"]),
                f"{r['chars_sent']:,}",
                f"~{r['estimated_tokens']:,}" if r["request"] > 1 else "-",
                f"{r['prompt_tokens']:,}",
                "truncated" if r["truncated"] else "",
            )
            for r in grown.rows
        ),
    )


def _rendered_prompt(lab: Lab, messages: list[ChatCompletionMessageParam]) -> str | None:
    """The prompt Ollama would feed the model (``_debug_render_only``); ``None`` elsewhere."""
    if not lab.engine.is_ollama:
        return None
    response = lab.http.post(
        f"{lab.target.openai_url}/chat/completions",
        json={"model": lab.model, "messages": messages, "_debug_render_only": True},
    )
    try:
        rendered = response.json()["_debug_info"]["rendered_template"]
    except (ValueError, KeyError, TypeError):
        return None  # an Ollama before 0.12 answers normally
    return rendered if isinstance(rendered, str) else None


def _earliest_part(rendered: str) -> int | None:
    parts = [
        int(word)
        for chunk in rendered.split("Part ")[1:]
        if (word := chunk.split(" ", 1)[0]).isdigit()
    ]
    return min(parts) if parts else None


def _prompt_tokens(call: Call) -> int | None:
    value = (call.usage or {}).get("prompt_tokens")
    return value if isinstance(value, int) else None


def _quote(text: str, width: int = 90) -> str:
    flat = " ".join(text.split()) or "(empty)"
    return f'"{flat if len(flat) <= width else flat[: width - 1] + "…"}"'
