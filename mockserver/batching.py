"""The llama-server twin under load: slots, a queue, and continuous batching (Post 7).

A latency profile (:mod:`mockserver.pacing`) gives two rates measured on one request at a
time: prompt processing ``P`` tokens/s and generation ``D`` tokens/s. This module makes them
rise with load the way llama-server does, read from ggml-org/llama.cpp
``tools/server/server-context.cpp`` (``update_slots``):

- **slots**: ``--parallel`` tasks are processed at once; a task that finds no idle slot waits
  in the queue (``queue_tasks.defer``) and is placed, first come first served, when one frees;
- **one batch per step**: each step, every generating slot adds the one token it sampled last,
  then slots still reading their prompt add prompt tokens, in slot order, until the batch
  holds ``n_batch`` tokens (``--batch-size``, default 2048); one ``llama_decode`` runs it; a
  slot whose prompt ended in this batch samples its first token from it, every generating
  slot samples its next;
- **the cost of a step** (the derivation, no fitted constant): decoding a batch reads every
  weight once, whatever the batch holds (memory-bound: the single-stream generation rate
  ``D`` says how long that takes, ``1/D``), and computes each token of the batch (compute-bound:
  the profile's prompt rate ``P`` says how many tokens a second the machine computes). A step
  of ``n`` tokens takes the longer of the two: ``max(1/D, n/P)`` (the roofline). One stream
  then generates at exactly ``D``, and a prompt of ``n >= P/D`` tokens is read at exactly
  ``P``: both profile figures come back unchanged, as measured. Under load, ``k`` generating
  streams share a step: up to ``P/D`` of them (2.4 for ``m2-max-gpt-oss-20b``, 1.6 for
  ``cpu-qwen2.5-0.5b``) cost no more than one, past that the step grows as ``k/P`` and the
  total rate saturates at ``P``; a new prompt in the batch delays every stream's next token
  (prefill interference), and a queued task's first token waits for a slot.

Not modelled: attention's cost growing with the context length, ``n_ubatch`` splitting,
sampling and detokenization time, the host's scheduler. The schedule is a pure function of
the arrivals (:func:`simulate` runs it in virtual time, which the tests use);
:class:`Batcher` drives the same :class:`Schedule` on the server's event loop, in real time.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

N_BATCH = 2048  # common_params.n_batch (--batch-size)


@dataclass(eq=False, slots=True)
class Job:
    """One task: its prompt tokens still to evaluate and its tokens still to generate."""

    prompt_left: int
    tokens_left: int
    produced: int = 0
    id: int = 0
    inbox: asyncio.Queue[bool] | None = None  # live: one item per token, False at the end


@dataclass(frozen=True, slots=True)
class Step:
    n_tokens: int  # tokens in this step's batch
    seconds: float
    produced: tuple[Job, ...]  # jobs that sampled a token at the end of this step
    finished: tuple[Job, ...]  # jobs done after this step (their slot frees)


@dataclass(slots=True)
class Schedule:
    """The slots, the queue and the batch of each step: no clock, no I/O."""

    prefill_tps: float
    decode_tps: float
    n_parallel: int = 4
    n_batch: int = N_BATCH
    waiting: deque[Job] = field(default_factory=deque)
    active: list[Job] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=itertools.count)

    def step_seconds(self, n_tokens: int) -> float:
        """The roofline: weights read once per step, compute per token (module docstring)."""
        if n_tokens <= 0:
            return 0.0
        return max(1.0 / self.decode_tps, n_tokens / self.prefill_tps)

    def submit(self, prompt_tokens: int, completion_tokens: int) -> Job:
        # At least one prompt token is always evaluated (prefix_cache: n_past <= n_tokens - 1).
        job = Job(max(prompt_tokens, 1), max(completion_tokens, 0), id=next(self._ids))
        self.waiting.append(job)
        return job

    def cancel(self, job: Job) -> None:
        if job in self.active:
            self.active.remove(job)
        elif job in self.waiting:
            self.waiting.remove(job)

    @property
    def busy(self) -> bool:
        return bool(self.active or self.waiting)

    def step(self) -> Step:
        while self.waiting and len(self.active) < self.n_parallel:
            self.active.append(self.waiting.popleft())  # first come, first served
        generating = [j for j in self.active if j.prompt_left == 0 and j.tokens_left > 0]
        n_tokens = len(generating)
        budget = self.n_batch - n_tokens
        read_all: list[Job] = []
        for job in self.active:
            if job.prompt_left == 0 or budget <= 0:
                continue
            take = min(job.prompt_left, budget)
            job.prompt_left -= take
            budget -= take
            n_tokens += take
            if job.prompt_left == 0:
                read_all.append(job)
        produced = [*generating, *(j for j in read_all if j.tokens_left > 0)]
        for job in produced:
            job.tokens_left -= 1
            job.produced += 1
        finished = [j for j in self.active if j.prompt_left == 0 and j.tokens_left == 0]
        for job in finished:
            self.active.remove(job)
        return Step(n_tokens, self.step_seconds(n_tokens), tuple(produced), tuple(finished))


# --- virtual time ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Arrival:
    at: float  # seconds
    prompt_tokens: int
    completion_tokens: int


@dataclass(slots=True)
class Timeline:
    arrival: Arrival
    token_at: list[float] = field(default_factory=list)  # when each token was sampled
    done_at: float = 0.0

    @property
    def ttft(self) -> float | None:
        return self.token_at[0] - self.arrival.at if self.token_at else None


def simulate(schedule: Schedule, arrivals: Sequence[Arrival]) -> list[Timeline]:
    """Run ``schedule`` over ``arrivals`` (by time; ties in the order given), in virtual time.

    A task that arrives during a step is queued for the next one, as llama-server reads its
    task queue between two ``llama_decode`` calls; an idle server starts a step at once.
    """
    order = sorted(range(len(arrivals)), key=lambda i: arrivals[i].at)
    lines = [Timeline(a) for a in arrivals]
    jobs: dict[int, int] = {}  # job id -> arrival index
    now, next_arrival = 0.0, 0
    while next_arrival < len(order) or schedule.busy:
        if not schedule.busy:
            now = max(now, arrivals[order[next_arrival]].at)
        while next_arrival < len(order) and arrivals[order[next_arrival]].at <= now:
            index = order[next_arrival]
            job = schedule.submit(arrivals[index].prompt_tokens, arrivals[index].completion_tokens)
            jobs[job.id] = index
            next_arrival += 1
        step = schedule.step()
        now += step.seconds
        for job in step.produced:
            lines[jobs[job.id]].token_at.append(now)
        for job in step.finished:
            lines[jobs[job.id]].done_at = now
    return lines


def closed_loop(
    schedule: Schedule, clients: int, requests_each: int, prompt_tokens: int, tokens: int
) -> list[Timeline]:
    """``clients`` that each send a request, wait for its last token, and send the next
    (the lab's ``load`` experiment), all starting at time 0; in virtual time."""
    lines: list[Timeline] = []
    pending = {c: requests_each for c in range(clients)}
    jobs: dict[int, tuple[int, Timeline]] = {}
    now = 0.0

    def send(client: int) -> None:
        pending[client] -= 1
        line = Timeline(Arrival(now, prompt_tokens, tokens))
        lines.append(line)
        jobs[schedule.submit(prompt_tokens, tokens).id] = (client, line)

    for client in range(clients):
        send(client)
    while schedule.busy:
        step = schedule.step()
        now += step.seconds
        for job in step.produced:
            jobs[job.id][1].token_at.append(now)
        for job in step.finished:
            client, line = jobs.pop(job.id)
            line.done_at = now
            if pending[client]:
                send(client)
    return lines


# --- real time (the twin) ---------------------------------------------------------------------


class Batcher:
    """Drives a :class:`Schedule` on the running event loop: one task runs the steps, each
    request waits in its job's inbox for its tokens."""

    def __init__(
        self, schedule: Schedule, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> None:
        self.schedule = schedule
        self._sleep = sleep
        self._driver: asyncio.Task[None] | None = None

    async def tokens(self, prompt_tokens: int, completion_tokens: int) -> AsyncGenerator[int]:
        """Yield 1, 2, ... as each token of this request is sampled; the task leaves the
        schedule when the caller stops iterating (a client that hung up)."""
        job = self.schedule.submit(prompt_tokens, completion_tokens)
        job.inbox = asyncio.Queue()
        if self._driver is None or self._driver.done():
            self._driver = asyncio.get_running_loop().create_task(self._drive())
        sampled = 0
        try:
            while await job.inbox.get():
                sampled += 1
                yield sampled
        finally:
            self.schedule.cancel(job)

    async def _drive(self) -> None:
        while self.schedule.busy:
            step = self.schedule.step()
            await self._sleep(step.seconds)
            for job in step.produced:
                if job.inbox is not None:
                    job.inbox.put_nowait(True)
            for job in step.finished:
                if job.inbox is not None:
                    job.inbox.put_nowait(False)
