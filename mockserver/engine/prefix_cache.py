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

Models whose memory cannot be cut back to any position (sliding-window attention: Gemma 3,
gpt-oss; recurrent layers: Qwen3.5) reuse their cache only through **context checkpoints**
(``update_slots``, ``create_checkpoint``): snapshots taken while a prompt is processed, before
the batch that starts the last user message (and the first, while the slot has none), and
before the last 4 (and 4 + n_ubatch) prompt tokens. A new prompt whose common prefix reaches
back into the window (always, for recurrent memory) restores the newest checkpoint at or
before that prefix: an identical prompt reuses all but 5 tokens, a grown conversation the old
prompt but its last 5. :class:`Memory` says which kind a model has. Checked on the real
llama-server with Gemma 3 270M (``tools/crosscheck_llama_server.py``); the twin assumes no
sliding-window cell was evicted yet (what that run showed up to 1,309 tokens).

Not modelled: the host-memory prompt cache (``--cache-ram``, the twin behaves as with
``--cache-ram 0``) that can restore an evicted prompt, and ``n_cache_reuse`` chunk shifting.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

SLOT_PROMPT_SIMILARITY = 0.10  # common_params.slot_prompt_similarity default
N_BATCH, N_UBATCH = 2048, 512  # --batch-size, --ubatch-size defaults
N_CTX_CHECKPOINTS, CHECKPOINT_MIN_STEP = 32, 8192  # common_params defaults
CHECKPOINT_OFFSETS = (4 + N_UBATCH, 4)  # "that many tokens before the end of the prompt"


@dataclass(frozen=True, slots=True)
class Memory:
    """How a model's KV memory rolls back (llama.cpp decides it from the architecture)."""

    n_swa: int = 0  # sliding-window size (0: none)
    recurrent: bool = False  # recurrent / hybrid layers: positions are not removable
    user_start: tuple[int, ...] = ()  # the tokens that open a user message (its delimiter)
    not_user: tuple[int, ...] = ()  # ... unless followed by these (Qwen's tool responses)

    @property
    def checkpointed(self) -> bool:
        return self.n_swa > 0 or self.recurrent

    def user_starts(self, tokens: list[int]) -> list[int]:
        """``find_message_spans``: where each user message starts in ``tokens``."""
        d, width = self.user_start, len(self.user_start)
        if not d:
            return []
        starts = []
        for i in range(len(tokens) - width + 1):
            if tuple(tokens[i : i + width]) != d:
                continue
            after = tuple(tokens[i + width : i + width + len(self.not_user)])
            if not self.not_user or after != self.not_user:
                starts.append(i)
        return starts


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
    checkpoints: list[tuple[int, int]] = field(default_factory=list)  # (n_tokens, pos_max)
    params: dict = field(default_factory=dict)  # the last task's request (``/slots``)


@dataclass(frozen=True, slots=True)
class Placement:
    slot: Slot
    cached: int  # prompt tokens reused from the slot's cache


class SlotPool:
    """The server's slots; ``acquire`` waits for an idle one as llama-server defers a task."""

    def __init__(self, n_slots: int, n_ctx: int, memory: Memory | None = None) -> None:
        self.slots = [Slot(id=i, n_ctx=n_ctx) for i in range(n_slots)]
        self.memory = memory or Memory()
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
        if self.memory.checkpointed:
            n_past = self._restore(slot, n_past, has_new_tokens=n_past < len(prompt))
        if n_past == len(prompt) and n_past > 0:
            n_past -= 1  # "need to evaluate at least 1 token"
        if self.memory.checkpointed:
            self._checkpoint(slot, prompt, n_past)
        slot.processing = True
        slot.id_task = next(self._tasks)
        slot.tokens = list(prompt)
        slot.n_prompt_tokens = len(prompt)
        slot.n_prompt_cached = n_past
        slot.n_prompt_processed = len(prompt) - n_past
        slot.n_decoded = 0
        return Placement(slot, n_past)

    def _restore(self, slot: Slot, n_past: int, *, has_new_tokens: bool) -> int:
        """The prefix kept when the memory cannot simply be cut at ``n_past``: the newest
        checkpoint at or before it, or nothing (full re-processing)."""
        pos_next = n_past
        threshold = max(0, pos_next - self.memory.n_swa - (0 if has_new_tokens else 1))
        # the memory's smallest position (0: no window cell evicted) reaches the threshold
        if n_past > 0 and (self.memory.recurrent or threshold <= 0):
            usable = [c for c in slot.checkpoints if c[1] <= pos_next]
            if usable:
                n_tokens, pos_max = usable[-1]
                pos_next = min(pos_next, max(1, pos_max))
                n_past = min(pos_next, n_tokens)
            else:
                pos_next = n_past = 0
        slot.checkpoints = [c for c in slot.checkpoints if c[1] <= pos_next]
        return n_past

    def _checkpoint(self, slot: Slot, prompt: list[int], start: int) -> None:
        """The checkpoints processing ``prompt`` from ``start`` creates (its batches)."""
        n = len(prompt)
        users = self.memory.user_starts(prompt)
        last_user = users[-1] if users else -1
        position = start
        while position < n:
            batch_start = position
            while position < n and position - batch_start < N_BATCH:
                position += 1
                last = slot.checkpoints[-1][0] if slot.checkpoints else None
                if position in users and (
                    position == last_user or last is None or position > last + CHECKPOINT_MIN_STEP
                ):
                    break
                if any(n == position + min(N_BATCH, o) for o in CHECKPOINT_OFFSETS):
                    break
            near_end = n < position + N_UBATCH
            wanted = position == n or batch_start in users or near_end
            last = slot.checkpoints[-1][0] if slot.checkpoints else None
            wanted = wanted and batch_start > 0  # an empty memory has nothing to keep
            wanted = wanted and (last is None or batch_start == last_user or near_end
                                 or batch_start > last + CHECKPOINT_MIN_STEP)  # fmt: skip
            if wanted:
                slot.checkpoints.append((batch_start, batch_start - 1))
                del slot.checkpoints[:-N_CTX_CHECKPOINTS]

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
