"""The JS clients people point at Ollama, run against the fake: ``tests/js/*.test.mjs``.

openai-node (``parse`` with ``zodResponseFormat``, ``runTools``, a hand tool loop, streaming with
``include_usage``, ``embeddings`` float and base64, ``completions``, ``responses``), ollama-js
(``chat`` with a ``format`` schema, a tools loop, streaming, thinking, ``embed``, ``pull``) and the
AI SDK over ``@ai-sdk/openai-compatible`` and ``ollama-ai-provider-v2`` (``generateObject``,
``generateText`` with tools and ``stopWhen``, ``streamText``, ``embed``/``embedMany``). Each
script asserts on the fake's exact counts (its journal, or ``/api/chat`` with the same body).

Each file runs with node's own test runner (``node --test``) against a fake started here. The
packages are pinned in ``tests/js/package-lock.json`` and installed by ``nox -s clients``
(``npm ci``); without them (or without node) these tests are skipped, so ``nox -s tests``
needs no network and no node.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mockserver.config import Settings
from mockserver.server import BackgroundServer, serving

JS = Path(__file__).parent / "js"
SCRIPTS = sorted(p.name for p in JS.glob("*.test.mjs"))
MODELS = ("llama3.2:3b", "llama3.1:8b", "qwen2.5:7b", "mistral:7b", "gpt-oss:20b")
EMBEDDERS = ("nomic-embed-text", "all-minilm")
NODE = shutil.which("node")
INSTALLED = (JS / "node_modules" / ".package-lock.json").is_file()

needs_node = pytest.mark.skipif(
    not (NODE and INSTALLED),
    reason="the JS clients are installed by `nox -s clients` (npm ci in tests/js)",
)


@pytest.fixture(scope="module")
def js_fake() -> Iterator[BackgroundServer]:
    """A fake of its own (the scripts pull a model, which changes the server's model store)."""
    settings = Settings(
        port=0, models=MODELS + EMBEDDERS, seed=3, current_date="2026-01-01", journal=200
    )
    with serving(settings) as server:
        yield server


def test_every_package_is_pinned_by_the_lock_file():
    manifest = json.loads((JS / "package.json").read_text())
    lock = json.loads((JS / "package-lock.json").read_text())
    for name, version in manifest["dependencies"].items():
        assert version[0].isdigit(), f"{name} is pinned to an exact version"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


@needs_node
@pytest.mark.parametrize("script", SCRIPTS)
def test_the_js_client_flows(js_fake: BackgroundServer, script: str):
    assert NODE is not None
    env = {**os.environ, "PORTWAY_FAKE_URL": js_fake.url, "NO_COLOR": "1"}
    run = subprocess.run(
        [NODE, "--test", "--test-reporter=spec", script],
        cwd=JS,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(run.stdout)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    passed = re.search(r"^\S* ?pass (\d+)$", run.stdout, re.MULTILINE)
    assert passed and int(passed.group(1)) > 0, "node ran no test"
