"""64 concurrent, interleaved conversations over real sockets give the bytes the same requests
give when sent one at a time (ids, timestamps and durations aside): the fake is stateless."""

from __future__ import annotations

import asyncio

import httpx
import orjson

from mockserver.server import BackgroundServer

VOLATILE = {"id", "created", "created_at"}
CONVERSATIONS = 64
TURNS = 2
MODELS = ["gpt-oss:20b", "llama3.2:3b", "qwen2.5:3b", "mistral:7b"]
ROUTES = ["/v1/chat/completions", "/api/chat"]


def normalise(value):
    if isinstance(value, dict):
        return {
            k: normalise(v) for k, v in value.items() if k not in VOLATILE and "duration" not in k
        }
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def frames(route: str, stream: bool, body: bytes) -> list:
    if not stream:
        return [normalise(orjson.loads(body))]
    if route.startswith("/v1"):
        lines = [x[6:] for x in body.split(b"\n\n") if x.startswith(b"data: ")]
        return [x.decode() if x == b"[DONE]" else normalise(orjson.loads(x)) for x in lines]
    return [normalise(orjson.loads(line)) for line in body.splitlines() if line]


def answer_text(route: str, stream: bool, parsed: list) -> str:
    if route.startswith("/v1"):
        if not stream:
            return parsed[0]["choices"][0]["message"]["content"]
        return "".join(
            f["choices"][0]["delta"].get("content", "")
            for f in parsed
            if isinstance(f, dict) and f.get("choices")
        )
    return "".join(f["message"]["content"] for f in parsed)


async def conversation(client: httpx.AsyncClient, index: int) -> list:
    """TURNS requests, each resending the history with the previous answer appended."""
    route = ROUTES[index % 2]
    stream = bool(index % 3)
    model = MODELS[index % len(MODELS)]
    messages: list[dict] = []
    transcript = []
    for turn in range(TURNS):
        messages.append({"role": "user", "content": f"Conversation {index}, turn {turn}: hello"})
        payload = {"model": model, "messages": messages, "stream": stream}
        response = await client.post(route, json=payload)
        assert response.status_code == 200, response.text
        parsed = frames(route, stream, response.content)
        transcript.append(parsed)
        messages.append({"role": "assistant", "content": answer_text(route, stream, parsed)})
    return transcript


async def run_all(url: str, concurrent: bool) -> list:
    limits = httpx.Limits(max_connections=CONVERSATIONS)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        if concurrent:
            return list(await asyncio.gather(*(conversation(client, i) for i in range(64))))
        return [await conversation(client, i) for i in range(CONVERSATIONS)]


def test_concurrent_conversations_match_serial(fake: BackgroundServer) -> None:
    serial = asyncio.run(run_all(fake.url, concurrent=False))
    concurrent = asyncio.run(run_all(fake.url, concurrent=True))
    assert len(concurrent) == CONVERSATIONS
    for index, (one, other) in enumerate(zip(serial, concurrent, strict=True)):
        assert one == other, f"conversation {index} differs under concurrency"


def test_memoized_answers_are_byte_identical_to_fresh_ones() -> None:
    """The /v1 memo (and its serialised streams) gives the bytes a fresh server gives."""
    from mockserver.app import create_app
    from mockserver.config import Settings
    from tests.asgi_call import call

    bodies = [
        orjson.dumps(
            {
                "model": model,
                "messages": [{"role": "user", "content": f"Say <b>{n}</b> & more\u2028"}],
                "stream": stream,
                **({"stream_options": {"include_usage": usage}} if usage is not None else {}),
            }
        )
        for model in ("gpt-oss:20b", "llama3.2:3b")
        for n, (stream, usage) in enumerate(
            [(True, True), (True, False), (True, None), (False, None)]
        )
    ]

    async def replies(app) -> list[tuple[int, bytes]]:
        out = []
        for body in bodies:
            reply = await call(app, "POST", "/v1/chat/completions", body)
            out.append((reply.status, b"|".join(reply.chunks)))
        return out

    warm = create_app(Settings(current_date="2026-03-23", seed=11))
    first = asyncio.run(replies(warm))
    asyncio.run(replies(warm))  # kept (the memo keeps a body seen twice)
    again = asyncio.run(replies(warm))  # memo hits
    fresh = asyncio.run(replies(create_app(Settings(current_date="2026-03-23", seed=11))))
    assert all(status == 200 for status, _ in first)
    assert first == again == fresh
