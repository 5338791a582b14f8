"""Clients that go away mid-stream leave nothing running; a client that does not read does not
hold up anyone else. In-process (ASGI, as uvicorn calls the app: spec 2.3), with pacing so
that streams last long enough to be cut. No wall-clock assertions: timeouts only guard hangs."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from mockserver.app import create_app
from mockserver.config import Settings
from mockserver.pacing import Pacer, Profile

SLOW = Profile("slow", "test", load_s=0.0, prefill_tps=1e6, decode_tps=400.0, jitter=0.0, source="")
CASES = [
    ("/v1/chat/completions", "gpt-oss:20b"),
    ("/api/chat", "llama3.2:3b"),
    ("/api/generate", "qwen2.5:3b"),
]


def app_with_pacing():
    app = create_app(Settings(current_date="2026-03-23", seed=5))
    app.state.pacer = Pacer(SLOW)
    return app


def body_for(path: str, model: str, stream: bool = True) -> bytes:
    if path == "/api/generate":
        return orjson.dumps({"model": model, "prompt": "Tell me a story", "stream": stream})
    messages = [{"role": "user", "content": "Tell me a story about a lighthouse keeper."}]
    return orjson.dumps({"model": model, "messages": messages, "stream": stream})


def scope(path: str) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }


@pytest.mark.parametrize(("path", "model"), CASES)
def test_disconnect_mid_stream_leaves_no_task(path: str, model: str) -> None:
    async def scenario() -> tuple[int, int, set]:
        app = app_with_pacing()
        before = asyncio.all_tasks()
        body = body_for(path, model)
        gone = asyncio.Event()
        chunks = 0
        delivered = False

        async def receive():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            nonlocal chunks
            if message["type"] == "http.response.body" and message.get("body"):
                chunks += 1
                if chunks == 3:
                    gone.set()  # the client hangs up after three chunks

        await asyncio.wait_for(app(scope(path), receive, send), timeout=30)
        await asyncio.sleep(0)
        leftover = asyncio.all_tasks() - before - {asyncio.current_task()}
        # The whole stream, for comparison: how many chunks a patient client gets.
        full = 0

        async def count(message):
            nonlocal full
            if message["type"] == "http.response.body" and message.get("body"):
                full += 1

        unpaced = create_app(Settings(current_date="2026-03-23", seed=5))
        done = asyncio.Event()

        async def receive_all():
            if not done.is_set():
                done.set()
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()

        await asyncio.wait_for(unpaced(scope(path), receive_all, count), timeout=30)
        return chunks, full, leftover

    chunks, full, leftover = asyncio.run(scenario())
    assert chunks < full, "the stream should have been cut short"
    assert not leftover, f"tasks left running after the disconnect: {leftover}"


def test_a_client_that_does_not_read_blocks_no_one() -> None:
    async def scenario() -> list[str]:
        app = app_with_pacing()
        events: list[str] = []
        gate = asyncio.Event()

        async def run(path: str, body: bytes, name: str, stall: bool) -> None:
            delivered = False

            async def receive():
                nonlocal delivered
                if not delivered:
                    delivered = True
                    return {"type": "http.request", "body": body, "more_body": False}
                await asyncio.Event().wait()  # never disconnects

            async def send(message):
                if message["type"] == "http.response.body" and message.get("body") and stall:
                    events.append(f"{name} chunk")
                    await gate.wait()  # backpressure: this client reads nothing more
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    events.append(f"{name} done")

            await app(scope(path), receive, send)

        slow = asyncio.create_task(
            run("/v1/chat/completions", body_for(*CASES[0]), "slow", stall=True)
        )
        while "slow chunk" not in events:
            await asyncio.sleep(0.001)
        for path, model in CASES:  # others get their whole answers meanwhile
            await asyncio.wait_for(
                run(path, body_for(path, model, stream=False), path, stall=False), timeout=30
            )
        events.append("others finished")
        gate.set()
        await asyncio.wait_for(slow, timeout=30)
        return events

    events = asyncio.run(scenario())
    assert events.index("others finished") < events.index("slow done")
    assert all(f"{path} done" in events for path, _ in CASES)
