"""The :class:`Lab`: what every experiment gets. Client, model, console, target, and ``chat``."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
from openai.types import CompletionUsage
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionMessageParam,
)
from openai.types.chat.chat_completion import Choice
from openai.types.chat.chat_completion_chunk import Choice as ChunkChoice
from openai.types.chat.chat_completion_chunk import ChoiceDelta
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Column

from lab.bounds import bound, bounded_client, meter_of
from lab.engines import answer_cap
from lab.errors import RunFailure, quote_body
from lab.ollama import EngineInfo
from lab.targets import Target

CONNECT_TIMEOUT = 10.0


def sdk_client(
    openai_url: str, api_key: str, timeout: float, *, http_client: httpx.Client | None = None
) -> openai.OpenAI:
    """The official SDK pointed at a target, on an ``httpx.Client`` the lab configures.

    No retries: a retry would hide what the target did and multiply a long wait. The connect
    timeout is short (a refused or unroutable target fails fast); each call, first byte to
    last, ends within ``timeout`` (and within the experiment's deadline), reading at most
    :data:`lab.bounds.MAX_ANSWER_BYTES` (:mod:`lab.bounds`). ``http_client`` replaces the
    lab's own client (``--record`` passes a :func:`lab.recording.recording_client`); it is
    bounded in place the same way.
    """
    limits = http_timeout(timeout)
    http = bound(http_client, timeout) if http_client is not None else bounded_client(timeout)
    # openai 3 types these as httpx2's; it takes httpx's at run time (openai/_httpx2.py).
    return openai.OpenAI(
        base_url=openai_url,
        api_key=api_key,
        timeout=limits,  # type: ignore[arg-type]
        max_retries=0,
        http_client=http,  # type: ignore[arg-type]
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
        return usage.model_dump(mode="json", warnings=False) if usage is not None else None


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
        return usage.model_dump(mode="json", warnings=False) if usage is not None else None


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
            self._http = bounded_client(
                self.timeout, headers={"Authorization": f"Bearer {self.api_key}"}
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
        """``create(stream=True)``, read to the end; every chunk is kept for counting.

        A stream that ends without ``data: [DONE]``, or with chunks the lab cannot read, is a
        :class:`RunFailure`: an answer cut short must not pass for a whole one.
        """
        started = time.monotonic()
        with self.waiting(doing), self._readable("a stream"):
            stream = self.client.chat.completions.create(
                model=self.model, messages=messages, stream=True, **self._capped(params)
            )
            with stream:
                chunks = list(stream)
            meter = meter_of(stream.response)
        for chunk in chunks:
            problem = _chunk_problem(chunk)
            if problem:
                raise self._not_openai(f"a stream chunk with {problem}", streamed=True)
        if meter is not None and not meter.saw_done:
            raise self._unfinished_stream(chunks)
        return Streamed(chunks, time.monotonic() - started)

    def chat(
        self, messages: list[ChatCompletionMessageParam], *, doing: str, **params: Any
    ) -> Call:
        """``client.chat.completions.create`` with a spinner and elapsed time while waiting.

        ``doing`` names the call in the spinner ("1-turn request"). SDK errors propagate (the
        runner turns them into a paragraph); an answer the lab cannot read (not JSON, no
        choices, a ``usage`` that is not token counts) is a :class:`RunFailure`.
        """
        started = time.monotonic()
        with self.waiting(doing), self._readable("an answer"):
            response = self.client.chat.completions.create(
                model=self.model, messages=messages, **self._capped(params)
            )
        return Call(self._checked(response), time.monotonic() - started)

    @contextlib.contextmanager
    def _readable(self, what: str) -> Iterator[None]:
        """Turn the SDK failing to parse an answer (invalid JSON, odd shapes) into a paragraph."""
        try:
            yield
        except (openai.APIError, httpx.HTTPError, RunFailure, KeyboardInterrupt):
            raise
        except Exception as exc:  # the SDK choked on the body: the target's fault, not ours
            detail = f"{type(exc).__name__}: {quote_body(str(exc), limit=120)}"
            raise self._not_openai(
                f"{what} the openai SDK could not read ({detail})",
                streamed=what == "a stream",
            ) from None

    def _capped(self, params: dict[str, Any]) -> dict[str, Any]:
        """Add ``max_tokens`` for engines that otherwise generate until their context is full."""
        return {**answer_cap(self.engine), **params}

    def _checked(self, response: object) -> ChatCompletion:
        """The response, if the lab can read it as a chat completion; else a RunFailure."""
        problem = _completion_problem(response)
        if problem:
            raise self._not_openai(problem)
        assert isinstance(response, ChatCompletion)
        return response

    def _not_openai(self, got: str, *, streamed: bool = False) -> RunFailure:
        kind = " (stream=True)" if streamed else ""
        return RunFailure(
            f"{self.target.label} did not answer like an OpenAI-compatible server",
            f"POST {self.target.openai_url}/chat/completions{kind} returned {got}. Check that "
            "--target is the server's OpenAI base URL (it usually ends in /v1), and look at "
            "the server's log.",
        )

    def _unfinished_stream(self, chunks: list[ChatCompletionChunk]) -> RunFailure:
        finished = any(
            choice.finish_reason is not None for chunk in chunks for choice in chunk.choices
        )
        cut = (
            "The last choice chunk did carry a finish_reason, so the answer may be whole, but "
            "the stream was not closed the way the protocol closes it."
            if finished
            else "No chunk carried a finish_reason either: the answer itself was cut off."
        )
        return RunFailure(
            f"The stream from {self.target.label} ended without data: [DONE]",
            f"POST {self.target.openai_url}/chat/completions (stream=True) sent "
            f"{len(chunks)} chunk{'s' if len(chunks) != 1 else ''} and then ended the "
            f"stream without its last line, `data: [DONE]`. {cut} A server (or a proxy "
            "between) that ends streams early makes every streaming client read a partial "
            "answer as a whole one: look at the server's log, then run again.",
        )


_COUNTS = ("prompt_tokens", "completion_tokens", "total_tokens")


def _completion_problem(response: object) -> str:
    """What makes ``response`` unreadable as a chat completion, or ``""``."""
    if not isinstance(response, ChatCompletion):
        return f"something that is not a JSON object ({quote_body(str(response), limit=80)})"
    if not isinstance(response.choices, list) or not response.choices:
        return "a chat completion without choices"
    for choice in response.choices:
        if not isinstance(choice, Choice) or not isinstance(choice.message, ChatCompletionMessage):
            return "a choice without a message object"
        if not isinstance(choice.message.content, str | None):
            return f"a message.content that is not text ({_shown(choice.message.content)})"
    return _usage_problem(response.usage)


def _chunk_problem(chunk: object) -> str:
    """What makes a stream chunk unreadable, or ``""``."""
    if not isinstance(chunk, ChatCompletionChunk):
        return f"something that is not a JSON object ({quote_body(str(chunk), limit=80)})"
    if not isinstance(chunk.choices, list):
        return f"choices that are not a list ({_shown(chunk.choices)})"
    for choice in chunk.choices:
        if not isinstance(choice, ChunkChoice) or not isinstance(choice.delta, ChoiceDelta):
            return "a choice without a delta object"
        if not isinstance(choice.delta.content, str | None):
            return f"a delta.content that is not text ({_shown(choice.delta.content)})"
    return _usage_problem(chunk.usage)


def _usage_problem(usage: object) -> str:
    """``""`` for no usage or token counts the lab can use; else what is wrong with it."""
    if usage is None:
        return ""
    if not isinstance(usage, CompletionUsage):
        return f'a "usage" that is not an object of token counts ("usage": {_shown(usage)})'
    for name in _COUNTS:
        value = getattr(usage, name, None)
        if name == "total_tokens" and value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return f'a usage.{name} that is not a token count ("{name}": {_shown(value)})'
    return ""


def _shown(value: object) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return quote_body(text, limit=60)
