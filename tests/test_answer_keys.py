"""Every lesson has an answer key in teacher/answers/, and every question in it is answered.

A lesson's questions are the sentences ending in "?" of its **Predict first.** paragraph and of
its ``## Discuss`` section. An answer key (teacher/answers/README.md) has one ``## Q:`` section
per question block, quoting the questions, with what the run shows and how to see it. The keys
are for teachers: they are not package data, so the wheel students install does not carry them
(tests/test_lab_packaging.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ROOT / "lab" / "lessons"
ANSWERS = ROOT / "teacher" / "answers"
MARKS = ("**What the run shows.**", "**How to see it.**")


def plain(text: str) -> str:
    """Text as compared: no markdown emphasis or code marks, one space between words."""
    return " ".join(re.sub(r"[`*]", "", text).split()).lower()


def questions(lesson: str) -> list[str]:
    """The question sentences of a lesson's Predict first paragraph and Discuss section."""
    predict = re.search(r"\*\*Predict first\.\*\*(.*?)(?:\n\s*\n|\Z)", lesson, re.S)
    discuss = re.search(r"^## Discuss\s*\n(.*?)(?=^#|\Z)", lesson, re.S | re.M)
    blocks = [m.group(1) for m in (predict, discuss) if m]
    items = [i for b in blocks for i in re.split(r"^\s*(?:\d+\.|[-*])\s+", b, flags=re.M)]
    sentences = [s for i in items for s in re.split(r"(?<=[.?!])\s+(?=[A-Z`\"(*])", i)]
    return [plain(s) for s in sentences if s.strip().endswith("?")]


def sections(key: str) -> dict[str, str]:
    """The ``## Q:`` sections of an answer key: the quoted questions and the answer under them."""
    parts = re.split(r"^## Q:", key, flags=re.M)[1:]
    found = {}
    for part in parts:
        heading, _, body = part.partition("\n")
        found[plain(heading)] = re.split(r"^## ", body, flags=re.M)[0]
    return found


def lessons() -> list[Path]:
    return sorted(LESSONS.glob("*.md"))


def test_the_question_parser_reads_a_lesson_as_a_teacher_would() -> None:
    lesson = (
        "# T\n\n**Predict first.** Turn 1 says a code. Will the server return an error? "
        "And `after 50`?\n\n## Why\n\nWhy? Not a question here.\n\n## Discuss\n\nWho pays?\n"
        "1. A list item says so. Is it a question?\n2. This is one too?\n"
    )
    assert questions(lesson) == ["will the server return an error?", "and after 50?",
                                 "who pays?", "is it a question?", "this is one too?"]  # fmt: skip


@pytest.mark.parametrize("lesson", lessons(), ids=lambda p: p.stem)
def test_every_lesson_has_questions_and_an_answer_key(lesson: Path) -> None:
    assert questions(lesson.read_text(encoding="utf-8")), (
        f"{lesson.name} asks nothing: give it a **Predict first.** paragraph and a ## Discuss "
        "section"
    )
    assert (ANSWERS / lesson.name).is_file(), f"teacher/answers/{lesson.name} is missing"


@pytest.mark.parametrize("lesson", lessons(), ids=lambda p: p.stem)
def test_every_question_has_an_answer_that_says_what_the_run_shows(lesson: Path) -> None:
    key = ANSWERS / lesson.name
    if not key.is_file():
        pytest.skip("no key (the test above fails)")
    answered = sections(key.read_text(encoding="utf-8"))
    for question in questions(lesson.read_text(encoding="utf-8")):
        heading = next((h for h in answered if question in h), None)
        assert heading is not None, f"{key.name}: no '## Q:' section quotes {question!r}"
        body = answered[heading]
        for mark in MARKS:
            assert mark in body and len(body.split(mark)[1].split()) >= 5, (
                f"{key.name}: the answer to {question!r} needs {mark} and a sentence after it"
            )


@pytest.mark.parametrize("key", sorted(ANSWERS.glob("*.md")), ids=lambda p: p.stem)
def test_no_key_answers_a_question_the_lesson_no_longer_asks(key: Path) -> None:
    if key.name == "README.md":
        return
    lesson = LESSONS / key.name
    assert lesson.is_file(), f"{key.name} answers a lesson that does not exist"
    asked = questions(lesson.read_text(encoding="utf-8"))
    for heading in sections(key.read_text(encoding="utf-8")):
        assert any(q in heading for q in asked), f"{key.name}: {heading!r} is not asked any more"
