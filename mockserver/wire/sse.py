"""Streamed bodies, read as they arrive: server-sent events (``text/event-stream``) and NDJSON.

The one reader of streams in the project: the lab's conformance report reads with it
(``strict=True``), the recorder cuts what it records into frames with it
(:mod:`lab.recording`), the replayer reads recorded frames with it (:mod:`mockserver.replay`),
and so does the llama.cpp probe (``tools/llamacpp_server.py``). The fake's own SSE writer is in
its routes; this module only reads.

**The rules** are the WHATWG HTML standard's "Interpreting an event stream" (section 9.2.6):
lines end with CRLF, LF or CR; an empty line ends (dispatches) the event; a line starting with
``:`` is a comment (a keep-alive); any other line is ``field: value`` (one space after the colon
dropped; a line without a colon is a field with an empty value); the ``data`` lines of one event
are joined with ``\\n``. That is what a browser and the openai SDK (``openai/_streaming.py``,
``SSEDecoder``) accept, and it is the lenient mode here. NDJSON (Ollama's native streams) is one
JSON value per ``\\n``-terminated line.

**Strict mode** (``parse(..., strict=True)``) says, in words, where a stream leaves the narrower
framing every OpenAI-compatible client relies on: each event exactly one ``data: <json object>``
line and a blank line, LF line endings, a last event ``data: [DONE]`` and nothing after it, the
body ending with its blank line. A lenient reader hides exactly these deviations, which is why
the report does not use one off the shelf.

**Bounded.** A frame may not grow past ``limit`` bytes (:data:`MAX_FRAME` by default) without
its terminator: the :class:`Framer` cuts it into ``limit``-sized segments marked ``oversized``,
so a server that never ends an event cannot make a reader hold an unbounded buffer, and the
segments joined are still the body byte for byte (what the recorder needs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["sse", "ndjson"]
SSE_TYPE = "text/event-stream"
NDJSON_TYPE = "application/x-ndjson"
KINDS: dict[str, Kind] = {SSE_TYPE: "sse", NDJSON_TYPE: "ndjson"}
DONE = "[DONE]"
MAX_FRAME = 16 * 1024 * 1024  # bytes; a chat chunk is well under 1 KiB, a tool call a few KiB

# A blank line: a line terminator (CRLF, LF or CR) followed by another one. A CR followed by an
# LF is one CRLF, never two terminators.
_SSE_END = re.compile(rb"(?:\r\n|\n|\r(?!\n))(?:\r\n|\n|\r)")
_NDJSON_END = re.compile(rb"\n")
_LINES = re.compile(r"\r\n|\n|\r")
EXCERPT = 60


def stream_kind(content_type: str) -> Kind | None:
    """``"sse"`` or ``"ndjson"`` for a streamed body's ``Content-Type``, else ``None``."""
    return KINDS.get(content_type.split(";", 1)[0].strip().lower())


# --- framing: bytes in, frames out -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Segment:
    """A frame as it arrived: an SSE event with its blank line, or an NDJSON line with its ``\\n``.

    ``ended`` is False for what the body left without a terminator (a stream cut at its end)
    and for the pieces of an oversized frame but its last; ``oversized`` marks every piece of a
    frame longer than the framer's limit.
    """

    data: bytes
    ended: bool = True
    oversized: bool = False


class Framer:
    """Cuts a byte stream into segments as it arrives; the segments joined are the body."""

    def __init__(self, kind: Kind = "sse", *, limit: int = MAX_FRAME) -> None:
        if limit < 4:
            raise ValueError("a frame limit below 4 bytes cannot hold a blank line")
        self.kind = kind
        self.limit = limit
        self._end = _SSE_END if kind == "sse" else _NDJSON_END
        self._buffer = bytearray()
        self._scanned = 0  # the buffer before this holds no terminator (bar a CR at its end)
        self._cutting = False  # inside a frame already cut at the limit

    @property
    def pending(self) -> int:
        """Bytes held back, waiting for their terminator (never more than the limit + 3)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Segment]:
        """The frames ``data`` completes (a CR at the very end waits: it may start a CRLF)."""
        self._buffer += data
        return self._take(final=False)

    def finish(self) -> list[Segment]:
        """What is left at the end of the body: the last frames, one without its terminator."""
        segments = self._take(final=True)
        if self._buffer:
            segments.append(Segment(bytes(self._buffer), ended=False, oversized=self._cutting))
        self._buffer.clear()
        self._scanned = 0
        self._cutting = False
        return segments

    def _take(self, *, final: bool) -> list[Segment]:
        buffer = self._buffer
        segments: list[Segment] = []
        start = 0
        position = max(0, self._scanned - 3)  # a terminator may straddle two reads
        while (found := self._end.search(buffer, position)) is not None:
            end = found.end()
            if not final and self.kind == "sse" and end == len(buffer) and buffer[-1] == 0x0D:
                break  # "...\r\n\r" may be "...\r\n\r\n": wait for the next byte
            start = self._cut_long(segments, start, end)
            segments.append(Segment(bytes(buffer[start:end]), oversized=self._cutting))
            self._cutting = False
            start = position = end
        start = self._cut_long(segments, start, len(buffer))
        del buffer[:start]
        self._scanned = len(buffer)
        return segments

    def _cut_long(self, segments: list[Segment], start: int, end: int) -> int:
        """Emit ``limit``-sized pieces while ``[start, end)`` is longer than the limit."""
        while end - start > self.limit:
            piece = bytes(self._buffer[start : start + self.limit])
            segments.append(Segment(piece, ended=False, oversized=True))
            self._cutting = True
            start += self.limit
        return start


def frames(body: bytes, kind: Kind = "sse", *, limit: int = MAX_FRAME) -> list[Segment]:
    """Every frame of a whole body."""
    framer = Framer(kind, limit=limit)
    return framer.feed(body) + framer.finish()


# --- events -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """One SSE event's fields, as the WHATWG rules read them."""

    data: str | None = None  # the data lines joined with "\n"; None: the event has no data field
    event: str = ""
    id: str | None = None
    comments: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()  # every non-empty line, comments included, as sent

    @property
    def fields(self) -> tuple[str, ...]:
        """The lines that are not comments."""
        return tuple(line for line in self.lines if not line.startswith(":"))


def read_event(frame: bytes | str) -> Event:
    """The fields of one frame (its terminator and any empty line are ignored)."""
    text = frame.decode("utf-8", errors="replace") if isinstance(frame, bytes) else frame
    lines = tuple(line for line in _LINES.split(text) if line)
    data: list[str] = []
    event, last_id, comments = "", None, []
    for line in lines:
        if line.startswith(":"):
            comments.append(line[1:].removeprefix(" "))
            continue
        name, colon, value = line.partition(":")
        value = value.removeprefix(" ") if colon else ""
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            last_id = value
    joined = "\n".join(data) if data else None
    return Event(joined, event, last_id, tuple(comments), lines)


def payload(frame: bytes, kind: Kind = "sse") -> Any:
    """The JSON value one frame carries (an event's data, an NDJSON line); ``None`` if none."""
    text = read_event(frame).data if kind == "sse" else frame.decode("utf-8", "replace")
    if text is None or not text.strip() or text.strip() == DONE:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def payloads(segments: Iterable[bytes], kind: Kind = "sse") -> Iterator[Any]:
    """The JSON values of frames, skipping comments, ``[DONE]`` and what is not JSON."""
    for data in segments:
        value = payload(data, kind)
        if value is not None:
            yield value


# --- a whole SSE body -------------------------------------------------------------------------


@dataclass(slots=True)
class Stream:
    """An SSE body cut into events; in strict mode, its framing problems in words."""

    events: list[str] = field(default_factory=list)  # each non-blank frame, without terminator
    chunks: list[dict[str, Any]] = field(default_factory=list)  # each data event's JSON object
    done: bool = False  # the last event is `data: [DONE]`
    problems: list[str] = field(default_factory=list)  # strict mode only


def parse(body: bytes | str, *, strict: bool = False, limit: int = MAX_FRAME) -> Stream:
    """Read a whole SSE body. Lenient: what an SDK would read. Strict: and what is off-spec."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    stream = Stream()
    problems = stream.problems if strict else []
    if b"\r" in raw:
        problems.append("CR line endings")
    read: list[Event | None] = []  # per event; None: oversized, not read
    in_oversized = False
    for segment in frames(raw, "sse", limit=limit):
        if segment.oversized:
            if not in_oversized:
                stream.events.append(f"(an event larger than {limit} bytes)")
                read.append(None)
            in_oversized = not segment.ended
            continue
        text = segment.data.decode("utf-8", errors="replace")
        if not text.strip():
            continue  # extra blank lines between events
        if not segment.ended:
            problems.append(f"the body does not end with a blank line (ends {text[-20:]!r})")
        stream.events.append(_LINES.sub("\n", text).strip("\n"))
        read.append(read_event(text))
    total = len(stream.events)
    for number, (text, event) in enumerate(zip(stream.events, read, strict=True), 1):
        if event is None:
            problems.append(f"event {number} is larger than {limit} bytes")
            continue
        if event.data is None and not event.fields:
            continue  # a comment (keep-alive): allowed, the SDK skips it
        if strict and (len(event.fields) != 1 or not event.fields[0].startswith("data: ")):
            problems.append(f"event {number} is not one `data: ` line: {cut(text)}")
            continue
        if event.data is None:
            continue  # an event without data is not dispatched
        if event.data == DONE:
            if number != total:
                problems.append(f"`data: {DONE}` is event {number} of {total}")
            else:
                stream.done = True
            continue
        try:
            chunk = json.loads(event.data)
        except ValueError:
            problems.append(f"event {number} is not JSON: {cut(event.data)}")
            continue
        if isinstance(chunk, dict):
            stream.chunks.append(chunk)
        else:
            problems.append(f"event {number} is JSON but not an object")
    if not stream.done:
        last = stream.events[-1] if stream.events else "(no events)"
        problems.append(f"does not end with `data: {DONE}` (last event: {cut(last, 80)})")
    return stream


def cut(text: str, limit: int = EXCERPT) -> str:
    """``text`` on one line, at most ``limit`` characters (an ellipsis marks the cut)."""
    text = " ".join(text.split()) if "\n" in text else text
    return text if len(text) <= limit else text[: limit - 1] + "…"
