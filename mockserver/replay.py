"""Replay recorded exchanges (``python -m mockserver --replay DIR``), frame by frame.

A recording directory is what :mod:`lab.recording` writes: one JSON file per exchange, named
``<seq>-<short match key>.json``. This module owns the format and the match key, so that the
recorder and the replayer can never disagree about them.

**Matching.** A request's match key is the sha256 of the canonical JSON (sorted keys, compact,
UTF-8) of ``{"method", "path", "body"}``: the HTTP method, the path with everything up to and
including the first ``/v1`` segment removed (``/v1/chat/completions`` and
``/proxy/v1/chat/completions`` are both ``/chat/completions``; native paths such as ``/api/chat``
are kept whole), and the *full* request body parsed as JSON (the model, every message, every
parameter; text if the body is not JSON, ``null`` if empty). Matching on the last user message
alone would make every conversation that ends the same way replay the same answer; here any
change to the model, the history or a parameter is a different key.

**Replies.** A matched request gets the recorded status, content type and content: a JSON body
as recorded; a stream frame by frame, each frame sent when its recorded arrival offset (seconds
from the start of the request) is reached, scaled by ``--replay-speed`` (2 = twice as fast,
0 = no delays). A JSON body is sent at its recorded completion time, the same way. Every replayed
response carries ``x-portway-replay: <file>``.

**Statelessness.** Replays hold no state: the same request always gets the same recording. If
several files share a key, the first in file-name order (the recording order) wins and the others
are never used.

**Unmatched requests** fall through to the fake's own engine. With ``--replay-strict`` an
unmatched ``POST`` fails with 404 instead (OpenAI-shaped on ``/v1``, ``{"error": ...}`` natively),
and the message names the match key and how many recordings there are, never where they are on
disk (the client may be anyone who can reach the port). ``GET`` and ``HEAD`` (``/v1/models``,
``/api/version``, ...) are replayed when recorded and otherwise always answered by the fake.

**prompt_tokens check.** For a recorded ``/chat/completions`` exchange with a usage object (the
non-stream body, or the usage chunk of a stream), the fake's engine renders and counts the same
request (``render_only``) and compares. A difference is reported loudly: a warning on stderr
naming the file, both counts and the difference, and a response header
``x-portway-replay-prompt-tokens-mismatch: fake=N recorded=M``. If the recorded model is not in
the fake's catalog, a note says so once per model and the header
``x-portway-replay-prompt-tokens-unchecked`` gives the reason; where both agree,
``x-portway-replay-prompt-tokens-match: N``. A ``_debug_render_only`` answer (it carries
``_debug_info``) has nothing to compare: Ollama renders the prompt without evaluating it and
reports zero usage (``server/routes.go`` ChatHandler returns before the runner is called), so
its exchanges get the unchecked header and no warning.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.asgi import read_body, replaying
from mockserver.guards import send_error
from mockserver.wire import sse

if TYPE_CHECKING:
    from mockserver.engine.engine import Engine

FORMAT = "portway-recording/1"
REPLAY_HEADER = "x-portway-replay"
MISMATCH_HEADER = "x-portway-replay-prompt-tokens-mismatch"
UNCHECKED_HEADER = "x-portway-replay-prompt-tokens-unchecked"
MATCH_HEADER = "x-portway-replay-prompt-tokens-match"
STRICT_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RENDER_ONLY_UNCHECKED = "a _debug_render_only answer: its usage is zero by design, not a count"
_LARGE_BODY = 256 * 1024  # bodies keyed off the event loop


# --- the match key (shared with lab.recording) ------------------------------------------------


def normalise_path(path: str) -> str:
    """Strip the base path up to and including the first ``/v1`` segment.

    >>> normalise_path("/v1/chat/completions"), normalise_path("/x/v1/models")
    ('/chat/completions', '/models')
    >>> normalise_path("/api/chat")
    '/api/chat'
    """
    segments = path.split("/")
    if "v1" in segments:
        rest = segments[segments.index("v1") + 1 :]
        return "/" + "/".join(rest)
    return path or "/"


def body_value(body: bytes | bytearray) -> Any:
    """A request body as it enters the key: parsed JSON, else text, ``None`` when empty.

    Any body the server may be sent has a key: one nested too deep for Python's parser
    (100,000 ``[``: RecursionError) is keyed as text, like any other body that is not JSON.
    """
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return body.decode("utf-8", errors="replace")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def match_key(method: str, path: str, body: bytes | Any) -> str:
    """sha256 (hex) of ``{"method", "path" (normalised), "body"}`` as canonical JSON.

    ``body`` is the raw request bytes, or an already parsed value (what a recording stores).
    """
    raw = isinstance(body, bytes | bytearray)
    value = body_value(body) if raw else body
    subject = {"method": method.upper(), "path": normalise_path(path), "body": value}
    try:
        canonical = canonical_json(subject)
    except RecursionError:  # parsed, but too deep to write back: keyed as text
        subject["body"] = bytes(body).decode("utf-8", "replace") if raw else repr(type(body))
        canonical = canonical_json(subject)
    # A lone surrogate ("\\ud800") is valid JSON but not UTF-8: keyed by its code point.
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def is_stream_type(content_type: str) -> bool:
    return sse.stream_kind(content_type) is not None


# --- recordings ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    at: float  # arrival offset, seconds from the start of the request
    data: bytes


@dataclass(frozen=True, slots=True)
class Recording:
    """One recorded exchange, as the replayer needs it."""

    file: str
    key: str
    method: str
    path: str  # normalised
    request_body: Any
    status: int
    content_type: str
    json_body: Any = None
    has_json: bool = False
    text: str | None = None
    raw: bytes | None = None  # body_b64: not UTF-8, or in an encoding the recorder kept as is
    content_encoding: str = ""
    json_newline: bool = False
    frames: tuple[Frame, ...] | None = None
    headers_at: float = 0.0
    elapsed: float = 0.0
    complete: bool = True  # False: the recorded stream was cut; the replay cuts it too
    source: str = ""  # what was recorded: "ollama 0.12.6 at http://..." (for messages)

    @classmethod
    def parse(cls, file: Path) -> Recording:
        try:
            data = json.loads(file.read_bytes())
        except (OSError, ValueError, RecursionError) as exc:
            raise ValueError(f"recording {file}: not readable JSON ({exc})") from None
        try:
            return cls._from_dict(file.name, data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"recording {file}: not a {FORMAT} file ({type(exc).__name__}: {exc})"
            ) from None

    @classmethod
    def _from_dict(cls, name: str, data: dict[str, Any]) -> Recording:
        if data.get("format") != FORMAT:
            raise ValueError(f"format is {data.get('format')!r}")
        request = data["request"]
        response = data["response"]
        method = str(request["method"]).upper()
        body = request.get("json", request.get("text"))
        # The key is recomputed from the request, so a hand-edited request body still matches
        # what it now says; the stored key is informative.
        key = match_key(method, request["path"], body)
        headers = {str(k).lower(): str(v) for k, v in (response.get("headers") or {}).items()}
        content_type = headers.get("content-type", "application/json")
        frames = None
        if "frames" in response:
            frames = tuple(_frame(f) for f in response["frames"])
        return cls(
            file=name,
            key=key,
            method=method,
            path=normalise_path(request["path"]),
            request_body=body,
            status=int(response["status"]),
            content_type=content_type,
            json_body=response.get("json"),
            has_json="json" in response,
            text=response.get("text"),
            raw=base64.b64decode(response["body_b64"]) if "body_b64" in response else None,
            content_encoding=str(response.get("content_encoding", "")),
            json_newline=bool(response.get("json_newline", False)),
            frames=frames,
            headers_at=float(response.get("headers_at", 0.0)),
            elapsed=float(response.get("elapsed", 0.0)),
            complete=bool(response.get("complete", True)),
            source=_source(data.get("engine"), data.get("target")),
        )

    def body_bytes(self) -> bytes:
        """The non-stream body to send (frames joined if a stream is replayed in one piece)."""
        if self.frames is not None:
            return b"".join(f.data for f in self.frames)
        if self.raw is not None:
            return self.raw
        if self.has_json:
            from mockserver.wire.gojson import dumps

            return dumps(self.json_body) + (b"\n" if self.json_newline else b"")
        return (self.text or "").encode()

    def is_render_only(self) -> bool:
        """The recorded answer is a ``_debug_render_only`` one: a rendered prompt, no count."""
        return isinstance(self.json_body, dict) and "_debug_info" in self.json_body

    def recorded_prompt_tokens(self) -> int | None:
        """``usage.prompt_tokens`` of the recorded answer (the usage chunk of a stream)."""
        if self.frames is None:
            return _prompt_tokens(self.json_body)
        kind = sse.stream_kind(self.content_type) or "sse"
        for payload in sse.payloads((frame.data for frame in self.frames), kind):
            tokens = _prompt_tokens(payload)
            if tokens is not None:
                return tokens
        return None


def _source(engine: Any, target: Any) -> str:
    if isinstance(engine, dict):
        engine = " ".join(str(engine[k]) for k in ("name", "version") if engine.get(k))
    parts = [str(engine) if engine else "", f"at {target}" if target else ""]
    return " ".join(p for p in parts if p)


def _frame(raw: dict[str, Any]) -> Frame:
    data = base64.b64decode(raw["data_b64"]) if "data_b64" in raw else str(raw["data"]).encode()
    return Frame(at=float(raw["at"]), data=data)


def _prompt_tokens(body: Any) -> int | None:
    if not isinstance(body, dict):
        return None
    usage = body.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
        return usage["prompt_tokens"]
    return None


class Recordings:
    """Every recording of a directory, indexed by match key (first in file order wins)."""

    def __init__(self, directory: Path, recordings: list[Recording]) -> None:
        self.directory = directory
        self.all = recordings
        self.by_key: dict[str, Recording] = {}
        self.shadowed: list[tuple[Recording, Recording]] = []  # (unused, the one that wins)
        for recording in recordings:
            first = self.by_key.setdefault(recording.key, recording)
            if first is not recording:
                self.shadowed.append((recording, first))

    @classmethod
    def load(cls, directory: str | Path) -> Recordings:
        path = Path(directory)
        if not path.is_dir():
            raise ValueError(f"--replay {directory}: no such directory")
        files = sorted(p for p in path.glob("*.json") if p.is_file())
        return cls(path, [Recording.parse(file) for file in files])

    def find(self, key: str) -> Recording | None:
        return self.by_key.get(key)

    def __len__(self) -> int:
        return len(self.all)


# --- the prompt_tokens check -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenCheck:
    fake: int | None = None
    recorded: int | None = None
    unchecked: str = ""  # why there was no comparison ("" when compared or nothing to compare)
    tell: bool = True  # say ``unchecked`` on stderr (not for what is unchecked by design)

    @property
    def mismatch(self) -> bool:
        return self.fake is not None and self.recorded is not None and self.fake != self.recorded


class PromptTokenChecker:
    """Counts a recorded chat request with the fake's engine; results cached per file."""

    def __init__(self, engine: Engine | None) -> None:
        self.engine = engine
        self._results: dict[str, TokenCheck] = {}
        self._told_models: set[str] = set()

    async def check(self, recording: Recording) -> TokenCheck:
        cached = self._results.get(recording.file)
        if cached is None:
            cached = await run_in_threadpool(self._check, recording)
            self._results[recording.file] = cached
            self._report(recording, cached)
        return cached

    def _check(self, recording: Recording) -> TokenCheck:
        if recording.path != "/chat/completions" or recording.status != 200:
            return TokenCheck()
        if recording.is_render_only():
            return TokenCheck(unchecked=RENDER_ONLY_UNCHECKED, tell=False)
        recorded = recording.recorded_prompt_tokens()
        if recorded is None or self.engine is None:
            return TokenCheck(recorded=recorded)
        from mockserver.engine.catalog import family_of
        from mockserver.errors import OllamaError
        from mockserver.wire import openai as wire
        from mockserver.wire.decode import validate

        body = recording.request_body
        model = body.get("model") if isinstance(body, dict) else None
        if not isinstance(model, str) or not model:
            return TokenCheck(recorded=recorded, unchecked="the recorded request names no model")
        card = self.engine.catalog.find(model)
        if card is None or family_of(card) is None:
            return TokenCheck(
                recorded=recorded,
                unchecked=f"model {model} is not in the fake's catalog (--models)",
            )
        try:
            parsed = validate(
                wire.ChatCompletionRequest,
                body,
                go_struct="openai.ChatCompletionRequest",
                from_middleware=True,
            )
            chat = dataclasses.replace(wire.to_chat_request(parsed), render_only=True)
            result = self.engine.chat(chat)
        except OllamaError as exc:
            return TokenCheck(
                recorded=recorded, unchecked=f"the fake refuses this request: {exc.message}"
            )
        return TokenCheck(fake=result.prompt.tokens, recorded=recorded)

    def _report(self, recording: Recording, result: TokenCheck) -> None:
        if result.mismatch:
            assert result.fake is not None and result.recorded is not None
            difference = result.fake - result.recorded
            print(
                f"WARNING: replay {recording.file}: prompt_tokens mismatch: the fake counts "
                f"{result.fake}, the recording"
                + (f" (from {recording.source})" if recording.source else "")
                + f" says {result.recorded} "
                f"(difference {difference:+d}). The recorded engine rendered or tokenized this "
                "request differently from the fake.",
                file=sys.stderr,
                flush=True,
            )
        elif result.unchecked.startswith("model ") and result.unchecked not in self._told_models:
            self._told_models.add(result.unchecked)
            print(
                f"note: replay: {result.unchecked}; prompt_tokens of its recordings are not "
                f"checked (first seen in {recording.file})",
                file=sys.stderr,
                flush=True,
            )
        elif result.tell and result.unchecked and not result.unchecked.startswith("model "):
            print(
                f"note: replay {recording.file}: prompt_tokens not checked: {result.unchecked}",
                file=sys.stderr,
                flush=True,
            )


# --- the middleware --------------------------------------------------------------------------


class ReplayRecordings:
    """Pure ASGI: answer recorded requests from the recordings, pass the others on."""

    def __init__(
        self,
        app: ASGIApp,
        recordings: Recordings,
        *,
        strict: bool = False,
        speed: float = 1.0,
        engine: Engine | None = None,
    ) -> None:
        if speed < 0:
            raise ValueError("--replay-speed must be 0 (no delays) or more")
        self.app = app
        self.recordings = recordings
        self.strict = strict
        self.speed = speed
        self.checker = PromptTokenChecker(engine)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        started = loop.time()
        body, more = await read_body(receive)
        method = scope["method"].upper()
        if len(body) > _LARGE_BODY:  # parsing and hashing it would hold up every other client
            key = await run_in_threadpool(match_key, method, scope["path"], body)
        else:
            key = match_key(method, scope["path"], body)
        recording = self.recordings.find(key)
        if recording is not None:
            await self._answer(recording, send, started)
            return
        if self.strict and method in STRICT_METHODS:
            message = self._unmatched(method, scope, body, key)
            await send_error(send, scope["path"], 404, message, "no_recording")
            return
        await self.app(scope, replaying(body, more, receive), send)

    def _unmatched(self, method: str, scope: Scope, body: bytes, key: str) -> str:
        value = body_value(body)
        model = value.get("model") if isinstance(value, dict) else None
        about = f" for model {model!r}" if isinstance(model, str) else ""
        return (
            f"no recording matches {method} {normalise_path(scope['path'])}{about} "
            f"(match key {key}) among the {len(self.recordings)} recordings "
            "(--replay-strict). The key is the sha256 of the method, the path "
            "(after any /v1 prefix) and the full request body: any change to the model, a "
            "message or a parameter makes a new key."
        )

    async def _answer(self, recording: Recording, send: Send, started: float) -> None:
        headers = [
            (b"content-type", recording.content_type.encode("latin-1")),
            (REPLAY_HEADER.encode(), recording.file.encode("latin-1")),
        ]
        check = await self.checker.check(recording)
        if check.mismatch:
            value = f"fake={check.fake} recorded={check.recorded}"
            headers.append((MISMATCH_HEADER.encode(), value.encode()))
        elif check.unchecked:
            headers.append((UNCHECKED_HEADER.encode(), check.unchecked.encode("latin-1", "?")))
        elif check.fake is not None:
            headers.append((MATCH_HEADER.encode(), str(check.fake).encode()))
        if recording.frames is None:
            body = recording.body_bytes()
            headers.append((b"content-length", str(len(body)).encode()))
            if recording.content_encoding:
                headers.append((b"content-encoding", recording.content_encoding.encode("latin-1")))
            await self._wait_until(started, recording.elapsed)
            await send(
                {"type": "http.response.start", "status": recording.status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self._wait_until(started, recording.headers_at)
        await send({"type": "http.response.start", "status": recording.status, "headers": headers})
        for frame in recording.frames:
            await self._wait_until(started, frame.at)
            await send({"type": "http.response.body", "body": frame.data, "more_body": True})
        if recording.complete:
            await send({"type": "http.response.body", "body": b""})
        # else: return without ending the body, so the server drops the connection as the
        # recorded one did (no final chunk), like --fault disconnect.

    async def _wait_until(self, started: float, offset: float) -> None:
        if self.speed <= 0 or offset <= 0:
            return
        loop = asyncio.get_running_loop()
        delay = started + offset / self.speed - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
