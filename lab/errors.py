"""Every way a target can fail, as one actionable paragraph and an exit code.

Exit codes: ``0`` success; ``2`` setup (the target is not ready: not running, model not pulled,
wrong URL, rejected key; fix it and run again); ``1`` failure during an experiment (a timeout,
a 5xx, a 400, an unexpected result). No traceback reaches the reader for any of these.

A server's own words are quoted short and on one line (:func:`quote_body`); an HTML page (a web
server, a proxy's error page) is named by its title, never pasted. The bounds of
:mod:`lab.bounds` (a deadline per call and per experiment, a byte cap) have paragraphs of their
own, found in the cause chain of the SDK's exception.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import httpx
import openai

from lab.bounds import AnswerTooLarge, DeadlineExceeded

if TYPE_CHECKING:
    from lab.targets import Target

_E = TypeVar("_E", bound=BaseException)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_SETUP = 2
EXIT_INTERRUPTED = 130


class LabError(Exception):
    """A problem the reader can act on: a one-line ``title`` and a paragraph ``body``."""

    exit_code = EXIT_FAILED
    kind = "failure"

    def __init__(self, title: str, body: str) -> None:
        if title.startswith("the "):  # titles may start with a target's label
            title = "The " + title[4:]
        super().__init__(title)
        self.title = title
        self.body = body

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "title": self.title,
            "message": self.body,
            "exit_code": self.exit_code,
        }


class SetupError(LabError):
    """The target is not ready for the experiments; nothing was measured."""

    exit_code = EXIT_SETUP
    kind = "setup"


class RunFailure(LabError):
    """The target failed while an experiment was running."""

    exit_code = EXIT_FAILED
    kind = "failure"


@dataclass(frozen=True, slots=True)
class CallContext:
    """What the error paragraphs need to be specific."""

    target: Target
    model: str
    timeout: float
    is_ollama: bool


def start_ollama_advice(target: Target) -> str:
    return (
        "Start Ollama with `ollama serve` in another terminal (or open the Ollama app), then "
        f"check it answers: `curl -s {target.root}/api/tags` must print JSON. "
        "If it runs elsewhere, set OLLAMA_HOST (e.g. OLLAMA_HOST=192.168.1.20:11434). "
        "To try the lab without Ollama, use --target mock."
    )


def from_api_error(exc: openai.APIError | httpx.HTTPError, ctx: CallContext) -> LabError:
    """Translate an ``openai`` SDK (or raw ``httpx``) exception into the paragraph to act on."""
    where = ctx.target.label
    deadline = _in_chain(exc, DeadlineExceeded)
    if deadline is not None:
        return _deadline_failure(deadline, ctx)
    too_large = _in_chain(exc, AnswerTooLarge)
    if too_large is not None:
        return RunFailure(
            f"The answer from {where} was too large",
            f"The lab stopped reading when {too_large}, the most it reads of one answer: "
            "no answer the experiments ask for comes near that (a long chat answer, streamed, "
            "is well under 1 MiB). The server sent a body that does not end, or something "
            "that is not a chat answer; check that --target is an LLM server's OpenAI base "
            "URL and look at the server's log.",
        )
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        # before APIConnectionError: it is a subclass
        return RunFailure(
            f"No answer from {where} within {ctx.timeout:g} s",
            f"The request for {ctx.model} timed out. The first request to a large model loads "
            "it into memory, which can take minutes on a slow disk, and a model bigger than "
            "the free memory makes the machine swap. Wait and run again, raise the limit "
            "(--timeout 1200 or LAB_TIMEOUT=1200), or choose a smaller model that fits this "
            "machine (python -m lab models).",
        )
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError) and _cut_off(exc):
        return RunFailure(
            f"The answer from {where} was cut off",
            f"The connection closed before the answer was complete ({_cause(exc)}): a stream "
            "ends with a finish chunk and `data: [DONE]`, and this one stopped before them. "
            "The server (or a proxy between) dropped it mid-way; a crashed model runner does "
            "this, so look at the server's log (for Ollama: `ollama serve`'s output, or "
            "~/.ollama/logs/server.log), then run again.",
        )
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
        advice = (
            start_ollama_advice(ctx.target)
            if ctx.target.kind == "ollama" or ctx.is_ollama
            else "Check the server is running and that --target points at its base URL "
            "(for example http://localhost:8000/v1)."
        )
        return SetupError(
            f"Cannot connect to {where}",
            f"The SDK could not reach {ctx.target.openai_url} ({_cause(exc)}). {advice}",
        )
    if isinstance(exc, openai.APIStatusError):
        return _from_status(exc, ctx)
    return RunFailure(
        f"Unexpected answer from {where}",
        f"The SDK could not use the server's answer: {quote_body(str(exc))}. The server may "
        "speak a different dialect of the OpenAI API; check that --target is an "
        "OpenAI-compatible base URL.",
    )


def unreadable_answer(exc: Exception, ctx: CallContext) -> RunFailure:
    """An answer the SDK or an experiment could not read (``ValueError``, ``TypeError``...)."""
    said = quote_body(str(exc), limit=160)
    return RunFailure(
        f"The lab could not read an answer from {ctx.target.label}",
        f"Reading it failed with {type(exc).__name__}: {said}. The server answered something "
        "the openai SDK or the experiment cannot use: a body that is not valid JSON, or JSON "
        "whose fields have other types than the OpenAI API's. Check that --target is an "
        "OpenAI-compatible server; if it is one and other clients work with it, please "
        "report this with the exchanges --record DIR saves.",
    )


def _deadline_failure(exc: DeadlineExceeded, ctx: CallContext) -> LabError:
    where = ctx.target.label
    if exc.scope == "experiment":
        return RunFailure(
            f"The {exc.unit} did not finish within {exc.seconds:g} s",
            f"{where} was still answering when the deadline of the {exc.unit} passed (--deadline "
            f"{exc.seconds:g}); the lab stopped waiting. A slow machine running {ctx.model} "
            "may need longer: raise it (--deadline 3600 or LAB_DEADLINE=3600), or choose a "
            "smaller model (python -m lab models). A server that keeps sending without ever "
            "finishing an answer also ends here: look at its log.",
        )
    return RunFailure(
        f"No complete answer from {where} within {exc.seconds:g} s",
        f"The request for {ctx.model} did not finish within {exc.seconds:g} s, first byte to "
        "last (--timeout). The first request to a large model loads it into memory, which "
        "can take minutes on a slow disk, and a model bigger than the free memory makes the "
        "machine swap: wait and run again, raise the limit (--timeout 1200 or "
        "LAB_TIMEOUT=1200), or choose a smaller model (python -m lab models). A server that "
        "sends its answer a byte at a time, or never ends it, also ends here.",
    )


def _from_status(exc: openai.APIStatusError, ctx: CallContext) -> LabError:
    status = exc.status_code
    message = server_message(exc)
    where = ctx.target.label
    said = f"HTTP {status}: {message}" if message else f"HTTP {status}"
    if status == 404 and "not found" in message and ("model" in message or ctx.model in message):
        if ctx.is_ollama:
            return SetupError(
                f"Model {ctx.model} is not pulled on {where}",
                f"The server answered {said}. Pull it with `ollama pull {ctx.model}`, or run "
                "the lab with a model you have (`ollama list`; --model NAME or MODEL=NAME). "
                "python -m lab models shows which models fit this machine.",
            )
        return SetupError(
            f"{where} has no model named {ctx.model}",
            f"The server answered {said}. Pass a model it serves with --model "
            f"(GET {ctx.target.openai_url}/models lists them).",
        )
    if status == 404:
        return SetupError(
            f"{ctx.target.openai_url} is not an OpenAI-compatible base URL",
            f"POST {ctx.target.openai_url}/chat/completions answered {said}. The base URL "
            "usually ends in /v1 (for Ollama: http://localhost:11434/v1).",
        )
    if status in (401, 403):
        return SetupError(
            f"{where} rejected the API key",
            f"The server answered {said}. Pass the key it expects with --api-key or "
            "OPENAI_API_KEY (Ollama ignores the key; any non-empty value works there).",
        )
    if status == 429:
        return RunFailure(
            f"{where} is rate limiting",
            f"The server answered {said}. Wait a moment and run again.",
        )
    if status == 503:
        hint = (
            "Ollama answers 503 when its queue is full: OLLAMA_NUM_PARALLEL requests run at "
            "once and at most OLLAMA_MAX_QUEUE (default 512) wait. Another program is keeping "
            "it busy: wait for it, then run again, or raise those limits where Ollama starts."
            if ctx.is_ollama
            else "The server is overloaded or still starting: wait a moment and run again."
        )
        return RunFailure(f"{where} is busy", f"The server answered {said}. {hint}")
    if status >= 500:
        hint = (
            "Ollama answers 500 when the model cannot be loaded, most often because it needs "
            "more memory than is free: close other programs or choose a smaller model "
            "(python -m lab models), and look at the server log (`ollama ps` shows what is "
            "loaded)."
            if ctx.is_ollama
            else "Look at the server's log for the cause."
        )
        return RunFailure(f"{where} failed while answering", f"The server answered {said}. {hint}")
    if status == 400:
        return RunFailure(
            f"{where} rejected the request",
            f"The server answered {said}. The request was a plain chat completion for "
            f"{ctx.model}; a server that rejects it may not support this model for chat, or "
            "may expect a different model name (--model).",
        )
    return RunFailure(f"{where} answered HTTP {status}", f"The server answered {said}.")


def server_message(exc: openai.APIStatusError) -> str:
    """The ``error.message`` of an OpenAI-shaped error body, else the body's text."""
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(error, str):
            return error
    try:
        text = exc.response.text
        content_type = exc.response.headers.get("content-type", "")
    except Exception:  # a response without a readable body
        return ""
    return quote_body(text, content_type) if text.strip() else ""


def quote_body(text: str, content_type: str = "", limit: int = 200) -> str:
    """A server's answer fit to quote in a paragraph: one line, short, never a raw HTML page.

    An HTML page (an error page, a web server's index) is named by its title instead.
    """
    stripped = text.strip()
    if looks_like_html(stripped, content_type):
        title = page_title(stripped)
        return f'an HTML page titled "{title}"' if title else "an HTML page"
    if not stripped:
        return "an empty body"
    line = " ".join(stripped.split())
    line = line if len(line) <= limit else line[: limit - 1] + "…"
    return line if "<" not in line else _TAG.sub("<…>", line)


_HTML_MARKERS = ("<!doctype", "<html", "<head", "<body", "<title", "<meta", "<div", "<p>", "<h1")
_TITLE = re.compile(r"<title[^>]*>(.*?)(?:</title|$)", re.IGNORECASE | re.DOTALL)
_HEADING = re.compile(r"<h1[^>]*>(.*?)(?:</h1|$)", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[!/]?[A-Za-z][^>]*>?")


def looks_like_html(text: str, content_type: str = "") -> bool:
    lowered = text[:4096].lower()
    return "html" in content_type.lower() or any(tag in lowered for tag in _HTML_MARKERS)


def page_title(page: str) -> str:
    """The ``<title>`` (else the first ``<h1>``) of an HTML page, as plain text; or ``""``."""
    for pattern in (_TITLE, _HEADING):
        match = pattern.search(page[:65536])
        if match:
            title = " ".join(html.unescape(_TAG.sub(" ", match.group(1))).split())
            if title:
                return title if len(title) <= 80 else title[:79] + "…"
    return ""


def describe_answer(response: httpx.Response) -> str:
    """What answered, for a paragraph: status, content type, ``Server`` header, body or title.

    >>> describe_answer(httpx.Response(404, headers={"server": "SimpleHTTP/0.6"}, html="<html>"))
    'HTTP 404 (text/html; charset=utf-8, Server: SimpleHTTP/0.6): an HTML page'
    """
    facts = [response.headers.get("content-type", "no content type")]
    if response.headers.get("server"):
        facts.append(f"Server: {response.headers['server']}")
    try:
        body = response.text
    except Exception:  # an unread streaming body, or an undecodable one
        body = ""
    said = quote_body(body, response.headers.get("content-type", ""), limit=120)
    return f"HTTP {response.status_code} ({', '.join(facts)}): {said}"


def _in_chain(exc: BaseException, kind: type[_E]) -> _E | None:
    """``exc`` or the first of its causes that is a ``kind``."""
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 32:
        if isinstance(cause, kind):
            return cause
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return None


def _cut_off(exc: BaseException) -> bool:
    """True when the connection was made and then dropped mid-answer (not refused)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, httpx.RemoteProtocolError | httpx.ReadError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _cause(exc: BaseException) -> str:
    """The innermost reason of a connection error, e.g. ``Connection refused``."""
    cause: BaseException = exc
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    text = str(cause).strip()
    for marker in ("Connection refused", "Name or service not known", "nodename nor servname"):
        if marker in text:
            return marker.lower()
    return text or type(cause).__name__
