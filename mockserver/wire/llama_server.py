"""llama-server's wire format: bodies in the order its ordered JSON writes them, its errors.

From ggml-org/llama.cpp ``tools/server/server-task.cpp`` (``to_json_oaicompat_chat``,
``to_json_oaicompat_chat_stream``, ``server_task_result_cmpl_partial::to_json_oaicompat_chat``,
``usage_json_oaicompat``), ``server-common.cpp`` (``format_error_response``,
``server_slot_stats::to_json``) and ``server-context.cpp`` (``get_res_models``,
``get_res_props``, ``/slots``, ``/metrics``). Bodies are compact UTF-8 JSON
(``safe_json_to_str``); the one place that renders this surface's errors is ``error_body``.
"""

from __future__ import annotations

import json
import secrets
import string
import struct
import time
from typing import Any

from starlette.responses import Response

from mockserver.engine.llama_engine import Generation, LlamaEngine, LlamaError

JSON_TYPE = "application/json; charset=utf-8"
# llama_build_info(): "b<build number>-<commit>"; the twin names itself instead of a commit.
BUILD_INFO = "b0-portway-twin"
_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status_code=status, media_type=JSON_TYPE)


def completion_id() -> str:
    """``"chatcmpl-" + random_string()``: 32 characters of [0-9A-Za-z]."""
    return "chatcmpl-" + "".join(secrets.choice(_ALPHABET) for _ in range(32))


def error_body(error: LlamaError) -> dict[str, Any]:
    """``{"error": format_error_response(...)}`` plus the context figures for an overflow."""
    inner: dict[str, Any] = {"code": error.status, "message": error.message, "type": error.kind}
    inner.update(error.extra)
    return {"error": inner}


def error_response(error: LlamaError) -> Response:
    return json_response(error_body(error), error.status)


def not_found() -> Response:
    """httplib's error handler for an unknown path (``server-http.cpp``)."""
    body = {"error": {"message": "File Not Found", "type": "not_found_error", "code": 404}}
    return json_response(body, 404)


def usage(generation: Generation) -> dict[str, Any]:
    prompt = len(generation.prompt_ids)
    return {
        "completion_tokens": generation.completion_tokens,
        "prompt_tokens": prompt,
        "total_tokens": generation.completion_tokens + prompt,
        "prompt_tokens_details": {"cached_tokens": generation.cached},
    }


def message(generation: Generation) -> dict[str, Any]:
    """``common_chat_msg::to_json_oaicompat``: content always, reasoning_content if any."""
    body: dict[str, Any] = {"role": "assistant", "content": generation.content}
    if generation.reasoning:
        body["reasoning_content"] = generation.reasoning
    if generation.tool_calls:
        body["tool_calls"] = generation.tool_calls
    return body


def completion(engine: LlamaEngine, generation: Generation, cid: str) -> dict[str, Any]:
    return {
        "choices": [
            {"finish_reason": generation.finish_reason, "index": 0, "message": message(generation)}
        ],
        "created": int(time.time()),
        "model": engine.alias,
        "system_fingerprint": BUILD_INFO,
        "object": "chat.completion",
        "usage": usage(generation),
        "id": cid,
        "timings": generation.timings,
    }


def chunk(engine: LlamaEngine, cid: str, delta: dict[str, Any], finish: str | None = None) -> dict:
    return {
        "choices": [{"finish_reason": finish, "index": 0, "delta": delta}],
        "created": int(time.time()),
        "id": cid,
        "model": engine.alias,
        "system_fingerprint": BUILD_INFO,
        "object": "chat.completion.chunk",
    }


def sse(value: Any) -> bytes:
    return b"data: " + dumps(value) + b"\n\n"


DONE = b"data: [DONE]\n\n"


def models(engine: LlamaEngine) -> dict[str, Any]:
    model = engine.model
    return {
        "models": [
            {
                "name": engine.alias,
                "model": engine.alias,
                "modified_at": "",
                "size": "",
                "digest": "",
                "type": "model",
                "description": "",
                "tags": [""],
                "capabilities": ["completion"],
                "parameters": "",
                "details": {
                    "parent_model": "",
                    "format": "gguf",
                    "family": "",
                    "families": [""],
                    "parameter_size": "",
                    "quantization_level": "",
                },
            }
        ],
        "object": "list",
        "data": [
            {
                "id": engine.alias,
                "aliases": [engine.alias],
                "tags": [],
                "object": "model",
                "created": int(time.time()),
                "owned_by": "llamacpp",
                "meta": {
                    "vocab_type": model.vocab_type,
                    "n_vocab": model.n_vocab,
                    "n_ctx": engine.slot_n_ctx,
                    "n_ctx_train": model.n_ctx_train,
                    "n_embd": model.n_embd,
                    "n_params": model.n_params,
                    "size": model.size,
                    "ftype": model.ftype,
                },
            }
        ],
    }


def props(engine: LlamaEngine, template: str, *, metrics: bool) -> dict[str, Any]:
    return {
        "default_generation_settings": {
            "params": {"n_predict": -1, "temperature": 0.8, "top_k": 40, "top_p": 0.95},
            "n_ctx": engine.slot_n_ctx,
        },
        "total_slots": engine.n_parallel,
        "model_alias": engine.alias,
        "model_ftype": engine.model.ftype,
        "model_path": engine.model.file,
        "modalities": {"vision": False, "video": False, "audio": False},
        "media_marker": "<__media__>",
        "endpoint_slots": True,
        "endpoint_props": False,
        "endpoint_metrics": metrics,
        "ui": False,
        "ui_settings": {},
        "chat_template": template,
        "chat_template_caps": {},
        "bos_token": engine.model.bos_token,
        "eos_token": engine.model.eos_token,
        "build_info": BUILD_INFO,
        "is_sleeping": False,
        "cors_proxy_enabled": False,
    }


def slots(engine: LlamaEngine) -> list[dict[str, Any]]:
    listed = []
    for slot in engine.pool.slots:
        item: dict[str, Any] = {
            "id": slot.id,
            "n_ctx": slot.n_ctx,
            "speculative": False,
            "is_processing": slot.processing,
        }
        if slot.id_task >= 0:
            item |= {
                "id_task": slot.id_task,
                "n_prompt_tokens": len(slot.tokens),
                "n_prompt_tokens_processed": slot.n_prompt_processed,
                "n_prompt_tokens_cache": slot.n_prompt_cached,
                "params": slot_params(slot.params, engine.model.generation_prompt),
                "next_token": [{"has_next_token": slot.processing, "has_new_line": False,
                                "n_remain": -1, "n_decoded": slot.n_decoded}],
            }  # fmt: skip
        listed.append(item)
    return listed


def _f32(value: float) -> float:
    """A float field as llama.cpp holds it (``float``), widened to a double for JSON."""
    return struct.unpack("f", struct.pack("f", value))[0]


def slot_params(body: dict[str, Any], generation_prompt: str) -> dict[str, Any]:
    """``slot_params::to_json(only_metrics=true)``: the task's sampling settings, the request's
    where it gave one (``eval_llama_cmpl_schema`` defaults otherwise)."""

    def number(key: str, default: float) -> float:
        value = body.get(key, default)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return _f32(float(value if ok else default))

    def integer(key: str, default: int) -> int:
        value = body.get(key, default)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    n_predict = -1
    for key in ("max_completion_tokens", "max_tokens", "n_predict"):
        if isinstance(body.get(key), int):
            n_predict = body[key]
            break
    return {
        "seed": integer("seed", 4294967295), "temperature": number("temperature", 0.8),
        "dynatemp_range": 0.0, "dynatemp_exponent": 1.0, "top_k": integer("top_k", 40),
        "top_p": number("top_p", 0.95), "min_p": number("min_p", 0.05),
        "top_n_sigma": -1.0, "xtc_probability": 0.0, "xtc_threshold": _f32(0.1),
        "typical_p": 1.0, "repeat_last_n": 64, "repeat_penalty": number("repeat_penalty", 1.0),
        "presence_penalty": number("presence_penalty", 0.0),
        "frequency_penalty": number("frequency_penalty", 0.0), "dry_multiplier": 0.0,
        "dry_base": 1.75, "dry_allowed_length": 2, "dry_penalty_last_n": 64, "mirostat": 0,
        "mirostat_tau": 5.0, "mirostat_eta": _f32(0.1), "adaptive_target": -1.0,
        "adaptive_decay": _f32(0.9), "max_tokens": n_predict, "n_predict": n_predict,
        "n_keep": 0, "n_discard": 0, "ignore_eos": False, "stream": bool(body.get("stream")),
        "n_probs": 0, "min_keep": 0, "chat_format": "peg-native",
        "reasoning_format": "deepseek", "reasoning_in_content": False,
        "generation_prompt": generation_prompt,
        "samplers": ["penalties", "dry", "top_n_sigma", "top_k", "typ_p", "top_p", "min_p",
                     "xtc", "temperature"],
        "speculative.types": "none", "timings_per_token": False, "post_sampling_probs": False,
        "backend_sampling": False, "lora": [],
    }  # fmt: skip


def metrics(engine: LlamaEngine) -> str:
    """``server_task_result_metrics::to_metrics``: Prometheus text, ``llamacpp:`` names."""
    totals = engine.totals
    counters = [
        ("prompt_tokens_total", "Number of prompt tokens processed, excluding cached tokens",
         totals["prompt"]),
        ("prompt_tokens_cached_total", "Number of prompt tokens reused from the cache",
         totals["cached"]),
        ("prompt_seconds_total", "Total time spent processing prompts", totals["prompt_s"]),
        ("tokens_predicted_total", "Number of generation tokens processed", totals["predicted"]),
        ("tokens_predicted_seconds_total", "Total time spent generating tokens",
         totals["predicted_s"]),
        ("n_decode_total", "Total number of llama_decode() calls, excluding speculative "
         "decoding and multimodal decoding", engine.n_decode),
        ("n_tokens_max", "Largest observed sequence length (prompt + generation)",
         engine.n_tokens_max),
        ("spec_decode_num_draft_tokens_total", "Speculative: Total draft tokens generated", 0),
        ("spec_decode_num_accepted_tokens_total",
         "Speculative: Total draft tokens accepted by the target model", 0),
        ("spec_decode_num_drafts_total",
         "Speculative: Total speculative decoding verification steps", 0),
    ]  # fmt: skip
    gauges = [
        ("prompt_tokens_seconds", "Average prompt throughput in tokens/s",
         _rate(totals["prompt"], totals["prompt_s"])),
        ("predicted_tokens_seconds", "Average generation throughput in tokens/s",
         _rate(totals["predicted"], totals["predicted_s"])),
        ("requests_processing", "Number of requests processing", engine.pool.processing),
        ("requests_deferred", "Number of requests deferred", engine.pool.deferred),
        ("n_busy_slots_per_decode", "Average number of busy slots per llama_decode() call",
         1.0 if engine.n_decode else 0.0),
    ]  # fmt: skip
    lines: list[str] = []
    for kind, items in (("counter", counters), ("gauge", gauges)):
        for name, help_text, value in items:
            lines += [
                f"# HELP llamacpp:{name} {help_text}",
                f"# TYPE llamacpp:{name} {kind}",
                f"llamacpp:{name} {_number(value)}",
            ]
    return "\n".join(lines) + "\n"


def _rate(n: float, seconds: float) -> float:
    return n / seconds if seconds else 0.0


def _number(value: float) -> str:
    """C++ ``operator<<`` on a double: 6 significant digits, no trailing zeros."""
    return f"{float(value):.6g}"
