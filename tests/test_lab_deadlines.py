"""``--deadline`` on every lab command that talks to a target: each experiment of ``lab run``,
each check of ``lab report``, each case of ``lab fidelity`` (both servers) ends by it, every
call included. Past it the command stops with one paragraph and exit 1, no traceback; the
value comes from ``--deadline``, else ``LAB_DEADLINE``. Against ``tests/hostile.py``'s server
trickling one byte every 0.05 s: no read waits long enough for the per-call ``--timeout``
(60 s here) to end it, so only the deadline can."""

from __future__ import annotations

import pytest

from lab.cli import main
from tests.hostile import MODEL, Hostile


def said_once(capsys: pytest.CaptureFixture[str]) -> str:
    """stderr on one line; exactly one problem reported, no traceback."""
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert captured.err.count("✗") == 1, captured.err
    return " ".join(captured.err.split())


def report(server: Hostile) -> list[str]:
    return ["report", "--target", server.openai_url, "--model", MODEL, "--timeout", "60"]


def fidelity(server: Hostile) -> list[str]:
    return ["fidelity", "--target", server.url, "--models", MODEL, "--timeout", "60"]


# (command, attacked route, what the paragraph names)
COMMANDS = [
    (report, "chat", 'The check "'),
    (fidelity, "native", "The case "),
]


@pytest.mark.parametrize(("command", "at", "unit"), COMMANDS, ids=["report", "fidelity"])
def test_a_check_or_case_that_does_not_finish_ends_at_its_deadline(
    command, at: str, unit: str, capsys
) -> None:
    with Hostile("trickle", at=at, interval=0.05) as server:
        assert main([*command(server), "--deadline", "1"]) == 1
    err = said_once(capsys)
    assert unit in err
    assert "did not finish within 1 s" in err
    assert "--deadline 3600 or LAB_DEADLINE=3600" in err


@pytest.mark.parametrize(("command", "at", "unit"), COMMANDS, ids=["report", "fidelity"])
def test_the_deadline_can_come_from_the_environment(command, at: str, unit: str, capsys) -> None:
    with Hostile("trickle", at=at, interval=0.05) as server:
        assert main(command(server), env={"LAB_DEADLINE": "0.5"}) == 1
    err = said_once(capsys)
    assert unit in err
    assert "did not finish within 0.5 s" in err


@pytest.mark.parametrize("name", ["run", "report", "fidelity"])
def test_every_command_that_talks_to_a_target_takes_a_deadline(name: str, capsys) -> None:
    assert main([name, "--help"]) == 0
    assert "--deadline SECONDS" in capsys.readouterr().out


@pytest.mark.parametrize("command", [report, fidelity], ids=["report", "fidelity"])
def test_a_bad_deadline_in_the_environment_is_one_paragraph(command, capsys) -> None:
    with Hostile("healthy") as server:
        assert main(command(server), env={"LAB_DEADLINE": "soon"}) == 2
    err = said_once(capsys)
    assert "LAB_DEADLINE" in err


def test_within_the_deadline_the_report_and_the_fidelity_run_as_before(capsys) -> None:
    """A healthy server, a deadline long enough: the report is produced (exit 0), the
    fidelity run compares (exit 1: the hostile server's template is not Llama's)."""
    with Hostile("healthy") as server:
        assert main([*report(server), "--deadline", "60"]) == 0
        assert main([*fidelity(server), "--deadline", "60"]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert "did not finish" not in captured.out + captured.err
