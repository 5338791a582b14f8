"""The ceilings: bare ASGI apps served with the fake's own uvicorn settings.

- ``fixed``: drains the request body and returns a fixed chat completion (no parsing at all).
- ``parse``: parses the JSON body with orjson, then returns the same fixed chat completion.
- ``sse``: drains the body and streams ``SSE_EVENTS`` fixed ``data:`` events (one per token),
  then ``data: [DONE]``, as one ``http.response.body`` message per event, like the fake.
- ``tokenize``: the tokenizer work an exact fake cannot skip on an unseen body, and nothing
  else: it parses the body (orjson), counts every message's text with the shipped gpt-oss
  tokenizer (the history from its fragment counts, as the fake's), tokenizes an answer and a
  reasoning of the fake's length that quote the last message, and writes them with orjson.
  Its counts are not Ollama's (no template, no engine): it prices exactness, not fidelity.

The fixed bodies have the size and shape of the fake's answers to the benchmark requests, so
the ceilings move the same bytes; they only skip the model logic.
"""

from __future__ import annotations

import functools
import os

import orjson

from mockserver.asgi import serve_lifespan

COMPLETION = (
    b'{"id":"chatcmpl-137","object":"chat.completion","created":1767225600,'
    b'"model":"gpt-oss:20b","system_fingerprint":"fp_ollama","choices":[{"index":0,'
    b'"message":{"role":"assistant","content":"Ottawa, Ontario. It fits your road trip nicely: '
    b"it sits right on the Ontario-Quebec border, about two hours from Montreal by car, so you "
    b'can stop there on the way between the two provinces before heading east to the Maritimes.",'
    b'"reasoning":"The user asks: \\"Driving. What\'s the capital of Canada?\\". The request '
    b'carries 5 conversation turns; that is all the context I have."},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":139,"completion_tokens":91,"total_tokens":230}}\n'
)
JSON_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(COMPLETION)).encode()),
]
SSE_HEADERS = [(b"content-type", b"text/event-stream")]
SSE_EVENT = (
    b'data: {"id":"chatcmpl-733","object":"chat.completion.chunk","created":1767225600,'
    b'"model":"gpt-oss:20b","system_fingerprint":"fp_ollama","choices":[{"index":0,'
    b'"delta":{"content":" token"},"finish_reason":null}]}\n\n'
)
SSE_DONE = b"data: [DONE]\n\n"
# The fake's answer to bench.workload.STREAM_BODY is this many data events before [DONE].
SSE_EVENTS = int(os.environ.get("PORTWAY_BENCH_SSE_EVENTS", "169"))


async def _drain(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def fixed(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        return await serve_lifespan(receive, send)
    await _drain(receive)
    await send({"type": "http.response.start", "status": 200, "headers": JSON_HEADERS})
    await send({"type": "http.response.body", "body": COMPLETION})


async def parse(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        return await serve_lifespan(receive, send)
    body = await _drain(receive)
    request = orjson.loads(body) if body else {}
    status = 200 if isinstance(request, dict) else 400
    await send({"type": "http.response.start", "status": status, "headers": JSON_HEADERS})
    await send({"type": "http.response.body", "body": COMPLETION})


async def sse(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        return await serve_lifespan(receive, send)
    await _drain(receive)
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    for _ in range(SSE_EVENTS):
        await send({"type": "http.response.body", "body": SSE_EVENT, "more_body": True})
    await send({"type": "http.response.body", "body": SSE_DONE, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


@functools.cache
def _harmony():
    from mockserver.engine.tokenizers import HarmonyTokenizer

    return HarmonyTokenizer()


async def tokenize(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        _harmony()  # the vocabulary, before the first request
        return await serve_lifespan(receive, send)
    body = await _drain(receive)
    tokenizer = _harmony()
    request = orjson.loads(body)
    messages = request["messages"]
    prompt = sum(tokenizer.count(str(message.get("content") or "")) + 4 for message in messages)
    last = str(messages[-1].get("content") or "")
    content = (
        f"This request reached me with {len(messages)} messages for {request['model']}, "
        f'{prompt} prompt tokens once rendered. Your last message was: "{last}". I remember '
        "nothing between requests: whatever history you want me to use, send it again."
    )
    reasoning = (
        f'The user asks: "{last}". The request carries {len(messages)} conversation turns; '
        "that is all the context I have."
    )
    completion = len(tokenizer.encode(content)) + len(tokenizer.encode(reasoning)) + 5
    answer = orjson.dumps(
        {
            "id": "chatcmpl-137",
            "object": "chat.completion",
            "created": 1767225600,
            "model": request["model"],
            "system_fingerprint": "fp_ollama",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "reasoning": reasoning},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }
    )
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


APPS = {"fixed": fixed, "parse": parse, "sse": sse, "tokenize": tokenize}
