"""The benchmark's requests: the Post 1 5-turn conversation and a ~180-token streamed answer."""

from __future__ import annotations

import orjson

MODEL = "gpt-oss:20b"
PATH = "/v1/chat/completions"
NATIVE_PATH = "/api/chat"

FIVE_TURN = [
    {"role": "user", "content": "Hi, I'm planning a trip across Canada."},
    {"role": "assistant", "content": "Nice! Which provinces are you thinking of visiting?"},
    {"role": "user", "content": "Mainly Quebec and Ontario, with a stop in the Maritimes."},
    {"role": "assistant", "content": "Great picks. Are you flying in or driving?"},
    {"role": "user", "content": "Driving. What's the capital of Canada?"},
]
CHAT_BODY = orjson.dumps({"model": MODEL, "messages": FIVE_TURN})
# The same conversation on Ollama's native surface, one JSON answer (not NDJSON).
NATIVE_BODY = orjson.dumps({"model": MODEL, "messages": FIVE_TURN, "stream": False})

# A question the fake answers by quoting it (200 characters), with high-effort reasoning:
# 176 completion tokens on gpt-oss:20b, streamed as one SSE event per emitted piece.
LONG_QUESTION = (
    "Tell me, in as much detail as you can, how the stateless contract works when a client "
    "resends the whole history on every turn, and why the prompt token count grows with each "
    "turn of the conversation."
)
STREAM_BODY = orjson.dumps(
    {
        "model": MODEL,
        "messages": [{"role": "user", "content": LONG_QUESTION}],
        "reasoning_effort": "high",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
)


def distinct_body_parts() -> tuple[bytes, bytes]:
    """CHAT_BODY split where a per-request counter goes (in the last user message), so that
    every request is a conversation the fake has not seen: no memo or cache hit."""
    marker = b"Driving. What's the capital of Canada?"
    head, _, tail = CHAT_BODY.partition(marker)
    return head + b"Driving (trip ", b"). What's the capital of Canada?" + tail


def distinct_stream_parts() -> tuple[bytes, bytes]:
    """STREAM_BODY split where a per-request counter goes (in its question): a streamed
    answer of the same length (the counter's digits aside) to a question never seen."""
    marker = b"how the stateless contract works"
    head, _, tail = STREAM_BODY.partition(marker)
    return head + b"(question ", b") " + marker + tail
