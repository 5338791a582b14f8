"""One engine behind both API surfaces.

``Engine.chat`` takes a wire-independent ``ChatRequest`` and does what Ollama's ChatHandler and
runner do, in order: resolve the model, check capabilities, prepend the default system prompt,
render the registry template, fit the prompt into the context window (silently, as Ollama
does), count the prompt tokens, and generate a deterministic completion whose tokens are
counted with the same tokenizer.

Context window (current Ollama: ollama/ollama@fb3076099, v0.33.0-rc2; same code in v0.32.15):

1. ``server/prompt.go`` chatPrompt: searching forward from the first message, the first
   ``i`` whose ``msgs[i:]`` (plus the system messages before ``i``) renders to at most
   ``num_ctx`` tokens *without* BOS is used; the last message is always kept, and so is every
   system message.
2. ``llm/llama_server.go`` completionPromptForRequest: if the prompt has at least ``num_ctx``
   bytes and its tokens (BOS included) exceed ``num_ctx - 1``, context shift on: the first
   ``num_keep`` (+1 for BOS) tokens and the newest ones are kept, ``num_ctx -
   max((num_ctx - keep) // 2, 1)`` in all (about half the window, leaving room to generate);
   context shift off (``shift: false``): 400. ``truncate: false`` skips both stages and
   llama-server refuses a prompt that does not fit. ``prompt_eval_count`` is llama-server's
   ``cache_n + prompt_n``: the tokens evaluated after truncation; nothing else says so.

The fake is a machine with under 23 GiB of VRAM: the default num_ctx is 4096 (``server/routes.go``
Serve, v0.15.5+; no gpt-oss 8192 floor since then). The runner's num_ctx is at least 4, at
least 2048 for vision models (``server/sched.go`` getRunner), and capped here at the model's
trained context; the prompt stage uses the requested value, capped at the runner's
(``optionsForPrompt``).
"""

from __future__ import annotations

import functools
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from mockserver import journal
from mockserver.engine import generator, logprobs, media, structured
from mockserver.engine.catalog import Catalog, ModelCard, family_of, is_valid_name
from mockserver.engine.chat import ChatRequest, Message, ToolCall, collate
from mockserver.engine.families import Family, Output
from mockserver.engine.lru import SizedLRU
from mockserver.engine.templates import Conversation
from mockserver.engine.templates.harmony import reasoning_level
from mockserver.engine.tokenizers import encode_pieces
from mockserver.errors import OllamaError, bad_request, model_not_found, model_required
from mockserver.modelref import local_base
from mockserver.threads import off_loop

T = TypeVar("T")
DEFAULT_NUM_CTX = 4096
NUM_KEEP = 4  # api.DefaultOptions().NumKeep
DEFAULT_KEEP_ALIVE = 300.0  # OLLAMA_KEEP_ALIVE default, seconds
_FOREVER = timedelta(days=365 * 292)  # Go's maximum time.Duration
# llm/llama_server.go completionPromptForRequest, context shift off (400).
PROMPT_TOO_LONG = (
    "the prompt is longer than the context length currently available to the model; shorten "
    "the prompt, adjust the context length in settings, or use a model with a longer context "
    "length"
)


def llama_server_context_error(prompt_tokens: int, num_ctx: int) -> str:
    """What llama-server answers (HTTP 400) for a prompt that does not fit its slot; Ollama
    passes the body on as the error text (``statusErrorMessage``). UNVERIFIED: llama.cpp is
    not vendored in the Ollama repository; the message follows llama.cpp's
    ``exceed_context_size_error`` (quoted in ``llm/llama_server_test.go``), the body layout
    its ``format_error_response`` (ordered JSON)."""
    return (
        f'{{"error":{{"code":400,"message":"request ({prompt_tokens} tokens) exceeds the '
        f'available context size ({num_ctx} tokens), try increasing it",'
        f'"type":"exceed_context_size_error","n_prompt_tokens":{prompt_tokens},'
        f'"n_ctx":{num_ctx}}}}}'
    )


class CompletionUnsupported(OllamaError):
    """A model without the completion capability (an embedding model) asked to chat."""

    def __init__(self, model: str) -> None:
        super().__init__(400, f'"{model}" does not support chat')
        self.model = model

    def for_generate(self) -> OllamaError:
        """GenerateHandler words the same failure with "generate"."""
        return OllamaError(400, f'"{self.model}" does not support generate')


@dataclass(frozen=True, slots=True)
class Prompt:
    text: str
    tokens: int  # what the runner evaluates: BOS + prompt, after both truncation stages
    token_truncated: bool = False  # the runner cut tokens out of the middle
    error: str = ""  # the runner refuses this prompt when asked to generate
    images: int = 0  # images in the messages kept (``_debug_info.image_count``)
    error_status: int = 400


@dataclass(slots=True)
class Completion:
    """A generated answer cut into the pieces a streaming engine emits (one per token).

    ``raw_pieces`` is every emitted token's text, control tokens included, as the runner hands
    it to the server (the terminating end-of-turn token is counted but not emitted).
    """

    reasoning_pieces: list[str] = field(default_factory=list)
    content_pieces: list[str] = field(default_factory=list)
    raw_pieces: list[str] = field(default_factory=list)
    raw_kinds: list[str] = field(default_factory=list)  # each raw piece's segment kind
    logprobs: list[dict[str, Any]] = field(default_factory=list)  # one per raw piece
    tool_calls: tuple[ToolCall, ...] = ()
    eval_count: int = 0
    done_reason: str = "stop"
    source: str = ""  # what decided the answer (generator.py), shown in the journal

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_pieces)

    @property
    def content(self) -> str:
        return "".join(self.content_pieces)

    @property
    def raw(self) -> str:
        return "".join(self.raw_pieces)


@dataclass(slots=True)
class ChatResult:
    card: ModelCard
    prompt: Prompt
    completion: Completion | None  # None for render-only requests
    load_ns: int = 0
    prompt_eval_ns: int = 0
    eval_ns: int = 0
    num_ctx: int = DEFAULT_NUM_CTX


def _expiry(kept_at: float, seconds: float) -> datetime:
    life = _FOREVER if seconds < 0 else timedelta(seconds=min(seconds, 9e9))
    return datetime.fromtimestamp(kept_at, UTC) + life


@dataclass(frozen=True, slots=True)
class Resident:
    """A model "in memory", as ``/api/ps`` lists it."""

    card: ModelCard
    expires_at: datetime
    num_ctx: int


class Engine:
    def __init__(
        self,
        catalog: Catalog,
        *,
        num_ctx: int = DEFAULT_NUM_CTX,
        current_date: str | None = None,
    ) -> None:
        self.catalog = catalog
        self.num_ctx = num_ctx
        self._current_date = current_date
        # name -> (card, kept at (epoch s), keep_alive s (< 0: forever), num_ctx)
        self._resident: dict[str, tuple[ModelCard, float, float, int]] = {}
        self._resident_lock = threading.Lock()

    async def run(self, work: Callable[..., T], request: ChatRequest, **options: Any) -> T:
        """``work(request, **options)`` (``chat``, ``load``...) where it keeps the server
        responsive: on the event loop when it is quick (the model is loaded and the request is
        small: a thread hop would cost more than the work), else in the worker threads
        (``mockserver/threads.py``), at most ``WORKERS`` at once; the others wait their turn
        without holding the loop (a 10 MB prompt no longer stalls every other client)."""
        if self.is_loaded(request.model) and not is_heavy(request):
            return work(request, **options)
        return await off_loop(functools.partial(work, request, **options))

    async def run_heavy(self, work: Callable[[], T], heavy: bool) -> T:
        """``work()`` in the worker threads when ``heavy``, else right here."""
        if not heavy:
            return work()
        return await off_loop(work)

    def current_date(self) -> str:
        return self._current_date or _today()

    def resolve(self, name: str, think: object = None) -> tuple[ModelCard, Family]:
        """The pulled model and the family that generates for it.

        An embedding model has no completion capability: ``scheduleRunner``'s capability check
        fails and the handler answers ``"<model>" does not support chat`` (400), after the
        thinking check (``server/routes.go`` ChatHandler; GenerateHandler says "generate").
        """
        if not name.strip():
            raise model_required()
        base = local_base(name)
        if not is_valid_name(base):
            raise bad_request("invalid model name")  # errtypes.InvalidModelNameErrMsg
        card = self.catalog.find(base)
        if card is None:
            raise model_not_found(name)
        family = family_of(card)
        if family is None:
            if card.supports("embedding"):
                if think not in (None, False):
                    raise bad_request(f'"{name}" does not support thinking')
                raise CompletionUnsupported(name)
            raise model_not_found(name)
        return card, family

    def is_loaded(self, name: str) -> bool:
        """True when the model's vocabulary is in memory (or the name resolves to nothing)."""
        card = self.catalog.find(local_base(name)) if name.strip() else None
        family = family_of(card) if card else None
        return family is None or family.loaded

    def context_length(self, request: ChatRequest, card: ModelCard) -> int:
        """The runner's num_ctx (``/api/ps``): the request's option (``num_ctx: 0`` stays 0, as
        ``FromMap`` sets it), else the server's; at least 4, at least 2048 for vision models
        (``getRunner``); capped at the trained context."""
        wanted = self._requested_context(request)
        wanted = max(wanted, 4)
        if card.supports("vision"):
            wanted = max(wanted, 2048)
        return min(wanted, card.context_length) if card.context_length else wanted

    def _requested_context(self, request: ChatRequest) -> int:
        num_ctx = request.options.num_ctx
        return self.num_ctx if num_ctx is None else num_ctx

    # --- scheduling: load, unload, what is resident ---------------------------------------

    def load(self, request: ChatRequest, *, keep_alive: float | None = None) -> ChatResult:
        """What a request without messages does: check, load the vocabulary, keep it resident."""
        started = time.perf_counter_ns()
        card, family = self.resolve(request.model, request.think)
        request = with_model_options(request, card)
        self._check_capabilities(request, card, family)
        family.tokenizer  # noqa: B018 - "load the model": the vocabulary, once per family
        num_ctx = self.context_length(request, card)
        self._keep(card, num_ctx, keep_alive)
        return ChatResult(
            card,
            Prompt("", 0),
            None,
            load_ns=max(time.perf_counter_ns() - started, 1),
            num_ctx=num_ctx,
        )

    def unload(self, name: str) -> ModelCard:
        card = self.catalog.find(name)
        if card is None:
            self.resolve(name)  # raises Ollama's error for this name
        assert card is not None
        with self._resident_lock:
            self._resident.pop(card.name, None)
        return card

    def unload_card(self, card: ModelCard) -> None:
        """A deleted model leaves memory too."""
        with self._resident_lock:
            self._resident.pop(card.name, None)

    def resident(self) -> list[Resident]:
        """Loaded models, the one that expires last first (``PsHandler``)."""
        now = datetime.now(UTC)
        with self._resident_lock:
            models = [
                Resident(card, _expiry(kept_at, seconds), num_ctx)
                for card, kept_at, seconds, num_ctx in self._resident.values()
            ]
            for model in models:
                if model.expires_at <= now:
                    del self._resident[model.card.name]
        return sorted(
            (model for model in models if model.expires_at > now),
            key=lambda r: r.expires_at,
            reverse=True,
        )

    def hold(self, card: ModelCard, num_ctx: int, keep_alive: float | None) -> None:
        """Keep ``card`` resident after a request that is not a chat (an embedding)."""
        self._keep(card, num_ctx, keep_alive)

    def touch(self, result: ChatResult, keep_alive: float | None = None) -> None:
        """What serving ``result`` again does to residency (a memoized answer)."""
        self._keep(result.card, result.num_ctx, keep_alive)
        journal.observe(result)

    def _keep(self, card: ModelCard, num_ctx: int, keep_alive: float | None) -> None:
        """Note when and for how long ``card`` was kept; ``resident()`` makes the expiry of it
        (every answer, memoized ones too, comes through here: no datetime per request)."""
        seconds = DEFAULT_KEEP_ALIVE if keep_alive is None else keep_alive
        with self._resident_lock:
            if seconds == 0:
                self._resident.pop(card.name, None)
                return
            self._resident[card.name] = (card, time.time(), seconds, num_ctx)

    # --- chat --------------------------------------------------------------------------------

    def chat(self, request: ChatRequest, *, keep_alive: float | None = None) -> ChatResult:
        started = time.perf_counter_ns()
        card, family = self.resolve(request.model, request.think)
        request = with_model_options(request, card)
        self._check_capabilities(request, card, family)
        family.tokenizer  # noqa: B018 - "load the model": the vocabulary, once per family
        loaded = time.perf_counter_ns()
        num_ctx = self.context_length(request, card)
        prompt = self.prompt(request, card, family)
        rendered = time.perf_counter_ns()
        if request.render_only:
            return ChatResult(card, prompt, None, num_ctx=num_ctx)
        if prompt.error:  # raised by the runner, after _debug_render_only has returned
            raise OllamaError(prompt.error_status, prompt.error)
        completion, prompt = self._generate(request, card, family, prompt, num_ctx)
        done = time.perf_counter_ns()
        self._keep(card, num_ctx, keep_alive)
        result = ChatResult(
            card,
            prompt,
            completion,
            load_ns=max(loaded - started, 1),
            prompt_eval_ns=max(rendered - loaded, 1),
            eval_ns=max(done - rendered, 1),
            num_ctx=num_ctx,
        )
        journal.observe(result)
        return result

    def detokenize(self, card: ModelCard, ids: list[int]) -> str:
        """llama-server's ``/detokenize`` as ``GenerateHandler`` calls it for ``context``: each
        token's piece, special tokens as their text, concatenated. An id outside the
        vocabulary is a 500 (``Detokenize``'s "detokenize error"; llama-server's own words
        for it UNVERIFIED)."""
        family = family_of(card)
        assert family is not None
        token_bytes = family.tokenizer.token_bytes  # type: ignore[attr-defined]
        out = bytearray()
        for token in ids:
            try:
                if token < 0:
                    raise IndexError(token)
                out += token_bytes(token)
            except (IndexError, KeyError, ValueError, OverflowError):
                raise OllamaError(500, f"detokenize error: invalid token id {token}") from None
        return out.decode("utf-8", errors="replace")

    def context_tokens(self, result: ChatResult) -> list[int]:
        """``/api/generate``'s ``context``: the prompt and the emitted output, re-tokenized."""
        family = family_of(result.card)
        assert family is not None
        raw = result.completion.raw if result.completion else ""
        return family.tokenizer.encode(result.prompt.text + raw)

    def prompt(self, request: ChatRequest, card: ModelCard, family: Family) -> Prompt:
        """Render and count the prompt, fitted into the context window as Ollama does."""
        runner_ctx = self.context_length(request, card)
        prompt_ctx = min(self._requested_context(request), runner_ctx)  # optionsForPrompt
        if request.raw:
            last = request.messages[-1] if request.messages else Message(role="user")
            if last.images:  # GenerateHandler: the prompt untagged, the images as payloads
                return self._with_media(request, card, family, last.content, last.images)
            text = last.content
            return self._fit_tokens(request, text, family.count(text), runner_ctx, family.bos)
        if request.template:
            return self._direct_prompt(request, card, family, runner_ctx)

        messages = request.messages
        # ChatHandler: the model's SYSTEM (a created model's, else the registry default) is
        # prepended when the conversation does not start with a system message.
        default_system = card.system or family.default_system
        if default_system and (not messages or messages[0].role != "system"):
            messages = (Message(role="system", content=default_system), *messages)

        # Where the text alone proves a candidate longer than the runner's window, its exact
        # count changes nothing below: it is not computed (see ``_count``).
        over = runner_ctx

        def length(candidate: tuple[Message, ...]) -> tuple[str, int]:
            text = self._render(request, family, candidate, card.template, card)
            # chatPrompt tokenizes without special tokens: BOS is not part of this check.
            return text, _count(family, text, over)

        # chatPrompt (server/prompt.go): the first start index whose suffix fits, searching
        # forward; the system messages before it are kept; the last message always is.
        start = 0
        if request.truncate and messages:
            tried: dict[int, tuple[tuple[Message, ...], str, int]] = {}

            def attempt(i: int) -> tuple[tuple[Message, ...], str, int]:
                if i not in tried:
                    kept = tuple(m for m in messages[:i] if m.role == "system")
                    tried[i] = (kept, *length(kept + messages[i:]))
                return tried[i]

            start = _first_fitting(len(messages) - 1, lambda i: 0 <= attempt(i)[2] <= prompt_ctx)
            _, text, tokens = attempt(start)
        else:
            text, tokens = length(messages)
        payloads = tuple(image for m in messages[start:] for image in m.images)
        if payloads:  # imageTaggedMessages, then the template over the tagged messages
            tagged, _ = media.tag_images(messages, start)
            kept = tuple(m for m in messages[:start] if m.role == "system") + tagged[start:]
            text = request.prefix + self._render(request, family, kept)
            return self._with_media(request, card, family, text, payloads)
        if request.prefix:  # GenerateHandler: the detokenized context, then chatPrompt's text
            text = request.prefix + text
            tokens = _prompt_tokens(family, text)
        if tokens < 0:  # only known to be over the window: exact where the answer shows it
            exact_needed = not (request.truncate and request.shift and runner_ctx > 1)
            tokens = _prompt_tokens(family, text) if exact_needed else -tokens
        total = tokens + (1 if family.bos else 0)
        prompt = self._fit_tokens(request, text, total, runner_ctx, family.bos)
        return Prompt(
            prompt.text,
            prompt.tokens,
            token_truncated=prompt.token_truncated,
            error=prompt.error,
        )

    def _with_media(
        self,
        request: ChatRequest,
        card: ModelCard,
        family: Family,
        text: str,
        payloads: tuple[bytes, ...],
    ) -> Prompt:
        """A prompt with payloads: counted as llama-server's mtmd counts it (``media.py``),
        never truncated by the runner (``completionPromptForRequest`` skips prompts with
        media), refused as the runner refuses it."""
        tower = media.TOWERS.get(family.name) if card.supports("vision") else None
        encode = family.tokenizer.encode
        runner = media.runner_count(text, payloads, tower, lambda t: len(encode(t)), family.bos)
        if runner.error:
            status = runner.error_status
            return Prompt(text, 0, error=runner.error, images=len(payloads), error_status=status)
        num_ctx = self.context_length(request, card)
        fitted = self._fit_tokens(request, text, runner.tokens, num_ctx, family.bos, True)
        return replace(fitted, images=len(payloads))

    @staticmethod
    def _fit_tokens(
        request: ChatRequest,
        text: str,
        tokens: int,
        num_ctx: int,
        bos: bool,
        has_media: bool = False,
    ) -> Prompt:
        """llm/llama_server.go completionPromptForRequest (``tokens`` include BOS); with
        ``has_media`` (payloads in the kept messages) the runner never cuts the prompt."""
        skip = not request.truncate or has_media or num_ctx <= 1
        if skip or len(text.encode()) < num_ctx or tokens <= num_ctx - 1:
            if tokens >= num_ctx:  # untruncated and too long: llama-server refuses it
                return Prompt(text, tokens, error=llama_server_context_error(tokens, num_ctx))
            return Prompt(text, tokens)
        if not request.shift:
            return Prompt(text, tokens, error=PROMPT_TOO_LONG)
        keep = NUM_KEEP if request.options.num_keep is None else request.options.num_keep
        if keep < 0:
            keep = tokens
        keep = min(keep + (1 if bos else 0), num_ctx - 1)
        # contextShiftPromptLimit: keep num_keep, free about half of the rest of the window.
        limit = num_ctx - max((num_ctx - max(0, keep)) // 2, 1)
        return Prompt(text, limit, token_truncated=True)

    def _direct_prompt(
        self, request: ChatRequest, card: ModelCard, family: Family, runner_ctx: int
    ) -> Prompt:
        """GenerateHandler with a request ``template``: the messages (the request's system,
        else the model's; the user's prompt) executed by that template directly, without
        chatPrompt's message truncation; the detokenized ``context`` before it."""
        messages = request.messages
        default_system = card.system or family.default_system
        if default_system and (not messages or messages[0].role != "system"):
            messages = (Message(role="system", content=default_system), *messages)
        think = _handler_think(request.think, card, family)
        text = request.prefix + _execute(request.template, self.current_date(), messages, (), think)
        payloads = tuple(payload for message in messages for payload in message.images)
        if payloads:  # the direct flow tags nothing: the images reach the runner as payloads
            return self._with_media(request, card, family, text, payloads)
        return self._fit_tokens(request, text, family.count(text), runner_ctx, family.bos)

    def _render(
        self,
        request: ChatRequest,
        family: Family,
        messages: tuple[Message, ...],
        template: str = "",
        card: ModelCard | None = None,
    ) -> str:
        """The prompt: a created model's own TEMPLATE run as Ollama runs any template text
        (``templates/ollama_template.py``), else the family's registry template."""
        if template and card is not None:
            think = _handler_think(request.think, card, family)
            return _execute(template, self.current_date(), messages, request.tools, think)
        system, collated = collate(messages)
        return family.render(
            Conversation(
                system=system,
                messages=collated,
                tools=request.tools,
                think=request.think,
                current_date=self.current_date(),
            )
        )

    def check(self, request: ChatRequest) -> None:
        """Resolve the model and check what the request asks of it (think, then tools)."""
        card, family = self.resolve(request.model, request.think)
        self._check_capabilities(request, card, family)

    def _check_capabilities(self, request: ChatRequest, card: ModelCard, family: Family) -> None:
        if request.think not in (None, False) and not card.supports("thinking"):
            raise bad_request(f'"{request.model}" does not support thinking')
        if request.tools and not card.supports("tools"):
            raise bad_request(f"{card.full_name} does not support tools")

    def _generate(
        self,
        request: ChatRequest,
        card: ModelCard,
        family: Family,
        prompt: Prompt,
        num_ctx: int,
    ) -> tuple[Completion, Prompt]:
        """The completion, and the prompt whose evaluation the answer reports (the same one,
        except for structured outputs after thinking: see ``_structured_after_thinking``)."""
        thinking = _thinking_level(request, card)
        output = generator.reply(
            generator.Situation(
                model=request.model,
                messages=request.messages,
                prompt_tokens=prompt.tokens,
                thinking=thinking,
                tools=request.tools if card.supports("tools") else (),
                format=structured.parse_format(request.format),
                family=family.name,
                seen=prompt.text,
            )
        )
        # llm/server.go: num_predict < 0 (unlimited) or > 10*num_ctx becomes 10*num_ctx; the
        # runner treats 0 as unlimited too (it stops only when num_predict > 0).
        budget = request.options.num_predict
        if budget is None or budget <= 0 or budget > 10 * num_ctx:
            budget = 10 * num_ctx
        thoughts: list[str] = []
        if _structured_after_thinking(request, family, output, prompt):
            prompt, thoughts = _second_request(family, prompt, output.reasoning)
            output = replace(output, reasoning="")
        segments = family.frame(output)
        if thoughts:  # the second request's prompt already ends in the final channel's header
            segments = [s for s in segments if s != ("control", _FINAL_CHANNEL)]
        stops = tuple(s for s in request.options.stop if s)
        counted = _counted(family, segments)
        if not stops and sum(max(n, len(pieces)) for _, n, pieces in counted) <= budget:
            completion = _whole(counted, output)  # the common case: no loop per token
        else:
            completion = self._emit(_tokens(counted), budget, stops, output)
        completion.source = output.source
        if output.chunking is not None:
            completion.content_pieces = _rechunk(completion.content, output.chunking)
        if thoughts:  # streamed by the first request, not counted by the second
            completion.reasoning_pieces = thoughts
        if request.logprobs:
            completion.logprobs = logprobs.for_tokens(
                family.tokenizer, completion.raw_pieces, request.top_logprobs, prompt.text
            )
        return completion, prompt

    @staticmethod
    def _emit(
        tokens: list[tuple[str, str]], budget: int, stops: tuple[str, ...], output: Output
    ) -> Completion:
        """The emitted tokens when the budget or a stop string may cut the answer short."""
        completion = Completion()
        emitted: list[tuple[str, str]] = []
        raw = ""
        finished = True
        if not stops:  # the common case, without the per-token loop: the same result
            completion.eval_count = min(len(tokens), budget)
            if budget < len(tokens):
                completion.done_reason = "length"
                finished = False
                emitted = tokens[:budget]
            elif tokens and tokens[-1][0] == "control":
                emitted = tokens[:-1]  # the end-of-turn token: counted, never emitted
            else:
                emitted = tokens
            tokens = []
        for index, (kind, piece) in enumerate(tokens):
            if completion.eval_count >= budget:
                completion.done_reason = "length"
                finished = False
                break
            completion.eval_count += 1
            if index == len(tokens) - 1 and kind == "control":
                break  # the end-of-turn token: counted, never emitted
            raw += piece
            hit = min((raw.find(s) for s in stops if s in raw), default=-1)
            if hit >= 0:  # a stop string: cut just before it, done_reason stays "stop"
                emitted = _cut([*emitted, (kind, piece)], hit)
                finished = False
                break
            emitted.append((kind, piece))
        if finished:
            completion.tool_calls = output.tool_calls
        for kind, piece in emitted:
            completion.raw_pieces.append(piece)
            completion.raw_kinds.append(kind)
            if kind == "reasoning":
                completion.reasoning_pieces.append(piece)
            elif kind == "content":
                completion.content_pieces.append(piece)
        return completion


_FINAL_CHANNEL = "<|channel|>final<|message|>"


def _handler_think(think: object, card: ModelCard, family: Family) -> object:
    """The think value a template is executed with (ChatHandler, GenerateHandler): true when
    a thinking model's request has none; harmony's "max" is "high". (The registry renderers
    fold the same rules into their own code.)"""
    if think is None and card.supports("thinking"):
        return True
    if think == "max" and family.name == "gptoss":
        return "high"
    return think


@functools.lru_cache(maxsize=64)
def _parsed(text: str, current_date: str) -> Any:
    from mockserver.engine.templates.ollama_template import OllamaTemplate

    return OllamaTemplate(text, current_date)


def _execute(
    text: str,
    current_date: str,
    messages: tuple[Message, ...],
    tools: tuple[dict[str, Any], ...],
    think: object,
) -> str:
    """A template text parsed (once) and executed as Ollama does; a template Ollama cannot
    parse or execute is its 500 with Go's words (GenerateHandler, chatPrompt's callers)."""
    from mockserver.engine.templates.ollama_template import TemplateError

    try:
        return str(_parsed(text, current_date).execute(messages=messages, tools=tools, think=think))
    except TemplateError as error:
        raise OllamaError(500, str(error)) from None


def _structured_after_thinking(
    request: ChatRequest, family: Family, output: Output, prompt: Prompt
) -> bool:
    """``server/routes.go`` ChatHandler, structured outputs on a thinking model with a built-in
    parser (gpt-oss's harmony): the first request runs without the format; when the model's
    content starts after its thinking, it is cancelled and a second request, with the format,
    continues from the thinking. Not when thinking is turned off (``forceImmediate``)."""
    return (
        request.format is not None
        and family.name == "gptoss"
        and bool(output.reasoning)
        and not output.tool_calls
        and request.think is not False
        and not request.raw
        and not prompt.token_truncated
        and prompt.text.endswith("<|start|>assistant")
    )


def _second_request(family: Family, prompt: Prompt, reasoning: str) -> tuple[Prompt, list[str]]:
    """The second request's prompt: the messages plus an assistant message carrying only the
    thinking (the template leaves it open: ``$prefillingThinkingOnly``), then what ChatHandler
    appends for harmony, ``<|end|><|start|>assistant<|channel|>final<|message|>``. Its
    evaluation is what the answer's ``prompt_eval_count`` reports; the thinking streamed by
    the first request is returned as pieces, one per token."""
    text = (
        prompt.text.removesuffix("<|start|>assistant")
        + f"<|start|>assistant<|channel|>analysis<|message|>{reasoning}"
        + f"<|end|><|start|>assistant{_FINAL_CHANNEL}"
    )
    _, pieces = encode_pieces(family.tokenizer, reasoning)
    second = replace(prompt, text=text, tokens=family.count(text))
    return second, list(pieces)


_OPTION_FIELDS = ("num_predict", "num_ctx", "num_keep", "seed", "temperature", "top_p")


def with_model_options(request: ChatRequest, card: ModelCard) -> ChatRequest:
    """``modelOptions``: a created model's PARAMETERs first, the request's options over them."""
    if not card.parameters:
        return request
    given = request.options
    changes: dict[str, object] = {}
    for name, value in card.parameters:
        if name in _OPTION_FIELDS and getattr(given, name) is None:
            changes[name] = value
    stops = tuple(str(value) for name, value in card.parameters if name == "stop")
    if stops and not given.stop:
        changes["stop"] = stops
    if not changes:
        return request
    return replace(request, options=replace(given, **changes))  # type: ignore[arg-type]


Counted = list[tuple[str, int, tuple[str, ...]]]  # per segment: kind, tokens, pieces


def _counted(family: Family, segments: list[tuple[str, str]]) -> Counted:
    """Each framed segment's token count and stream pieces (empty segments left out)."""
    out: Counted = []
    for kind, text in segments:
        if not text:
            continue
        if kind == "control" or len(text) <= _RECURRING_CHARS:
            count, pieces = _segment_tokens(family, text)
        else:  # a reply's text: it quotes the request, so it rarely recurs (the memo keeps
            count, pieces = encode_pieces(family.tokenizer, text)  # the replies that do)
        out.append((kind, count, pieces))
    return out


def _emitted(count: int, pieces: tuple[str, ...]) -> list[str]:
    """A segment's pieces, one per token: where a multi-byte character spans tokens the
    tokenizer merges pieces, and the extra tokens are kept as empty pieces so that every
    generated token is counted."""
    return [""] * max(count - len(pieces), 0) + list(pieces)


def _tokens(counted: Counted) -> list[tuple[str, str]]:
    """The framed output as (kind, text) per generated token."""
    return [(kind, piece) for kind, count, pieces in counted for piece in _emitted(count, pieces)]


def _whole(counted: Counted, output: Output) -> Completion:
    """Every token emitted (no stop string, within the budget): what ``_emit`` gives then, a
    segment at a time. The last token, when it is a control token (the end of turn), is
    counted and not emitted."""
    completion = Completion(tool_calls=output.tool_calls)
    raw = completion.raw_pieces
    for kind, count, pieces in counted:
        emitted = _emitted(count, pieces)
        completion.eval_count += len(emitted)
        raw += emitted
        completion.raw_kinds += [kind] * len(emitted)
        if kind == "reasoning":
            completion.reasoning_pieces += emitted
        elif kind == "content":
            completion.content_pieces += emitted
    if counted and counted[-1][0] == "control" and raw:
        raw.pop()
        completion.raw_kinds.pop()
    return completion


_RECURRING_CHARS = 64  # reply texts up to this long are kept tokenized, as control segments


HEAVY_CHARS = 32_768  # a request with more text than this is worked off the event loop
HEAVY_MESSAGES = 64  # ... and one with more messages (truncation renders several suffixes)


def is_heavy(request: ChatRequest) -> bool:
    """Whether the engine may take long on ``request`` (measured: ~1 ms per 30 KB rendered)."""
    if len(request.messages) > HEAVY_MESSAGES:
        return True
    size = 0
    for message in request.messages:
        size += len(message.content) + len(message.thinking) + sum(map(len, message.images))
        if size > HEAVY_CHARS:
            return True
    return len(request.tools) > HEAVY_MESSAGES


_day: tuple[float, str] = (0.0, "")  # (the next local midnight, epoch s; today's ISO date)


def _today() -> str:
    """The local date as ``date.today().isoformat()``, remade only after local midnight (the
    memo's key and every prompt ask for it: a clock read, not a calendar, per request)."""
    global _day
    until, today = _day
    now = time.time()
    if now >= until or not today:
        day = date.fromtimestamp(now)
        midnight = datetime.combine(day + timedelta(days=1), datetime.min.time()).timestamp()
        _day = until, today = midnight, day.isoformat()
    return today


def _first_fitting(last: int, fits: Callable[[int], bool]) -> int:
    """chatPrompt's answer, the first start index in ``0..last`` whose suffix fits (``last``
    if none does), in O(log n) renders instead of Ollama's O(n).

    Ollama walks forward from 0, rendering and tokenizing every suffix: quadratic in the
    conversation (1,000 messages took the fake over 45 s). A suffix is never longer than a
    longer suffix of the same conversation (dropping the oldest non-system message removes its
    text and adds none), so the walk's answer is where ``fits`` turns true: the whole
    conversation is tried first (the common case), then a binary search.
    ``tests/test_truncation.py`` checks it against the walk on generated conversations.
    """
    if last <= 0 or fits(0):
        return 0
    low, high = 1, last  # fits(high) or high == last, the walk's fallback
    while low < high:
        middle = (low + high) // 2
        if fits(middle):
            high = middle
        else:
            low = middle + 1
    return low


def _count(family: Family, text: str, over: int) -> int:
    """Tokens of a rendered prompt (no BOS); ``-n`` (n > ``over``) when the text alone proves
    it has more than ``over`` tokens.

    No token is longer than the vocabulary's longest (``max_token_bytes``), so a text of
    ``L`` characters (at least ``L`` UTF-8 bytes) has at least ``L // longest`` tokens: a 10 MB
    prompt is known not to fit a 4,096-token window without tokenizing it. Tokenizers whose
    normalizer can shrink the text (SentencePiece's NFKC) have no such bound.
    """
    if len(text) > over + 1:  # else it cannot prove it: no token is shorter than a byte
        longest = getattr(family.tokenizer, "max_token_bytes", None)
        if longest and len(text) > (over + 1) * longest:
            return -(len(text) // longest)
    return _prompt_tokens(family, text)


def _prompt_tokens(family: Family, text: str) -> int:
    """Tokens of a rendered prompt (no BOS). The history a stateless client re-sends is not
    tokenized again: the tokenizer counts the texts between special tokens once each
    (``mockserver/engine/fragments.py``), exactly."""
    return family.tokenizer.count(text)


def _segment_tokens(family: Family, text: str) -> tuple[int, tuple[str, ...]]:
    """Token count and stream pieces of one framed segment (the same markers recur in every
    reply, so they are tokenized once); one encode serves both."""
    key = (family.name, text)
    found = _SEGMENTS.get(key)
    if found is None:
        found = encode_pieces(family.tokenizer, text)
        _SEGMENTS.put(key, found)
    return found


def _segment_size(key: object, value: tuple[int, tuple[str, ...]]) -> int:
    """The key's text, and its pieces: at most the text again, plus a str header each."""
    text: str = key[1]  # type: ignore[index]
    size = sys.getsizeof(text)
    return 2 * size + (_STR_HEADER + 8) * len(value[1])


_STR_HEADER = sys.getsizeof("\u0100") - 2  # a str's own bytes, beyond its characters


# Bounded by the memory they take (mockserver/engine/lru.py), not by a count of entries.
_SEGMENTS: SizedLRU[tuple[int, tuple[str, ...]]] = SizedLRU(8 * 1024 * 1024, size_of=_segment_size)


def _rechunk(text: str, chunking: str | int) -> list[str]:
    """A scenario's ``chunking``: the content in one piece, or in pieces of N characters."""
    if chunking == "whole" or not isinstance(chunking, int) or chunking <= 0:
        return [text] if text else []
    return [text[i : i + chunking] for i in range(0, len(text), chunking)]


def _cut(tokens: list[tuple[str, str]], length: int) -> list[tuple[str, str]]:
    """Keep the first ``length`` characters of the emitted text (a stop string was found)."""
    kept: list[tuple[str, str]] = []
    used = 0
    for kind, piece in tokens:
        if used >= length:
            break
        piece = piece[: length - used]
        used += len(piece)
        kept.append((kind, piece))
    return kept


def _thinking_level(request: ChatRequest, card: ModelCard) -> str | None:
    if not card.supports("thinking"):
        return None
    return reasoning_level(request.think)


__all__ = [
    "ChatResult",
    "Completion",
    "CompletionUnsupported",
    "Engine",
    "OllamaError",
    "Prompt",
    "Resident",
]
