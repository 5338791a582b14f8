"""Small plain-ASGI helpers shared by the layers that must see a request body before the app
does (``faults.py`` for ``slow-load``, ``replay.py`` for the match key), and by the apps that
answer ASGI's lifespan themselves (``served.py``, ``bench/ceilings.py``)."""

from __future__ import annotations

from starlette.types import Message, Receive, Send


async def serve_lifespan(receive: Receive, send: Send) -> None:
    """ASGI's lifespan for an app with nothing to start or stop: each step reported done."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole request body; ``complete`` is False if the client went away mid-body."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks), True


def replaying(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A ``receive`` that gives the already-read body again, then defers to the real one (an
    incomplete body is not given again: the app sees the client's disconnect)."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed or not complete:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
