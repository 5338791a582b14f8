"""The fake keeps no state: nothing of one request may influence another."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from mockserver.config import Settings
from mockserver.server import serving

MODEL = "gpt-oss:20b"


def conversation(topic: str, turns: int) -> list[list[dict]]:
    """The successive request bodies' messages of one growing conversation."""
    requests, messages = [], []
    for turn in range(turns):
        messages = [*messages, {"role": "user", "content": f"{topic}, question {turn}"}]
        requests.append(list(messages))
        messages.append({"role": "assistant", "content": f"{topic}, answer {turn}"})
    return requests


def send(url: str, messages: list[dict], stream: bool = False) -> bytes:
    body = {"model": MODEL, "messages": messages, "stream": stream}
    return httpx.post(f"{url}/chat/completions", json=body, timeout=30).content


def test_the_same_request_gives_the_same_bytes_under_a_seed(fake):
    first = send(fake.openai_url, [{"role": "user", "content": "hello"}])
    second = send(fake.openai_url, [{"role": "user", "content": "hello"}])
    assert first == second


def test_interleaved_conversations_answer_exactly_as_serial_ones(fake):
    conversations = [conversation(topic, 4) for topic in ("rivers", "trains", "maple syrup")]
    serial = [[send(fake.openai_url, m) for m in conv] for conv in conversations]

    # Interleave: turn 0 of each conversation, then turn 1 of each, ... in parallel.
    interleaved: list[list[bytes]] = [[] for _ in conversations]
    with ThreadPoolExecutor(max_workers=6) as pool:
        for turn in range(4):
            futures = [pool.submit(send, fake.openai_url, conv[turn]) for conv in conversations]
            for index, future in enumerate(futures):
                interleaved[index].append(future.result())
    assert interleaved == serial


def test_a_reply_reports_only_what_this_request_carried(client):
    client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Remember the word PLUM."}]
    )
    answer = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Which word did I ask you to remember?"}]
    )
    text = answer.choices[0].message.content
    assert "1 message" in text
    assert "PLUM" not in text


def test_prompt_tokens_grow_only_with_the_history_the_client_resends(client):
    counts = [
        client.chat.completions.create(model=MODEL, messages=m).usage.prompt_tokens
        for m in conversation("rivers", 4)
    ]
    assert counts == sorted(counts) and len(set(counts)) == 4
    again = client.chat.completions.create(model=MODEL, messages=conversation("rivers", 1)[0])
    assert again.usage.prompt_tokens == counts[0], "the first request costs the same every time"


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.skipif(not _port_free(11434), reason="something already listens on 11434")
def test_the_original_post1_demo_runs_unmodified_against_the_fake():
    demo = Path(__file__).parents[1] / "examples" / "post1_demo.py"
    with serving(Settings(port=11434, current_date="2026-03-23")):
        run = subprocess.run(
            [sys.executable, str(demo)], capture_output=True, text=True, timeout=60, check=False
        )
    assert run.returncode == 0, run.stderr
    lines = dict(
        line.split(": ", 1)
        for line in run.stdout.splitlines()
        if line.startswith(("1-turn", "5-turn", "delta"))
    )
    assert int(lines["delta"]) == int(lines["5-turn prompt_tokens"]) - int(
        lines["1-turn prompt_tokens"]
    )
    assert int(lines["delta"]) > 0
    assert "Ottawa" in lines["5-turn"]


def test_usage_is_valid_json_numbers(fake):
    body = json.loads(send(fake.openai_url, [{"role": "user", "content": "hi"}]))
    assert all(isinstance(v, int) for v in body["usage"].values())
