"""Post 6: a 50-turn thread grown past the context window, and two ways a client keeps it under.

The thread: turn 1 plants a fact (a locker code), turns 2-49 are numbered travel notes sized
from the window so that the thread passes it well before the end (on the fakes at turn 40, and
about 1.3 windows by turn 50), turn 50 asks for the fact. Four ways
to send it, each its own client-side history (the server keeps none):

- **whole thread, llama-server**: every turn re-sends everything until the server refuses
  (400 ``exceed_context_size_error``, its body carries ``n_prompt_tokens`` and ``n_ctx``);
- **whole thread, Ollama**: never refused; Ollama re-renders the prompt without the oldest
  messages until it fits ``num_ctx`` (``server/prompt.go`` chatPrompt). Which turns went is
  read from the prompt Ollama renders for the same request (``/api/chat`` with
  ``_debug_render_only``: each turn's number is found in it, or not), not guessed;
- **sliding window by exact tokens**: before each request the client counts the candidate
  exactly with the server's own tokenizer and drops the oldest turns until it fits the
  window minus the reply's ``max_tokens``. llama-server: ``POST /apply-template`` then
  ``POST /tokenize`` with ``add_special`` (the count it reports as ``prompt_tokens``);
  Ollama (no tokenize endpoint): ``/api/chat`` with ``num_predict: 1``, ``prompt_eval_count``;
- **summary turn**: when the candidate does not fit, the client asks the model to summarise
  the oldest half of the history and sends that summary as one system message in its place.

Per turn, the tokens each request carried (the server's ``usage.prompt_tokens``) and whether
turn 1's fact was still in what the model was given; at turn 50, each answer.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai

from lab.errors import RunFailure
from lab.experiment import Answer, Facts, Finding
from lab.experiments.context_overflow import FILLER_SENTENCES
from lab.series.targets import BACKEND_KEY, Stack

CODE = "4912"
PLANT = f"Turn 1: before we start, my locker code is {CODE}. Please remember it."
QUESTION = "what is my locker code?"  # the last turn: "Turn 50: what is my locker code?"
SUMMARISE = ("Summarise the conversation so far in a few sentences. Keep every fact I told you "
             "about myself, exactly.")  # fmt: skip
TURNS = 50
REPLY_TOKENS = 64  # max_tokens of each turn
ANSWER_TOKENS = 256  # the last turn and the summaries: room for reasoning, then the answer
SUMMARY_TOKENS = 256
OVERFLOW = 1.5  # the user turns and replies' max_tokens add up to this many windows
MOCK_WINDOW = 4096  # the twins' --ctx-size and Ollama's default num_ctx
SHOWN_TURNS = (1, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50)
Messages = list[dict[str, Any]]


@dataclass(slots=True)
class Server:
    kind: str  # "llama-server" or "ollama"
    url: str  # root URL
    model: str
    window: int
    timeout: float
    http: httpx.Client = field(default_factory=httpx.Client)  # one connection pool, reused
    _openai: openai.OpenAI | None = None

    def client(self) -> openai.OpenAI:
        if self._openai is None:
            self._openai = openai.OpenAI(base_url=f"{self.url}/v1", api_key=BACKEND_KEY,
                                         timeout=self.timeout, max_retries=0)  # fmt: skip
        return self._openai

    def close(self) -> None:
        self.http.close()
        if self._openai is not None:
            self._openai.close()

    def count(self, messages: Messages) -> int:
        """The exact prompt tokens of ``messages`` on this server (module docstring)."""
        if self.kind == "llama-server":
            prompt = self._post("/apply-template", {"messages": messages})["prompt"]
            tokens = self._post("/tokenize", {"content": prompt, "add_special": True})["tokens"]
            return len(tokens)
        body = {"model": self.model, "messages": messages, "stream": False,
                "options": {"num_predict": 1}}  # fmt: skip
        return int(self._post("/api/chat", body)["prompt_eval_count"])

    def rendered(self, messages: Messages) -> str:
        """The prompt Ollama gives the model for ``messages``, after its truncation."""
        body = {"model": self.model, "messages": messages, "stream": False,
                "_debug_render_only": True}  # fmt: skip
        answer = self._post("/api/chat", body)
        return str((answer.get("_debug_info") or {}).get("rendered_template") or "")

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.http.post(f"{self.url}{path}", json=body, timeout=self.timeout,
                                headers={"Authorization": f"Bearer {BACKEND_KEY}"})  # fmt: skip
        answer.raise_for_status()
        value = answer.json()
        if not isinstance(value, dict):
            raise httpx.HTTPError(f"{path} answered {type(value).__name__}, not an object")
        return value


@dataclass(slots=True)
class Row:
    turn: int
    sent: int | None  # prompt_tokens of the request (None: not sent)
    kept_from: int | None = None  # the oldest turn still in what the model was given
    note: str = ""


@dataclass(slots=True)
class Thread:
    """One client's history and what each of its requests carried."""

    name: str
    messages: Messages = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    answer: str | None = None
    summaries: list[dict[str, Any]] = field(default_factory=list)
    refused: dict[str, Any] | None = None


def user_turns(window: int, reply_tokens: int = REPLY_TOKENS) -> list[str]:
    """Turn 1's fact, 48 numbered notes sized from ``window``, turn 50's question."""
    per_turn = max(int(OVERFLOW * window / TURNS) - reply_tokens // 2, 16)  # replies run short
    chars = per_turn * 4  # English prose: about 4 characters a token
    turns = [PLANT]
    for turn in range(2, TURNS):
        text = f"Turn {turn}: more travel notes; just reply 'Noted.'"
        i = turn
        while len(text) < chars:
            text += " " + FILLER_SENTENCES[i % len(FILLER_SENTENCES)]
            i += 1
        turns.append(text)
    return [*turns, f"Turn {TURNS}: {QUESTION}"]


def turns_in(text: str) -> list[int]:
    return sorted({int(n) for n in re.findall(r"\bTurn (\d+):", text)})


def _reply(response: Any) -> str:
    return response.choices[0].message.content or ""


def _prompt_tokens(response: Any) -> int | None:
    return response.usage.prompt_tokens if response.usage else None


# --- the four ways to send it ------------------------------------------------------------------


def whole_thread(server: Server, turns: list[str]) -> Thread:
    thread = Thread(f"whole thread, {server.kind}")
    client = server.client()
    for number, text in enumerate(turns, start=1):
        thread.messages.append({"role": "user", "content": text})
        last = number == len(turns)
        try:
            response = client.chat.completions.create(
                model=server.model, messages=thread.messages,  # type: ignore[arg-type]
                max_tokens=ANSWER_TOKENS if last else REPLY_TOKENS,
            )  # fmt: skip
        except openai.BadRequestError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            error = body.get("error", body) if isinstance(body, dict) else {}
            thread.refused = {"turn": number, "status": exc.status_code, "error": error}
            need = error.get("n_prompt_tokens") if isinstance(error, dict) else None
            thread.rows.append(
                Row(
                    number,
                    None,
                    note=f"HTTP {exc.status_code}: refused"
                    + (f" ({need:,} tokens)" if isinstance(need, int) else ""),
                )
            )
            return thread  # the naive client is stuck: every later turn is longer still
        kept = None
        if server.kind == "ollama":
            present = turns_in(server.rendered(thread.messages))
            kept = present[0] if present else None
        thread.rows.append(Row(number, _prompt_tokens(response), kept))
        thread.messages.append({"role": "assistant", "content": _reply(response)})
        if last:
            thread.answer = _reply(response)
    return thread


def sliding_window(server: Server, turns: list[str]) -> Thread:
    """Drop the oldest turns (a user message and its reply) until the exact count fits."""
    return _fitted(server, turns, "sliding window (exact tokens)", _drop_oldest)


def summary_turn(server: Server, turns: list[str]) -> Thread:
    """Replace the oldest half of the history by a summary the model writes of it."""
    return _fitted(server, turns, "summary turn", _summarise_oldest)


Shrink = Callable[[Server, Thread, Messages, int], Messages]


def _fitted(server: Server, turns: list[str], name: str, shrink: Shrink) -> Thread:
    thread = Thread(name)
    client = server.client()
    budget = server.window - ANSWER_TOKENS  # room for the longest reply we ask for
    for number, text in enumerate(turns, start=1):
        thread.messages.append({"role": "user", "content": text})
        note = ""
        if server.count(thread.messages) > budget:
            before = len(thread.summaries)
            thread.messages = shrink(server, thread, thread.messages, budget)
            note = "summarised" if len(thread.summaries) > before else "oldest turns dropped"
        last = number == len(turns)
        response = client.chat.completions.create(
            model=server.model, messages=thread.messages,  # type: ignore[arg-type]
            max_tokens=ANSWER_TOKENS if last else REPLY_TOKENS,
        )  # fmt: skip
        present = turns_in(" ".join(str(m["content"]) for m in thread.messages))
        has_fact = any(CODE in str(m["content"]) for m in thread.messages)
        kept = present[0] if present else None
        if has_fact and kept != 1:
            note = (note + "; " if note else "") + "turn 1's fact in the summary"
        thread.rows.append(Row(number, _prompt_tokens(response), kept, note))
        thread.messages.append({"role": "assistant", "content": _reply(response)})
        if last:
            thread.answer = _reply(response)
    return thread


def _drop_oldest(server: Server, thread: Thread, messages: Messages, budget: int) -> Messages:
    head = [m for m in messages[:1] if m["role"] == "system"]
    body = messages[len(head) :]
    while len(body) > 1 and server.count(head + body) > budget:
        body = body[2:] if len(body) > 2 else body[1:]  # a user turn and its reply
    return head + body


def _summarise_oldest(server: Server, thread: Thread, messages: Messages, budget: int) -> Messages:
    head = [m for m in messages[:1] if m["role"] == "system"]  # the previous summary
    body = messages[len(head) :]
    cut = max(2, (len(body) // 2) // 2 * 2)  # the oldest half, whole turns
    old, recent = body[:cut], body[cut:]
    request = [*head, *old, {"role": "user", "content": SUMMARISE}]
    response = server.client().chat.completions.create(
        model=server.model, messages=request,  # type: ignore[arg-type]
        max_tokens=SUMMARY_TOKENS,
    )  # fmt: skip
    summary = _reply(response)
    thread.summaries.append({"messages_summarised": len(old) + len(head),
                             "prompt_tokens": _prompt_tokens(response), "summary": summary,
                             "keeps_fact": CODE in summary})  # fmt: skip
    fitted = [{"role": "system", "content": f"Summary of the earlier conversation: {summary}"},
              *recent]  # fmt: skip
    return _drop_oldest(server, thread, fitted, budget)  # still too long: a window after it


# --- the experiment -----------------------------------------------------------------------------


def conversation_state(stack: Stack) -> Finding:
    """Post 6 on a llama-server and an Ollama (``--target mock``: the twin and the fake)."""
    try:
        return _conversation_state(stack)
    except httpx.HTTPError as exc:  # the count, render or /api/ps calls (the SDK's: command.py)
        raise RunFailure(
            "conversation_state failed",
            f"A call the client makes to count or render the thread failed: {exc}. Check that "
            "the server is a llama-server (POST /apply-template, /tokenize) or an Ollama with "
            "the model pulled (POST /api/chat, GET /api/ps).",
        ) from None


def _conversation_state(stack: Stack) -> Finding:
    with _servers(stack) as servers:
        if not servers:
            return Finding.not_applicable(
                "neither a llama-server (--backends URL) nor an Ollama (--ollama URL) was given"
            )
        window = max(s.window for s in servers)
        turns = user_turns(window)
        threads = [whole_thread(s, turns) for s in servers]
        counter = servers[0]  # llama-server when there is one: its tokenizer counts exactly
        threads += [sliding_window(counter, turns), summary_turn(counter, turns)]
        return _finding(stack, servers, counter, threads)


def _finding(
    stack: Stack, servers: list[Server], counter: Server, threads: list[Thread]
) -> Finding:
    data: dict[str, Any] = {
        "servers": [{"kind": s.kind, "url": s.url, "model": s.model, "window": s.window}
                    for s in servers],
        "strategies_on": counter.kind, "planted": PLANT, "question": f"Turn {TURNS}: {QUESTION}",
        "threads": [{"name": t.name, "answer": t.answer, "answers_turn_1": _knows(t),
                     "refused": t.refused, "summaries": t.summaries,
                     "turns": [{"turn": r.turn, "prompt_tokens": r.sent, "kept_from_turn":
                                r.kept_from, "note": r.note} for r in t.rows]}
                    for t in threads],
    }  # fmt: skip
    chart = _chart(stack, counter.window, threads)
    if chart:
        data["chart"] = str(chart)
    columns = ("turn", *(_short(t.name) for t in threads))
    rows = []
    for turn in SHOWN_TURNS:
        cells = [str(turn)]
        for thread in threads:
            row = next((r for r in thread.rows if r.turn == turn), None)
            cells.append(_cell(row))
        rows.append(tuple(cells))
    show: list = [Facts(f"Prompt tokens sent (from turn: the oldest turn the model saw); window "
                        f"{', '.join(f'{s.kind} {s.window:,}' for s in servers)}",
                        columns, tuple(rows))]  # fmt: skip
    show += [Answer(f"{t.name}: turn {TURNS}", t.answer or _refusal(t)) for t in threads]
    explanation = _explanation(servers, counter, threads)
    if chart:
        explanation.append(f"Chart: {chart}")
    if stack.label == "mock":
        explanation.append(
            "The answers come from the Portway fakes, whose model answers a question about "
            "what you said only from the prompt it was given, and writes extractive summaries "
            "(the facts it can quote): a real model's words differ, what it can see does not."
        )
    ok = all(t.rows for t in threads)
    figure = "; ".join(f"{_short(t.name)}: {'knows' if _knows(t) else 'lost'} turn 1"
                       for t in threads)  # fmt: skip
    return Finding(data, explanation, show, status="ok" if ok else "unexpected", figure=figure)


def _explanation(servers: list[Server], counter: Server, threads: list[Thread]) -> list[str]:
    said: list[str] = []
    for thread in threads:
        if thread.refused:
            error = thread.refused["error"]
            message = error.get("message") if isinstance(error, dict) else error
            said.append(f"{thread.name}: refused at turn {thread.refused['turn']} with HTTP "
                        f"{thread.refused['status']}: {message}")  # fmt: skip
        elif thread.name.endswith("ollama"):
            peak = max((r.sent or 0) for r in thread.rows)
            dropped = next((r for r in thread.rows if r.kept_from not in (None, 1)), None)
            if all(r.kept_from is None for r in thread.rows):  # no _debug_info came back
                said.append(
                    f"{thread.name}: all {len(thread.rows)} turns answered; this Ollama "
                    "did not render the prompt (_debug_render_only needs Ollama 0.12+), "
                    f"so which turns it dropped is not shown (peak {peak:,} tokens)."
                )
                continue
            said.append(
                f"{thread.name}: all {len(thread.rows)} turns answered, none refused; "
                f"prompt_tokens never passed {peak:,}. "
                + (f"From turn {dropped.turn} Ollama's own rendering of the request no longer "
                   f"starts at turn 1 (it starts at turn {dropped.kept_from}): the oldest "
                   "turns were dropped without a word." if dropped else "No turn was dropped.")
            )  # fmt: skip
    for thread in threads[len(servers) :]:
        peak = max((r.sent or 0) for r in thread.rows)
        said.append(f"{thread.name} on {counter.kind}: the largest request carried {peak:,} "
                    f"tokens (window {counter.window:,}, {ANSWER_TOKENS} kept for the reply)"
                    + (f"; {len(thread.summaries)} summar"
                       f"{'y' if len(thread.summaries) == 1 else 'ies'} written, "
                       f"{sum(s['keeps_fact'] for s in thread.summaries)} kept the locker code"
                       if thread.summaries else "") + ".")  # fmt: skip
    for thread in threads:
        if thread.answer is not None:
            said.append(
                f"Asked at turn {TURNS}, {thread.name} "
                + (
                    "still knew the code."
                    if _knows(thread)
                    else f"could not give {CODE}: turn 1 was not in what the model saw."
                )
            )
    said.append("The server keeps no conversation: what the model can recall is exactly what "
                "the client chose to send, so the client decides what is forgotten.")  # fmt: skip
    return said


def _knows(thread: Thread) -> bool:
    return thread.answer is not None and CODE in thread.answer


def _refusal(thread: Thread) -> str:
    return f"(never asked: refused at turn {thread.refused['turn']})" if thread.refused else "-"


def _short(name: str) -> str:
    return {"whole thread, llama-server": "whole (llama)", "whole thread, ollama":
            "whole (ollama)", "sliding window (exact tokens)": "window",
            "summary turn": "summary"}.get(name, name)  # fmt: skip


def _cell(row: Row | None) -> str:
    if row is None:
        return "-"
    if row.sent is None:
        return "refused"
    if row.kept_from in (None, 1):
        return f"{row.sent:,}"
    summary = "summary + " if "summary" in row.note else ""
    return f"{row.sent:,} ({summary}from {row.kept_from})"


def _chart(stack: Stack, window: int, threads: list[Thread]) -> Path | None:
    if stack.plot_dir is None:
        return None
    from lab.series import charts

    series = [(t.name, [next((r.sent for r in t.rows if r.turn == n), None)
                        for n in range(1, TURNS + 1)]) for t in threads]  # fmt: skip
    refused = next((t.refused["turn"] for t in threads if t.refused), None)
    return charts.tokens_per_turn(Path(stack.plot_dir) / "conversation_state.png", window,
                                  series, refused)  # fmt: skip


# --- the servers --------------------------------------------------------------------------------


@contextlib.contextmanager
def _servers(stack: Stack) -> Iterator[list[Server]]:
    with contextlib.ExitStack() as closing:
        servers = closing.enter_context(_started(stack))
        for server in servers:
            closing.callback(server.close)
        yield servers


@contextlib.contextmanager
def _started(stack: Stack) -> Iterator[list[Server]]:
    if stack.label == "mock":
        with _mock_pair(stack.timeout) as servers:
            yield servers
        return
    found: list[Server] = []
    for backend in stack.backends:
        if backend.url != stack.ollama and (window := _llama_window(backend.url, stack.timeout)):
            found.append(Server("llama-server", backend.url, backend.name, window, stack.timeout))
    if stack.ollama:
        model = next((b.name for b in stack.backends if b.url == stack.ollama), None)
        found.append(_ollama(stack.ollama, model, stack.timeout))
    yield found


@contextlib.contextmanager
def _mock_pair(timeout: float) -> Iterator[list[Server]]:
    """The llama-server twin (gpt-oss, ``--ctx-size 4096``) and the fake Ollama (gpt-oss:20b,
    num_ctx 4096, its default), unpaced: 50 turns of four strategies in seconds."""
    from mockserver.config import Settings
    from mockserver.server import BackgroundServer

    window = MOCK_WINDOW
    twin = BackgroundServer(Settings(port=0, flavor="llama-server", llama_model="gpt-oss",
                                     alias="gpt-oss", ctx_size=window)).start()  # fmt: skip
    try:
        fake = BackgroundServer(Settings(port=0, num_ctx=window)).start()
        try:
            yield [Server("llama-server", twin.url, "gpt-oss", window, timeout),
                   _ollama(fake.url, "gpt-oss:20b", timeout)]  # fmt: skip
        finally:
            fake.stop()
    finally:
        twin.stop()


def _llama_window(url: str, timeout: float) -> int | None:
    """llama-server's slot context (``/props``), or None when ``url`` is not a llama-server."""
    try:
        props = httpx.get(f"{url}/props", timeout=min(timeout, 10)).json()
    except (httpx.HTTPError, ValueError):
        return None
    settings = props.get("default_generation_settings") if isinstance(props, dict) else None
    n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
    return n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else None


def _ollama(url: str, model: str | None, timeout: float) -> Server:
    """Ollama's window for ``model``: one short request loads it, then ``/api/ps`` says the
    ``context_length`` it runs with (its ``num_ctx``)."""
    from lab.ollama import same_model

    if model is None:
        listed = httpx.get(f"{url}/v1/models", timeout=min(timeout, 10)).json().get("data") or []
        model = str(listed[0]["id"])
    server = Server("ollama", url, model, 0, timeout)
    server.count([{"role": "user", "content": "Hi"}])
    for entry in httpx.get(f"{url}/api/ps", timeout=min(timeout, 10)).json().get("models") or []:
        if same_model(str(entry.get("model") or entry.get("name") or ""), model):
            server.window = int(entry.get("context_length") or 0)
    if not server.window:
        raise httpx.HTTPError(f"/api/ps does not list {model} with a context_length")
    return server
