"""``lab report`` against the llama-server twin: every point passes or is n/a with its reason
(the gateway's report runs in ``nox -s mock``: ``tools/conformance_reports.py --gateway``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from lab.cli import main
from mockserver.config import Settings
from mockserver.server import serving
from tools.conformance_reports import EXPECTED


@pytest.fixture(scope="module")
def points(tmp_path_factory) -> Iterator[dict[str, dict]]:
    out = tmp_path_factory.mktemp("report")
    settings = Settings(port=0, flavor="llama-server", llama_model="gpt-oss", alias="gpt-oss")
    with serving(settings) as twin:
        code = main(["report", "--target", twin.url, "--model", "gpt-oss", "--api-key", "llama",
                     "--timeout", "60", "--out", str(out)])  # fmt: skip
    assert code == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["engine"]["name"] == "llama.cpp"
    yield {point["id"]: point for point in report["points"]}


def test_every_point_is_as_documented(points):
    statuses = {name: point["status"] for name, point in points.items()}
    expected = {name: EXPECTED["llama-server-twin"].get(name, "pass") for name in points}
    assert statuses == expected


@pytest.mark.parametrize(
    ("point", "reason"),
    [
        ("unknown_model", "does not read the request's model field"),
        ("ollama_fingerprint", "the target is not Ollama"),
    ],
)
def test_what_does_not_apply_says_why(points, point, reason):
    assert points[point]["status"] == "n/a"
    assert reason in points[point]["evidence"]
