"""The contract points a student's client code is checked on, read from the fake's journal.

Each point is one function of what the program did (the journal's entries, its output, its exit
code) to a :class:`Point`: ``pass``, ``fail`` or ``n/a`` (the program did nothing the point is
about, e.g. it never streamed), with the evidence in one sentence. The points are the traps of
the lessons: the history the client must re-send (``stateless``, ``history_growth``), the usage
chunk a stream carries only when asked (``streaming_usage``), the system prompt that costs
tokens on every call (``modelfile_system``), the errors a malformed request earns
(``models_and_errors``).

Usable without the command line, e.g. in an autograder's pytest with the ``ollama_fake``
fixture::

    from lab.check.points import evaluate
    points = evaluate(ollama_fake.journal.entries, stdout=captured, exit_code=0)
    assert all(p.status != "fail" for p in points)
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

Status = Literal["pass", "fail", "n/a"]

CHAT_PATHS = ("/v1/chat/completions", "/api/chat")  # the OpenAI route and Ollama's native one
# "total tokens: 612", "TOTAL_TOKENS=612", "total-tokens 612": the meter's figure, last one wins
TOTAL_PATTERN = r"total[ _-]?tokens\W{0,3}(\d+)"


class Entry(Protocol):
    """What a point reads of a journal entry (:class:`mockserver.journal.Entry`)."""

    path: str
    body: Any
    status: int
    response: Any
    stream: bool
    prompt_tokens: int | None
    completion_tokens: int | None


@dataclass(frozen=True, slots=True)
class Point:
    name: str
    title: str  # what the student claims: "my chat loop re-sends the history"
    status: Status
    evidence: str  # one sentence: what the journal showed

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Run:
    """What the student's program did: its requests as the fake journaled them, its output."""

    entries: Sequence[Entry]
    stdout: str = ""
    exit_code: int | None = 0  # None: it was stopped at the time limit
    total_pattern: str = TOTAL_PATTERN

    @property
    def chats(self) -> list[Entry]:
        return [e for e in self.entries if e.path in CHAT_PATHS and isinstance(e.body, dict)]


def messages_of(entry: Entry) -> list[dict[str, Any]]:
    messages = entry.body.get("messages") if isinstance(entry.body, dict) else None
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def answer_of(entry: Entry) -> str:
    """The text the fake answered: a whole message, or a stream's deltas joined."""
    response = entry.response
    if isinstance(response, dict):
        if "choices" in response:  # /v1
            choices = response.get("choices") or [{}]
            return str((choices[0].get("message") or {}).get("content") or "")
        return str((response.get("message") or {}).get("content") or "")  # native
    parts: list[str] = []
    for chunk in response if isinstance(response, list) else []:
        if not isinstance(chunk, dict):
            continue  # "[DONE]"
        if "choices" in chunk:
            for choice in chunk.get("choices") or []:
                parts.append(str((choice.get("delta") or {}).get("content") or ""))
        else:
            parts.append(str((chunk.get("message") or {}).get("content") or ""))
    return "".join(parts)


def _said(message: dict[str, Any]) -> tuple[str, str]:
    """A message as the contract compares it: its role and its text (spaces at the ends aside)."""
    content = message.get("content")
    if isinstance(content, list):  # content parts: the text ones
        content = "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return str(message.get("role") or ""), str(content or "").strip()


def reached_the_fake(run: Run) -> Point:
    title = "my program talks to the server it is given"
    if run.chats:
        return Point(
            "reached", title, "pass", f"{len(run.chats)} chat request(s) reached the fake."
        )
    others = f" ({len(run.entries)} other request(s))" if run.entries else ""
    return Point(
        "reached",
        title,
        "fail",
        f"No chat request reached the fake{others}: read the base URL from "
        "OPENAI_BASE_URL (or OLLAMA_HOST) instead of hard-coding it.",
    )


def ran_to_the_end(run: Run) -> Point:
    title = "my program runs to the end without an error"
    if run.exit_code == 0:
        return Point("exit", title, "pass", "It exited with code 0.")
    if run.exit_code is None:
        return Point(
            "exit",
            title,
            "fail",
            "It was stopped at the time limit: does it wait for "
            "input that never comes, or loop forever?",
        )
    hint = ""
    if any(e.stream and (e.body or {}).get("stream_options") for e in run.chats):
        hint = (
            " A stream with include_usage ends with a chunk whose choices list is empty: "
            "code that reads chunk.choices[0] on every chunk crashes on it."
        )
    return Point("exit", title, "fail", f"It exited with code {run.exit_code}.{hint}")


def valid_requests(run: Run) -> Point:
    title = "every request I send is valid (no 4xx)"
    refused = [e for e in run.entries if 400 <= e.status < 500]
    if not run.entries:
        return Point("valid", title, "n/a", "No request was sent.")
    if not refused:
        return Point("valid", title, "pass", f"All {len(run.entries)} request(s) were answered.")
    first = refused[0]
    return Point(
        "valid",
        title,
        "fail",
        f"{len(refused)} request(s) refused; the first: "
        f"{first.path} HTTP {first.status}: {_error_text(first.response)}",
    )


def history_resent(run: Run) -> Point:
    title = "my chat loop re-sends the history"
    chats = [e for e in run.chats if e.status == 200]
    if len(chats) < 2:
        return Point("history", title, "n/a", "Fewer than two chat requests: no loop to check.")
    for number, (before, after) in enumerate(itertools.pairwise(chats), start=2):
        expected = [*map(_said, messages_of(before)), ("assistant", answer_of(before).strip())]
        sent = [_said(m) for m in messages_of(after)]
        if sent[: len(expected)] != expected or len(sent) <= len(expected):
            return Point(
                "history",
                title,
                "fail",
                f"Request {number} sent {len(sent)} message(s)"
                f"; it should start with request {number - 1}'s {len(expected) - 1} "
                f"message(s) plus the answer to them, then the new question "
                f"({_first_difference(expected, sent)}).",
            )
    return Point(
        "history",
        title,
        "pass",
        f"Each of the {len(chats)} requests starts with the "
        "previous one's messages and its answer.",
    )


def include_usage(run: Run) -> Point:
    title = "I set stream_options.include_usage when I stream"
    streams = [e for e in run.chats if e.path == "/v1/chat/completions" and e.stream]
    if not streams:
        return Point("include_usage", title, "n/a", "No streamed /v1 chat request.")
    missing = [
        e for e in streams if (e.body.get("stream_options") or {}).get("include_usage") is not True
    ]
    if missing:
        return Point(
            "include_usage",
            title,
            "fail",
            f"{len(missing)} of {len(streams)} "
            "streamed request(s) did not ask for usage: no chunk of those streams "
            "carries token counts, so a meter bills them as zero.",
        )
    return Point(
        "include_usage",
        title,
        "pass",
        f"All {len(streams)} streamed request(s) asked for the usage chunk.",
    )


def meter_total(run: Run) -> Point:
    title = "my meter's total matches what the server counted"
    counted = [e for e in run.chats if e.status == 200]
    truth = sum((e.prompt_tokens or 0) + (e.completion_tokens or 0) for e in counted)
    found = re.findall(run.total_pattern, run.stdout, flags=re.IGNORECASE)
    if not found:
        return Point(
            "meter",
            title,
            "n/a",
            "The program printed no token total (a line like 'total tokens: 612').",
        )
    printed = int(found[-1])
    if printed == truth:
        return Point(
            "meter",
            title,
            "pass",
            f"It printed {printed}, the sum of total_tokens over its {len(counted)} request(s).",
        )
    return Point(
        "meter",
        title,
        "fail",
        f"It printed {printed}; the fake counted {truth} "
        f"tokens over {len(counted)} request(s) (prompt + completion, each request's "
        "usage). Read usage from every answer, the usage chunk of a stream "
        "included.",
    )


def system_once(run: Run) -> Point:
    title = "I send the system prompt once per request"
    with_system = [
        (i, [m for m in messages_of(e) if m.get("role") == "system"])
        for i, e in enumerate(run.chats, 1)
    ]
    with_system = [(i, s) for i, s in with_system if s]
    if not with_system:
        return Point("system", title, "n/a", "No request carried a system message.")
    for number, systems in with_system:
        texts = [_said(m)[1] for m in systems]
        if len(texts) != len(set(texts)):
            return Point(
                "system",
                title,
                "fail",
                f"Request {number} carried the same system "
                f"prompt {max(texts.count(t) for t in texts)} times: each copy is "
                "rendered and counted again, on every call.",
            )
    return Point(
        "system",
        title,
        "pass",
        f"{len(with_system)} request(s) carried a system prompt, each once.",
    )


POINTS: tuple[Callable[[Run], Point], ...] = (
    reached_the_fake,
    ran_to_the_end,
    valid_requests,
    history_resent,
    include_usage,
    meter_total,
    system_once,
)
NAMES = ("reached", "exit", "valid", "history", "include_usage", "meter", "system")


def evaluate(
    entries: Sequence[Entry],
    *,
    stdout: str = "",
    exit_code: int | None = 0,
    total_pattern: str = TOTAL_PATTERN,
) -> list[Point]:
    """Every point for one run of a student's program."""
    run = Run(entries, stdout, exit_code, total_pattern)
    return [point(run) for point in POINTS]


def _first_difference(expected: list[tuple[str, str]], sent: list[tuple[str, str]]) -> str:
    for index, (want, got) in enumerate(zip(expected, sent, strict=False)):
        if want != got:
            return (
                f"message {index + 1} is {got[0]} {_short(got[1])}, expected {want[0]} "
                f"{_short(want[1])}"
            )
    if len(sent) < len(expected):
        return f"message {len(sent) + 1}, {expected[len(sent)][0]}, is missing"
    return "nothing new after the history"


def _short(text: str, width: int = 40) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= width else flat[: width - 1] + "…")


def _error_text(response: Any) -> str:
    error = response.get("error") if isinstance(response, dict) else response
    if isinstance(error, dict):
        error = error.get("message")
    return _short(str(error or ""), 120)
