"""Start-up without the cyclic garbage collector.

Importing FastAPI, pydantic and the openai SDK builds hundreds of thousands of long-lived
objects (classes, schemas, validators), every one a container the collector tracks. While they
pile up, CPython runs its collector again and again over the growing heap (a full collection
each time the long-lived objects grow by a quarter) and frees next to nothing: measured, 3-12 %
of the fake's CPU from spawn to its first answer and about a quarter of ``lab run --target
mock`` (``bench/NOTES.md``). So start-up runs with the collector off; when it is over, what
it built is moved to the permanent generation (``gc.freeze``: later collections never walk it
again) and the collector is on again, for the requests.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The block runs without the cyclic collector; its survivors are frozen after it.

    Nothing changes when the collector is already off (a caller's choice, or an outer
    block): the outermost block alone freezes and turns it back on."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def worker_app() -> Any:
    """The app of one ``python -m mockserver --workers N`` worker (uvicorn's factory, named by
    import string): imported and built with the collector paused, as the single process's."""
    with collector_paused():
        from mockserver.served import app_from_environment

        return app_from_environment()


__all__ = ["collector_paused", "worker_app"]
