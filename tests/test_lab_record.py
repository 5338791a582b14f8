"""``--record DIR`` on ``lab run`` and ``lab report``: one file per exchange (lab/recording.py).

The preflight's own requests are not recorded; every exchange the experiments (or the
conformance points) make is, the SDK's and the raw ones alike.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from lab.cli import main
from lab.experiments.round_trip import MESSAGES
from lab.experiments.stateless import FIVE_TURN, ONE_TURN
from lab.recording import SCRUBBED


def exchanges(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text("utf-8")) for p in sorted(directory.glob("*.json"))]


def test_run_records_one_file_per_exchange(tmp_path: Path) -> None:
    directory = tmp_path / "rec"
    argv = ["run", "round_trip", "stateless", "--target", "mock", "--record", str(directory)]

    assert main(argv, env={"OPENAI_API_KEY": "sk-secret-1"}) == 0

    files = sorted(p.name for p in directory.glob("*.json"))
    assert [name[:5] for name in files] == ["0001-", "0002-", "0003-"]
    recorded = exchanges(directory)
    # round_trip's one call, then stateless's 1-turn and 5-turn calls, in order.
    assert [e["request"]["json"]["messages"] for e in recorded] == [MESSAGES, ONE_TURN, FIVE_TURN]
    for exchange in recorded:
        assert exchange["format"] == "portway-recording/1"
        assert exchange["request"]["path"] == "/v1/chat/completions"
        assert exchange["request"]["headers"]["authorization"] == SCRUBBED
        assert exchange["response"]["status"] == 200
        assert exchange["response"]["json"]["usage"]["prompt_tokens"] > 0
        assert exchange["engine"]["name"] == "portway-fake"
        assert exchange["target"].endswith("/v1")
    assert "sk-secret-1" not in "".join(p.read_text("utf-8") for p in directory.glob("*"))


def test_report_records_the_sdk_and_the_raw_exchanges(tmp_path: Path) -> None:
    directory = tmp_path / "rec"

    assert main(["report", "--target", "mock", "--record", str(directory)], env={}) == 0

    recorded = exchanges(directory)
    # basic, 2 x deterministic, 2 x stateless, stream, stream + include_usage, max_tokens,
    # GET /models, unknown model, malformed body, _debug_render_only
    assert len(recorded) == 12
    paths = [(e["request"]["method"], e["request"]["path"]) for e in recorded]
    assert ("GET", "/v1/models") in paths
    streams = [e for e in recorded if "frames" in e["response"]]
    assert len(streams) == 2
    assert all(s["response"]["frames"][-1]["data"] == "data: [DONE]\n\n" for s in streams)
    statuses = sorted(e["response"]["status"] for e in recorded)
    assert statuses == [200] * 10 + [400, 404]


def test_a_record_directory_that_cannot_be_made_is_exit_2(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")

    code = main(["run", "round_trip", "--target", "mock", "--record", str(blocker / "rec")])

    assert code == 2
    assert f"Cannot record into {blocker / 'rec'}" in capsys.readouterr().err


def test_a_recording_replays_on_the_fake_with_the_same_content_and_counts(tmp_path, capsys):
    """What ``nox -s llamacpp`` checks after recording a real engine (tools/verify_replay.py)."""
    from lab.cli import main as lab
    from tools.verify_replay import main as verify

    assert lab(["run", "--target", "mock", "--record", str(tmp_path), "--json"], env={}) == 0
    capsys.readouterr()
    assert verify([str(tmp_path)]) == 0
    said = capsys.readouterr().out
    assert "3/3 recorded exchanges reproduced by the fake" in said
    assert "equals the engine's in 3, differs in 0" in said


def test_replaying_a_recorded_report_warns_about_nothing(tmp_path, capfd):
    """``lab report --record`` includes a ``_debug_render_only`` exchange (usage 0 by design):
    replaying the fake's own recording must find every count equal and warn about none."""
    from tools.verify_replay import main as verify

    assert main(["report", "--target", "mock", "--record", str(tmp_path)], env={}) == 0
    capfd.readouterr()
    assert verify([str(tmp_path)]) == 0
    captured = capfd.readouterr()
    assert re.search(r"\b(\d+)/\1 recorded exchanges reproduced by the fake", captured.out)
    assert "differs in 0" in captured.out
    assert "_debug_render_only answer" in captured.out  # the render-only exchange, unchecked
    assert "WARNING" not in captured.err and "mismatch" not in captured.err
