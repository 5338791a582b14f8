"""``python -m lab post 6|7``: conversation state and load, on the fakes, and their preflight.

Post 6 runs here with a 1024-token window and 12 turns (the lesson's 4096 and 50 take longer
than a unit test should); what is checked is the same: the refusal, the silent drop derived
from Ollama's own rendering, the strategies' budgets, and what the model could still answer.
"""

from __future__ import annotations

import json

import pytest

from lab.cli import main
from lab.series import conversation
from mockserver.engine import recall
from mockserver.engine.chat import Message
from mockserver.server import free_port


def run(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["post", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def small_thread(monkeypatch):
    monkeypatch.setattr(conversation, "MOCK_WINDOW", 1024)
    monkeypatch.setattr(conversation, "TURNS", 12)
    monkeypatch.setattr(conversation, "SHOWN_TURNS", (1, 6, 12))


def test_post_6_on_the_fakes(capsys, small_thread):
    code, document = run(capsys, "6", "--target", "mock")
    assert code == 0, document.get("error")
    (result,) = document["results"]
    data = result["data"]
    threads = {t["name"]: t for t in data["threads"]}
    llama, ollama = threads["whole thread, llama-server"], threads["whole thread, ollama"]
    window, summary = threads["sliding window (exact tokens)"], threads["summary turn"]

    refused = llama["refused"]
    assert refused["status"] == 400 and refused["error"]["type"] == "exceed_context_size_error"
    assert refused["error"]["n_prompt_tokens"] >= refused["error"]["n_ctx"] == 1024
    assert llama["answer"] is None and len(llama["turns"]) == refused["turn"] < 12

    assert len(ollama["turns"]) == 12 and max(t["prompt_tokens"] for t in ollama["turns"]) < 1024
    assert ollama["turns"][0]["kept_from_turn"] == 1 and ollama["turns"][-1]["kept_from_turn"] > 1
    assert not ollama["answers_turn_1"] and "can't find your locker code" in ollama["answer"]

    budget = 1024 - conversation.ANSWER_TOKENS
    for thread in (window, summary):
        assert len(thread["turns"]) == 12
        assert all(t["prompt_tokens"] <= budget for t in thread["turns"])
    assert not window["answers_turn_1"]
    assert summary["summaries"] and summary["summaries"][0]["keeps_fact"]
    assert summary["answers_turn_1"] and conversation.CODE in summary["answer"]


def test_post_6_on_servers_given_by_url(capsys, small_thread):
    """--backends (a llama-server) and --ollama: the servers' own windows, found by preflight."""
    from mockserver.config import Settings
    from mockserver.server import BackgroundServer

    twin = BackgroundServer(Settings(port=0, flavor="llama-server", llama_model="gpt-oss",
                                     alias="gpt-oss", ctx_size=1024)).start()  # fmt: skip
    fake = BackgroundServer(Settings(port=0, num_ctx=1024)).start()
    try:
        code, document = run(capsys, "6", "--backends", twin.url, "--ollama", fake.url)
    finally:
        fake.stop()
        twin.stop()
    assert code == 0, document.get("error")
    data = document["results"][0]["data"]
    assert [(s["kind"], s["window"]) for s in data["servers"]] == [
        ("llama-server", 1024), ("ollama", 1024)]  # fmt: skip
    assert data["servers"][1]["model"] == "llama3.2:3b"  # Ollama's first listed model


def test_the_sliding_window_counts_what_the_server_counts(small_thread):
    """The exact count before sending is the prompt_tokens the server then reports."""
    with conversation._mock_pair(30.0) as (llama, ollama):
        for server in (llama, ollama):
            messages = [{"role": "user", "content": t} for t in conversation.user_turns(1024)[:3]]
            response = server.client().chat.completions.create(
                model=server.model, messages=messages, max_tokens=4
            )
            assert server.count(messages) == response.usage.prompt_tokens


def test_post_7_on_the_twin(capsys):
    code, document = run(capsys, "7", "--target", "mock", "--pace", "instant-load",
                         "--clients", "1,2", "--seconds", "0.3")  # fmt: skip
    assert code == 0, document.get("error")
    (result,) = document["results"]
    data = result["data"]
    assert data["slots"] == 4 and [lv["clients"] for lv in data["levels"]] == [1, 2]
    for level in data["levels"]:
        assert level["errors"] == 0 and level["requests"] >= level["clients"]
        assert level["ttft_ms"]["p50"] > 0 and level["total_tokens_per_s"] > 0
        assert all(r["tokens"] > 1 for r in level["records"])  # the usage chunk's count


def test_the_charts_are_drawn(tmp_path):
    from lab.series import charts

    level = {"clients": 1, "ttft_ms": {"p50": 100.0, "p95": 120.0}, "total_tokens_per_s": 90.0}
    run_data = {"backend": {"model": "gpt-oss"}, "levels": [level, {**level, "clients": 2}]}
    drawn = [charts.ttft_against_clients(tmp_path / "load.png", [run_data]),
             charts.tokens_per_turn(tmp_path / "state.svg", 4096,
                                    [("window", [87, 180, None, 300])], refused_at=3)]  # fmt: skip
    assert drawn[0].read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in drawn[1].read_bytes()


@pytest.mark.parametrize(
    ("argv", "title"),
    [
        (["7", "--target", f"http://127.0.0.1:{free_port()}"], "No server answers"),
        (["7", "--target", "mock", "--clients", "0"], "Post 7 needs a number of clients"),
        (["2", "--target", "http://127.0.0.1:8010"], "Posts 2 and 3 need llama-server"),
    ],
)
def test_a_bad_target_or_option_is_one_paragraph_and_exit_2(capsys, argv, title):
    code, document = run(capsys, *argv)
    assert code == 2
    assert document["error"]["title"].startswith(title)
    assert "\n" not in document["error"]["message"]


PLANTED = Message("user", "Before we start: my locker code is 4912. Remember it.")
ASKED = Message("user", "What is my locker code?")


@pytest.mark.parametrize(
    ("messages", "seen", "expected"),
    [
        ((PLANTED, Message("assistant", "ok"), ASKED), "", "Your locker code is 4912."),
        ((ASKED,), "", "I can't find your locker code anywhere"),
        # Ollama dropped turn 1: the request still has it, the prompt the model reads does not.
        ((PLANTED, ASKED), "<|start|>user<|message|>What is my locker code?<|end|>",
         "I can't find your locker code anywhere"),
        ((PLANTED, Message("user", "Summarize the conversation so far.")), "",
         "Facts the user stated: my locker code is 4912."),
        ((Message("user", "Hi"),), "", None),
    ],
)  # fmt: skip
def test_the_fake_answers_from_what_it_was_given(messages, seen, expected):
    answer = recall.answer(messages, seen)
    assert answer is None if expected is None else expected in answer


def test_posts_6_and_7_have_a_lesson_and_an_answer_key():
    """(Their questions and answers are checked with every lesson's: tests/test_answer_keys.py.)"""
    from pathlib import Path

    from lab.series.experiments import EXPERIMENTS

    later = [e for e in EXPERIMENTS if e.post in (6, 7)]
    assert [e.name for e in later] == ["conversation_state", "load"]
    answers = Path(__file__).parents[1] / "teacher" / "answers"
    for experiment in later:
        assert "## Discuss" in experiment.lesson_file.read_text("utf-8")
        assert "## Q:" in (answers / f"{experiment.name}.md").read_text("utf-8")
