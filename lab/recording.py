"""Record every HTTP exchange the lab makes, so that the fake can replay it offline.

An httpx transport wrapper saves each exchange as one JSON file in a directory; the caller sees
exactly what the server sent, as it arrives (streams are passed through chunk by chunk and
recorded on the side). ``python -m mockserver --replay DIR`` (:mod:`mockserver.replay`) answers
the same requests from those files.

Usage, e.g. for ``python -m lab run --record DIR``::

    from pathlib import Path

    import openai

    from lab.recording import recording_client

    http = recording_client(Path("recordings/ollama-0.12"), timeout=120.0)
    client = openai.OpenAI(base_url=target.openai_url, api_key=key, http_client=http)
    ...  # run the experiments with `client`
    http.recorder.engine = engine.as_dict()  # once known (the preflight), stored from now on
    http.close()

**File format** (``portway-recording/1``), one file per exchange, ``<seq>-<key[:12]>.json``::

    {
      "format": "portway-recording/1",
      "match_key": "<sha256 hex>",
      "match": {"method": "POST", "path": "/chat/completions"},
      "recorded_at": "2026-03-23T10:00:00.123456Z",
      "target": "http://localhost:11434/v1",
      "engine": {"name": "ollama", "version": "0.12.6"},
      "request": {"method": "POST", "path": "/v1/chat/completions", "query": [],
                  "headers": {"authorization": "<scrubbed>", ...}, "json": {...}},
      "response": {"status": 200, "headers": {...}, "headers_at": 0.012, "elapsed": 0.31,
                   "json": {...}, "json_newline": true}
    }

A streamed response (``text/event-stream``, ``application/x-ndjson``) has ``"frames"`` instead
of ``"json"``: ``[{"at": 0.0853, "data": "data: {...}\\n\\n"}, ...]``, one per SSE event or
NDJSON line, in arrival order, ``at`` being the arrival time in seconds from the start of the
request (when two events arrive in one read they share an ``at``). The frames joined are the
body byte for byte. A response that is neither JSON nor a stream has ``"text"`` (or
``"body_b64"`` when not UTF-8). ``"complete": false`` and ``"error"`` mark a body that the server
or the network cut short (a replay cuts it at the same point); ``"caller_closed": true`` a body
the caller stopped reading before its end (the openai SDK closes a stream at ``data: [DONE]``,
before the final empty chunk), whose frames are all that had arrived.

**Secrets** never reach the files: headers that carry credentials (``Authorization``,
``api-key``, ``x-api-key``, cookies, anything named like a token, secret or session) and credential
query parameters are replaced by ``"<scrubbed>"``; credentials in the URL are dropped.

**Match key**: :func:`mockserver.replay.match_key`, the sha256 of the canonical JSON of the
method, the path after ``/v1`` and the full request body.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from mockserver.replay import FORMAT, is_stream_type, match_key, normalise_path
from mockserver.wire import sse

log = logging.getLogger(__name__)

SCRUBBED = "<scrubbed>"
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "api-key",
        "x-api-key",
        "x-goog-api-key",
        "cookie",
        "set-cookie",
        "openai-organization",
        "openai-project",
    }
)
_SECRET_WORDS = ("auth", "secret", "password", "api-key", "apikey", "api_key", "cookie", "session")
_SECRET_PARAMS = frozenset({"key", "api_key", "apikey", "api-key", "token", "access_token", "sig"})
_SEQ = re.compile(r"^(\d+)-")


def is_secret_header(name: str) -> bool:
    lowered = name.lower()
    return (
        lowered in SECRET_HEADERS
        or lowered.endswith("token")  # x-auth-token, x-access-token; not x-ratelimit-*-tokens
        or any(word in lowered for word in _SECRET_WORDS)
    )


def scrub_headers(headers: httpx.Headers) -> dict[str, str]:
    """Headers as a JSON object (lower-case names; repeated ones joined with ``, ``)."""
    out: dict[str, str] = {}
    for name, value in headers.multi_items():
        name = name.lower()
        value = SCRUBBED if is_secret_header(name) else value
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def scrub_query(query: bytes | str) -> list[list[str]]:
    text = query.decode("ascii", errors="replace") if isinstance(query, bytes) else query
    return [
        [name, SCRUBBED if name.lower() in _SECRET_PARAMS or is_secret_header(name) else value]
        for name, value in parse_qsl(text, keep_blank_values=True)
    ]


def base_url_of(url: httpx.URL) -> str:
    """``scheme://host:port`` plus the path up to and including ``/v1``; no credentials."""
    segments = url.path.split("/")
    prefix = "/".join(segments[: segments.index("v1") + 1]) if "v1" in segments else ""
    port = f":{url.port}" if url.port else ""
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{url.scheme}://{host}{port}{prefix}"


def _strip_credentials(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return parts._replace(netloc=netloc, query="", fragment="").geturl().rstrip("/")


def _body_fields(body: bytes, content_type: str = "application/json") -> dict[str, Any]:
    """A body as stored: ``json`` when it parses, else ``text``, else ``body_b64``."""
    if not body:
        return {}
    kind = content_type.split(";", 1)[0].strip().lower()
    if "json" in kind or not kind:
        try:
            return {"json": json.loads(body)}
        except (ValueError, UnicodeDecodeError):
            pass
    try:
        return {"text": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"body_b64": base64.b64encode(body).decode("ascii")}


class _Framer:
    """Cuts a byte stream into frames (:class:`mockserver.wire.sse.Framer`), stamping arrival."""

    def __init__(self, content_type: str) -> None:
        self._framer = sse.Framer(sse.stream_kind(content_type) or "ndjson")
        self._last_at = 0.0
        self.frames: list[tuple[float, bytes]] = []

    def feed(self, data: bytes, at: float) -> None:
        self._last_at = at
        self.frames += [(at, segment.data) for segment in self._framer.feed(data)]

    def finish(self) -> None:
        # the last frame may lack its terminator (a cut stream)
        self.frames += [(self._last_at, segment.data) for segment in self._framer.finish()]


class _Decoder:
    """Undo gzip/deflate so that frames are recorded as text; other encodings stay raw."""

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        self.supported = encoding in ("", "identity", "gzip", "x-gzip", "deflate")
        self._zlib: Any = None
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()

    def __call__(self, data: bytes) -> bytes:
        return self._zlib.decompress(data) if self._zlib is not None else data


class Recorder:
    """Where and how exchanges are written; shared by every transport of one client."""

    def __init__(
        self,
        directory: Path | str,
        *,
        base_url: str | None = None,
        engine: str | Mapping[str, str] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.base_url = _strip_credentials(base_url) if base_url else None
        self.engine: str | Mapping[str, str] | None = engine
        self._lock = threading.Lock()
        self._seq = max(
            (int(m.group(1)) for p in self.directory.glob("*.json") if (m := _SEQ.match(p.name))),
            default=0,
        )
        self.written: list[Path] = []

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def write(self, seq: int, exchange: dict[str, Any]) -> Path:
        path = self.directory / f"{seq:04d}-{exchange['match_key'][:12]}.json"
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(json.dumps(exchange, indent=2, ensure_ascii=False) + "\n", "utf-8")
        os.replace(temporary, path)
        with self._lock:
            self.written.append(path)
        return path


class _RecordingStream(httpx.SyncByteStream):
    """Passes the body through chunk by chunk; records it on the side; writes on close."""

    def __init__(
        self,
        inner: httpx.SyncByteStream,
        recorder: Recorder,
        seq: int,
        exchange: dict[str, Any],
        started: float,
        content_type: str,
        content_encoding: str,
    ) -> None:
        self._inner = inner
        self._recorder = recorder
        self._seq = seq
        self._exchange = exchange
        self._started = started
        self._decoder = _Decoder(content_encoding)
        self._streaming = is_stream_type(content_type) and self._decoder.supported
        self._framer = _Framer(content_type) if self._streaming else None
        self._content_type = content_type
        self._content_encoding = content_encoding
        self._raw: list[bytes] = []
        self._error: str | None = None
        self._complete = False
        self._written = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._inner:
                self._take(chunk)
                yield chunk
        except Exception as exc:
            self._error = f"{type(exc).__name__}: {exc}"
            raise
        self._complete = True

    def _take(self, chunk: bytes) -> None:
        at = time.monotonic() - self._started
        self._exchange["response"]["elapsed"] = round(at, 6)
        if self._framer is None:
            self._raw.append(chunk)
            return
        try:
            self._framer.feed(self._decoder(chunk), at)
        except zlib.error as exc:
            self._error = f"undecodable {self._content_encoding} body: {exc}"

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            if not self._written:
                self._written = True
                try:
                    self._finish()
                except Exception:  # a recording problem must never break the caller
                    log.exception("could not record exchange %d", self._seq)

    def _finish(self) -> None:
        response = self._exchange["response"]
        response.setdefault("elapsed", response["headers_at"])
        if self._framer is not None:
            self._framer.finish()
            response["frames"] = [_frame_json(at, data) for at, data in self._framer.frames]
        else:
            body = b"".join(self._raw)
            if self._decoder.supported:
                try:
                    body = self._decoder(body)
                except zlib.error:
                    self._decoder.supported = False
            if self._decoder.supported:
                fields = _body_fields(body, self._content_type)
                if "json" in fields:
                    fields["json_newline"] = body.endswith(b"\n")
                response.update(fields)
            else:
                response["content_encoding"] = self._content_encoding
                response["body_b64"] = base64.b64encode(body).decode("ascii")
        if self._error:  # the server or the network cut the body: replays cut it too
            response["complete"] = False
            response["error"] = self._error
        elif not self._complete:  # the caller stopped reading (the SDK does after [DONE])
            response["caller_closed"] = True
        self._exchange["engine"] = _engine_json(self._recorder.engine)
        self._recorder.write(self._seq, self._exchange)


def _frame_json(at: float, data: bytes) -> dict[str, Any]:
    try:
        return {"at": round(at, 6), "data": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"at": round(at, 6), "data_b64": base64.b64encode(data).decode("ascii")}


def _engine_json(engine: str | Mapping[str, str] | None) -> Any:
    if engine is None or isinstance(engine, str):
        return engine
    return dict(engine)


class RecordingTransport(httpx.BaseTransport):
    """Wraps another transport and records every exchange through it with ``recorder``."""

    def __init__(self, inner: httpx.BaseTransport, recorder: Recorder) -> None:
        self.inner = inner
        self.recorder = recorder

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.monotonic()
        body = request.read()
        seq = self.recorder.next_seq()
        response = self.inner.handle_request(request)
        headers_at = time.monotonic() - started
        url = request.url
        content_type = response.headers.get("content-type", "")
        request_fields = _body_fields(body, request.headers.get("content-type", ""))
        key = match_key(request.method, url.path, body)
        exchange: dict[str, Any] = {
            "format": FORMAT,
            "match_key": key,
            "match": {"method": request.method.upper(), "path": normalise_path(url.path)},
            "recorded_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "target": self.recorder.base_url or base_url_of(url),
            "engine": None,
            "request": {
                "method": request.method.upper(),
                "path": url.path,
                "query": scrub_query(url.query),
                "headers": scrub_headers(request.headers),
                **request_fields,
            },
            "response": {
                "status": response.status_code,
                "headers": scrub_headers(response.headers),
                "headers_at": round(headers_at, 6),
            },
        }
        assert isinstance(response.stream, httpx.SyncByteStream)
        stream = _RecordingStream(
            response.stream,
            self.recorder,
            seq,
            exchange,
            started,
            content_type,
            response.headers.get("content-encoding", ""),
        )
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers.raw,
            stream=stream,
            extensions=response.extensions,
        )

    def close(self) -> None:
        self.inner.close()


class RecordingClient(httpx.Client):
    """An ``httpx.Client`` whose every exchange (proxied ones included) is recorded."""

    def __init__(
        self,
        directory: Path | str,
        *,
        timeout: float,
        base_url_hint: str | None = None,
        engine: str | Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        **kwargs: Any,
    ) -> None:
        self.recorder = Recorder(directory, base_url=base_url_hint, engine=engine)
        super().__init__(
            transport=RecordingTransport(transport or httpx.HTTPTransport(), self.recorder),
            timeout=timeout,
            **kwargs,
        )
        # Proxies from the environment get their own transports: record through them too.
        mounts = getattr(self, "_mounts", None)
        if isinstance(mounts, dict):
            for pattern, mounted in list(mounts.items()):
                if mounted is not None and not isinstance(mounted, RecordingTransport):
                    mounts[pattern] = RecordingTransport(mounted, self.recorder)


def recording_client(
    directory: Path,
    *,
    timeout: float,
    base_url: str | None = None,
    engine: str | Mapping[str, str] | None = None,
) -> RecordingClient:
    """An ``httpx.Client`` for ``openai.OpenAI(http_client=...)`` that records into ``directory``.

    ``base_url`` is stored as each file's ``target`` (default: derived from the request URL, up
    to ``/v1``); ``engine`` (or ``client.recorder.engine`` set later) names what answered.
    Numbering continues after the files already in ``directory``.
    """
    return RecordingClient(directory, timeout=timeout, base_url_hint=base_url, engine=engine)
