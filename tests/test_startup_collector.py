"""Start-up runs without the cyclic garbage collector, and leaves it on
(``mockserver/startup.py``)."""

from __future__ import annotations

import gc

import pytest

from lab.targets import Target, opened
from mockserver.startup import collector_paused


@pytest.fixture(autouse=True)
def _collector_on_after():
    yield
    gc.enable()


def test_the_block_runs_without_the_collector_and_turns_it_back_on() -> None:
    before = gc.get_freeze_count()
    with collector_paused():
        assert not gc.isenabled()
        kept = [{"a": [1]} for _ in range(100)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= before + len(kept)  # what start-up built is frozen
    gc.unfreeze()


def test_an_inner_block_leaves_the_collector_to_the_outer_one() -> None:
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.unfreeze()


def test_a_collector_turned_off_by_the_caller_stays_off() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_the_collector_is_back_on_even_when_start_up_fails() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("the fake could not start")
    assert gc.isenabled()
    gc.unfreeze()


def test_the_lab_runs_against_its_fake_with_the_collector_on() -> None:
    with opened(Target("mock", "", "", "--target")) as target:
        assert target.root.startswith("http://127.0.0.1:")
        assert gc.isenabled()
    gc.unfreeze()
