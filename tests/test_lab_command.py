"""The one command skeleton (lab/command.py) that ``lab run``, ``report`` and ``fidelity`` share:
resolve the target, preflight, run, show, exit code; a target failure is one paragraph."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from rich.console import Console

from lab import command
from lab.cli import main
from lab.errors import EXIT_INTERRUPTED, EXIT_OK, LabError, RunFailure, SetupError
from lab.targets import Target

TARGET = Target("url", "http://server.test:8000", "http://server.test:8000/v1", "--target")


def console() -> tuple[Console, io.StringIO]:
    text = io.StringIO()
    return Console(file=text, width=100, highlight=False), text


def fails(problem: BaseException) -> Callable[..., Any]:
    def step(*_: object) -> object:
        raise problem

    return step


def fine(value: object) -> Callable[..., Any]:
    return lambda *_: value


@pytest.mark.parametrize(
    ("preflight", "run", "show", "code", "says", "stopped"),
    [
        (fine("engine"), fine("result"), fine(EXIT_OK), EXIT_OK, "", None),
        (fine("engine"), fine("result"), fine(1), 1, "", None),
        (
            fails(SetupError("Nothing answers", "Start it.")),
            fine(0),
            fine(0),
            2,
            "Nothing answers",
            "Nothing answers",
        ),
        (
            fine("engine"),
            fails(RunFailure("It stopped", "Look.")),
            fine(0),
            1,
            "✗ It stopped\nLook.",
            "It stopped",
        ),
        (
            fine("engine"),
            fine("result"),
            fails(SetupError("Cannot write", "Disk full.")),
            2,
            "Cannot write",
            None,
        ),
        (fails(KeyboardInterrupt()), fine(0), fine(0), EXIT_INTERRUPTED, "Interrupted.", None),
        (
            fine("engine"),
            fails(KeyboardInterrupt()),
            fine(0),
            EXIT_INTERRUPTED,
            "Interrupted.",
            None,
        ),
    ],
    ids=[
        "ok",
        "failed-result",
        "unusable",
        "run-failure",
        "show-failure",
        "ctrl-c-preflight",
        "ctrl-c-run",
    ],
)
def test_every_step_ends_in_an_exit_code_and_at_most_one_paragraph(
    preflight: Callable[..., object],
    run: Callable[..., object],
    show: Callable[..., int],
    code: int,
    says: str,
    stopped: str | None,
) -> None:
    err, text = console()
    told: list[LabError] = []

    assert (
        command.execute(
            TARGET, preflight=preflight, run=run, show=show, err=err, stopped=told.append
        )
        == code
    )

    assert says in text.getvalue()
    assert "Traceback" not in text.getvalue()
    assert [problem.title for problem in told] == ([stopped] if stopped else [])


def test_the_steps_run_in_order_with_what_the_previous_one_returned() -> None:
    err, _ = console()
    seen: list[object] = []

    def preflight(target: Target) -> str:
        seen.append(target)
        return "engine"

    def run(target: Target, engine: str) -> str:
        seen.append(engine)
        return "result"

    def show(result: str) -> int:
        seen.append(result)
        return 7

    assert command.execute(TARGET, preflight=preflight, run=run, show=show, err=err) == 7
    assert seen == [TARGET, "engine", "result"]


def test_a_bug_is_not_swallowed() -> None:
    err, _ = console()
    with pytest.raises(ZeroDivisionError):
        command.execute(
            TARGET, preflight=fails(ZeroDivisionError()), run=fine(0), show=fine(0), err=err
        )


def test_the_mock_target_is_started_for_the_steps_and_stopped_after() -> None:
    err, _ = console()
    mock = Target("mock", "", "", "--target mock")
    during: list[Target] = []
    command.execute(mock, preflight=during.append, run=fine(0), show=fine(0), err=err)
    (opened,) = during
    assert opened.root.startswith("http://127.0.0.1:") and opened.openai_url.endswith("/v1")


@pytest.mark.parametrize(
    "argv", [["run"], ["report"], ["fidelity"]], ids=["run", "report", "fidelity"]
)
def test_ctrl_c_in_any_command_is_exit_130_without_a_traceback(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("lab.targets.opened", fails(KeyboardInterrupt()))

    assert main([*argv, "--target", "http://server.test:8000/v1"], env={}) == EXIT_INTERRUPTED

    err = capsys.readouterr().err
    assert "Interrupted." in err and "Traceback" not in err
