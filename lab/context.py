"""The :class:`Lab`: what every experiment gets. Client, model, console, target, and ``chat``."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessageParam
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Column

from lab.engines import answer_cap
from lab.errors import RunFailure
from lab.ollama import EngineInfo
from lab.targets import Target

CONNECT_TIMEOUT = 10.0


def sdk_client(
    openai_url: str, api_key: str, timeout: float, *, http_client: httpx.Client | None = None
) -> openai.OpenAI:
    """The official SDK pointed at a target, on an ``httpx.Client`` the lab configures.

    No retries: a retry would hide what the target did and multiply a long wait. The connect
    timeout is short (a refused or unroutable target fails fast); the read timeout is
    ``timeout``, long enough for a large model's first load. ``http_client`` replaces the
    lab's own client (``--record`` passes a :func:`lab.recording.recording_client`); the
    per-request timeouts still apply.
    """
    limits = http_timeout(timeout)
    return openai.OpenAI(
        base_url=openai_url,
        api_key=api_key,
        timeout=limits,
        max_retries=0,
        http_client=http_client if http_client is not None else httpx.Client(timeout=limits),
    )


def http_timeout(timeout: float) -> httpx.Timeout:
    """Read timeout ``timeout``, connect timeout at most :data:`CONNECT_TIMEOUT`."""
    return httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout))


@dataclass(frozen=True, slots=True)
class Call:
    """One chat completion and how long the target took to answer it."""

    response: ChatCompletion
    seconds: float

    @property
    def content(self) -> str:
        """``choices[0].message.content``, stripped, as the Post 1 demo prints it."""
        return (self.response.choices[0].message.content or "").strip()

    @property
    def usage(self) -> dict[str, Any] | None:
        """The whole ``usage`` object as the server sent it (``None`` if it sent none)."""
        usage = self.response.usage
        return usage.model_dump(mode="json") if usage is not None else None


@dataclass(frozen=True, slots=True)
class Streamed:
    """One streamed chat completion: every chunk, in order, and how long the stream took."""

    chunks: list[ChatCompletionChunk]
    seconds: float

    @property
    def content(self) -> str:
        """The ``delta.content`` pieces joined, stripped."""
        return "".join(
            choice.delta.content or "" for chunk in self.chunks for choice in chunk.choices
        ).strip()

    @property
    def usage_chunks(self) -> list[int]:
        """The positions (0-based) of the chunks that carry a ``usage`` object."""
        return [i for i, chunk in enumerate(self.chunks) if chunk.usage is not None]

    @property
    def usage(self) -> dict[str, Any] | None:
        """The last ``usage`` the stream carried, as sent (``None`` if no chunk had one)."""
        found = self.usage_chunks
        usage = self.chunks[found[-1]].usage if found else None
        return usage.model_dump(mode="json") if usage is not None else None


@dataclass(slots=True)
class Lab:
    client: openai.OpenAI
    model: str
    console: Console
    target: Target
    engine: EngineInfo
    timeout: float
    progress: bool = True  # spinner while waiting; off for --json and when not on a terminal
    api_key: str = "ollama"
    repeat: int = 3  # how many times `determinism` sends its request (--repeat)
    plot: Path | None = None  # where `history_growth` writes its SVG chart (--plot)
    _http: httpx.Client | None = field(default=None, repr=False)

    @property
    def http(self) -> httpx.Client:
        """A plain HTTP client for what the SDK cannot send: native routes, malformed bodies."""
        if self._http is None:
            self._http = httpx.Client(
                timeout=httpx.Timeout(self.timeout, connect=min(CONNECT_TIMEOUT, self.timeout)),
                headers={"Authorization": f"Bearer {self.api_key}"},
            )
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    @contextlib.contextmanager
    def waiting(self, doing: str) -> Iterator[None]:
        """A spinner with the elapsed time while the target works (when progress is on)."""
        if not self.progress:
            yield
            return
        with Progress(
            SpinnerColumn(),
            TimeElapsedColumn(table_column=Column(no_wrap=True, min_width=7)),
            TextColumn("{task.description}", table_column=Column(no_wrap=True, ratio=1)),
            console=self.console,
            transient=True,
        ) as spinner:
            spinner.add_task(
                f"{doing}: waiting for {self.model} (the first request loads the model)",
                total=None,
            )
            yield

    def stream(
        self, messages: list[ChatCompletionMessageParam], *, doing: str, **params: Any
    ) -> Streamed:
        """``create(stream=True)``, read to the end; every chunk is kept for counting."""
        started = time.monotonic()
        with self.waiting(doing):
            stream = self.client.chat.completions.create(
                model=self.model, messages=messages, stream=True, **self._capped(params)
            )
            with stream:
                chunks = list(stream)
        return Streamed(chunks, time.monotonic() - started)

    def chat(
        self, messages: list[ChatCompletionMessageParam], *, doing: str, **params: Any
    ) -> Call:
        """``client.chat.completions.create`` with a spinner and elapsed time while waiting.

        ``doing`` names the call in the spinner ("1-turn request"). SDK errors propagate; the
        runner turns them into a paragraph.
        """
        started = time.monotonic()
        with self.waiting(doing):
            response = self.client.chat.completions.create(
                model=self.model, messages=messages, **self._capped(params)
            )
        return Call(self._checked(response), time.monotonic() - started)

    def _capped(self, params: dict[str, Any]) -> dict[str, Any]:
        """Add ``max_tokens`` for engines that otherwise generate until their context is full."""
        return {**answer_cap(self.engine), **params}

    def _checked(self, response: object) -> ChatCompletion:
        """The response, if it is a chat completion with a choice; else a :class:`RunFailure`."""
        if isinstance(response, ChatCompletion) and response.choices:
            return response
        got = (
            "a chat completion without choices"
            if isinstance(response, ChatCompletion)
            else f"something that is not JSON ({str(response)[:80]!r})"
        )
        raise RunFailure(
            f"{self.target.label} did not answer like an OpenAI-compatible server",
            f"POST {self.target.openai_url}/chat/completions returned {got}. Check that "
            "--target is the server's OpenAI base URL (it usually ends in /v1).",
        )
