"""What ``modelref.RefuseCloudModels`` (``/v1``'s cloud passthrough) costs a ``/v1`` request.

``python -m bench.cloud_layer`` sends the same small ``/v1/chat/completions`` body in-process
(ASGI, no sockets: the layer's cost is not lost in the network's) with the layer, then with it
replaced by a pass-through, alternating, and prints microseconds per request (the minimum of the
rounds is the figure to quote; a shared machine only adds noise).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from mockserver import modelref
from mockserver.app import create_app
from mockserver.config import Settings
from tests.asgi_call import call

BODY = json.dumps(
    {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "Name three cities."}]}
).encode()


async def _per_request(app, requests: int) -> float:
    for _ in range(50):  # warm: the vocabulary, the memo, the validators
        await call(app, "POST", "/v1/chat/completions", BODY)
    started = time.perf_counter()
    for _ in range(requests):
        reply = await call(app, "POST", "/v1/chat/completions", BODY)
    assert reply.status == 200, reply.body
    return (time.perf_counter() - started) / requests * 1e6


async def _pass_through(self, scope, receive, send) -> None:
    await self.app(scope, receive, send)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--requests", type=int, default=1500)
    args = parser.parse_args()
    app = create_app(Settings(current_date="2026-03-23", seed=1, models=("llama3.2:3b",)))
    loop = asyncio.new_event_loop()
    layer = modelref.RefuseCloudModels.__call__
    figures: dict[str, list[float]] = {"with the layer": [], "without": []}
    for _ in range(args.rounds):
        modelref.RefuseCloudModels.__call__ = layer  # type: ignore[method-assign]
        figures["with the layer"].append(loop.run_until_complete(_per_request(app, args.requests)))
        modelref.RefuseCloudModels.__call__ = _pass_through  # type: ignore[method-assign]
        figures["without"].append(loop.run_until_complete(_per_request(app, args.requests)))
    modelref.RefuseCloudModels.__call__ = layer  # type: ignore[method-assign]
    for name, values in figures.items():
        rounds = ", ".join(f"{v:.1f}" for v in values)
        print(f"{name}: min {min(values):.1f} us/request (rounds: {rounds})")


if __name__ == "__main__":
    main()
