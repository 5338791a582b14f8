"""``python -m mockserver --workers N``: every worker serves the settings the command parsed."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from mockserver.config import Settings
from mockserver.served import SETTINGS_ENV, app_from_environment, settings_json
from mockserver.server import free_port


def test_a_worker_builds_the_app_from_the_parents_settings(monkeypatch) -> None:
    settings = Settings(models=("qwen2.5:3b",), seed=3, faults=("busy",), current_date="2026-03-23")
    monkeypatch.setenv(SETTINGS_ENV, settings_json(settings))
    assert app_from_environment().state.settings == settings


def test_a_worker_starts_without_the_collector_and_serves_with_it(monkeypatch) -> None:
    """uvicorn calls ``startup.worker_app`` in each worker (``--workers N``)."""
    import gc

    from mockserver.startup import worker_app

    settings = Settings(models=("llama3.2:3b",), current_date="2026-03-23")
    monkeypatch.setenv(SETTINGS_ENV, settings_json(settings))
    assert worker_app().state.settings == settings
    assert gc.isenabled()
    gc.unfreeze()


@pytest.mark.slow  # PORTWAY_SLOW=1 or nox -s slow (tests/conftest.py)
def test_two_workers_answer_on_one_port() -> None:
    port = free_port()
    argv = [sys.executable, "-m", "mockserver", "--port", str(port), "--workers", "2"]
    argv += ["--seed", "1", "--date", "2026-03-23", "--models", "llama3.2:3b"]
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ
    )
    try:
        deadline = time.monotonic() + 60
        body = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}]}
        while True:
            try:
                reply = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert reply.status_code == 200
        again = [
            httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body) for _ in range(4)
        ]
        assert {r.content for r in again} == {reply.content}  # --seed: the same bytes anywhere
    finally:
        proc.terminate()
        proc.wait(15)


def test_zero_workers_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mockserver", "--workers", "0"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "--workers" in done.stderr
