"""The server's date and the ids it draws: what every request asks for, made cheaply and
still right (the date turns at local midnight; unseeded ids vary, seeded ones repeat)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from mockserver.engine import engine as engine_module
from mockserver.engine.catalog import Catalog
from mockserver.engine.engine import Engine
from mockserver.identity import RequestIdentity


def _local_midnight(day: date) -> float:
    return datetime.combine(day, datetime.min.time()).timestamp()


def test_the_date_turns_at_local_midnight(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine(Catalog())
    day = date(2026, 12, 1)
    midnight = _local_midnight(day + timedelta(days=1))
    monkeypatch.setattr(engine_module, "_day", (0.0, ""))
    for now, expected in [
        (midnight - 3600, "2026-12-01"),
        (midnight - 0.001, "2026-12-01"),
        (midnight, "2026-12-02"),
        (midnight + 86_399, "2026-12-02"),
        (midnight + 86_400, "2026-12-03"),
    ]:
        monkeypatch.setattr(engine_module.time, "time", lambda now=now: now)
        assert engine.current_date() == expected


def test_a_date_the_server_was_given_is_kept() -> None:
    assert Engine(Catalog(), current_date="2025-07-04").current_date() == "2025-07-04"


def test_the_date_is_todays() -> None:
    assert Engine(Catalog()).current_date() in {
        date.today().isoformat(),
        (date.today() - timedelta(days=1)).isoformat(),  # run across midnight
    }


def test_unseeded_ids_vary_and_seeded_ids_repeat() -> None:
    body = b'{"model":"llama3.2:3b","messages":[]}'
    drawn = {RequestIdentity(None, body).completion_id() for _ in range(200)}
    assert len(drawn) > 100  # chatcmpl-<rand.Intn(999)>: 200 draws, nearly all distinct
    calls = {tuple(RequestIdentity(None, body).call_ids(2)) for _ in range(50)}
    assert len(calls) == 50
    first, second = RequestIdentity(7, body), RequestIdentity(7, body)
    assert first.completion_id() == second.completion_id()
    assert first.call_ids(3) == second.call_ids(3)
    assert first.token_hex(12) == second.token_hex(12)
    assert first.created == second.created


def test_seeded_ids_depend_on_the_body_and_every_draw_is_a_new_one() -> None:
    numbers = {RequestIdentity(7, b"body %d" % n).completion_id() for n in range(300)}
    assert len(numbers) > 200  # 300 bodies over 999 numbers: nearly all distinct
    identity = RequestIdentity(7, b"one body")
    drawn = [identity.completion_id() for _ in range(50)]
    assert len(set(drawn)) > 40  # the first from the hash, the next ones from the generator
    again = RequestIdentity(7, b"one body")
    assert [again.completion_id() for _ in range(50)] == drawn


def test_unseeded_crypto_ids_come_from_the_system() -> None:
    hexes = {RequestIdentity(None, b"").token_hex(12) for _ in range(100)}
    assert len(hexes) == 100 and all(len(h) == 24 for h in hexes)
