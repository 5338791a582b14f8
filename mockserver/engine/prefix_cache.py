"""llama-server's slots and their prompt cache (``tools/server/server-context.cpp``).

Each of the ``--parallel`` slots keeps the tokens of the last sequence it processed (its KV
cache: the prompt and the generated tokens but the last one sampled, never decoded). A new
task goes to the idle slot whose cached tokens share the largest fraction of the new prompt as
a common prefix, above ``--slot-prompt-similarity`` (0.10), else to the least recently used
idle slot (``get_available_slot``); with ``cache_prompt`` (default true) the common prefix is
not evaluated again, and at least one prompt token always is (``n_past`` is lowered to
``n_tokens - 1``). That number is ``prompt_tokens_details.cached_tokens`` and
``timings.cache_n``; ``timings.prompt_n`` is the rest. With no idle slot a task waits
(``queue_tasks.defer``).

This is memory of token ids only. It decides how much prefill work a request costs, never what
the model sees: the prompt is always the request's whole rendered prompt, and the answer is a
function of the request alone (the test suite proves both).

Not modelled: the host-memory prompt cache (``--cache-ram``) that can restore an evicted
prompt, ``n_cache_reuse`` chunk shifting, and the SWA / hybrid-memory checkpoints that limit
reuse for models with sliding-window or recurrent layers (gpt-oss, Qwen3.5).
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

SLOT_PROMPT_SIMILARITY = 0.10  # common_params.slot_prompt_similarity default


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass(slots=True)
class Slot:
    id: int
    n_ctx: int
    tokens: list[int] = field(default_factory=list)
    processing: bool = False
    last_used: int = -1
    id_task: int = -1
    n_prompt_tokens: int = 0
    n_prompt_cached: int = 0
    n_prompt_processed: int = 0
    n_decoded: int = 0


@dataclass(frozen=True, slots=True)
class Placement:
    slot: Slot
    cached: int  # prompt tokens reused from the slot's cache


class SlotPool:
    """The server's slots; ``acquire`` waits for an idle one as llama-server defers a task."""

    def __init__(self, n_slots: int, n_ctx: int) -> None:
        self.slots = [Slot(id=i, n_ctx=n_ctx) for i in range(n_slots)]
        self._clock = itertools.count()
        self._tasks = itertools.count()
        self._changed: asyncio.Condition | None = None
        self.deferred = 0

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    def choose(self, prompt: list[int]) -> Slot | None:
        """``get_available_slot``: best LCP similarity above the threshold, else LRU."""
        best: Slot | None = None
        best_similarity = 0.0
        for slot in self.slots:
            if slot.processing or not slot.tokens or not prompt:
                continue
            similarity = common_prefix(slot.tokens, prompt) / len(prompt)
            if similarity > best_similarity and similarity > SLOT_PROMPT_SIMILARITY:
                best, best_similarity = slot, similarity
        if best is not None:
            return best
        idle = [slot for slot in self.slots if not slot.processing]
        return min(idle, key=lambda slot: slot.last_used) if idle else None

    def place(self, slot: Slot, prompt: list[int], *, cache_prompt: bool) -> Placement:
        n_past = common_prefix(slot.tokens, prompt) if cache_prompt else 0
        if n_past == len(prompt) and n_past > 0:
            n_past -= 1  # "need to evaluate at least 1 token"
        slot.processing = True
        slot.id_task = next(self._tasks)
        slot.tokens = list(prompt)
        slot.n_prompt_tokens = len(prompt)
        slot.n_prompt_cached = n_past
        slot.n_prompt_processed = len(prompt) - n_past
        slot.n_decoded = 0
        return Placement(slot, n_past)

    async def acquire(self, prompt: list[int], *, cache_prompt: bool) -> Placement:
        changed = self._condition()
        async with changed:
            slot = self.choose(prompt)
            if slot is None:
                self.deferred += 1
                try:
                    while (slot := self.choose(prompt)) is None:
                        await changed.wait()
                finally:
                    self.deferred -= 1
            return self.place(slot, prompt, cache_prompt=cache_prompt)

    async def release(self, slot: Slot, generated: list[int]) -> None:
        changed = self._condition()
        async with changed:
            # The last sampled token is never decoded: ``handle_last_sampled_token`` pushes a
            # token into ``slot.prompt.tokens`` only when it goes into the next batch, and a
            # slot that stops (end of generation, n_predict) releases before that.
            slot.tokens = slot.tokens + generated[:-1]
            slot.n_decoded = len(generated)
            slot.processing = False
            slot.last_used = next(self._clock)
            changed.notify_all()

    @property
    def processing(self) -> int:
        return sum(1 for slot in self.slots if slot.processing)
