"""Write the conformance reports of the llama-server twin and of the LiteLLM gateway before it.

``python tools/conformance_reports.py [--gateway] [--out docs/conformance]`` starts the Post 2
twin (``mockserver --flavor llama-server --model gpt-oss --alias gpt-oss``) on a free
loopback port, runs ``python -m lab report --target URL --model gpt-oss --out DIR`` against it
and writes ``llama-server-twin.md``; with ``--gateway`` it also starts a real LiteLLM proxy in
front of the twins (Post 3's ``config.yaml``, master key ``sk-portway-local``,
``lab.series.targets.mock_stack``) and writes ``litellm-gateway.md`` from the same command
pointed at the gateway. Ports and dates are kept as the report printed them, so each file
says when and where it was produced.

Exit 1 when a point's status is not the one :data:`EXPECTED` documents for that target (a
change of behaviour to look at), 2 when a server could not be started.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from lab.errors import SetupError  # noqa: E402
from lab.series.arguments import MASTER_KEY  # noqa: E402
from lab.series.targets import mock_stack  # noqa: E402

#: The statuses each report is expected to show, point by point (everything else: pass).
EXPECTED: dict[str, dict[str, str]] = {
    "llama-server-twin": {
        "unknown_model": "n/a",  # one model per process: the request's model is not read
        "ollama_fingerprint": "n/a",
        "ollama_id_format": "n/a",
        "ollama_debug_render": "n/a",
    },
    "litellm-gateway": {
        "unknown_model": "fail",  # LiteLLM refuses it with 400 BadRequestError, not 404
        "stream_include_usage": "fail",  # its usage chunk keeps a choice: [{index, delta: {}}]
        "ollama_fingerprint": "n/a",
        "ollama_id_format": "n/a",
        "ollama_debug_render": "n/a",
    },
}

NOTES = {
    "llama-server-twin": (
        "Produced by `python tools/conformance_reports.py` (the twin of Post 2's gpt-oss "
        "backend: `python -m mockserver --flavor llama-server --model gpt-oss --alias gpt-oss`, "
        "then `python -m lab report --target http://127.0.0.1:<port> --model gpt-oss --out "
        "DIR`). The unknown-model point does not apply to a llama-server: one process serves "
        "one model and never reads the request's `model` field (every answer reports "
        "`meta->model_name`), so there is no unknown model to refuse; behind the Post 3 gateway "
        "the same request is refused (see `litellm-gateway.md`)."
    ),
    "litellm-gateway": (
        "Produced by `python tools/conformance_reports.py --gateway` (also run by `nox -s "
        "mock`): a real LiteLLM proxy (`litellm[proxy]`, offline, Post 3's `config.yaml`: "
        "`gpt-oss` and `qwen3.5` routed to two llama-server twins, master key "
        f"`{MASTER_KEY}`), then `python -m lab report --target http://127.0.0.1:<port> "
        f"--model gpt-oss --api-key {MASTER_KEY} --out DIR`. The unknown model is refused by "
        "the gateway itself, with HTTP 400 (an OpenAI-shaped error the SDK raises as "
        "BadRequestError), where OpenAI and Ollama say 404: Post 3 accepts either. The usage chunk "
        'of a stream with `include_usage` comes back from LiteLLM with `choices: [{"index": '
        '0, "delta": {}}]` where the backend sent `choices: []` (the gateway rebuilds every '
        "chunk): a client that reads `choices[0]` on every chunk does not crash on it, one "
        "that expects OpenAI's empty list sees a content-less choice."
    ),
}


def _report(name: str, url: str, api_key: str, out: Path) -> list[str]:
    with tempfile.TemporaryDirectory(prefix=f"portway-{name}-") as folder:
        argv = [sys.executable, "-m", "lab", "report", "--target", url, "--model", "gpt-oss",
                "--api-key", api_key, "--timeout", "120", "--out", folder]  # fmt: skip
        code = subprocess.call(argv, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
        if code:
            raise SetupError(f"lab report exited {code} on {url}", "see its output above")
        text = Path(folder, "report.md").read_text(encoding="utf-8")
        rows = json.loads(Path(folder, "report.json").read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(text.rstrip() + "\n\n" + NOTES[name] + "\n", "utf-8")
    problems = []
    points = rows.get("points") or rows.get("rows") or []
    for point in points:
        wanted = EXPECTED[name].get(point["id"], "pass")
        if point["status"] != wanted:
            problems.append(f"{name}: {point['id']} is {point['status']}, expected {wanted}: "
                            f"{point['evidence']}")  # fmt: skip
    print(f"wrote {out / (name + '.md')}: {len(points)} points")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gateway", action="store_true", help="also the LiteLLM gateway")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "conformance")
    args = parser.parse_args(argv)
    problems: list[str] = []
    try:
        with mock_stack(gateway=False, timeout=120, profile=None) as stack:
            problems += _report("llama-server-twin", stack.backends[0].url, "llama", args.out)
        if args.gateway:
            with mock_stack(gateway=True, timeout=120, profile=None) as stack:
                assert stack.gateway
                problems += _report("litellm-gateway", stack.gateway, MASTER_KEY, args.out)
    except SetupError as exc:
        print(f"{exc}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
