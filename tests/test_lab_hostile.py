"""The lab against hostile targets (tests/hostile.py), over real loopback sockets.

Whatever the target does (invalid JSON, odd shapes, a byte at a time, a body that never ends,
64 MiB, a stream cut short), the reader gets one paragraph and a non-zero exit, within the
deadlines they set (``--timeout`` per call, ``--deadline`` per experiment), and the lab reads a
bounded number of bytes. Deadlines here are short so that the suite stays fast; nothing
asserts how long anything took.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import bounds
from lab.bounds import MAX_ANSWER_BYTES
from lab.cli import main
from tests.hostile import MIB, Hostile

FAST = ["--timeout", "2"]


def lab(*args: str) -> list[str]:
    return ["run", *args, "--model", "llama3.2:3b"]


def said_once(capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """stdout, and stderr on one line; exactly one problem reported, no traceback."""
    captured = capsys.readouterr()
    everything = captured.out + captured.err
    assert "Traceback" not in everything
    assert captured.err.count("✗") == 1, captured.err
    return captured.out, " ".join(captured.err.split())


def test_the_hostile_server_is_healthy_where_it_does_not_attack(capsys) -> None:
    with Hostile("healthy") as server:
        code = main(lab("round_trip", "streaming_usage", "--target", server.openai_url, *FAST))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Traceback" not in captured.out + captured.err


def test_every_experiment_runs_against_the_hostile_server_where_it_does_not_attack(
    capsys,
) -> None:
    with Hostile("healthy") as server:
        code = main(lab("--all", "--target", server.openai_url, *FAST))
    captured = capsys.readouterr()
    assert code in (0, 1), captured.err  # 1: an experiment's own "unexpected" verdict
    assert "Traceback" not in captured.out + captured.err
    assert "✗" not in captured.err


@pytest.mark.slow  # PORTWAY_SLOW=1 or nox -s slow (tests/conftest.py)
@pytest.mark.parametrize(
    ("behaviour", "at", "experiment", "says"),
    [
        ("no-done", "stream", "streaming_usage", "ended without data: [DONE]"),
        ("trickle", "chat", "round_trip", "within 1 s"),
        ("endless-json", "chat", "round_trip", "was too large"),
    ],
)
def test_recording_does_not_lift_the_bounds(
    behaviour: str, at: str, experiment: str, says: str, tmp_path: Path, capsys
) -> None:
    with Hostile(behaviour, at=at) as server:
        args = lab(experiment, "--target", server.openai_url, "--timeout", "1")
        assert main([*args, "--record", str(tmp_path / "rec")]) == 1

    _, err = said_once(capsys)
    assert says in err
    assert list((tmp_path / "rec").glob("*.json")), "the exchanges before the failure are saved"


# (behaviour, attacked route, experiment, exit code, words the paragraph must contain)
DURING_A_RUN = [
    ("invalid-json", "chat", "round_trip", ["an answer the openai SDK could not read",
                                            "JSONDecode"]),
    ("empty-200", "chat", "round_trip", ["an answer the openai SDK could not read"]),
    ("usage-lots", "chat", "round_trip", ['a "usage" that is not an object of token counts',
                                          '("usage": "lots")']),
    ("usage-lots", "stream", "streaming_usage", ["(stream=True) returned a stream chunk with",
                                                 '("usage": "lots")']),
    ("endless-json", "chat", "round_trip", ["was too large", "passed 4 MiB"]),
    ("huge", "chat", "round_trip", ["was too large", "passed 4 MiB"]),
    ("huge-chunked", "chat", "round_trip", ["was too large", "passed 4 MiB"]),
    ("no-done", "stream", "streaming_usage", ["ended without data: [DONE]",
                                              "did carry a finish_reason"]),
    ("cut-before-finish", "stream", "streaming_usage", ["ended without data: [DONE]", "sent 3",
                                                        "No chunk carried a finish_reason"]),
    ("html-500", "chat", "round_trip", ['HTTP 502: an HTML page titled "502 Bad Gateway"']),
]  # fmt: skip


@pytest.mark.parametrize(
    ("behaviour", "at", "experiment", "says"),
    DURING_A_RUN,
    ids=[f"{b}@{at}" for b, at, _, _ in DURING_A_RUN],
)
def test_a_hostile_answer_during_a_run_is_one_paragraph_and_exit_1(
    behaviour: str, at: str, experiment: str, says: list[str], capsys
) -> None:
    with Hostile(behaviour, at=at) as server:
        assert main(lab(experiment, "--target", server.openai_url, *FAST)) == 1

    _, err = said_once(capsys)
    for words in says:
        assert words in err, words


def test_an_endless_stream_stops_at_the_byte_cap(monkeypatch, capsys) -> None:
    # The SDK parses every SSE chunk into an object: a small cap keeps this test quick.
    monkeypatch.setattr(bounds, "MAX_ANSWER_BYTES", 256 * 1024)
    with Hostile("endless-sse", at="stream") as server:
        args = lab("streaming_usage", "--target", server.openai_url, "--timeout", "60")
        assert main(args) == 1

    _, err = said_once(capsys)
    assert "The answer from the server at" in err and "was too large" in err
    assert "passed 262,144 bytes, the most it reads of one answer" in err


@pytest.mark.parametrize("behaviour", ["huge", "huge-chunked", "endless-json"])
def test_the_lab_stops_reading_at_the_byte_cap(behaviour: str, capsys) -> None:
    with Hostile(behaviour, at="chat") as server:
        assert main(lab("round_trip", "--target", server.openai_url, *FAST)) == 1
    said_once(capsys)
    # The server could write at most the cap plus what the loopback socket buffers hold.
    assert server.bytes_sent < MAX_ANSWER_BYTES + 16 * MIB < 64 * MIB


@pytest.mark.slow  # PORTWAY_SLOW=1 or nox -s slow (tests/conftest.py)
@pytest.mark.parametrize(
    ("behaviour", "at", "experiment"),
    [
        ("trickle", "chat", "round_trip"),
        ("trickle", "stream", "streaming_usage"),
        ("stall", "chat", "round_trip"),
    ],
)
def test_an_answer_that_does_not_finish_in_time_ends_at_the_call_deadline(
    behaviour: str, at: str, experiment: str, capsys
) -> None:
    # A byte every 0.05 s: a read never waits for 1 s, so only the whole-call deadline ends it.
    with Hostile(behaviour, at=at, interval=0.05) as server:
        assert main(lab(experiment, "--target", server.openai_url, "--timeout", "1")) == 1

    _, err = said_once(capsys)
    assert "No complete answer from the server at" in err
    assert "within 1 s" in err
    assert "--timeout 1200 or LAB_TIMEOUT=1200" in err


def test_an_experiment_that_does_not_finish_in_time_ends_at_its_deadline(capsys) -> None:
    with Hostile("trickle", at="chat", interval=0.05) as server:
        args = lab("round_trip", "--target", server.openai_url, "--timeout", "60")
        assert main([*args, "--deadline", "1"]) == 1

    _, err = said_once(capsys)
    assert "The experiment did not finish within 1 s" in err
    assert "--deadline 3600 or LAB_DEADLINE=3600" in err


def test_the_experiment_deadline_can_come_from_the_environment(capsys) -> None:
    with Hostile("trickle", at="chat", interval=0.05) as server:
        args = lab("round_trip", "--target", server.openai_url, "--timeout", "60")
        assert main(args, env={"LAB_DEADLINE": "0.5"}) == 1

    _, err = said_once(capsys)
    assert "The experiment did not finish within 0.5 s" in err


# Before the first chat call: the preflight (each call within 10 s, or --timeout if shorter).
AT_PREFLIGHT = [
    ("no-name", "tags", True, ["answered GET /api/tags with something Ollama does not send",
                               "an entry that has no name"]),
    ("id-5", "models", False, ["answered GET /v1/models with entries that are not models",
                               "model ids are 5"]),
    ("id-null", "models", False, ["model ids are null"]),
    ("trickle", "version", True, ["did not answer", "within 1 s"]),
    ("endless-json", "tags", True, ["did not answer GET /api/tags", "passed 4 MiB"]),
    ("stall", "models", False, ["did not answer", "GET", "/v1/models"]),
    ("huge", "models", False, ["did not answer", "passed 4 MiB"]),
    ("html", "all", True, ["is not an OpenAI-compatible base URL",
                           "Server: SimpleHTTP/0.6 Python/3.12.3",
                           'an HTML page titled "Error response"']),
]  # fmt: skip


@pytest.mark.parametrize(
    ("behaviour", "at", "ollama", "says"),
    AT_PREFLIGHT,
    ids=[f"{b}@{at}" for b, at, _, _ in AT_PREFLIGHT],
)
def test_a_hostile_target_is_stopped_at_preflight_with_exit_2(
    behaviour: str, at: str, ollama: bool, says: list[str], capsys
) -> None:
    # /api/version's answer is 20 bytes: a byte every 0.2 s takes longer than the 1 s allowed.
    with Hostile(behaviour, at=at, ollama=ollama, interval=0.2) as server:
        assert main(lab("--target", server.openai_url, "--timeout", "1")) == 2

    _, err = said_once(capsys)
    for words in says:
        assert words in err, words


# --- issue 8: a target that is not an LLM server (python -m http.server) ----------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # no access log in test output
        pass


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[str]:
    """Python's own ``http.server`` serving a directory, on a free loopback port."""
    (tmp_path / "index.html").write_text("<!DOCTYPE html><html><title>My files</title></html>")
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_static_file_server_is_not_an_llm_server(file_server: str, capsys) -> None:
    assert main(lab("--target", f"{file_server}/v1")) == 2

    _, err = said_once(capsys)
    assert f"{file_server}/v1 is not an OpenAI-compatible base URL" in err
    assert "Server: SimpleHTTP/" in err  # what answered, by its own name
    assert "POST " + file_server + "/v1/chat/completions answered HTTP 501" in err


HTML_MARKERS = ("<html", "<!doctype", "<head", "<body", "<title")


@pytest.mark.parametrize(
    "command",
    [
        ["run"],
        ["run", "--all"],
        ["run", "--json"],
        ["run", "--record", "{tmp}/rec"],
        ["report", "--out", "{tmp}/report"],
        ["fidelity", "--json", "--out", "{tmp}/drift.md"],
    ],
    ids=["run", "run-all", "run-json", "run-record", "report", "fidelity"],
)
@pytest.mark.parametrize("page", ["file-server", "nginx-502", "api-then-502"])
def test_no_output_pastes_a_raw_html_page(
    command: list[str], page: str, file_server: str, tmp_path: Path, capsys
) -> None:
    """Not at preflight (a file server, a proxy without backend), nor later (an API whose chat
    route answers a proxy's error page): every output names the page, never pastes it."""
    args = [part.replace("{tmp}", str(tmp_path)) for part in command]
    with Hostile("html-500", at="chat" if page == "api-then-502" else "all") as nginx:
        url = file_server if page == "file-server" else nginx.url
        code = main([*args, "--target", f"{url}/v1" if args[0] != "fidelity" else url])
    if page == "api-then-502":
        assert code in (0, 1, 2)  # report: 0 (failed points are its content); run: 1
    else:
        assert code == 2
    captured = capsys.readouterr()
    outputs = {"stdout": captured.out, "stderr": captured.err}
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "index.html":
            outputs[str(path.relative_to(tmp_path))] = path.read_text(errors="replace")
    for where, text in outputs.items():
        lowered = text.lower()
        for marker in HTML_MARKERS:
            assert marker not in lowered, f"{marker} in {where}"
    assert "Traceback" not in captured.out + captured.err
    if "--json" in args and args[0] == "run":
        assert json.loads(captured.out)["error"]["exit_code"] == code
