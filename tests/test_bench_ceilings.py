"""The benchmark's tokenize ceiling does the tokenizer work it claims, on the bodies it is sent.

``bench.ceilings.tokenize`` prices exact counting on an unseen body (``nox -s bench``'s
"tokenize ceiling" row): its numbers must be the shipped gpt-oss tokenizer's counts of the texts
it was sent and wrote, or the row would compare the fake against less work than exactness needs.
"""

from __future__ import annotations

import asyncio

import orjson

from bench.ceilings import tokenize
from bench.workload import distinct_body_parts
from mockserver.engine.tokenizers import HarmonyTokenizer


def _answer(body: bytes) -> tuple[int, dict]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(tokenize({"type": "http"}, receive, send))
    start, answer = sent
    return start["status"], orjson.loads(answer["body"])


def test_the_tokenize_ceiling_counts_what_it_was_sent_and_what_it_wrote() -> None:
    head, tail = distinct_body_parts()
    body = head + b"ceiling-1" + tail
    status, answer = _answer(body)
    tokenizer = HarmonyTokenizer()
    messages = orjson.loads(body)["messages"]
    message = answer["choices"][0]["message"]
    assert status == 200
    assert "ceiling-1" in message["content"] and "ceiling-1" in message["reasoning"]
    usage = answer["usage"]
    assert usage["prompt_tokens"] == sum(len(tokenizer.encode(m["content"])) + 4 for m in messages)
    written = len(tokenizer.encode(message["content"])) + len(
        tokenizer.encode(message["reasoning"])
    )
    assert usage["completion_tokens"] == written + 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
