"""One engine behind both API surfaces.

``Engine.chat`` takes a wire-independent ``ChatRequest`` and does what Ollama's ChatHandler and
runner do, in order: resolve the model, check capabilities, prepend the default system prompt,
render the registry template, fit the prompt into the context window (silently, as Ollama
does), count the prompt tokens, and generate a deterministic completion whose tokens are
counted with the same tokenizer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date

from mockserver.engine import generator
from mockserver.engine.catalog import Catalog, ModelCard, family_of
from mockserver.engine.chat import ChatRequest, Message, collate
from mockserver.engine.families import Family
from mockserver.engine.templates import Conversation
from mockserver.engine.templates.harmony import reasoning_level
from mockserver.errors import OllamaError, bad_request, model_not_found, model_required

DEFAULT_NUM_CTX = 4096
NUM_KEEP = 4


@dataclass(frozen=True, slots=True)
class Prompt:
    text: str
    tokens: int
    truncated: bool = False


@dataclass(slots=True)
class Completion:
    """A generated answer cut into the pieces a streaming engine emits (one per token)."""

    reasoning_pieces: list[str] = field(default_factory=list)
    content_pieces: list[str] = field(default_factory=list)
    tool_calls: tuple = ()
    eval_count: int = 0
    done_reason: str = "stop"

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_pieces)

    @property
    def content(self) -> str:
        return "".join(self.content_pieces)


@dataclass(slots=True)
class ChatResult:
    card: ModelCard
    prompt: Prompt
    completion: Completion | None  # None for render-only requests
    load_ns: int = 0
    prompt_eval_ns: int = 0
    eval_ns: int = 0


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

    def current_date(self) -> str:
        return self._current_date or date.today().isoformat()

    def resolve(self, name: str) -> tuple[ModelCard, Family]:
        if not name.strip():
            raise model_required()
        card = self.catalog.find(name)
        family = family_of(card) if card else None
        if card is None or family is None:
            raise model_not_found(name)
        return card, family

    def is_loaded(self, name: str) -> bool:
        """True when the model's vocabulary is in memory (or the name resolves to nothing)."""
        card = self.catalog.find(name)
        family = family_of(card) if card else None
        return family is None or family.loaded

    def chat(self, request: ChatRequest) -> ChatResult:
        started = time.perf_counter_ns()
        card, family = self.resolve(request.model)
        self._check_capabilities(request, card, family)
        family.tokenizer  # noqa: B018 - "load the model": the vocabulary, once per family
        loaded = time.perf_counter_ns()
        prompt = self.prompt(request, card, family)
        rendered = time.perf_counter_ns()
        if request.render_only:
            return ChatResult(card, prompt, None)
        completion = self._generate(request, card, family, prompt)
        done = time.perf_counter_ns()
        return ChatResult(
            card,
            prompt,
            completion,
            load_ns=max(loaded - started, 1),
            prompt_eval_ns=max(rendered - loaded, 1),
            eval_ns=max(done - rendered, 1),
        )

    def prompt(self, request: ChatRequest, card: ModelCard, family: Family) -> Prompt:
        """Render and count the prompt, dropping old messages if it exceeds the window."""
        messages = request.messages
        if family.default_system and (not messages or messages[0].role != "system"):
            messages = (Message(role="system", content=family.default_system), *messages)
        num_ctx = request.options.num_ctx or self.num_ctx

        text = self._render(request, family, messages)
        tokens = family.count(text)
        if tokens <= num_ctx:
            return Prompt(text, tokens)

        # Ollama's chatPrompt: drop whole messages from the front, always keeping the last
        # message and every system message; the first start index that fits wins.
        for start in range(1, len(messages)):
            kept = tuple(m for m in messages[:start] if m.role == "system") + messages[start:]
            text = self._render(request, family, kept)
            tokens = family.count(text)
            if tokens <= num_ctx:
                return Prompt(text, tokens, truncated=True)
        # Still too long: the runner keeps the first num_keep tokens (+BOS) and the most recent
        # ones so that exactly num_ctx tokens are evaluated.
        return Prompt(text, min(tokens, num_ctx), truncated=True)

    def _render(self, request: ChatRequest, family: Family, messages: tuple[Message, ...]) -> str:
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

    def _check_capabilities(self, request: ChatRequest, card: ModelCard, family: Family) -> None:
        if request.tools and not card.supports("tools"):
            raise bad_request(f"{card.full_name} does not support tools")
        if request.think not in (None, False) and not card.supports("thinking"):
            raise bad_request(f'"{request.model}" does not support thinking')

    def _generate(
        self, request: ChatRequest, card: ModelCard, family: Family, prompt: Prompt
    ) -> Completion:
        thinking = _thinking_level(request, card)
        output = generator.reply(
            generator.Situation(
                model=request.model,
                messages=request.messages,
                prompt_tokens=prompt.tokens,
                thinking=thinking,
            )
        )
        budget = request.options.num_predict
        if budget is not None and budget < 0:
            budget = None
        completion = Completion()
        tokenizer = family.tokenizer
        for kind, text in family.frame(output):
            if kind == "control":
                pieces = [""] * len(tokenizer.encode(text))
            else:
                pieces = tokenizer.pieces(text)
            for piece in pieces:
                if budget is not None and completion.eval_count >= budget:
                    completion.done_reason = "length"
                    return completion
                completion.eval_count += 1
                if kind == "reasoning":
                    completion.reasoning_pieces.append(piece)
                elif kind == "content":
                    completion.content_pieces.append(piece)
        completion.tool_calls = output.tool_calls
        return completion


def _thinking_level(request: ChatRequest, card: ModelCard) -> str | None:
    if not card.supports("thinking"):
        return None
    return reasoning_level(request.think)


__all__ = ["ChatResult", "Completion", "Engine", "OllamaError", "Prompt"]
