"""Posts 4-5 through the real LiteLLM proxy (and a throwaway Postgres): slow, so opt-in.

``PORTWAY_SLOW=1 python -m pytest tests/test_lab_series_gateway_slow.py`` with the gateway
extra installed (~2 min: LiteLLM starts in 20-30 s on a busy 2-core machine). ``nox -s mock``
runs the same flows on every CI run; this test says what they must show.
"""

from __future__ import annotations

import contextlib
import io
import json
import os

import pytest

from lab.cli import main

pytestmark = pytest.mark.skipif(
    os.environ.get("PORTWAY_SLOW") != "1", reason="starts the LiteLLM proxy: PORTWAY_SLOW=1"
)


@pytest.fixture(scope="module")
def document():
    pytest.importorskip("litellm")
    pytest.importorskip("psycopg")
    from tools.postgres import binaries, throwaway_postgres

    if binaries() is None:
        pytest.skip("no Postgres on this machine (apt-get install postgresql)")
    out = io.StringIO()  # the run prints one JSON document
    with throwaway_postgres() as dsn, contextlib.redirect_stdout(out):
        code = main(["post", "4", "5", "--target", "mock", "--pace", "none", "--rate-window",
                     "5", "--dsn", dsn, "--json"])  # fmt: skip
    result = json.loads(out.getvalue())
    assert code == 0, result.get("error")
    return {r["experiment"]: r for r in result["results"]}


def test_keys_scope_and_limits_as_the_series_shows(document):
    post4 = document["keys_and_limits"]
    data = post4["data"]
    assert post4["status"] == "ok"
    assert data["models_per_key"]["scoped"] == ["gpt-oss"]
    assert (data["scope"]["status"], data["scope"]["type"]) == (403, "key_model_access_denied")
    assert [c["status"] for c in data["rpm"]["calls"]] == [200, 200, 200, 429]
    assert data["rpm"]["calls"][-1]["retry_after"] == "5"
    assert data["tpm"]["call"]["status"] == 429 and data["tpm"]["call"]["backend_requests"] == 0
    assert data["tpm"]["litellm_estimate"]["input"] != data["tpm"]["exact_prompt_tokens"]
    assert [c["retries"] for c in data["retried"]["calls"]] == [0, 0, 0, 1]


def test_metering_rows_in_postgres_agree_with_the_backend(document):
    post5 = document["metering"]
    data = post5["data"]
    assert post5["status"] == "ok" and data["dsn_kind"] == "postgres"
    assert all(row["agrees"] for row in data["rows"])
    stream = data["calls"][1]
    assert stream["usage"] is None  # the client got no usage without include_usage
    assert data["rows"][3]["row"]["cached_tokens"] > 0
    assert data["bill"]["total"] == pytest.approx(data["exact_bill"])
    assert data["client_bill"] < data["bill"]["total"]
