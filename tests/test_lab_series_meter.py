"""Posts 4-5 without a proxy: the metering rows, the bill, the callback's record, the keys.

The flows through the real LiteLLM proxy (and Postgres) run in ``nox -s mock``; these tests
check the logic those flows rely on, fast.
"""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace

import httpx
import pytest

from lab.cli import main
from lab.series import keys, meter, metering, targets
from lab.series.gateway_features import Features
from mockserver.config import Settings
from mockserver.server import BackgroundServer

PRICES = {"gpt-oss": meter.Price(input=0.10, cached_input=0.025, output=0.50)}


def payload(**fields):
    """A StandardLoggingPayload as LiteLLM passes it (the fields the meter reads)."""
    base = {"id": "id-1", "litellm_call_id": "call-1", "model_group": "gpt-oss",
            "model": "gpt-oss", "stream": False, "prompt_tokens": 96, "completion_tokens": 88,
            "total_tokens": 184, "status": "success", "startTime": 100.0,
            "completionStartTime": 100.25, "endTime": 101.5,
            "metadata": {"user_api_key_hash": "abc123"}}  # fmt: skip
    return base | fields


@pytest.mark.parametrize(
    ("prompt", "cached", "completion", "dollars"),
    [
        (1_000_000, 0, 0, 0.10),  # fresh prompt tokens at the input price
        (1_000_000, 1_000_000, 0, 0.025),  # all of them from the prefix cache
        (0, 0, 1_000_000, 0.50),  # completion tokens at the output price
        (96, 62, 88, (34 * 0.10 + 62 * 0.025 + 88 * 0.50) / 1e6),  # a real mix
        (10, 50, 0, 10 * 0.025 / 1e6),  # cached can never exceed prompt in the row
    ],
)
def test_cost_prices_fresh_cached_and_completion_tokens(prompt, cached, completion, dollars):
    cached = min(cached, prompt)
    assert meter.cost(PRICES, "gpt-oss", prompt, cached, completion) == pytest.approx(dollars)


def test_an_unpriced_model_costs_nothing_and_the_bill_names_it():
    row = meter.row_from_payload(payload(model_group="mystery"), None, PRICES)
    assert row.computed_cost == 0.0
    assert meter.bill([row], PRICES)["unpriced"] == ["mystery"]


@pytest.mark.parametrize(
    ("usage", "cached"),
    [
        (None, 0),  # no response object (a failure)
        ({"prompt_tokens": 96}, 0),  # usage without details
        ({"prompt_tokens_details": {"cached_tokens": 62}}, 62),  # a dict
        (SimpleNamespace(prompt_tokens_details=SimpleNamespace(cached_tokens=62)), 62),  # SDK
        ({"prompt_tokens_details": {"cached_tokens": 500}}, 96),  # capped at prompt_tokens
    ],
)
def test_the_row_reads_cached_tokens_from_the_usage(usage, cached):
    row = meter.row_from_payload(payload(), usage, PRICES)
    assert row.cached_tokens == cached
    assert (row.request_id, row.api_key_hash, row.public_model) == ("call-1", "abc123", "gpt-oss")
    assert (row.ttft_ms, row.total_latency_ms) == (250.0, 1500.0)


def test_a_zero_token_stream_row_bills_zero():
    """What a gateway that never asked for usage logs for a stream without include_usage."""
    row = meter.row_from_payload(payload(stream=True, prompt_tokens=0, completion_tokens=0,
                                         total_tokens=0), None, PRICES)  # fmt: skip
    assert (row.stream, row.total_tokens, row.computed_cost) == (True, 0, 0.0)
    check = meter.Check("stream", row, exact_prompt=96, exact_completion=88, exact_cached=None)
    assert not check.agrees


def test_the_callback_records_one_row_per_request_in_sqlite(tmp_path):
    dsn = str(tmp_path / "metering.sqlite3")
    env = {meter.DSN_ENV: dsn, meter.PRICES_ENV: meter.prices_to_env(PRICES)}
    usage = {"prompt_tokens_details": {"cached_tokens": 62}}
    first = meter.record({"standard_logging_object": payload()}, SimpleNamespace(usage=usage),
                         env)  # fmt: skip
    second = meter.record({"standard_logging_object": payload(litellm_call_id="call-2",
                           stream=True)}, None, env)  # fmt: skip
    rows = meter.read(dsn, ["call-1", "call-2", "never-written"])
    assert rows == {"call-1": first, "call-2": second}
    assert rows["call-2"].stream is True
    bill = meter.bill(rows.values(), PRICES)
    assert bill["per_model"]["gpt-oss"]["requests"] == 2
    assert bill["total"] == pytest.approx(first.computed_cost + second.computed_cost)


def test_the_callback_writes_nothing_without_a_dsn():
    assert meter.record({"standard_logging_object": payload()}, None, {}) is None


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("gpt-oss=0.10/0.025/0.50", ("gpt-oss", meter.Price(0.10, 0.025, 0.50))),
        ("qwen3.5 = 1/0/2", ("qwen3.5", meter.Price(1.0, 0.0, 2.0))),
    ],
)
def test_prices_are_model_in_cached_out(text, parsed):
    assert meter.parse_price(text) == parsed


@pytest.mark.parametrize("text", ["gpt-oss=0.1/0.2", "=1/2/3", "gpt-oss"])
def test_a_malformed_price_is_refused(text):
    with pytest.raises(ValueError):
        meter.parse_price(text)


def test_a_malformed_price_is_one_paragraph_and_exit_2(capsys):
    code = main(["post", "5", "--price", "gpt-oss=1/2", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 2 and document["error"]["title"].startswith("A --price is not")


@pytest.mark.parametrize(
    ("entry", "exact"),
    [
        (  # non-streamed: the backend's usage
            {"body": {}, "response": {"usage": {"prompt_tokens": 96, "completion_tokens": 88,
             "prompt_tokens_details": {"cached_tokens": 62}}}},
            (96, 88, 62, "usage", False),
        ),
        (  # a stream whose upstream request asked for usage: the usage chunk
            {"body": {"stream_options": {"include_usage": True}},
             "response": [{"choices": []}, {"usage": {"prompt_tokens": 96,
                          "completion_tokens": 88}}, "[DONE]"]},
            (96, 88, None, "usage", True),
        ),
        (  # a stream without: llama-server's timings in the last chunk
            {"body": {}, "response": [{"choices": [], "timings": {"prompt_n": 1, "cache_n": 95,
             "predicted_n": 88}}, "[DONE]"]},
            (96, 88, 95, "timings", False),
        ),
    ],
)  # fmt: skip
def test_exact_counts_come_from_the_backend_journal(entry, exact):
    found = metering.exact_counts(entry)
    assert tuple(found.values()) == exact


def test_the_llama_server_twin_keeps_a_journal():
    settings = Settings(port=0, flavor="llama-server", llama_model="gpt-oss", alias="gpt-oss",
                        journal=10)  # fmt: skip
    server = BackgroundServer(settings).start()
    try:
        body = {"model": "gpt-oss", "messages": [{"role": "user", "content": "hi"}]}
        httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=30)
        entries = httpx.get(f"{server.url}/_portway/journal", timeout=10).json()["entries"]
    finally:
        server.stop()
    assert [e["path"] for e in entries] == ["/v1/chat/completions"]
    exact = metering.exact_counts(entries[0])
    assert exact["prompt_tokens"] == entries[0]["response"]["usage"]["prompt_tokens"]


# Post 4: keys ------------------------------------------------------------------------------


def test_minted_keys_carry_their_scope_to_the_hook(tmp_path):
    file = keys.KeyFile(tmp_path / "keys.json")
    scoped = file.mint(keys.Scope("portway-scoped", ("gpt-oss",), rpm_limit=3))
    tight = file.mint(keys.Scope("portway-tpm", tpm_limit=200))
    stored = json.loads(file.path.read_text())
    assert scoped != tight
    assert stored[scoped] == {"key_alias": "portway-scoped", "models": ["gpt-oss"],
                              "rpm_limit": 3}  # fmt: skip
    assert stored[tight] == {"key_alias": "portway-tpm", "models": [], "tpm_limit": 200}


def test_a_key_is_known_by_its_sha256_as_litellm_hashes_it():
    assert keys.token_hash("sk-1") == hashlib.sha256(b"sk-1").hexdigest()


def test_the_mock_gateway_config_has_the_hook_and_the_callback(tmp_path):
    features = Features.for_mock(tmp_path, keys=True, metering=True, dsn=None,
                                 prices=PRICES, rate_window=10)  # fmt: skip
    text = targets.config_yaml([targets.Backend("gpt-oss", "http://127.0.0.1:8010")], features)
    assert "  custom_auth: lab.series.keys.user_api_key_auth\n" in text
    assert "  custom_auth_run_common_checks: true\n" in text
    assert "  callbacks: lab.series.meter_callback.handler\n" in text
    env = features.environment("sk-admin")
    assert env["LITELLM_RATE_LIMIT_WINDOW_SIZE"] == "10"
    assert env[meter.DSN_ENV].endswith("metering.sqlite3")
    assert env[keys.MASTER_ENV] == "sk-admin"


def test_posts_4_and_5_on_real_backends_need_the_gateway(capsys):
    code = main(["post", "4", "--backends", "http://127.0.0.1:9", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 2
    assert document["error"]["title"] == "Posts 4 and 5 need your gateway"
    assert "\n" not in document["error"]["message"]


@pytest.mark.slow  # PORTWAY_SLOW=1 or nox -s slow (tests/conftest.py)
def test_the_hook_gives_litellm_the_key_scope(tmp_path, monkeypatch):
    """LiteLLM's custom_auth contract (only where litellm is installed: the gateway extra)."""
    pytest.importorskip("litellm.proxy._types")
    import asyncio

    from litellm.proxy._types import ProxyException

    file = keys.KeyFile(tmp_path / "keys.json")
    key = file.mint(keys.Scope("portway-scoped", ("gpt-oss",), rpm_limit=3))
    monkeypatch.setenv(keys.KEYS_ENV, str(file.path))
    monkeypatch.setenv(keys.MASTER_ENV, "sk-admin")
    auth = asyncio.run(keys.user_api_key_auth(None, key))
    assert (auth.models, auth.rpm_limit, auth.token) == (["gpt-oss"], 3, keys.token_hash(key))
    admin = asyncio.run(keys.user_api_key_auth(None, "sk-admin"))
    assert admin.user_role == "proxy_admin"
    with pytest.raises(ProxyException) as refused:
        asyncio.run(keys.user_api_key_auth(None, "sk-unknown"))
    assert str(refused.value.code) == "401"


@pytest.mark.parametrize("name", ["keys_and_limits", "metering"])
def test_each_lesson_has_its_page_and_an_answer_key_apart(name):
    """The lesson ships with the package; its answers stay out of it (teacher/answers)."""
    import re
    from pathlib import Path

    from lab.series.experiments import EXPERIMENTS

    experiment = next(e for e in EXPERIMENTS if e.name == name)
    page = experiment.lesson_file.read_text(encoding="utf-8")
    key = Path(__file__).resolve().parents[1] / "teacher" / "answers" / f"{name}.md"
    answers = key.read_text(encoding="utf-8")
    questions = re.findall(r"^(\d+)\. ", page.split("## Discuss", 1)[1], re.MULTILINE)
    assert page.startswith("# ") and "**Predict first.**" in page
    # one "## Q:" section for the Predict first question and one per Discuss question
    # (the sections' contents: tests/test_answer_keys.py)
    assert questions and answers.count("\n## Q: ") == 1 + len(questions)


@pytest.mark.parametrize(
    ("dsn", "title"),
    [
        (
            "postgresql://nobody@127.0.0.1:9/none",
            "The metering database cannot be opened (Postgres)",
        ),
        ("/no/such/folder/metering.sqlite3", "The metering database cannot be opened (SQLite)"),
    ],
)
def test_an_unreachable_metering_database_is_one_paragraph_and_exit_2(capsys, dsn, title):
    """Checked before any server starts: a Postgres that is not there, a folder that is not."""
    if dsn.startswith("postgresql://"):
        pytest.importorskip("psycopg")  # the gateway extra
    code = main(["post", "5", "--dsn", dsn, "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 2
    assert document["error"]["title"] == title
    assert dsn not in document["error"]["message"]  # no paths or secrets in errors
