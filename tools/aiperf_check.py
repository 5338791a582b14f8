"""``nox -s loadtool``: NVIDIA AIPerf against the llama-server twin; the lab's Post 7 statistics
must equal AIPerf's own on the same run.

    python tools/aiperf_check.py [--concurrency 4] [--requests 24] [--profile m2-max-gpt-oss-20b]

1. starts the twin (``python -m mockserver --flavor llama-server --profile P``) on loopback;
2. writes the lab's prompts ("Request N: ...", distinct, as ``lab post 7`` sends them) as an
   AIPerf ``single_turn`` JSONL file, and a tokenizer folder (the gemma3 ``tokenizer.json``
   the fake ships: AIPerf loads a Hugging Face tokenizer even when ``--use-server-token-count``
   takes the counts from the server's usage; no download);
3. runs ``aiperf profile --endpoint-type chat --streaming --concurrency C --request-count R
   --use-server-token-count --warmup-request-count C`` with ``max_tokens`` 32;
4. reads AIPerf's per-request records (``profile_export.jsonl``) with the lab's
   :func:`lab.series.load.records_from_aiperf`, computes :func:`lab.series.load.summarize`,
   and compares every figure with AIPerf's summary (``profile_export_aiperf.json``):
   relative difference at most 1e-6, or exit 1;
5. runs the lab's own clients (``load``) at the same concurrency against the same twin and
   prints both side by side (two runs: close, not equal).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from lab.series.load import MAX_TOKENS, PROMPT, records_from_aiperf, run_level, summarize
from mockserver.server import free_port

FIGURES = [  # (the lab's key path, AIPerf's key path)
    (("ttft_ms", "p50"), ("time_to_first_token", "p50")),
    (("ttft_ms", "p95"), ("time_to_first_token", "p95")),
    (("ttft_ms", "avg"), ("time_to_first_token", "avg")),
    (("itl_ms", "p50"), ("inter_token_latency", "p50")),
    (("itl_ms", "avg"), ("inter_token_latency", "avg")),
    (("tokens_per_s_per_stream", "avg"), ("output_token_throughput_per_user", "avg")),
    (("output_tokens",), ("total_output_tokens", "avg")),
    (("duration_s",), ("benchmark_duration", "avg")),
]


def _get(value: object, path: tuple[str, ...]) -> float | None:
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, int | float) else None


def compare(export: Path) -> list[tuple[str, float | None, float | None, bool]]:
    lines = (export / "profile_export.jsonl").read_text("utf-8").splitlines()
    ours = summarize(records_from_aiperf(lines))
    theirs = json.loads((export / "profile_export_aiperf.json").read_text("utf-8"))
    rows = []
    for mine, aiperf in FIGURES:
        a, b = _get(ours, mine), _get(theirs, aiperf)
        same = a is not None and b is not None and abs(a - b) <= 1e-6 * max(abs(b), 1e-9)
        rows.append((".".join(aiperf), a, b, same))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--requests", type=int, default=24)
    parser.add_argument("--profile", default="m2-max-gpt-oss-20b")
    parser.add_argument("--aiperf", default=shutil.which("aiperf") or "aiperf")
    args = parser.parse_args(argv)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    twin = subprocess.Popen([sys.executable, "-m", "mockserver", "--flavor", "llama-server",
                             "--model", "gpt-oss", "--alias", "gpt-oss", "--port", str(port),
                             "--profile", args.profile], stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        _wait(url)
        with tempfile.TemporaryDirectory(prefix="portway-aiperf-") as folder:
            work = Path(folder)
            prompts = work / "prompts.jsonl"
            prompts.write_text("".join(json.dumps({"text": f"Request {i}: {PROMPT}"}) + "\n"
                                       for i in range(args.requests)), "utf-8")  # fmt: skip
            tokenizer = work / "tokenizer"
            tokenizer.mkdir()
            from mockserver.engine.tokenizers import GEMMA3

            (tokenizer / "tokenizer.json").write_bytes(GEMMA3.read())
            (tokenizer / "tokenizer_config.json").write_text(json.dumps(
                {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<bos>",
                 "eos_token": "<eos>"}), "utf-8")  # fmt: skip
            export = work / "export"
            command = [args.aiperf, "profile", "--model", "gpt-oss", "--url", url,
                       "--endpoint-type", "chat", "--streaming", "--concurrency",
                       str(args.concurrency), "--request-count", str(args.requests),
                       "--use-server-token-count", "--tokenizer", str(tokenizer),
                       "--input-file", str(prompts), "--custom-dataset-type", "single_turn",
                       "--extra-inputs", f"max_tokens:{MAX_TOKENS}",
                       "--warmup-request-count", str(args.concurrency),  # as the lab warms up
                       "--artifact-dir", str(export)]  # fmt: skip
            print("$", " ".join(command), flush=True)
            env = dict(os.environ)
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
            if done.returncode != 0:
                print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
                print(f"aiperf exited with code {done.returncode}")
                return 1
            rows = compare(export)
        records = asyncio.run(run_level(f"{url}/v1", "gpt-oss", args.concurrency, 0.0, 300.0,
                                        "llama", requests=args.requests))  # fmt: skip
        lab_run = summarize(records)
    finally:
        twin.terminate()
        twin.wait(timeout=10)
    print(
        f"{'AIPerf figure':42} {'lab (AIPerf records)':>20} {'AIPerf':>12}  same  "
        f"{'lab (own run)':>14}"
    )
    for (name, ours, theirs, same), (mine, _) in zip(rows, FIGURES, strict=True):
        own = _get(lab_run, mine)
        print(
            f"{name:42} {_fmt(ours):>20} {_fmt(theirs):>12}  {'yes' if same else 'NO':4}  "
            f"{_fmt(own):>14}"
        )
    return 0 if all(same for *_, same in rows) else 1


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:,.3f}"


def _wait(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the twin did not answer on {url}")


if __name__ == "__main__":
    raise SystemExit(main())
