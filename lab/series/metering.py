"""Post 5: a metering row per request, written by a LiteLLM callback, checked and billed.

Four calls through the gateway, one conversation on the first backend: a non-streamed
request, a stream without ``stream_options.include_usage``, the same
stream with it, and the next turn of the conversation, whose repeated prefix the llama-server
slot serves from its cache (``usage.prompt_tokens_details.cached_tokens``). The rows are read
back from the table the callback wrote (:mod:`lab.series.meter`), each checked against the
backend's own count of the same request, and billed at the price table.

The exact counts: the backend's ``usage`` where it sent one, else llama-server's ``timings``
of the stream's last chunk (``prompt_n + cache_n`` prompt tokens, ``predicted_n`` completion
tokens), as the backend's request journal holds them (the twins' ``GET /_portway/journal``;
a real llama-server has no journal, so there the row is compared with the response alone).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai

from lab.errors import SetupError
from lab.experiment import Facts, Finding
from lab.series import meter
from lab.series.targets import Stack

SYSTEM = "You are a concise guide to Canadian geography. Answer in one or two sentences."
FIRST = "What makes Ottawa Canada's capital?"
NEXT = "And how far is it from Montreal?"
ROWS_WAIT_S = 15.0  # the callback writes after the response is complete


def journal_tail(stack: Stack, model: str) -> dict[str, Any] | None:
    backend = next((b for b in stack.backends if b.name == model), stack.backends[0])
    try:
        answer = httpx.get(f"{backend.url}/_portway/journal", timeout=10)
    except httpx.HTTPError:
        return None
    if answer.status_code != 200:
        return None
    chats = [e for e in answer.json().get("entries", [])
             if str(e.get("path", "")).endswith("/chat/completions")]  # fmt: skip
    return chats[-1] if chats else None


def exact_counts(entry: dict[str, Any] | None) -> dict[str, Any]:
    """The backend's own counts of one journaled request: its usage, else its timings."""
    empty = {"prompt_tokens": None, "completion_tokens": None, "cached_tokens": None,
             "source": None, "upstream_include_usage": None}  # fmt: skip
    if entry is None:
        return empty
    body = entry.get("body")
    body = body if isinstance(body, dict) else {}
    asked = bool((body.get("stream_options") or {}).get("include_usage"))
    answer = entry.get("response")
    chunks = answer if isinstance(answer, list) else [answer]
    for chunk in reversed(chunks):
        usage = chunk.get("usage") if isinstance(chunk, dict) else None
        if usage:
            details = usage.get("prompt_tokens_details") or {}
            return {"prompt_tokens": usage.get("prompt_tokens"),
                    "completion_tokens": usage.get("completion_tokens"),
                    "cached_tokens": details.get("cached_tokens"), "source": "usage",
                    "upstream_include_usage": asked}  # fmt: skip
    for chunk in reversed(chunks):
        timings = chunk.get("timings") if isinstance(chunk, dict) else None
        if timings:
            return {"prompt_tokens": timings["prompt_n"] + timings.get("cache_n", 0),
                    "completion_tokens": timings["predicted_n"],
                    "cached_tokens": timings.get("cache_n"), "source": "timings",
                    "upstream_include_usage": asked}  # fmt: skip
    return empty


def send(client: openai.OpenAI, model: str, messages: list[Any], mode: str) -> dict[str, Any]:
    """One request; its LiteLLM call id (``x-litellm-call-id``), answer text and usage."""
    if mode == "plain":
        raw = client.chat.completions.with_raw_response.create(model=model, messages=messages)
        response = raw.parse()
        usage = response.usage.model_dump(mode="json") if response.usage else None
        return {"call_id": raw.headers.get("x-litellm-call-id"), "usage": usage,
                "text": response.choices[0].message.content or ""}  # fmt: skip
    extra: dict[str, Any] = {"stream_options": {"include_usage": True}} if mode == "usage" else {}
    text: list[str] = []
    usage = None
    with client.chat.completions.with_streaming_response.create(
        model=model, messages=messages, stream=True, **extra
    ) as raw:
        call_id = raw.headers.get("x-litellm-call-id")
        for chunk in raw.parse():
            if chunk.choices and chunk.choices[0].delta.content:
                text.append(chunk.choices[0].delta.content)
            if chunk.usage:
                usage = chunk.usage.model_dump(mode="json")
    return {"call_id": call_id, "usage": usage, "text": "".join(text)}


CALLS = (  # label, mode, turn
    ("plain", "plain", "first"),  # non-streamed
    ("stream", "bare", "first"),  # streamed without stream_options.include_usage
    ("with usage", "usage", "first"),  # streamed with stream_options.include_usage
    ("next turn", "plain", "next"),  # the conversation grown by a turn: its prefix is cached
)


def metering(stack: Stack) -> Finding:
    """Post 5: four requests, four rows, checked against the exact counts, and the bill."""
    if not stack.gateway:
        return Finding.not_applicable("no gateway was given (--gateway URL or --target mock)")
    features = stack.features
    if features is None or not features.meter_dsn:
        raise SetupError(
            "Post 5 needs the metering table",
            "The lab reads the rows your gateway's metering callback wrote: pass --dsn "
            "(a postgresql:// URL or a SQLite file) of its portway_metering table, with "
            "`callbacks: lab.series.meter_callback.handler` in config.yaml and "
            "PORTWAY_METER_DSN set to the same DSN; or run with --target mock.",
        )
    model = stack.backends[0].name
    client = stack.gateway_client()
    first: list[Any] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": FIRST}]
    sent: list[dict[str, Any]] = []
    for label, mode, turn in CALLS:
        messages = first
        if turn == "next":
            messages = [*first, {"role": "assistant", "content": sent[0]["text"]},
                        {"role": "user", "content": NEXT}]  # fmt: skip
        result = send(client, model, messages, mode)
        result |= {"label": label, "mode": mode,
                   "exact": exact_counts(journal_tail(stack, model))}  # fmt: skip
        sent.append(result)
    rows = wait_for_rows(features.meter_dsn, [s["call_id"] for s in sent])
    checks = [_check(s, rows.get(s["call_id"] or "")) for s in sent]
    bill = meter.bill([r for r in rows.values()], features.prices)
    owed = sum(
        meter.cost(features.prices, model, c.exact_prompt or 0, c.exact_cached or 0,
                   c.exact_completion or 0) for c in checks
    )  # fmt: skip
    client_bill = sum(  # a meter in the app, reading the usage the client received
        meter.cost(features.prices, model, int(u.get("prompt_tokens", 0)),
                   int((u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0),
                   int(u.get("completion_tokens", 0)))
        for u in (s["usage"] or {} for s in sent)
    )  # fmt: skip
    data = {"dsn_kind": "postgres" if meter.is_postgres(features.meter_dsn) else "sqlite",
            "calls": [{k: s[k] for k in ("label", "mode", "call_id", "usage", "exact")}
                      for s in sent],
            "rows": [c.to_json() for c in checks], "bill": bill, "exact_bill": owed,
            "client_bill": client_bill,
            "prices": {m: p.label() for m, p in features.prices.items()}}  # fmt: skip
    return Finding(data, _explain(data, checks, sent), _show(data, checks),
                   status="ok" if _as_series(checks, sent) else "unexpected")  # fmt: skip


def wait_for_rows(dsn: str, ids: list[str | None]) -> dict[str, meter.Row]:
    wanted = [i for i in ids if i]
    deadline = time.monotonic() + ROWS_WAIT_S
    problem: Exception | None = None
    while True:
        try:
            rows, problem = meter.read(dsn, wanted), None
        except Exception as exc:  # sqlite3.Error / psycopg.Error: the table is not there yet
            rows, problem = {}, exc
        if len(rows) == len(wanted) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    if not rows and problem is None and wanted:
        raise SetupError(
            "The gateway wrote no metering rows",
            f"The lab sent {len(wanted)} requests through the gateway and found none of their "
            f"rows in {meter.TABLE} after {ROWS_WAIT_S:.0f} s. Check that config.yaml has "
            "`callbacks: lab.series.meter_callback.handler` under litellm_settings and that "
            "the proxy's PORTWAY_METER_DSN is the DSN given to the lab.",
        )
    if not rows and problem is not None:
        raise SetupError(
            "The metering table cannot be read",
            f"The lab could not read {meter.TABLE} at the DSN it was given "
            f"({type(problem).__name__}). Check that the gateway's callback writes there "
            "(PORTWAY_METER_DSN in the proxy's environment) and that the DSN is reachable.",
        ) from None
    return rows


def _check(sent: dict[str, Any], row: meter.Row | None) -> meter.Check:
    exact = sent["exact"]
    usage = sent["usage"] or {}
    if exact["prompt_tokens"] is None and usage:  # no journal (a real backend): its usage
        details = usage.get("prompt_tokens_details") or {}
        exact = {"prompt_tokens": usage.get("prompt_tokens"),
                 "completion_tokens": usage.get("completion_tokens"),
                 "cached_tokens": details.get("cached_tokens")}  # fmt: skip
    return meter.Check(sent["label"], row, exact["prompt_tokens"], exact["completion_tokens"],
                       exact["cached_tokens"])  # fmt: skip


def _as_series(checks: list[meter.Check], sent: list[dict[str, Any]]) -> bool:
    plain, bare, usage, cached = checks
    return (
        plain.agrees and usage.agrees and cached.agrees and bare.row is not None
        and sent[1]["usage"] is None and sent[2]["usage"] is not None
        and cached.row is not None and cached.row.cached_tokens > 0
    )  # fmt: skip


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def _show(data: dict[str, Any], checks: list[meter.Check]) -> list:
    rows = tuple(
        (c.label, _cell(c.row.prompt_tokens if c.row else None),
         _cell(c.row.cached_tokens if c.row else None),
         _cell(c.row.completion_tokens if c.row else None),
         f"{c.exact_prompt}/{_cell(c.exact_cached)}/{c.exact_completion}",
         f"{c.row.computed_cost * 1e6:.2f}" if c.row else "no row",
         "yes" if c.agrees else "NO", "yes" if s["usage"] else "no")
        for c, s in zip(checks, data["calls"], strict=True)
    )  # fmt: skip
    bill = data["bill"]
    lines = tuple((model, str(line["requests"]), str(line["prompt_tokens"]),
                   str(line["cached_tokens"]), str(line["completion_tokens"]),
                   f"{line['cost'] * 1e6:.2f}")
                  for model, line in bill["per_model"].items())  # fmt: skip
    return [
        Facts(f"{meter.TABLE} ({data['dsn_kind']}): the rows against the backend's exact "
              "prompt/cached/completion",
              ("request", "prompt", "cached", "compl.", "exact", "µ$", "agrees",
               "client usage"), rows),
        Facts("The bill (µ$: millionths of a dollar)", ("model", "requests", "prompt",
              "cached", "completion", "µ$"),
              (*lines, ("total", "", "", "", "", f"{bill['total'] * 1e6:.2f}"),
               ("at the exact counts", "", "", "", "", f"{data['exact_bill'] * 1e6:.2f}"),
               ("a client-side meter", "", "", "", "", f"{data['client_bill'] * 1e6:.2f}"))),
    ]  # fmt: skip


def _explain(data: dict[str, Any], checks: list[meter.Check], sent: list[dict]) -> list[str]:
    plain, bare, usage, cached = checks
    lines = [f"The callback wrote {sum(c.row is not None for c in checks)} rows for "
             f"{len(checks)} requests into {meter.TABLE} ({data['dsn_kind']})."]  # fmt: skip
    if bare.row is not None:
        upstream = sent[1]["exact"]["upstream_include_usage"]
        asked = (
            " LiteLLM did not ask the backend for usage either (no stream_options upstream)."
            if upstream is False
            else " LiteLLM asked the backend for usage itself (stream_options upstream)."
            if upstream
            else ""
        )
        if bare.row.prompt_tokens == 0 and bare.row.completion_tokens == 0:
            what = "a row of 0 prompt and 0 completion tokens, billed $0"
        elif bare.agrees:
            what = (f"{bare.row.prompt_tokens} prompt and {bare.row.completion_tokens} "
                    "completion tokens, the exact counts")  # fmt: skip
        else:
            what = (f"{bare.row.prompt_tokens} prompt and {bare.row.completion_tokens} "
                    f"completion tokens where the backend counted {bare.exact_prompt} and "
                    f"{bare.exact_completion}: LiteLLM's own estimate, not the backend's "
                    "count")  # fmt: skip
        lines.append(
            "The stream without include_usage carried no usage to the client (a meter in the "
            f"app that reads the chunks bills it $0), and the gateway logged {what}." + asked
        )
    lines.append(
        f"With include_usage the last chunk carried the backend's usage and the row matches "
        f"it ({'yes' if usage.agrees else 'no'}); the non-streamed row matches too "
        f"({'yes' if plain.agrees else 'no'})."
    )
    if cached.row is not None and plain.row is not None:
        lines.append(
            f"The next turn re-sent the whole conversation: {cached.row.prompt_tokens} prompt "
            f"tokens, {cached.row.cached_tokens} of them served from the slot's prefix cache "
            f"and billed at the cached price: {cached.row.computed_cost * 1e6:.2f} µ$, against "
            f"{plain.row.computed_cost * 1e6:.2f} µ$ for the first turn's "
            f"{plain.row.prompt_tokens} prompt tokens ({plain.row.cached_tokens} cached)."
        )
    lines.append(
        f"The bill from the rows is ${data['bill']['total']:.8f}; at the backend's exact "
        f"counts it is ${data['exact_bill']:.8f}; a meter in the client, reading only the "
        f"usage it received, would bill ${data['client_bill']:.8f}. Prices are illustrative "
        "parameters (--price MODEL=IN/CACHED/OUT per million tokens), not a provider's."
    )
    return lines
