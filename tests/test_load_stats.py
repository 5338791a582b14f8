"""Post 7's statistics (lab/series/load.py) are AIPerf's: computed from AIPerf's own per-request
export, they give AIPerf's own summary.

``tests/data/aiperf/`` is a real run: ``aiperf profile`` 0.13.0 (``--endpoint-type chat
--streaming --concurrency 2 --request-count 8 --use-server-token-count``, a local gemma3
tokenizer directory) against the llama-server twin with ``--profile instant-load``; its
``profile_export.jsonl`` (one record per request) and ``profile_export_aiperf.json`` (the
summary). ``nox -s loadtool`` repeats the check on a fresh run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.series.load import Record, percentile, records_from_aiperf, summarize

DATA = Path(__file__).parent / "data" / "aiperf"
SUMMARY = json.loads((DATA / "profile_export_aiperf.json").read_text("utf-8"))
LAB = summarize(
    records_from_aiperf((DATA / "profile_export.jsonl").read_text("utf-8").splitlines())
)


@pytest.mark.parametrize(
    ("lab_figure", "aiperf_figure"),
    [
        (("ttft_ms", "p50"), ("time_to_first_token", "p50")),
        (("ttft_ms", "p95"), ("time_to_first_token", "p95")),
        (("ttft_ms", "avg"), ("time_to_first_token", "avg")),
        (("itl_ms", "p50"), ("inter_token_latency", "p50")),
        (("itl_ms", "avg"), ("inter_token_latency", "avg")),
        (("tokens_per_s_per_stream", "p50"), ("output_token_throughput_per_user", "p50")),
        (("tokens_per_s_per_stream", "avg"), ("output_token_throughput_per_user", "avg")),
        (("output_tokens",), ("total_output_tokens", "avg")),
        (("duration_s",), ("benchmark_duration", "avg")),
        (("requests",), ("request_count", "avg")),
    ],
)
def test_the_lab_reads_aiperfs_run_as_aiperf_does(lab_figure, aiperf_figure):
    lab = LAB
    for key in lab_figure:
        lab = lab[key]
    theirs = SUMMARY
    for key in aiperf_figure:
        theirs = theirs[key]
    assert lab == pytest.approx(theirs, rel=1e-6)


def test_total_tokens_per_second_is_tokens_over_the_benchmark_duration():
    expected = SUMMARY["total_output_tokens"]["avg"] / SUMMARY["benchmark_duration"]["avg"]
    assert LAB["total_tokens_per_s"] == pytest.approx(expected, rel=1e-6)
    assert LAB["errors"] == 0 == len(SUMMARY["error_summary"])


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, None),
        ([7.0], 95, 7.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),  # between the two middle values
        ([1.0, 2.0, 3.0, 4.0], 95, 3.85),  # rank 0.95 * 3 = 2.85
        ([4.0, 1.0, 3.0, 2.0], 0, 1.0),  # order does not matter
    ],
)
def test_percentiles_interpolate_linearly(values, q, expected):
    assert percentile(values, q) == (pytest.approx(expected) if expected is not None else None)


def test_failed_requests_count_as_errors_and_not_in_the_latencies():
    records = [Record(0.0, 0.1, 1.0, 10), Record(0.0, None, 0.2, 0, "HTTP 503")]
    summary = summarize(records)
    assert summary["errors"] == 1 and summary["ttft_ms"]["p50"] == pytest.approx(100.0)
    assert summary["total_tokens_per_s"] == pytest.approx(10.0)


def test_warm_up_requests_are_left_out_as_aiperf_leaves_them_out():
    lines = (DATA / "profile_export.jsonl").read_text("utf-8").splitlines()
    warm = json.loads(lines[0])
    warm["metadata"]["benchmark_phase"] = "warmup"
    warm["metadata"]["request_start_ns"] -= 10**9  # a second earlier, far slower
    warm["metrics"]["time_to_first_token"]["value"] = 5000.0
    assert summarize(records_from_aiperf([json.dumps(warm), *lines])) == LAB
