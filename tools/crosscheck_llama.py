"""Cross-check the llama-server twin's tokenization path against a real llama.cpp engine.

``python tools/crosscheck_llama.py ROOT`` (run by ``nox -s llamacpp`` against llama-cpp-python's
server with Gemma 3 270M): every text below is tokenized by the real engine
(``POST /extras/tokenize``: ``llama_tokenize`` with ``add_special`` and ``parse_special``) and
by the twin's :class:`mockserver.engine.llama_models.GgufModel` path (``tokenize(add_special=
True)``) over the shipped Gemma 3 vocabulary; the ids must be identical, BOS included. Prints
one line per text and a summary; exit 1 on any difference, 2 when the engine is unreachable.

That engine can show tokenization only: its GGUF is the base model (no chat template), and it
is llama-cpp-python's server, not llama-server (no /apply-template, slots or cached_tokens).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx

from mockserver.engine.llama_models import model_named

TEXTS = (
    "In one sentence, what makes Ottawa Canada's capital?",
    "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
    "  leading spaces, trailing   ",
    "Numbers 1857, 3.14159 and 2026-01-15.",
    "Québec, Montréal, Zürich — naïve café; 東京; Привет",
    "emoji 🍁🇨🇦 and tabs\tand\nnewlines\n\n",
    "def f(x):\n    return x ** 2  # code",
    "",
)

GEMMA3 = model_named("gemma3-270m")  # the twin's model of the same GGUF


def main(argv: list[str]) -> int:
    root = (argv[1] if len(argv) > 1 else "http://127.0.0.1:8000").rstrip("/")
    root = root[:-3] if root.endswith("/v1") else root
    results = []
    for text in TEXTS:
        try:
            answer = httpx.post(f"{root}/extras/tokenize", json={"input": text}, timeout=60)
            answer.raise_for_status()
        except httpx.HTTPError as exc:
            print(f"the engine on {root} did not tokenize: {type(exc).__name__}: {exc}")
            return 2
        real = answer.json()["tokens"]
        twin = GEMMA3.tokenize(text, add_special=True)
        results.append({"text": text, "engine": real, "twin": twin, "equal": real == twin})
        print(f"{'=' if real == twin else '≠'} {len(real):3d} vs {len(twin):3d}  {text!r}")
    equal = sum(r["equal"] for r in results)
    print(f"tokenization cross-check: {equal} of {len(results)} texts identical (BOS included)")
    out_dir = Path("lab-output/llamacpp")
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "tokenize-crosscheck.json").open("w", encoding="utf-8") as out:
        json.dump(results, out, ensure_ascii=False, indent=1)
    return 0 if equal == len(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
