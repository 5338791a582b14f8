"""The first cell of the Post 4 and Post 5 notebooks: the stack they talk to.

``PORTWAY_TARGET`` (default ``mock``) picks it. ``mock`` starts the llama-server twins and a
real LiteLLM proxy with Post 4's keys (``custom_auth``) or Post 5's callback, as
``python -m lab post 4|5 --target mock`` does; anything else uses the reader's own processes,
named by ``PORTWAY_BACKENDS`` (default the series' :8010,:8011), ``PORTWAY_GATEWAY`` (:4000),
``PORTWAY_GATEWAY_KEY`` (its master key) and, for Post 5, ``PORTWAY_DSN`` (the metering table).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from lab.series import meter, targets
from lab.series.arguments import MASTER_KEY, SERIES_BACKENDS, SERIES_GATEWAY
from lab.series.gateway_features import Features


def open_stack(post: int, closer: contextlib.ExitStack, *, rate_window: int = 10) -> targets.Stack:
    """The stack for Post ``post`` (4 or 5); ``closer.close()`` stops what was started.

    On mock, LiteLLM's rate-limit window is ``rate_window`` seconds (10: a class does not wait
    a minute for the SDK's retry); the lesson page says what changes with the default 60.
    """
    target = os.environ.get("PORTWAY_TARGET", "mock")
    if target == "mock":
        folder = Path(closer.enter_context(tempfile.TemporaryDirectory(prefix="portway-nb-")))
        features = Features.for_mock(folder, keys=post == 4, metering=post == 5,
                                     dsn=os.environ.get("PORTWAY_DSN"), prices=dict(meter.PRICES),
                                     rate_window=rate_window)  # fmt: skip
        return closer.enter_context(
            targets.mock_stack(gateway=True, timeout=60.0, profile=None, features=features)
        )
    stack = targets.given_stack(
        os.environ.get("PORTWAY_BACKENDS", ",".join(SERIES_BACKENDS)),
        os.environ.get("PORTWAY_GATEWAY", SERIES_GATEWAY),
        60.0,
        os.environ.get("PORTWAY_GATEWAY_KEY", MASTER_KEY),
    )
    stack.features = Features(meter_dsn=os.environ.get("PORTWAY_DSN"), prices=dict(meter.PRICES))
    return stack
