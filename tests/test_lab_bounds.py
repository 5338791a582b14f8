"""lab/bounds.py: how a deadline reaches the socket, and what a bounded client counts.

The behaviour against real hostile servers is tests/test_lab_hostile.py; these pin the
mechanism: every socket wait is shortened to what is left of the call's deadline, the wrapped
client keeps its transports (recording included), and the meter sees ``[DONE]`` wherever the
chunk boundaries fall.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from lab import bounds
from lab.bounds import BodyMeter, BoundedTransport, Deadline, bound, bounded_client
from lab.recording import RecordingTransport, recording_client


def backend_of(transport: Any) -> object:
    """The network backend of the httpx transport under ``transport``'s wrappers."""
    while not hasattr(transport, "_pool"):
        transport = transport.inner
    return transport._pool._network_backend


def test_a_bounded_client_waits_on_its_sockets_through_the_deadline_backend() -> None:
    with bounded_client(5.0) as client:
        assert isinstance(backend_of(client._transport), bounds._DeadlineBackend)


def test_bounding_a_recording_client_keeps_recording_and_reaches_its_pool(tmp_path: Path) -> None:
    client = recording_client(tmp_path, timeout=5.0)
    bound(client, 3.0)
    transport = client._transport
    assert isinstance(transport, BoundedTransport) and transport.seconds == 3.0
    assert isinstance(transport.inner, RecordingTransport)
    assert isinstance(backend_of(transport), bounds._DeadlineBackend)
    bound(client, 2.0)  # bounding twice re-sets the deadline, it does not wrap again
    assert client._transport is transport and transport.seconds == 2.0
    client.close()


@pytest.mark.parametrize(
    ("asked", "left", "waits_at_most"),
    [(600.0, 1.0, 1.0), (None, 1.0, 1.0), (0.5, 1.0, 0.5), (600.0, -3.0, 0.001)],
    ids=["read-timeout-longer", "no-read-timeout", "read-timeout-shorter", "deadline-passed"],
)
def test_a_socket_wait_never_outlasts_the_call_deadline(
    asked: float | None, left: float, waits_at_most: float
) -> None:
    deadline = Deadline(bounds.time.monotonic() + left, 1.0, "call")
    token = bounds._CALL.set(deadline)
    try:
        waited = bounds._clamp(asked)
    finally:
        bounds._CALL.reset(token)
    assert waited is not None and 0 < waited <= waits_at_most


def test_outside_a_call_socket_waits_are_httpx_own() -> None:
    assert bounds._clamp(600.0) == 600.0
    assert bounds._clamp(None) is None


def test_the_experiment_deadline_wins_when_it_comes_first() -> None:
    transport = BoundedTransport(httpx.MockTransport(lambda r: httpx.Response(200)), seconds=60)
    with bounds.experiment_deadline(2.0):
        assert transport.deadline().scope == "experiment"
        assert transport.deadline().seconds == 2.0
    assert transport.deadline().scope == "call"


@pytest.mark.parametrize(
    ("pieces", "saw_done"),
    [
        ([b'data: {"a": 1}\n\n', b"data: [DONE]\n\n"], True),
        ([b'data: {"a": 1}\n\ndata: [DO', b"NE]\n\n"], True),  # split across two reads
        ([b"data:[DONE]\n\n"], True),  # the space after the colon is optional in SSE
        ([b'data: {"text": "data: [DONE]"}\n\n'], False),  # inside a chunk, not a line
        ([b'data: {"a": 1}\n\n'], False),
    ],
    ids=["own-read", "split", "no-space", "quoted", "absent"],
)
def test_the_meter_sees_done_only_as_a_line_of_its_own(pieces: list[bytes], saw_done: bool) -> None:
    meter = BodyMeter()
    for piece in pieces:
        meter.add(piece)
    assert meter.saw_done is saw_done
    assert meter.bytes_read == sum(map(len, pieces))


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    big = httpx.Response(200, headers={"content-length": str(10 * 2**20)}, content=b"")
    transport = BoundedTransport(httpx.MockTransport(lambda r: big), seconds=5)
    with pytest.raises(bounds.AnswerTooLarge, match="passed 4 MiB"):
        transport.handle_request(httpx.Request("GET", "http://x.test/"))


def test_a_body_over_the_cap_stops_at_the_cap() -> None:
    def endless() -> object:
        while True:
            yield b"x" * 65536

    transport = BoundedTransport(
        httpx.MockTransport(lambda r: httpx.Response(200, content=endless())),  # type: ignore[arg-type]
        seconds=5,
        max_bytes=2**20,
    )
    with httpx.Client(transport=transport) as client, pytest.raises(bounds.AnswerTooLarge):
        client.get("http://x.test/")
