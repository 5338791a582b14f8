"""The target as the checks see it: the SDK, a raw ``httpx`` client, and the shared answers.

Calls go through the official ``openai`` SDK where the SDK shows what matters, and through raw
``httpx`` where the SDK hides the wire (SSE framing, ``data: [DONE]``, ``choices: []`` on the
usage chunk, error bodies). Points that need the same plain request share it
(:meth:`Probe.basic`, :meth:`Probe.stream`), so a report against a large model makes a dozen
calls, not thirty. Streams are read with the project's one SSE reader in strict mode
(:func:`mockserver.wire.sse.parse`), which names every framing problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import openai
from openai.types.chat import ChatCompletionMessageParam

from lab.ollama import EngineInfo
from lab.targets import Target
from mockserver.wire import sse

BASIC: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Name three Canadian cities."},
]
BASIC_MAX_TOKENS = 200  # bounds every shared call on a real model; "length" is a valid finish
MAX_STREAM_BYTES = 1024 * 1024  # a 200-token stream is some 50 KB; far more is a runaway


@dataclass(frozen=True, slots=True)
class Raw:
    """One non-streamed answer: status, the parsed JSON body (``None`` if not JSON), the text."""

    status: int
    body: Any
    text: str


@dataclass(slots=True)
class SSE:
    """A streamed answer as it came over the wire, read strictly (:func:`sse.parse`)."""

    status: int
    content_type: str
    text: str
    events: list[str] = field(default_factory=list)  # each event without its blank line
    chunks: list[dict[str, Any]] = field(default_factory=list)  # the JSON of each data event
    done: bool = False  # the last event is `data: [DONE]`
    problems: list[str] = field(default_factory=list)  # framing problems, in words

    @classmethod
    def parse(cls, status: int, content_type: str, body: bytes | bytearray | str) -> SSE:
        body = bytes(body) if isinstance(body, bytearray) else body
        read = sse.parse(body, strict=True)
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        return cls(status, content_type, text, read.events, read.chunks, read.done, read.problems)

    def usage_chunks(self) -> list[tuple[int, dict[str, Any]]]:
        """``(index, chunk)`` of every chunk that carries a non-null ``usage``."""
        return [(i, c) for i, c in enumerate(self.chunks) if c.get("usage") is not None]


@dataclass(slots=True)
class Probe:
    """The target and the clients the checks call it with; shared answers are kept here."""

    client: openai.OpenAI
    http: httpx.Client
    target: Target
    model: str
    engine: EngineInfo
    api_key: str
    _memo: dict[str, Any] = field(default_factory=dict)

    @property
    def chat_url(self) -> str:
        return f"{self.target.openai_url}/chat/completions"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}

    def sdk_chat(self, messages: list[ChatCompletionMessageParam], **params: Any) -> Raw:
        """``chat.completions.create`` through the SDK; the raw JSON is what the checks read."""
        raw = self.client.chat.completions.with_raw_response.create(
            model=params.pop("model", self.model), messages=messages, **params
        )
        response = raw.http_response
        return Raw(response.status_code, json_or_none(response), response.text)

    def post(self, body: dict[str, Any]) -> Raw:
        response = self.http.post(self.chat_url, json=body, headers=self.headers())
        return Raw(response.status_code, json_or_none(response), response.text)

    def post_stream(self, body: dict[str, Any]) -> SSE:
        headers = {**self.headers(), "Accept": "text/event-stream"}
        with self.http.stream("POST", self.chat_url, json=body, headers=headers) as response:
            raw = bytearray()
            for data in response.iter_bytes():
                raw += data
                if len(raw) > MAX_STREAM_BYTES:
                    break  # a stream that does not end: read no more of it
            sse = SSE.parse(response.status_code, response.headers.get("content-type", ""), raw)
        if len(raw) > MAX_STREAM_BYTES:
            sse.problems.insert(0, f"the stream went on past {MAX_STREAM_BYTES} bytes")
        return sse

    def basic(self) -> Raw:
        """The plain non-streamed request several points read (made once)."""
        if "basic" not in self._memo:
            self._memo["basic"] = self.sdk_chat(BASIC, max_tokens=BASIC_MAX_TOKENS)
        return self._memo["basic"]

    def stream(self, *, include_usage: bool = False) -> SSE:
        """The same request streamed (made once per ``include_usage``)."""
        key = f"stream/{include_usage}"
        if key not in self._memo:
            body: dict[str, Any] = {
                "model": self.model,
                "messages": BASIC,
                "max_tokens": BASIC_MAX_TOKENS,
                "stream": True,
            }
            if include_usage:
                body["stream_options"] = {"include_usage": True}
            self._memo[key] = self.post_stream(body)
        return self._memo[key]


class Answer(Protocol):
    """An HTTP response, from httpx or from the SDK's own client."""

    def json(self) -> Any: ...


def json_or_none(response: Answer) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
