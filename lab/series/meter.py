"""Post 5's meter: one row per request in a real table, its price table, and the bill.

The series' callback writes ``portway_metering`` (request_id, api_key_hash, public_model,
backend_model, prompt/completion/total tokens, computed_cost, status, ttft_ms,
total_latency_ms) next to LiteLLM's own spend log; this table has those columns, plus
``cached_tokens`` (``usage.prompt_tokens_details.cached_tokens``, what the prefix cache served)
and ``stream``. The row is made from LiteLLM's ``StandardLoggingPayload`` (the dict a
``CustomLogger`` gets as ``kwargs["standard_logging_object"]``; its fields are defined in
``litellm/types/utils.py``) by :func:`row_from_payload`, and the cost is computed at write time,
as the series does, by :func:`cost`.

The table lives in SQLite by default (stdlib ``sqlite3``, a file path) and in Postgres when the
DSN is a ``postgresql://`` URL (psycopg 3, the ``gateway`` extra). Nothing here imports LiteLLM:
the callback that does is :mod:`lab.series.meter_callback`, loaded only by the proxy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

TABLE = "portway_metering"
DSN_ENV = "PORTWAY_METER_DSN"  # where the proxy's callback writes
PRICES_ENV = "PORTWAY_METER_PRICES"  # the price table, as JSON (see PRICES)
PER = 1_000_000  # prices are per million tokens

COLUMNS = ("request_id", "api_key_hash", "public_model", "backend_model", "stream",
           "prompt_tokens", "cached_tokens", "completion_tokens", "total_tokens",
           "computed_cost", "status", "ttft_ms", "total_latency_ms")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million tokens: fresh prompt tokens, cached prompt tokens, completion."""

    input: float
    cached_input: float
    output: float

    def label(self) -> str:
        return f"${self.input:g} in / ${self.cached_input:g} cached / ${self.output:g} out per 1M"


# Illustrative prices, not anyone's list price: Posts 1-7 run locally and cost nothing per
# token. They are parameters (``python -m lab post 5 --price gpt-oss=0.10/0.025/0.50``) so that
# the bill shows the shape a hosted price table gives: cached prompt tokens at a quarter of the
# fresh price, completion tokens at five times.
PRICES: dict[str, Price] = {
    "gpt-oss": Price(0.10, 0.025, 0.50),
    "qwen3.5": Price(0.08, 0.02, 0.40),
}


@dataclass(frozen=True, slots=True)
class Row:
    request_id: str
    api_key_hash: str
    public_model: str
    backend_model: str
    stream: bool
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    total_tokens: int
    computed_cost: float
    status: str
    ttft_ms: float | None
    total_latency_ms: float | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_price(text: str) -> tuple[str, Price]:
    """``MODEL=IN/CACHED/OUT`` (dollars per million tokens) -> (model, Price)."""
    model, _, numbers = text.partition("=")
    parts = numbers.split("/")
    if not model.strip() or len(parts) != 3:
        raise ValueError(f"expected MODEL=IN/CACHED/OUT, got {text!r}")
    return model.strip(), Price(*(float(p) for p in parts))


def prices_to_env(prices: Mapping[str, Price]) -> str:
    return json.dumps({model: asdict(price) for model, price in prices.items()})


def prices_from_env(environ: Mapping[str, str] = os.environ) -> dict[str, Price]:
    raw = environ.get(PRICES_ENV)
    if not raw:
        return dict(PRICES)
    return {model: Price(**fields) for model, fields in json.loads(raw).items()}


def cost(
    prices: Mapping[str, Price], model: str, prompt: int, cached: int, completion: int
) -> float:
    """The request's price: fresh prompt, cached prompt and completion tokens at their rates.

    A model missing from the table costs 0 (and the bill says which models were unpriced).
    """
    price = prices.get(model)
    if price is None:
        return 0.0
    fresh = max(prompt - cached, 0)
    return (fresh * price.input + cached * price.cached_input + completion * price.output) / PER


def _cached_of(usage: Any) -> int:
    """``usage.prompt_tokens_details.cached_tokens`` of a dict or an SDK object (0 if absent)."""
    if usage is None:
        return 0
    details = (
        usage.get("prompt_tokens_details")
        if isinstance(usage, dict)
        else getattr(usage, "prompt_tokens_details", None)
    )
    if details is None:
        return 0
    value = (
        details.get("cached_tokens")
        if isinstance(details, dict)
        else getattr(details, "cached_tokens", None)
    )
    return int(value or 0)


def row_from_payload(payload: Mapping[str, Any], usage: Any, prices: Mapping[str, Price]) -> Row:
    """One metering row from LiteLLM's StandardLoggingPayload and the response's usage.

    ``payload["prompt_tokens"]`` / ``["completion_tokens"]`` are what LiteLLM logged for the
    request; ``usage`` (the response object's, when there is one) gives ``cached_tokens``.
    """
    metadata = payload.get("metadata") or {}
    public = str(payload.get("model_group") or payload.get("model") or "")
    prompt = int(payload.get("prompt_tokens") or 0)
    completion = int(payload.get("completion_tokens") or 0)
    cached = min(_cached_of(usage), prompt)
    start, first, end = (payload.get(k) for k in ("startTime", "completionStartTime", "endTime"))
    ttft = (first - start) * 1000 if isinstance(start, float) and isinstance(first, float) else None
    total = (end - start) * 1000 if isinstance(start, float) and isinstance(end, float) else None
    return Row(
        request_id=str(payload.get("litellm_call_id") or payload.get("id") or ""),
        api_key_hash=str(metadata.get("user_api_key_hash") or ""),
        public_model=public,
        backend_model=str(payload.get("model") or ""),
        stream=bool(payload.get("stream")),
        prompt_tokens=prompt,
        cached_tokens=cached,
        completion_tokens=completion,
        total_tokens=int(payload.get("total_tokens") or prompt + completion),
        computed_cost=cost(prices, public, prompt, cached, completion),
        status=str(payload.get("status") or ""),
        ttft_ms=round(ttft, 1) if ttft is not None else None,
        total_latency_ms=round(total, 1) if total is not None else None,
    )


def record(kwargs: Mapping[str, Any], response_obj: Any, environ: Mapping[str, str]) -> Row | None:
    """What the callback does with one logged request: the row, written to PORTWAY_METER_DSN.

    ``kwargs`` and ``response_obj`` are what LiteLLM passes ``CustomLogger.async_log_*_event``
    (the response object is ``None`` for a failure). ``None`` when there is nowhere to write.
    """
    dsn = environ.get(DSN_ENV)
    payload = kwargs.get("standard_logging_object")
    if not dsn or not isinstance(payload, Mapping):
        return None
    row = row_from_payload(payload, getattr(response_obj, "usage", None), prices_from_env(environ))
    write(dsn, row)
    return row


# The table ---------------------------------------------------------------------------------


def is_postgres(dsn: str) -> bool:
    return dsn.startswith(("postgresql://", "postgres://"))


def connect(dsn: str) -> Any:
    """A DB-API connection: psycopg for a ``postgresql://`` URL, else sqlite3 on a file path."""
    if is_postgres(dsn):
        import psycopg

        return psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    import sqlite3

    return sqlite3.connect(dsn, timeout=10, isolation_level=None)


def _mark(dsn: str) -> str:
    return "%s" if is_postgres(dsn) else "?"


def create_table(dsn: str) -> None:
    real = "DOUBLE PRECISION" if is_postgres(dsn) else "REAL"
    text = "TEXT"
    types = {"stream": "BOOLEAN", "computed_cost": real, "ttft_ms": real,
             "total_latency_ms": real, "request_id": f"{text} PRIMARY KEY"}  # fmt: skip
    columns = ", ".join(
        f"{name} {types.get(name, 'INTEGER' if name.endswith('tokens') else text)}"
        for name in COLUMNS
    )
    created = "TIMESTAMPTZ DEFAULT now()" if is_postgres(dsn) else "TEXT DEFAULT CURRENT_TIMESTAMP"
    with _closing(connect(dsn)) as db:
        db.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({columns}, created_at {created})")


_created: set[str] = set()


def write(dsn: str, row: Row) -> None:
    if dsn not in _created:
        create_table(dsn)
        _created.add(dsn)
    marks = ", ".join(_mark(dsn) for _ in COLUMNS)
    values = tuple(getattr(row, name) for name in COLUMNS)
    with _closing(connect(dsn)) as db:
        db.execute(f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({marks})", values)


def read(dsn: str, request_ids: Iterable[str]) -> dict[str, Row]:
    """The rows of these requests, by request_id (those not written are missing)."""
    wanted = list(request_ids)
    if not wanted:
        return {}
    marks = ", ".join(_mark(dsn) for _ in wanted)
    with _closing(connect(dsn)) as db:
        cursor = db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE request_id IN ({marks})", wanted
        )
        found = [Row(**dict(zip(COLUMNS, values, strict=True))) for values in cursor.fetchall()]
    return {row.request_id: _typed(row) for row in found}


def _typed(row: Row) -> Row:
    return Row(**{**asdict(row), "stream": bool(row.stream)})


class _closing:
    def __init__(self, db: Any) -> None:
        self.db = db

    def __enter__(self) -> Any:
        return self.db

    def __exit__(self, *exc: object) -> None:
        self.db.close()


# The check and the bill --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    """A row against the exact counts of the same request (the backend's own)."""

    label: str
    row: Row | None
    exact_prompt: int | None
    exact_completion: int | None
    exact_cached: int | None

    @property
    def agrees(self) -> bool:
        if self.row is None or self.exact_prompt is None or self.exact_completion is None:
            return False
        return (self.row.prompt_tokens, self.row.completion_tokens) == (
            self.exact_prompt,
            self.exact_completion,
        ) and (self.exact_cached is None or self.row.cached_tokens == self.exact_cached)

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "row": self.row.to_json() if self.row else None,
                "exact": {"prompt_tokens": self.exact_prompt,
                          "completion_tokens": self.exact_completion,
                          "cached_tokens": self.exact_cached},
                "agrees": self.agrees}  # fmt: skip


def bill(rows: Iterable[Row], prices: Mapping[str, Price]) -> dict[str, Any]:
    """Totals per model: tokens, dollars, and what the exact counts would have cost."""
    lines: dict[str, dict[str, Any]] = {}
    for row in rows:
        empty = {"requests": 0, "prompt_tokens": 0, "cached_tokens": 0,
                 "completion_tokens": 0, "cost": 0.0}  # fmt: skip
        line = lines.setdefault(row.public_model, empty)
        line["requests"] += 1
        line["prompt_tokens"] += row.prompt_tokens
        line["cached_tokens"] += row.cached_tokens
        line["completion_tokens"] += row.completion_tokens
        line["cost"] += row.computed_cost
    unpriced = sorted(model for model in lines if model not in prices)
    return {"per_model": lines, "total": sum(line["cost"] for line in lines.values()),
            "unpriced": unpriced}  # fmt: skip
