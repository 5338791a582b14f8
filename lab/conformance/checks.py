"""The contract points: one small function each, which makes its own minimal calls against the
target and returns an :class:`~lab.conformance.outcome.Outcome` with the evidence (the observed
value, a short excerpt of what the server sent). :data:`POINTS` is the report's order."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import openai
from openai.types.chat import ChatCompletionMessageParam

from lab.conformance.outcome import Failed, Outcome, cut, failed, not_applicable, passed
from lab.conformance.probe import BASIC, SSE, Answer, Probe, Raw, json_or_none
from lab.engines import LLAMA_CPP
from lab.experiments.stateless import FIVE_TURN, ONE_TURN
from lab.ollama import RENDER_ONLY_SINCE, release_number, same_model

# finish_reason values of the OpenAI Chat Completions API ("function_call" is the legacy one).
FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})
COUNT_MAX_TOKENS = 16  # calls that only read prompt_tokens
LENGTH_PROMPT: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Count from 1 to 100, one number per line."},
]
LENGTH_MAX_TOKENS = 5
UNKNOWN_MODEL = "portway-no-such-model:latest"


Check = Callable[["Probe"], Outcome]


@dataclass(frozen=True, slots=True)
class Point:
    id: str
    title: str  # the contract, in a few words
    check: Check
    ollama_only: bool = False


@dataclass(frozen=True, slots=True)
class Row:
    point: Point
    outcome: Outcome
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.point.id,
            "title": self.point.title,
            "status": self.outcome.status,
            "evidence": self.outcome.evidence,
            "ollama_only": self.point.ollama_only,
            "seconds": round(self.seconds, 3),
        }


def _completion(raw: Raw) -> dict[str, Any]:
    """The body of a successful completion; a ``Failed`` (a failed outcome) otherwise."""
    if raw.status != 200 or not isinstance(raw.body, dict):
        raise Failed(f"HTTP {raw.status}: {cut(raw.text)}")
    return raw.body


def _choice(body: dict[str, Any]) -> dict[str, Any]:
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise Failed(f"no choices[0] in the answer: {cut(json.dumps(body))}")
    return choices[0]


def _usage_numbers(usage: Any) -> tuple[int, int, int] | str:
    """``(prompt, completion, total)``, or what is wrong with the usage object."""
    if usage is None:
        return "no usage object"
    if not isinstance(usage, dict):
        return f"usage is not an object: {cut(json.dumps(usage))}"
    numbers = []
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        value = usage.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            return f"usage.{name} is {json.dumps(value)} (usage: {cut(json.dumps(usage))})"
        numbers.append(value)
    return numbers[0], numbers[1], numbers[2]


def check_usage(probe: Probe) -> Outcome:
    numbers = _usage_numbers(_completion(probe.basic()).get("usage"))
    if isinstance(numbers, str):
        return failed(numbers)
    prompt, completion, total = numbers
    sums = f"prompt {prompt} + completion {completion} = {prompt + completion}, total {total}"
    return passed(sums) if total == prompt + completion else failed(f"{sums}: not the sum")


def check_role(probe: Probe) -> Outcome:
    message = _choice(_completion(probe.basic())).get("message")
    role = message.get("role") if isinstance(message, dict) else None
    evidence = f"message.role = {json.dumps(role)}"
    return passed(evidence) if role == "assistant" else failed(evidence)


def check_finish_reason(probe: Probe) -> Outcome:
    reason = _choice(_completion(probe.basic())).get("finish_reason")
    evidence = f"finish_reason = {json.dumps(reason)}"
    if reason in FINISH_REASONS:
        return passed(evidence)
    return failed(f"{evidence}; allowed: {', '.join(sorted(FINISH_REASONS))}")


def check_model_echo(probe: Probe) -> Outcome:
    echoed = _completion(probe.basic()).get("model")
    evidence = f"sent {json.dumps(probe.model)}, got {json.dumps(echoed)}"
    return passed(evidence) if echoed == probe.model else failed(evidence)


def check_prompt_tokens_deterministic(probe: Probe) -> Outcome:
    counts = [
        _prompt_tokens(probe.sdk_chat(ONE_TURN, max_tokens=COUNT_MAX_TOKENS)) for _ in range(2)
    ]
    evidence = f"the same request twice: prompt_tokens {counts[0]} and {counts[1]}"
    return passed(evidence) if counts[0] == counts[1] else failed(evidence)


def check_prompt_tokens_stateless(probe: Probe) -> Outcome:
    one = _prompt_tokens(probe.sdk_chat(ONE_TURN, max_tokens=COUNT_MAX_TOKENS))
    five = _prompt_tokens(probe.sdk_chat(FIVE_TURN, max_tokens=COUNT_MAX_TOKENS))
    evidence = (
        f"{len(ONE_TURN)} message: {one}; the same question after {len(FIVE_TURN) - 1} "
        f"turns of history: {five} ({five - one:+d})"
    )
    return passed(evidence) if five > one else failed(f"{evidence}: did not grow")


def check_sse_framing(probe: Probe) -> Outcome:
    sse = probe.stream()
    if sse.status != 200:
        return failed(f"HTTP {sse.status}: {cut(sse.text)}")
    problems = list(sse.problems)  # the strict reader's: framing, JSON, `data: [DONE]` last
    if not sse.content_type.lower().startswith("text/event-stream"):
        problems.insert(0, f"Content-Type {sse.content_type or '(none)'}")
    if problems:
        return failed("; ".join(problems))
    return passed(
        f"{len(sse.events)} events, each `data: <json>` + blank line; last `data: [DONE]`"
    )


def check_stream_no_usage(probe: Probe) -> Outcome:
    sse = _streamed(probe.stream())
    with_usage = sse.usage_chunks()
    if with_usage:
        index, chunk = with_usage[0]
        return failed(
            f"usage in {len(with_usage)} of {len(sse.chunks)} chunks without include_usage "
            f"(chunk {index + 1}: {cut(json.dumps(chunk.get('usage')), 80)})"
        )
    nulls = sum(1 for chunk in sse.chunks if "usage" in chunk)
    note = f" ({nulls} carry `usage: null`)" if nulls else ""
    return passed(f"no usage in any of {len(sse.chunks)} chunks{note}")


def check_stream_include_usage(probe: Probe) -> Outcome:
    sse = _streamed(probe.stream(include_usage=True))
    with_usage = sse.usage_chunks()
    if len(with_usage) != 1:
        return failed(
            f"{len(with_usage)} chunks with usage (of {len(sse.chunks)}); expected exactly one"
        )
    index, chunk = with_usage[0]
    problems: list[str] = []
    if index != len(sse.chunks) - 1:
        problems.append(f"the usage chunk is chunk {index + 1} of {len(sse.chunks)}, not the last")
    if chunk.get("choices") != []:
        problems.append(f"its choices is {cut(json.dumps(chunk.get('choices')), 60)}, not []")
    numbers = _usage_numbers(chunk.get("usage"))
    if isinstance(numbers, str):
        return failed("; ".join([*problems, numbers]))
    prompt = numbers[0]
    reference = _usage_numbers(_completion(probe.basic()).get("usage"))
    if isinstance(reference, str):
        compare = f"the non-stream answer has {reference}"
    elif reference[0] != prompt:
        problems.append(f"prompt_tokens {prompt} != the non-stream answer's {reference[0]}")
        compare = ""
    else:
        compare = f"prompt_tokens {prompt} = non-stream {reference[0]}"
    if problems:
        return failed("; ".join(problems))
    return passed(f"one final usage chunk with choices: []; {compare}".rstrip("; "))


def check_stream_first_role(probe: Probe) -> Outcome:
    sse = _streamed(probe.stream())
    first = next((c for c in sse.chunks if c.get("choices")), None)
    if first is None:
        return failed(f"none of {len(sse.chunks)} chunks has a choice")
    delta = first["choices"][0].get("delta") if isinstance(first["choices"][0], dict) else None
    role = delta.get("role") if isinstance(delta, dict) else None
    evidence = f"first chunk delta: {cut(json.dumps(delta), 80)}"
    return passed(evidence) if role == "assistant" else failed(evidence)


def check_stream_finish_chunk(probe: Probe) -> Outcome:
    sse = _streamed(probe.stream())
    reasons = [
        (i, choice.get("finish_reason"))
        for i, chunk in enumerate(sse.chunks)
        for choice in chunk.get("choices") or []
        if isinstance(choice, dict) and choice.get("finish_reason") is not None
    ]
    if not reasons:
        return failed(f"no chunk of {len(sse.chunks)} has a finish_reason")
    index, reason = reasons[-1]
    evidence = f"chunk {index + 1} of {len(sse.chunks)}: finish_reason {json.dumps(reason)}"
    if len(reasons) > 1:
        return failed(f"{len(reasons)} chunks have a finish_reason; last: {evidence}")
    return passed(evidence) if reason in FINISH_REASONS else failed(evidence)


def check_max_tokens(probe: Probe) -> Outcome:
    body = _completion(probe.sdk_chat(LENGTH_PROMPT, max_tokens=LENGTH_MAX_TOKENS))
    reason = _choice(body).get("finish_reason")
    numbers = _usage_numbers(body.get("usage"))
    completion = numbers[1] if not isinstance(numbers, str) else None
    evidence = (
        f"max_tokens {LENGTH_MAX_TOKENS}: finish_reason {json.dumps(reason)}, "
        f"completion_tokens {json.dumps(completion)}"
    )
    if reason == "length" and completion is not None and completion <= LENGTH_MAX_TOKENS:
        return passed(evidence)
    return failed(evidence)


def check_models_list(probe: Probe) -> Outcome:
    page = probe.client.models.list()
    ids = [entry.id for entry in page.data or []]
    listed = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    if probe.model in ids or any(same_model(i, probe.model) for i in ids):
        return passed(f"{probe.model} among {len(ids)}: {listed}")
    return failed(f"{probe.model} not among {len(ids)}: {listed or '(none)'}")


def check_unknown_model(probe: Probe) -> Outcome:
    if (reason := _single_model_server(probe)) is not None:
        return reason
    try:
        raw = probe.sdk_chat(BASIC, model=UNKNOWN_MODEL, max_tokens=COUNT_MAX_TOKENS)
    except openai.NotFoundError as exc:
        shaped = _openai_error_shape(exc.response)
        evidence = f"404 NotFoundError: {cut(exc.response.text.strip())}"
        return failed(f"{evidence}; {shaped}") if shaped else passed(evidence)
    except openai.APIStatusError as exc:
        return failed(
            f"HTTP {exc.status_code} {type(exc).__name__}, not 404 NotFoundError: "
            f"{cut(exc.response.text.strip())}"
        )
    return failed(
        f"HTTP {raw.status}: answered a model that does not exist ({UNKNOWN_MODEL}): "
        f"{cut(raw.text)}"
    )


def check_malformed_request(probe: Probe) -> Outcome:
    raw = probe.post({"model": probe.model, "messages": "not a list"})
    evidence = f"messages as a string: HTTP {raw.status}: {cut(raw.text.strip())}"
    if raw.status != 400:
        return failed(evidence)
    shaped = _openai_error_shape_body(raw.body)
    return failed(f"{evidence}; {shaped}") if shaped else passed(evidence)


def check_reasoning_field(probe: Probe) -> Outcome:
    message = _choice(_completion(probe.basic())).get("message") or {}
    deltas = [
        choice.get("delta") or {}
        for chunk in _streamed(probe.stream()).chunks
        for choice in chunk.get("choices") or []
        if isinstance(choice, dict)
    ]
    found = []
    for name in ("reasoning", "reasoning_content"):
        text = message.get(name) if isinstance(message, dict) else None
        streamed = sum(1 for delta in deltas if isinstance(delta, dict) and delta.get(name))
        if text or streamed:
            size = f"{len(text)} chars" if isinstance(text, str) else "absent"
            found.append(f"message.{name} ({size}); delta.{name} in {streamed} chunks")
    if not found:
        return not_applicable(
            "no reasoning channel in the answer (the model does not reason, or reasoning is off)"
        )
    return passed("; ".join(found) + " (informational: not part of the OpenAI schema)")


def check_ollama_fingerprint(probe: Probe) -> Outcome:
    if (reason := _not_ollama(probe)) is not None:
        return reason
    values = {_completion(probe.basic()).get("system_fingerprint")}
    values |= {chunk.get("system_fingerprint") for chunk in _streamed(probe.stream()).chunks}
    evidence = "system_fingerprint = " + ", ".join(sorted(json.dumps(v) for v in values))
    return passed(evidence) if values == {"fp_ollama"} else failed(evidence)


CHATCMPL_ID = re.compile(r"chatcmpl-\d+")


def check_ollama_id_format(probe: Probe) -> Outcome:
    if (reason := _not_ollama(probe)) is not None:
        return reason
    plain_id = _completion(probe.basic()).get("id")
    stream_ids = {chunk.get("id") for chunk in _streamed(probe.stream()).chunks}
    evidence = f"id {json.dumps(plain_id)}; stream ids {', '.join(map(json.dumps, stream_ids))}"
    good = [plain_id, *stream_ids]
    if all(isinstance(i, str) and CHATCMPL_ID.fullmatch(i) for i in good) and len(stream_ids) == 1:
        return passed(evidence)
    return failed(f"{evidence} (expected chatcmpl-<N>, one id per stream)")


def check_ollama_debug_render(probe: Probe) -> Outcome:
    if (reason := _not_ollama(probe)) is not None:
        return reason
    release = probe.engine.emulates or probe.engine.version
    parsed = release_number(release)
    if parsed is not None and parsed < RENDER_ONLY_SINCE:
        return not_applicable(f"Ollama {release}; _debug_render_only arrived in 0.12.0")
    raw = probe.post({"model": probe.model, "messages": BASIC, "_debug_render_only": True})
    body = _completion(raw)
    info = body.get("_debug_info")
    rendered = info.get("rendered_template") if isinstance(info, dict) else None
    if not isinstance(rendered, str) or not rendered:
        return failed(f"no _debug_info.rendered_template: {cut(raw.text)}")
    usage = _usage_numbers(body.get("usage"))
    zeros = "usage zero" if usage == (0, 0, 0) else f"usage {json.dumps(body.get('usage'))}"
    return passed(f"rendered_template ({len(rendered)} chars): {cut(rendered, 60)}; {zeros}")


POINTS: tuple[Point, ...] = (
    Point("usage", "usage has prompt/completion/total, total = sum", check_usage),
    Point("role", "choices[0].message.role is assistant", check_role),
    Point("finish_reason", "finish_reason is an allowed value", check_finish_reason),
    Point("model_echo", "model is echoed as sent", check_model_echo),
    Point(
        "prompt_tokens_deterministic",
        "prompt_tokens is the same for the same request",
        check_prompt_tokens_deterministic,
    ),
    Point(
        "prompt_tokens_stateless",
        "prompt_tokens grows with re-sent history (stateless)",
        check_prompt_tokens_stateless,
    ),
    Point("sse_framing", "stream: `data: ...` events, ends `data: [DONE]`", check_sse_framing),
    Point("stream_no_usage", "stream: no usage without include_usage", check_stream_no_usage),
    Point(
        "stream_include_usage",
        "stream: include_usage adds one final usage chunk, choices []",
        check_stream_include_usage,
    ),
    Point("stream_first_role", "stream: role on the first chunk", check_stream_first_role),
    Point(
        "stream_finish_chunk", "stream: one chunk carries finish_reason", check_stream_finish_chunk
    ),
    Point("max_tokens", "max_tokens honoured (finish_reason length)", check_max_tokens),
    Point("models_list", "GET /v1/models lists the model", check_models_list),
    Point("unknown_model", "unknown model: 404, OpenAI-shaped, NotFoundError", check_unknown_model),
    Point("malformed_request", "malformed request: 400, OpenAI-shaped", check_malformed_request),
    Point("reasoning_field", "reasoning channel field name", check_reasoning_field),
    Point(
        "ollama_fingerprint",
        "Ollama: system_fingerprint is fp_ollama",
        check_ollama_fingerprint,
        ollama_only=True,
    ),
    Point(
        "ollama_id_format", "Ollama: ids are chatcmpl-<N>", check_ollama_id_format, ollama_only=True
    ),
    Point(
        "ollama_debug_render",
        "Ollama: _debug_render_only returns the rendered prompt",
        check_ollama_debug_render,
        ollama_only=True,
    ),
)


def run_point(point: Point, probe: Probe) -> Row:
    """Run one check; an error from the target (or a malformed answer) makes it fail."""
    started = time.monotonic()
    try:
        outcome = point.check(probe)
    except Failed as exc:
        outcome = failed(str(exc))
    except openai.APIStatusError as exc:
        outcome = failed(f"HTTP {exc.status_code}: {cut(exc.response.text.strip())}")
    except openai.APIError as exc:
        outcome = failed(f"the call failed: {type(exc).__name__}: {cut(str(exc))}")
    except httpx.HTTPError as exc:
        outcome = failed(f"the call failed: {type(exc).__name__}: {cut(str(exc))}")
    except Exception as exc:  # a malformed answer must not stop the report
        outcome = failed(f"could not read the answer: {type(exc).__name__}: {cut(str(exc))}")
    return Row(point, outcome, time.monotonic() - started)


def run_points(
    probe: Probe,
    points: tuple[Point, ...] = POINTS,
    *,
    progress: Callable[[Point], contextlib.AbstractContextManager[object]] | None = None,
) -> list[Row]:
    rows = []
    for point in points:
        with progress(point) if progress else contextlib.nullcontext():
            rows.append(run_point(point, probe))
    return rows


# --- helpers ---------------------------------------------------------------------------------


def _streamed(sse: SSE) -> SSE:
    if sse.status != 200:
        raise Failed(f"the stream request answered HTTP {sse.status}: {cut(sse.text)}")
    if not sse.chunks:
        raise Failed(f"no JSON chunks in the stream: {cut(sse.text)}")
    return sse


def _prompt_tokens(raw: Raw) -> int:
    numbers = _usage_numbers(_completion(raw).get("usage"))
    if isinstance(numbers, str):
        raise Failed(numbers)
    return numbers[0]


def _single_model_server(probe: Probe) -> Outcome | None:
    """n/a on a llama-server that serves one model: it never reads the request's ``model``
    (``tools/server/server-context.cpp`` answers every request with its ``--alias``; only the
    router mode, several models, routes by name), so there is no unknown model to refuse."""
    if probe.engine.name != LLAMA_CPP:
        return None
    served = [entry.id for entry in probe.client.models.list().data or []]
    if len(served) != 1:
        return None
    return not_applicable(
        f"llama-server serving one model ({served[0]}) does not read the request's model "
        "field: there is no unknown model to refuse (a gateway in front routes by name)"
    )


def _not_ollama(probe: Probe) -> Outcome | None:
    if probe.engine.is_ollama:
        return None
    return not_applicable("the target is not Ollama (GET /api/version did not answer as Ollama)")


def _openai_error_shape(response: Answer) -> str:
    return _openai_error_shape_body(json_or_none(response))


def _openai_error_shape_body(body: Any) -> str:
    """'' if ``body`` is ``{"error": {"message": str, "type": str, ...}}``; else what is wrong."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "the body is not OpenAI-shaped (no error object)"
    missing = [k for k in ("message", "type") if not isinstance(error.get(k), str)]
    return f"error.{' and error.'.join(missing)} missing" if missing else ""
