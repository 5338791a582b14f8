"""Request bodies sent with ``Content-Encoding: zstd``, read as Ollama reads them.

Ollama's ``/v1`` passthrough layer (``server/cloud_proxy.go`` cloudPassthroughMiddleware, the
first handler of ``/v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings``,
``/v1/responses`` and ``/v1/messages``; ollama/ollama@fb3076099) decompresses such a body with
klauspost/compress's streaming decoder, ``zstd.NewReader(body,
zstd.WithDecoderMaxMemory(8<<20))``, behind ``http.MaxBytesReader(..., 20<<20)``, then drops
the header: every later handler reads plain JSON. (OpenAI's Codex CLI sends its Responses
requests this way.) A body it cannot read is a 400 ``{"error": "<Go's error>"}``.

The frames and blocks are walked here with the Go decoder's checks, in its order
(``zstd/framedec.go`` reset, ``zstd/blockdec.go`` reset), so that a refused body gets the
Go decoder's words; the blocks' contents are decompressed by libzstd (``zstandard``).

- A frame's window may be at most 8 MiB (``maxWindowSize`` is capped at the max memory):
  ``window size exceeded``; a single-segment frame, whose window is its content size, larger
  than that: ``decompressed size exceeds configured limit``.
- More than 20 MiB decompressed: ``http: request body too large`` (``MaxBytesReader``).
- A body cut short (a frame header, a block, a checksum): ``unexpected EOF``; an empty body,
  or one that ends between frames, is read to its end (empty JSON then fails as JSON does).
- Skippable frames are skipped; a dictionary id is ``unknown dictionary`` (none is loaded).
- Corrupt block contents, which only libzstd reads here: a checksum that does not match is
  ``CRC check failed``; for anything else the Go decoder's own words are UNVERIFIED (it has a
  message per kind of corruption), this says ``invalid input: corrupt block``.
"""

from __future__ import annotations

import functools

from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.asgi import read_body, replaying
from mockserver.errors import OllamaError

MAX_MEMORY = 8 << 20  # zstd.WithDecoderMaxMemory(8<<20)
MAX_DECOMPRESSED = 20 << 20  # maxDecompressedBodySize, through http.MaxBytesReader
_MAX_BLOCK = 128 << 10  # maxCompressedBlockSize
_MIN_WINDOW = 1 << 10
_FRAME_MAGIC = b"\x28\xb5\x2f\xfd"
_SKIPPABLE_MAGIC = b"\x2a\x4d\x18"  # bytes 1-3 of 0x184D2A5?, little-endian

UNEXPECTED_EOF = "unexpected EOF"
TOO_LARGE = "http: request body too large"


class ZstdBodyError(ValueError):
    """The body cannot be read: ``str(error)`` is what Ollama answers (a 400)."""


class ReadZstdBodies:
    """The ASGI layer: a zstd body on one of ``paths`` (POST) is decompressed and its
    ``Content-Encoding`` dropped before any other layer reads it (the scenario, replay and
    fault layers, the routes); one it cannot read is refused with Go's words, native shape."""

    def __init__(self, app: ASGIApp, paths: frozenset[str]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] not in self.paths
            or not is_zstd(scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        from mockserver.journal import read_as
        from mockserver.threads import off_loop
        from mockserver.wire.errors import Surface, render

        body, complete = await read_body(receive)
        if not complete:  # the client went away mid-body: the app sees its disconnect
            await self.app(scope, replaying(body, complete, receive), send)
            return
        try:
            if len(body) > 1 << 16:  # megabytes out: off the event loop
                plain = await off_loop(functools.partial(decompress, body))
            else:
                plain = decompress(body)
        except ZstdBodyError as error:
            await render(OllamaError(400, str(error)), Surface.NATIVE)(scope, receive, send)
            return
        read_as(plain)  # the journal keeps what the routes read
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-encoding"]
        scope = {**scope, "headers": headers}
        await self.app(scope, replaying(plain, complete, receive), send)


def is_zstd(headers: list[tuple[bytes, bytes]]) -> bool:
    """``c.GetHeader("Content-Encoding") == "zstd"``: the first such header, exactly."""
    for name, value in headers:
        if name == b"content-encoding":
            return value == b"zstd"
    return False


def decompress(body: bytes) -> bytes:
    """The body's frames decompressed, or ``ZstdBodyError`` with the Go decoder's words."""
    frames, refused = _frames(body)
    out = bytearray()
    for frame, content_size in frames:
        _inflate(frame, content_size, out)
    if refused is not None:
        raise ZstdBodyError(refused)
    return bytes(out)


def _frames(body: bytes) -> tuple[list[tuple[bytes, int | None]], str | None]:
    """The zstd frames of ``body`` (their bytes, their declared content size), up to the first
    one the Go decoder refuses, and its error (None: the body ends cleanly)."""
    frames: list[tuple[bytes, int | None]] = []
    position = 0
    while True:
        if len(body) - position < 1:
            return frames, None  # nothing more: the end of the stream
        if len(body) - position < 4:
            return frames, UNEXPECTED_EOF
        signature = body[position : position + 4]
        if signature[1:] == _SKIPPABLE_MAGIC and signature[0] & 0xF0 == 0x50:
            if len(body) - position < 8:
                return frames, UNEXPECTED_EOF
            size = int.from_bytes(body[position + 4 : position + 8], "little")
            position += 8 + size
            if position > len(body):
                return frames, UNEXPECTED_EOF
            continue
        if signature != _FRAME_MAGIC:
            return frames, "invalid input: magic number mismatch"
        walked = _walk_frame(body, position + 4)
        if isinstance(walked, str):
            return frames, walked
        end, content_size = walked
        frames.append((body[position:end], content_size))
        position = end


def _walk_frame(body: bytes, at: int) -> tuple[int, int | None] | str:
    """Where the frame whose header starts at ``at`` ends, and its content size; or the Go
    decoder's error for it."""
    if at >= len(body):
        return UNEXPECTED_EOF
    descriptor = body[at]
    at += 1
    single_segment = bool(descriptor & 0x20)
    if descriptor & 0x08:
        return "reserved bit set on frame header"
    window = 0
    if not single_segment:
        if at >= len(body):
            return UNEXPECTED_EOF
        exponent, mantissa = body[at] >> 3, body[at] & 7
        at += 1
        base = 1 << (10 + exponent)
        window = base + (base // 8) * mantissa
    dictionary_bytes = (0, 1, 2, 4)[descriptor & 3]
    if len(body) - at < dictionary_bytes:
        return UNEXPECTED_EOF
    dictionary = int.from_bytes(body[at : at + dictionary_bytes], "little")
    at += dictionary_bytes
    size_flag = descriptor >> 6
    size_bytes = (1 if single_segment else 0) if size_flag == 0 else 1 << size_flag
    content_size: int | None = None
    if size_bytes:
        if len(body) - at < size_bytes:
            return UNEXPECTED_EOF
        content_size = int.from_bytes(body[at : at + size_bytes], "little")
        content_size += 256 if size_bytes == 2 else 0
        at += size_bytes
    if window > MAX_MEMORY:
        return "window size exceeded"
    if window == 0 and single_segment:
        window = max(content_size or 0, _MIN_WINDOW)
        if window > MAX_MEMORY:
            return "decompressed size exceeds configured limit"
    if window < _MIN_WINDOW:
        return "invalid input: window size was too small"
    if dictionary:
        return "unknown dictionary"
    while True:  # the blocks
        if len(body) - at < 3:
            return UNEXPECTED_EOF
        header = int.from_bytes(body[at : at + 3], "little")
        at += 3
        last, kind, size = header & 1, (header >> 1) & 3, header >> 3
        if kind == 3:
            return "invalid input: reserved block type encountered"
        if kind == 2:  # compressed
            if size > _MAX_BLOCK or size > window:
                return "invalid input: compressed size too big"
            if size < 2:
                return "block too small"
        elif size > _MAX_BLOCK or size > window:  # raw, RLE
            return "window size exceeded"
        stored = 1 if kind == 1 else size
        if len(body) - at < stored:
            return UNEXPECTED_EOF
        at += stored
        if last:
            break
    if descriptor & 0x04:  # the content checksum
        if len(body) - at < 4:
            return UNEXPECTED_EOF
        at += 4
    return at, content_size


def _inflate(frame: bytes, content_size: int | None, out: bytearray) -> None:
    """Append ``frame`` decompressed to ``out``, within ``MAX_DECOMPRESSED`` in all."""
    import zstandard

    reader = zstandard.ZstdDecompressor().stream_reader(frame, read_across_frames=False)
    produced = 0
    try:
        while True:
            chunk = reader.read(1 << 20)
            if not chunk:
                break
            produced += len(chunk)
            if content_size is not None and produced > content_size:
                raise ZstdBodyError("frame size exceeded")
            out += chunk
            if len(out) > MAX_DECOMPRESSED:
                raise ZstdBodyError(TOO_LARGE)
    except zstandard.ZstdError as error:
        if "checksum" in str(error):
            raise ZstdBodyError("CRC check failed") from None
        raise ZstdBodyError("invalid input: corrupt block") from None
    if content_size is not None and produced != content_size:
        raise ZstdBodyError("frame size does not match size on stream")
