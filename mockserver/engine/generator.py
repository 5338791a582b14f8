"""Deterministic replies: what the fake's model "says".

Replies are a pure function of the request. The lab's own prompts get scripted, natural
answers (``scripts.json``); anything else gets a reply that reports what the server received in
*this* request, which is the stateless contract made visible. Reasoning text (for models that
think) is likewise derived from the request, and grows with the reasoning effort.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from mockserver.engine.chat import Message
from mockserver.engine.families import Output


@dataclass(frozen=True, slots=True)
class Situation:
    """What the reply may depend on: the request as the server saw it."""

    model: str
    messages: tuple[Message, ...]
    prompt_tokens: int
    thinking: str | None  # None = no reasoning; otherwise the effort level


@cache
def _scripts() -> list[dict]:
    return json.loads(files("mockserver.engine").joinpath("scripts.json").read_text("utf-8"))


@cache
def _longest_script_words() -> int:
    return max((len(script["prompt"].split()) for script in _scripts()), default=0)


def reply(situation: Situation) -> Output:
    last_user = next((m.content for m in reversed(situation.messages) if m.role == "user"), "")
    turns = sum(1 for m in situation.messages if m.role in ("user", "assistant"))
    content = _scripted(last_user, turns) or _report(situation, last_user)
    reasoning = _reasoning(situation, last_user, turns) if situation.thinking else ""
    return Output(content=content, reasoning=reasoning)


def _scripted(last_user: str, turns: int) -> str | None:
    # No script prompt has more words than the longest: stop splitting there (a 10 MB message
    # would otherwise be cut into millions of words, holding the GIL for a second).
    words = last_user.split(maxsplit=_longest_script_words())
    if len(words) > _longest_script_words():
        return None
    key = " ".join(words).casefold()
    for script in _scripts():
        if script["prompt"].casefold() == key:
            if turns > 1 and "with_history" in script:
                return script["with_history"]
            return script["reply"]
    return None


def _report(situation: Situation, last_user: str) -> str:
    count = len(situation.messages)
    quoted = last_user if len(last_user) <= 200 else last_user[:197] + "..."
    return (
        f"This request reached me with {count} message{'s' if count != 1 else ''} for "
        f"{situation.model}, {situation.prompt_tokens} prompt tokens once rendered. "
        f'Your last message was: "{quoted}". '
        "I remember nothing between requests: whatever history you want me to use, send it again."
    )


_EFFORT_SENTENCES = {
    "low": 1,
    "medium": 2,
    "high": 4,
}


def _reasoning(situation: Situation, last_user: str, turns: int) -> str:
    topic = last_user.strip().partition("\n")[0][:80] or "an empty message"
    sentences = [
        f'The user asks: "{topic}".',
        f"The request carries {turns} conversation turn{'s' if turns != 1 else ''}; "
        "that is all the context I have.",
        "No earlier requests are visible to me, so I answer from this history alone.",
        "Keep the answer short and direct, and mention nothing that is not in the request.",
    ]
    return " ".join(sentences[: _EFFORT_SENTENCES.get(situation.thinking or "medium", 2)])
