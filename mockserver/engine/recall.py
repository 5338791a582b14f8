"""What the user told the model: the fake's model answers from the prompt it was given, only.

Two rules (README "The fake's model"), both deterministic, both reading the *rendered prompt
the server kept* (``Situation.seen``: after Ollama's silent truncation, so a turn Ollama
dropped is a turn the model never saw), or the request's messages where no prompt is given:

1. **recall**: the last user message asks "what is my X?" (``what's``, ``what was``): if the
   prompt holds a statement "my X is Y", the answer is "Your X is Y."; otherwise the model
   says it cannot find X in this conversation, never a guess;
2. **summary**: the last user message asks to summarise the conversation (the thread, the
   chat): the answer is extractive, the number of user turns it was given and every "my X is
   Y" statement in it, verbatim, in order. A real model writes a real summary; this one keeps
   exactly the facts it can quote, and says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mockserver.engine.chat import Message

_QUESTION = re.compile(r"\bwhat(?:'s|\s+is|\s+was)\s+my\s+([a-z][a-z ]{0,40}?)\s*\?", re.I)
_FACT = re.compile(r"\bmy ([a-z][a-z ]{0,40}?) (?:is|was) ([^.;!?\n<\"]{1,80})", re.I)
_SUMMARY = re.compile(r"\bsummari[sz]e\s+(?:the|this|our)\s+(?:conversation|thread|chat)\b", re.I)


def facts(text: str) -> list[tuple[str, str]]:
    """Every "my X is Y" statement in ``text``, in order, without repeats."""
    found: list[tuple[str, str]] = []
    for what, value in _FACT.findall(text):
        fact = (what.strip().lower(), value.strip())
        if fact not in found:
            found.append(fact)
    return found


def answer(messages: Sequence[Message], seen: str) -> str | None:
    """The recall or summary answer to this request, or None when neither rule applies."""
    last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
    summary = _SUMMARY.search(last_user)
    question = None if summary else _QUESTION.search(last_user)
    if summary is None and question is None:  # nearly always: nothing else to read
        return None
    earlier = seen or "\n".join(m.content for m in messages[:-1] if m.role == "user")
    if seen and last_user:
        earlier = earlier.replace(last_user, "")  # the question itself states nothing
    if summary is not None:
        turns = sum(1 for m in messages if m.role == "user") - 1
        stated = facts(earlier)
        listed = "; ".join(f"my {what} is {value}" for what, value in stated)
        return (
            f"Summary of the conversation so far ({turns} user turn{'s' if turns != 1 else ''}"
            " before this request). "
            + (f"Facts the user stated: {listed}." if stated else "The user stated no facts.")
            + " (An extractive summary by the Portway fake: the facts it can quote, nothing more.)"
        )
    assert question is not None
    wanted = question.group(1).strip().lower()
    for what, value in facts(earlier):
        if what == wanted:
            return f"Your {wanted} is {value}."
    return (
        f"I can't find your {wanted} anywhere in this conversation: if you told me, that "
        "message is not in the prompt I was given."
    )
