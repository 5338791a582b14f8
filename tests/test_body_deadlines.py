"""The body deadline's sweep (``mockserver.guards._Deadlines``): a read that waits past the
timeout is cut with ``_SlowBody``, nothing else is, and the caller's own cancellations stay
cancellations."""

from __future__ import annotations

import asyncio

import pytest

from mockserver.guards import _Deadlines, _SlowBody


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 10))


def test_a_body_already_in_is_read_at_once() -> None:
    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def main():
        deadlines = _Deadlines(0.2)
        message = await deadlines.within(receive)
        assert not deadlines._waiting and not deadlines._expired
        return message

    assert run(main())["body"] == b"{}"


def test_a_read_that_waits_past_the_timeout_is_cut() -> None:
    async def main():
        deadlines = _Deadlines(0.2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(_SlowBody):
            await deadlines.within(asyncio.Event().wait)
        waited = loop.time() - started
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0  # the deadline's cancel is undone
        assert not deadlines._waiting and not deadlines._expired
        return waited

    waited = run(main())
    assert 0.2 <= waited < 0.2 + 0.05 + 1.0  # within a tick (0.05 s) and the loop's slack


def test_a_slow_read_that_ends_in_time_is_not_cut() -> None:
    async def main():
        deadlines = _Deadlines(0.4)

        async def receive():
            await asyncio.sleep(0.15)  # past a tick (0.1 s), within the timeout
            return {"type": "http.request", "body": b"x", "more_body": False}

        first = await deadlines.within(receive)
        second = await deadlines.within(receive)  # each read has its own deadline
        return first, second

    assert [m["body"] for m in run(main())] == [b"x", b"x"]


def test_the_callers_own_cancellation_stays_a_cancellation() -> None:
    async def main():
        deadlines = _Deadlines(5.0)
        reading = asyncio.create_task(deadlines.within(asyncio.Event().wait))
        await asyncio.sleep(0.05)
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading
        assert not deadlines._waiting and not deadlines._expired

    run(main())


def test_reads_on_a_new_event_loop_still_get_their_deadline() -> None:
    """The sweep belongs to the loop it runs on: a later loop (tests, workers) starts its own."""
    deadlines = _Deadlines(0.2)

    async def cut():
        with pytest.raises(_SlowBody):
            await deadlines.within(asyncio.Event().wait)

    async def leave_a_sweep_pending():
        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        await deadlines.within(receive)  # schedules a sweep this loop never runs

    run(leave_a_sweep_pending())
    run(cut())
