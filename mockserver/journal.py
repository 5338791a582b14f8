"""The request journal: the last N requests and answers, for asserting on what a client sent.

Off by default on the command line (``--journal N``), on in the pytest plugin
(``ollama_fake.journal``). Each :class:`Entry` holds the method, path and body of a request, the
status and body of the answer (a stream as its list of chunks), how long it took, and for
generation requests the rendered prompt, ``prompt_tokens`` / ``completion_tokens`` as the engine
counted them and what answered (a scenario rule, a built-in script, the agent, the report).
Readable at ``GET /_portway/journal`` (a prefix Ollama does not use; ``DELETE`` clears it).
Memory is bounded: N entries, each body and answer cut at ``MAX_BYTES``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from mockserver.engine.engine import ChatResult

PREFIX = "/_portway"
ROUTE = f"{PREFIX}/journal"
MAX_BYTES = 256 * 1024  # per body and per answer


@dataclass
class Entry:
    method: str
    path: str
    body: Any  # the JSON sent (or its text when it is not JSON)
    status: int = 0  # 0 while the answer is still being sent
    response: Any = None  # the JSON answer; a stream: the list of its chunks
    stream: bool = False
    started_at: float = 0.0  # Unix time
    duration_ms: float = 0.0
    prompt: str | None = None  # the rendered prompt (generation requests)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    answered_by: str = ""  # "scenario:<rule>", "script:<name>", "agent:tool-call", ...
    truncated: bool = False  # the body or the answer was longer than MAX_BYTES
    # The body as the routes read it, where a layer decoded what was sent (``read_as``: a zstd
    # body, decompressed once by ``wire/zstd_body.py``); journaled as ``body``, not on its own.
    read: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The messages the request carried (empty for requests without any)."""
        messages = self.body.get("messages") if isinstance(self.body, dict) else None
        return list(messages) if isinstance(messages, list) else []

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["read"]
        return data


class Journal:
    """A bounded, thread-safe list of the latest entries, oldest first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: deque[Entry] = deque(maxlen=max(capacity, 1))
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __getitem__(self, index: int) -> Entry:
        return self.entries[index]

    @property
    def entries(self) -> list[Entry]:
        with self._lock:
            return list(self._entries)

    @property
    def last(self) -> Entry:
        """The latest entry (``IndexError`` when there is none)."""
        return self.entries[-1]

    def add(self, entry: Entry) -> None:
        with self._lock:
            self._entries.append(entry)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def find(self, path: str) -> list[Entry]:
        return [entry for entry in self.entries if entry.path == path]


_current: ContextVar[Entry | None] = ContextVar("portway_journal_entry", default=None)


def observe(result: ChatResult) -> None:
    """What the engine did for the request being journaled (a no-op when none is)."""
    entry = _current.get()
    if entry is None:
        return
    entry.prompt = result.prompt.text
    entry.prompt_tokens = result.prompt.tokens
    if result.completion is not None:
        entry.completion_tokens = result.completion.eval_count
        entry.answered_by = entry.answered_by or result.completion.source


def read_as(body: bytes) -> None:
    """The request being journaled (if any) was read as ``body``, not as the bytes sent."""
    entry = _current.get()
    if entry is not None:
        entry.read = body


def note(answered_by: str) -> None:
    entry = _current.get()
    if entry is not None:
        entry.answered_by = answered_by


class KeepJournal:
    """The outermost ASGI layer: every HTTP request and its answer go into the journal."""

    def __init__(self, app: ASGIApp, journal: Journal) -> None:
        self.app = app
        self.journal = journal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        entry = Entry(method=scope["method"], path=scope["path"], body=None)
        entry.started_at = time.time()
        started = time.perf_counter()
        sent: list[bytes] = []
        received: list[bytes] = []
        size = 0

        async def keep_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                received.append(message.get("body", b""))
            return message

        async def keep_send(message: Message) -> None:
            nonlocal size
            if message["type"] == "http.response.start":
                entry.status = message["status"]
                kind = dict(message.get("headers", [])).get(b"content-type", b"")
                entry.stream = kind.startswith((b"text/event-stream", b"application/x-ndjson"))
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                if size + len(chunk) <= MAX_BYTES:
                    sent.append(chunk)
                else:
                    entry.truncated = True
                size += len(chunk)
                if not message.get("more_body", False):
                    finish()  # before the last byte goes out: a client that has its answer
                    # reads a complete entry
            await send(message)

        decoded: list[Any] = []  # the request body, decoded once (finish runs twice)

        def finish() -> None:
            entry.duration_ms = round((time.perf_counter() - started) * 1000, 3)
            if not decoded:
                raw = entry.read if entry.read is not None else b"".join(received)
                decoded.append(_decode(raw, entry))
            entry.body = decoded[0]
            entry.response = _answer(b"".join(sent), entry.stream)

        self.journal.add(entry)  # in order of arrival; filled in as the answer goes out
        token = _current.set(entry)
        try:
            await self.app(scope, keep_receive, keep_send)
        finally:
            _current.reset(token)
            finish()  # again: a request that failed or was cut still ends up complete


def _decode(raw: bytes, entry: Entry) -> Any:
    if len(raw) > MAX_BYTES:
        entry.truncated = True
        return raw[:MAX_BYTES].decode("utf-8", "replace")
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _answer(raw: bytes, stream: bool) -> Any:
    text = raw.decode("utf-8", "replace")
    if not stream:
        try:
            return json.loads(text) if text.strip() else None
        except ValueError:
            return text
    chunks: list[Any] = []
    for line in text.splitlines():
        line = line.removeprefix("data: ").strip()
        if not line:
            continue
        try:
            chunks.append(json.loads(line))
        except ValueError:
            chunks.append(line)  # "[DONE]", or a chunk cut by MAX_BYTES
    return chunks


def listing(journal: Journal) -> dict[str, Any]:
    """``GET /_portway/journal``: the entries, oldest first, and the capacity."""
    return {"capacity": journal.capacity, "entries": [e.to_json() for e in journal.entries]}
