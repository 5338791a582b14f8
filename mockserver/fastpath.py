"""The fast path of the generation routes: answers computed once, and no routing cost.

**Why it exists.** Test suites send the same requests over and over, and the engine is a pure
function of the request body and the server's date. This module makes a repeated request on a
generation route (``POST /v1/chat/completions``, ``/api/chat``, ``/api/generate``) cost little
more than moving its bytes, without changing one byte of any answer (tests/test_fastpath.py).
It does it in two ways, each measured (docs/benchmarks.md):

1. **The memo.** A route hands its raw body and its ``bind`` (the surface's own decoding and
   translation, Ollama's ``ShouldBindJSON`` + ``FromChatRequest``) to ``FastPath.answer``, which
   runs the engine and keeps the ``Answer`` (from the second time a body is answered: ``Memo``,
   bounded by bytes). The same body again (same route, same date) gets that ``Answer``: no
   decoding, rendering, tokenizing or generating. Ids, timestamps, pacing
   and residency stay per request (the routes do them; ids under ``--seed``, a pure function of
   the body, are kept with the answer). An answer also keeps the serialised parts of its
   responses that do not depend on the id or the time (``Encoded``), so a /v1 answer is sent
   again with only its head serialised anew.
2. **Direct dispatch.** FastAPI's per-request routing (included routers, route contexts, the
   dependency solver, exit stacks) costs more than a memo hit. The generation routes (and the
   probes a client sends first: ``/``, ``/api/version``, ``/api/tags``, ``/v1/models``) are
   declared ``lean`` (``routes/deferred.py``): routed and documented (OpenAPI) like any
   APIRoute (``routes/lean.LeanRoute``), but their endpoint is called as plain ASGI by
   ``lean_handler``, with nothing in between. ``DirectDispatch``, the app's innermost layer
   (inside every guard, fault and replay layer), hands a request for exactly one of their
   method and path to that same handler code; every other request goes to FastAPI's router.
   So the served app (``served.py``) answers them before FastAPI is even imported.
"""

from __future__ import annotations

import enum
import functools
import sys
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.asgi import read_body
from mockserver.engine.chat import ChatRequest
from mockserver.engine.engine import ChatResult, Engine
from mockserver.errors import OllamaError
from mockserver.identity import RequestIdentity
from mockserver.scenarios import current_answer
from mockserver.threads import off_loop
from mockserver.wire.decode import LARGE_BODY
from mockserver.wire.errors import render_for
from mockserver.wire.gojson import dumps

# --- the memo --------------------------------------------------------------------------------


class Action(enum.Enum):
    """What a request asks of the engine."""

    GENERATE = "generate"
    LOAD = "load"  # a native request without messages / prompt: load the model
    UNLOAD = "unload"  # ... with ``keep_alive: 0``: unload it


@dataclass(frozen=True, slots=True)
class Bound:
    """A request body decoded and translated by its surface (the result of a route's bind)."""

    request: Any  # the surface's wire model (pydantic), as decoded
    chat: ChatRequest | None  # what the engine is asked (None: UNLOAD)
    action: Action = Action.GENERATE
    keep_alive: float | None = None  # seconds; None: the server's default


class Ids(NamedTuple):
    """A response's completion id, tool-call ids and creation time (``identity.py``)."""

    completion_id: str
    call_ids: tuple[str, ...]
    created: int
    now: float  # the clock, in seconds (native ``created_at``)


class Shape(NamedTuple):
    """Which serialisation of an answer: streamed or not, with usage or not, which call ids.
    (Made per request: a tuple, the cheapest typed key to build and hash.)"""

    stream: bool
    include_usage: bool
    call_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Encoded:
    """A response's JSON objects, each cut into a head and a rest.

    The head (``id`` ... ``system_fingerprint``) is the same in every chunk of a /v1 answer and
    holds all that changes per request; the rests (``"choices":[...]}`` + framing) do not. Compact
    JSON concatenates: ``dumps(head)[:-1] + b"," + rest`` is exactly ``dumps(obj) + framing``.
    """

    head: dict[str, Any]
    rests: tuple[bytes, ...]

    @classmethod
    def of(cls, objects: Iterable[dict[str, Any]], head_keys: int, end: bytes) -> Encoded:
        head: dict[str, Any] = {}
        rests: list[bytes] = []
        for obj in objects:
            items = list(obj.items())
            if not rests:
                head = dict(items[:head_keys])
            rests.append(dumps(dict(items[head_keys:]))[1:] + end)
        return cls(head, tuple(rests))

    def frames(self, prefix: bytes = b"", **fresh: Any) -> list[bytes]:
        """Every object's bytes, the head's fields replaced by ``fresh`` (id, time)."""
        start = prefix + dumps({**self.head, **fresh})[:-1] + b","
        return [start + rest for rest in self.rests]


@dataclass(slots=True)
class Answer:
    """The memo's entry: a body's bound request and the engine's answer to it."""

    bound: Bound
    result: ChatResult | None  # None unless the action is GENERATE
    ids: Ids | None = None  # under --seed only: this body's ids, made once
    context: list[int] | None = None  # /api/generate's ``context``, tokenized once
    encoded: dict[Shape, Encoded] = field(default_factory=dict)
    hits: int = 0  # how often it was served from the memo
    size: int = 0  # the bytes the memo accounts for it (``Memo``), key included
    memo: Memo | None = None  # the memo that holds it, told when it grows

    def keep(self, shape: Shape, encoded: Encoded) -> None:
        """Keep a serialisation with the answer; the memo that holds it accounts its bytes."""
        self.encoded[shape] = encoded
        if self.memo is not None:
            self.memo.grew(self, sum(map(sys.getsizeof, encoded.rests)) + _OBJECT)

    def keep_context(self, context: list[int]) -> None:
        """``/api/generate``'s ``context`` kept with the answer (8 bytes a token id, and the
        int objects: ids above 256 are objects of their own)."""
        self.context = context
        if self.memo is not None:
            self.memo.grew(self, 40 * len(context) + _OBJECT)


Bind = Callable[[Engine, bytes], Bound]
MemoKey = tuple[str, bytes, str]  # route path, body, the server's date

_OBJECT = 200  # an entry's containers (dict slot, tuples, small objects), roughly
_STR_BYTES = 4  # the most a character takes in a str (UCS-4)


def answer_size(key: MemoKey, answer: Answer) -> int:
    """The bytes ``answer`` keeps alive, as the memo accounts them (``sys.getsizeof`` of the
    strings it holds, no walk of the whole object graph: cheap enough for every unseen body).

    - the key: route, body and date;
    - the bound request: the surface's decoded model and the engine's ``ChatRequest`` share
      the messages' strings (each counted once), plus the objects around them;
    - the result: the rendered prompt, and every emitted piece (three lists: raw, reasoning,
      content), each piece a str of its own;
    - the serialisations and ``context`` kept later (``Answer.keep``, ``keep_context``).

    ``tests/test_memo_budget.py`` measures real answers with ``tracemalloc`` and checks that
    what the memo gives back when it forgets them is not more than this.
    """
    route, body, day = key
    size = sys.getsizeof(body) + len(route) + len(day) + 4 * _OBJECT
    chat = answer.bound.chat
    if chat is not None:
        for message in chat.messages:  # the decoded model and the Message: 2 objects each
            size += sys.getsizeof(message.content) + sys.getsizeof(message.thinking)
            size += 3 * _OBJECT
    result = answer.result
    if result is not None:
        size += sys.getsizeof(result.prompt.text)
        completion = result.completion
        if completion is not None:
            # The reasoning and content pieces are the raw ones (the same str objects, in
            # lists of their own), except where a scenario re-chunked them: counted by length.
            raw = completion.raw_pieces
            size += sys.getsizeof(raw) + sum(map(sys.getsizeof, raw))
            for pieces in (completion.reasoning_pieces, completion.content_pieces):
                size += sys.getsizeof(pieces) + _STR_BYTES * sum(map(len, pieces))
            size += _OBJECT * len(completion.tool_calls)
    for encoded in answer.encoded.values():
        size += sum(map(sys.getsizeof, encoded.rests)) + _OBJECT
    return size


class Memo:
    """The answers to recently seen bodies: an LRU bounded by bytes, not entries.

    ``budget`` is the bytes the memo may take, keys included (``answer_size``); the least
    recently used answers leave first. An answer over ``budget // 32`` (or ``max_entry``) is
    not kept: one huge body does not push out every other. The default, 32 MiB, holds about
    1,900 answers to the Post 1 conversation (~17 KB accounted each, streamed ~43 KB).

    **Kept from the second time.** A body is kept the second time it is answered, not the
    first (the "doorkeeper" of TinyLFU, Einziger et al., 2017): the first time, only its hash
    is noted (``_SEEN`` bytes, at most ``budget // 32`` of them, the oldest forgotten first).
    A test suite re-sends its bodies, and they are answered from the memo from their third
    time on; a load test of bodies never sent twice does not pay for keeping answers no one
    asks for again, nor push the repeated ones out. (A hash collision only keeps an answer a
    time early: what is kept is always the body's own answer, under its whole key.)
    """

    def __init__(
        self,
        budget: int = 32 * 1024 * 1024,
        *,
        max_entry: int | None = None,
        admit_after: int = 2,
    ) -> None:
        self.budget = budget
        self.max_entry = budget // 32 if max_entry is None else max_entry
        self.admit_after = admit_after  # 1: keep every answer the first time
        self.size = 0  # the bytes accounted for the answers kept and the hashes noted
        self._items: OrderedDict[MemoKey, Answer] = OrderedDict()
        self._seen: OrderedDict[int, None] = OrderedDict()  # keys answered once, oldest first
        self._max_seen = max(budget // 32 // _SEEN, 0)

    def get(self, key: MemoKey) -> Answer | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: MemoKey, answer: Answer) -> None:
        if len(key[1]) > self.max_entry:  # not even measured
            return
        if self.admit_after > 1 and not self._seen_before(key):
            return
        size = answer_size(key, answer)
        if size > self.max_entry:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._forget(old)
        answer.size, answer.memo = size, self
        self._items[key] = answer
        self.size += size
        self._shrink()

    def _seen_before(self, key: MemoKey) -> bool:
        """Whether ``key`` was answered before (and is now kept); else it is noted."""
        mark = hash(key)
        if mark in self._seen:
            del self._seen[mark]
            self.size -= _SEEN
            return True
        if self._max_seen <= 0:
            return False
        self._seen[mark] = None
        self.size += _SEEN
        if len(self._seen) > self._max_seen:
            self._seen.popitem(last=False)  # O(1); a dict's first key is not, after deletions
            self.size -= _SEEN
        self._shrink()
        return False

    def grew(self, answer: Answer, extra: int) -> None:
        """``answer`` (kept here) now holds ``extra`` bytes more."""
        if answer.memo is not self:
            return
        answer.size += extra
        self.size += extra
        self._shrink()

    def _shrink(self) -> None:
        while self.size > self.budget and self._items:
            _, oldest = self._items.popitem(last=False)
            self._forget(oldest)

    def _forget(self, answer: Answer) -> None:
        self.size -= answer.size
        answer.memo = None

    def clear(self) -> None:
        """Forget every answer (the model store changed: ``/api/create``, ``/api/delete``)."""
        for answer in self._items.values():
            answer.memo = None
        self._items.clear()
        self._seen.clear()
        self.size = 0

    def __len__(self) -> int:
        return len(self._items)


_SEEN = 100  # a noted hash: the int and its dict slot, roughly


class FastPath:
    """The engine behind a memo; one per app (``app.state.fastpath``)."""

    def __init__(self, engine: Engine, seed: int | None, memo: Memo | None = None) -> None:
        self.engine = engine
        self.seed = seed
        self.memo = memo if memo is not None else Memo()

    async def answer(self, route: str, body: bytes, bind: Bind) -> Answer:
        """The answer to ``body`` on ``route``: from the memo, or bound and run now.

        Errors (``OllamaError``) are raised every time, never kept. A kept answer refreshes the
        model's residency as running it would (``keep_alive``)."""
        return self.recall(route, body) or await self.compute(route, body, bind)

    def recall(self, route: str, body: bytes) -> Answer | None:
        """The memo's answer to ``body`` on ``route``, if any (``answer`` without the await:
        routes call it first, so that a hit costs no coroutine)."""
        engine = self.engine
        if current_answer() is not None:  # a scenario rule answers: not the body's own answer
            return None
        answer = self.memo.get((route, body, engine.current_date()))
        if answer is not None:
            answer.hits += 1
            if answer.result is not None and answer.result.completion is not None:
                # Residency as running it again would leave it (render-only requests leave none).
                engine.touch(answer.result, answer.bound.keep_alive)
        return answer

    async def compute(self, route: str, body: bytes, bind: Bind) -> Answer:
        """Bind ``body``, run the engine, keep the answer."""
        engine = self.engine
        key = (route, body, engine.current_date())
        if len(body) > LARGE_BODY:  # parsing megabytes of JSON would hold up every client
            bound = await off_loop(functools.partial(bind, engine, body))
        else:
            bound = bind(engine, body)
        result = None
        if bound.action is Action.GENERATE:
            assert bound.chat is not None
            result = await run_engine(engine, bound.chat, bound.keep_alive)
        answer = Answer(bound, result)
        if current_answer() is None:  # what a scenario rule answered is never kept
            self.memo.put(key, answer)
        return answer

    def ids(
        self, answer: Answer, body: bytes, tool_calls: int, *, completion_id: bool = True
    ) -> Ids:
        """Fresh ids and clock; under ``--seed`` a pure function of the body, made once.
        ``completion_id=False``: a native answer, which has none (and draws none)."""
        if answer.ids is not None:
            return answer.ids
        identity = RequestIdentity(self.seed, body)
        ids = Ids(
            identity.completion_id() if completion_id else "",
            tuple(identity.call_ids(tool_calls)),
            identity.created,
            identity.now,
        )
        if self.seed is not None:
            answer.ids = ids
        return ids


async def run_engine(
    engine: Engine, chat: ChatRequest, keep_alive: float | None = None
) -> ChatResult:
    """Run the engine: on the loop when quick, else in its bounded threads (``Engine.run``)."""
    return await engine.run(engine.chat, chat, keep_alive=keep_alive)


# --- the routes' own code path ---------------------------------------------------------------

Endpoint = Callable[[Request], Awaitable[Response]]


def lean_handler(endpoint: Endpoint) -> ASGIApp:
    """A lean route's endpoint as plain ASGI (what ``DirectDispatch`` and ``LeanRoute`` call):
    the body read once, the endpoint's ``Response`` sent, its ``OllamaError`` rendered for its
    surface (``wire/errors.py``); any other exception reaches the app's 500 handler."""

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        body, complete = await read_body(receive)
        if not complete:
            return  # the client left before its body arrived: no one to answer
        try:
            response = await endpoint(_ReadRequest(scope, receive, body))
        except OllamaError as error:
            response = render_for(error, scope["path"])
        await response(scope, receive, send)

    return handler


class _ReadRequest(Request):
    """A ``Request`` whose body was already read (``await request.body()`` returns it, as
    Starlette's does after a first read): one loop over ``receive``, no async generator."""

    def __init__(self, scope: Scope, receive: Receive, body: bytes) -> None:
        super().__init__(scope, receive)
        self._body = body


class DirectDispatch:
    """The innermost ASGI layer: a request for a lean route's method and exact path goes
    straight to its endpoint's ``lean_handler``; everything else to ``app`` (FastAPI's router)."""

    def __init__(self, app: ASGIApp, endpoints: Mapping[tuple[str, str], Endpoint]) -> None:
        self.app = app
        self.handlers: dict[tuple[str, str], ASGIApp] = {
            key: lean_handler(endpoint) for key, endpoint in endpoints.items()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = (
            self.handlers.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        )
        if handler is None:
            await self.app(scope, receive, send)
            return
        await handler(scope, receive, send)
