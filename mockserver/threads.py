"""The fake's worker threads: where work too heavy for the event loop runs.

Loading a model's vocabulary, a prompt of megabytes, decoding a body of megabytes: each would
hold up every other client if it ran on the loop. ``off_loop(work)`` runs it in one of the
process's ``WORKERS`` threads (made at the first use; at most ``WORKERS`` at once, the others
queued in order), with the caller's context variables (a scenario's answer). An executor of
the standard library, not anyio's: the first request, which loads the model, does not import
anyio's event-loop backend on the way to its answer.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

WORKERS = max(1, min(4, os.cpu_count() or 1))
_threads: ThreadPoolExecutor | None = None
_threads_made = threading.Lock()


async def off_loop(work: Callable[[], T]) -> T:
    """``work()`` in one of the worker threads; the loop serves other clients meanwhile."""
    call = functools.partial(contextvars.copy_context().run, work)
    return await asyncio.get_running_loop().run_in_executor(_executor(), call)


def _executor() -> ThreadPoolExecutor:
    global _threads
    with _threads_made:
        if _threads is None:
            _threads = ThreadPoolExecutor(WORKERS, thread_name_prefix="mockserver")
        return _threads


__all__ = ["WORKERS", "off_loop"]
