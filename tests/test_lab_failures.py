"""The lab against a failing engine: the fake's --fault modes, over real sockets.

Each failure is one actionable paragraph on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lab.cli import main
from mockserver.config import Settings
from mockserver.server import BackgroundServer, serving


@pytest.fixture
def failing(request: pytest.FixtureRequest) -> Iterator[BackgroundServer]:
    with serving(Settings(port=0, faults=tuple(request.param))) as server:
        yield server


def run_lab(server: BackgroundServer, capsys, *args: str) -> tuple[int, str]:
    code = main(["run", "--target", server.url, "--model", "llama3.2:3b", *args], env={})
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, " ".join(captured.err.split())


@pytest.mark.parametrize("failing", [["busy"]], indirect=True)
def test_a_busy_engine_is_one_paragraph_and_exit_1(failing, capsys):
    code, said = run_lab(failing, capsys, "round_trip")
    assert code == 1
    assert "is busy" in said
    assert "HTTP 503: server busy, please try again" in said
    assert "OLLAMA_MAX_QUEUE" in said


@pytest.mark.parametrize("failing", [["error"]], indirect=True)
def test_a_crashed_runner_is_one_paragraph_and_exit_1(failing, capsys):
    code, said = run_lab(failing, capsys, "round_trip")
    assert code == 1
    assert "HTTP 500: llama runner process has terminated" in said
    assert "server log" in said


@pytest.mark.parametrize("failing", [["slow-load=1.2"]], indirect=True)
def test_a_model_that_loads_for_longer_than_the_timeout_says_to_raise_it(failing, capsys):
    code, said = run_lab(failing, capsys, "round_trip", "--timeout", "0.3")
    assert code == 1
    assert "No complete answer from" in said and "within 0.3 s" in said
    assert "--timeout 1200 or LAB_TIMEOUT=1200" in said


@pytest.mark.parametrize("failing", [["disconnect=3"]], indirect=True)
def test_a_stream_cut_midway_is_reported_not_crashed(failing, capsys):
    code, said = run_lab(failing, capsys, "streaming_usage")
    assert code == 1, "it connected: a failure mid-run, not a setup problem"
    assert "was cut off" in said
    assert "data: [DONE]" in said


@pytest.mark.parametrize("command", [["run"], ["report"], ["fidelity", "--target", "mock"]])
def test_a_fake_that_cannot_start_is_a_setup_paragraph(command, monkeypatch, capsys):
    def refuse(self, timeout: float = 10.0):
        raise OSError("[Errno 98] address already in use")

    monkeypatch.setattr(BackgroundServer, "start", refuse)
    assert main(command, env={}) == 2
    said = " ".join(capsys.readouterr().err.split())
    assert "The bundled fake did not start" in said
    assert "address already in use. Check that a loopback port can be opened" in said
