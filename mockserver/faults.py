"""Fault modes (``--fault``), for teaching and testing what a client does when the engine fails.

Each mode reproduces a failure a real Ollama shows, with Ollama's own status and wording:

- ``busy``: every generation request gets 503 ``server busy, please try again.  maximum pending
  requests exceeded`` (Ollama's queue is full, ``server/sched.go``).
- ``error``: every generation request gets 500 ``llama runner process has terminated: exit
  status 2`` (the runner crashed).
- ``slow-load=SECONDS``: the first generation request for each model waits SECONDS, like a cold
  model load (the native ``load_duration`` shows it).
- ``disconnect=N``: streamed responses are cut after N body frames, the connection dropped with
  no finish chunk and no ``[DONE]``.

Generation requests are ``POST`` to ``/v1/chat/completions``, ``/api/chat`` and
``/api/generate``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.asgi import read_body, replaying
from mockserver.engine.catalog import is_valid_name
from mockserver.guards import send_error

GENERATION_PATHS = frozenset({"/v1/chat/completions", "/api/chat", "/api/generate"})
BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
CRASH_MESSAGE = "llama runner process has terminated: exit status 2"


@dataclass(frozen=True, slots=True)
class Faults:
    busy: bool = False
    error: bool = False
    slow_load: float = 0.0
    disconnect_after: int = 0

    @classmethod
    def parse(cls, specs: tuple[str, ...] | list[str]) -> Faults:
        """Read ``--fault`` values: ``busy``, ``error``, ``slow-load=2.5``, ``disconnect=5``."""
        values: dict[str, object] = {}
        for spec in specs:
            name, _, raw = spec.partition("=")
            name = name.strip().lower()
            try:
                if name == "busy":
                    values["busy"] = True
                elif name == "error":
                    values["error"] = True
                elif name == "slow-load":
                    values["slow_load"] = float(raw)
                elif name == "disconnect":
                    values["disconnect_after"] = int(raw)
                else:
                    raise ValueError
            except ValueError:
                raise ValueError(
                    f"unknown fault {spec!r}: use busy, error, slow-load=SECONDS or disconnect=N"
                ) from None
        return cls(**values)  # type: ignore[arg-type]

    def __bool__(self) -> bool:
        return bool(self.busy or self.error or self.slow_load or self.disconnect_after)


class _StreamCut(Exception):
    """Raised inside ``send`` to abandon a response half-way."""


MAX_LOADED = 256  # model names remembered as loaded by --fault slow-load


class InjectFaults:
    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults
        self._loaded: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] not in GENERATION_PATHS
        ):
            await self.app(scope, receive, send)
            return
        if self.faults.busy:
            await send_error(send, scope["path"], 503, BUSY_MESSAGE)
            return
        if self.faults.error:
            await send_error(send, scope["path"], 500, CRASH_MESSAGE)
            return
        if self.faults.slow_load:
            receive = await self._wait_for_cold_model(receive)
        if self.faults.disconnect_after:
            send = self._cutting(send)
        try:
            await self.app(scope, receive, send)
        except _StreamCut:
            return  # the server closes the connection: the client sees a truncated stream

    async def _wait_for_cold_model(self, receive: Receive) -> Receive:
        body, complete = await read_body(receive)
        try:
            model = str(orjson.loads(body).get("model", "")).lower()
        except (orjson.JSONDecodeError, AttributeError):
            model = ""
        # Only a name a model could have is remembered (1-80 characters a part: at most a few
        # hundred bytes), and at most MAX_LOADED of them: a client sending 3,000 distinct 32 KB
        # names no longer grows the server by 92 MiB.
        if model and model not in self._loaded and is_valid_name(model):
            if len(self._loaded) >= MAX_LOADED:
                self._loaded.clear()  # every model "unloaded": the next ones load slowly again
            self._loaded.add(model)
            await asyncio.sleep(self.faults.slow_load)
        return replaying(body, complete, receive)

    def _cutting(self, send: Send) -> Send:
        frames = 0
        streaming = False

        async def cutting_send(message: Message) -> None:
            nonlocal frames, streaming
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                kind = headers.get(b"content-type", b"")
                streaming = kind.startswith((b"text/event-stream", b"application/x-ndjson"))
            elif message["type"] == "http.response.body" and streaming and message.get("body"):
                if frames >= self.faults.disconnect_after:
                    raise _StreamCut
                frames += 1
            await send(message)

        return cutting_send
