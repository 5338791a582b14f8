"""``lab check``: a student's program against the journaled fake, a verdict per contract point.

The example students (examples/students/) are real programs written with the openai SDK; each
row says what the check must find in it. The unit rows below feed the points journal entries
directly, the way an autograder using the ``ollama_fake`` fixture would.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import sys
from pathlib import Path

import pytest

from lab.check.points import NAMES, evaluate
from lab.cli import main
from mockserver.journal import Entry

STUDENTS = Path(__file__).resolve().parent.parent / "examples" / "students"

PROGRAMS = [  # program, exit code of lab check, the verdict of each point
    ("good_chat.py", 0, dict.fromkeys(NAMES, "pass")),
    (
        "bad_chat.py",
        1,
        {
            "reached": "pass",
            "exit": "pass",
            "valid": "pass",
            "history": "fail",
            "include_usage": "fail",
            "meter": "fail",
            "system": "fail",
        },
    ),
    (
        "crashy_chat.py",
        1,
        {
            "reached": "pass",
            "exit": "fail",
            "valid": "pass",
            "history": "n/a",
            "include_usage": "pass",
            "meter": "n/a",
            "system": "n/a",
        },
    ),
]


@functools.cache
def check(*args: str) -> tuple[int, dict]:
    """``lab check --json ARGS``: its exit code and document (each program runs once)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["check", "--json", *args])
    return code, json.loads(printed.getvalue())


def student(program: str) -> tuple[str, ...]:
    return ("--", sys.executable, str(STUDENTS / program))


@pytest.mark.parametrize(("program", "exit_code", "verdicts"), PROGRAMS)
def test_each_example_student_gets_the_verdict_its_code_earns(
    program: str, exit_code: int, verdicts: dict[str, str]
) -> None:
    code, document = check(*student(program))
    assert {p["name"]: p["status"] for p in document["points"]} == verdicts
    assert code == exit_code
    assert document["passed"] is (exit_code == 0)


def test_the_bad_students_evidence_names_the_mistake_and_the_true_count() -> None:
    _, document = check(*student("bad_chat.py"))
    evidence = {p["name"]: p["evidence"] for p in document["points"]}
    assert "It printed 0; the fake counted" in evidence["meter"]
    assert "expected assistant" in evidence["history"]  # the answer was never re-sent
    assert "same system prompt 2 times" in evidence["system"]


def test_a_required_point_that_did_not_apply_fails() -> None:
    code, document = check("--require", "history", *student("crashy_chat.py"))
    history = next(p for p in document["points"] if p["name"] == "history")
    assert (code, history["status"]) == (1, "fail")
    assert history["evidence"].startswith("Required, but:")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--"], "No program to check"),
        (["--require", "histroy", "--", "true"], "the points are"),
        (["--", "/no/such/program"], "could not be started"),
    ],
)
def test_a_program_that_cannot_run_is_a_setup_error(args: list[str], says: str) -> None:
    code, document = check(*args)
    assert code == 2
    assert says in document["error"]["title"] + document["error"]["message"]


def test_a_program_that_never_calls_the_server_fails_reached() -> None:
    code, document = check("--", sys.executable, "-c", "print('hello')")
    verdicts = {p["name"]: p["status"] for p in document["points"]}
    assert code == 1
    assert verdicts["reached"] == "fail" and verdicts["exit"] == "pass"


# --- the points on journal entries, as an autograder in pytest would use them -------------


def chat(messages: list[dict], answer: str, **body: object) -> Entry:
    return Entry(
        "POST",
        "/v1/chat/completions",
        {"model": "m", "messages": messages, **body},
        status=200,
        response={"choices": [{"message": {"content": answer}}]},
        prompt_tokens=10,
        completion_tokens=5,
    )


U1, U2 = {"role": "user", "content": "one"}, {"role": "user", "content": "two"}
A1 = {"role": "assistant", "content": "first answer"}

HISTORY = [  # the requests, the verdict of "my chat loop re-sends the history"
    ([chat([U1], "first answer"), chat([U1, A1, U2], "x")], "pass"),
    ([chat([U1], " first answer\n"), chat([U1, A1, U2], "x")], "pass"),  # ends' spaces aside
    ([chat([U1], "first answer"), chat([U2], "x")], "fail"),  # forgot everything
    ([chat([U1], "first answer"), chat([U1, U2], "x")], "fail"),  # forgot the answer
    ([chat([U1], "first answer"), chat([U1, A1], "x")], "fail"),  # nothing new asked
    ([chat([U1], "first answer")], "n/a"),
]


@pytest.mark.parametrize(("entries", "verdict"), HISTORY)
def test_history_is_the_previous_request_plus_its_answer(entries: list, verdict: str) -> None:
    (history,) = [p for p in evaluate(entries) if p.name == "history"]
    assert history.status == verdict, history.evidence


def test_the_meter_is_compared_with_every_requests_usage() -> None:
    entries = [chat([U1], "first answer"), chat([U1, A1, U2], "x")]
    meter = {
        o: next(p for p in evaluate(entries, stdout=o) if p.name == "meter").status
        for o in ("TOTAL_TOKENS=30", "total tokens: 15", "no figure")
    }
    assert meter == {"TOTAL_TOKENS=30": "pass", "total tokens: 15": "fail", "no figure": "n/a"}


def test_the_points_are_named_as_listed() -> None:
    assert [p.name for p in evaluate([])] == list(NAMES)


def test_an_autograder_in_pytest_reads_the_same_points_off_the_plugins_journal(
    ollama_fake, openai_client
) -> None:
    messages = [{"role": "user", "content": "Hi, I'm Ada."}]
    for question in ("What's my name?", "And where am I going?"):
        reply = openai_client.chat.completions.create(model="llama3.2:3b", messages=messages)
        messages += [
            {"role": "assistant", "content": reply.choices[0].message.content},
            {"role": "user", "content": question},
        ]
    points = {p.name: p.status for p in evaluate(ollama_fake.journal.entries)}
    assert points["history"] == "pass" and points["valid"] == "pass"
