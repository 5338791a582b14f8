"""Post 4: virtual keys in front of the backends, their model scope, RPM and TPM limits.

Every call goes through the real LiteLLM proxy. The keys are minted as the series mints them
(``POST /key/generate`` on the reader's gateway; on ``--target mock`` through LiteLLM's
``custom_auth`` hook, because LiteLLM's Prisma key store cannot run offline:
:mod:`lab.series.keys`). The limits are LiteLLM's own limiter (``parallel_request_limiter_v3``):
RPM counts requests in a fixed window (``LITELLM_RATE_LIMIT_WINDOW_SIZE``, 60 s), TPM is
checked before the request is sent, from an estimate (:func:`litellm_estimate`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai

from lab.experiment import Answer, Facts, Finding
from lab.series import keys
from lab.series.targets import BACKEND_KEY, Stack

RPM = 3  # the series' scoped key: gpt-oss only, 3 requests a minute
TPM = 200  # the series' tight key: 200 tokens a minute
OVERSIZED = "Ottawa became Canada's capital in 1857, chosen by Queen Victoria. " * 30


def mint(stack: Stack, scope: keys.Scope, minted: list[str]) -> str:
    assert stack.gateway
    if stack.features is not None and stack.features.keys is not None:
        key = stack.features.keys.mint(scope)
    else:
        key = keys.mint_on_gateway(stack.gateway, stack.gateway_key, scope, stack.timeout)
    minted.append(key)
    return key


def client_for(stack: Stack, key: str, *, max_retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stack.gateway}/v1", api_key=key, timeout=stack.timeout + 130,
                         max_retries=max_retries)  # fmt: skip


def call(client: openai.OpenAI, model: str, content: str, **extra: Any) -> dict[str, Any]:
    """One chat call: its status, the error's type and message, retries and seconds."""
    started = time.perf_counter()
    try:
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": content}], **extra
        )
        response = raw.parse()
        usage = response.usage.model_dump(mode="json") if response.usage else {}
        return {"status": raw.http_response.status_code, "retries": raw.retries_taken,
                "seconds": time.perf_counter() - started, "usage": usage}  # fmt: skip
    except openai.APIStatusError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error", body) if isinstance(body, dict) else {}
        return {"status": exc.status_code, "seconds": time.perf_counter() - started,
                "type": error.get("type"), "message": str(error.get("message", ""))[:240],
                "retry_after": exc.response.headers.get("retry-after"),
                "limit_type": exc.response.headers.get("rate_limit_type")}  # fmt: skip


def litellm_estimate(messages: list[dict[str, Any]], tpm_limit: int) -> dict[str, Any] | None:
    """What LiteLLM reserves for a request before sending it, computed by LiteLLM's own code.

    ``_PROXY_MaxParallelRequestsHandler_v3._estimate_input_and_output_tokens``
    (``litellm/proxy/hooks/parallel_request_limiter_v3.py``): input = characters of the
    messages // 4; without ``max_tokens``, output = the larger of that and a floor. ``None``
    when the installed LiteLLM has no such function (another version than the lab's).
    """
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import
    try:
        from litellm.caching.dual_cache import DualCache
        from litellm.proxy.hooks.parallel_request_limiter_v3 import (
            _PROXY_MaxParallelRequestsHandler_v3 as Limiter,
        )
        from litellm.proxy.utils import InternalUsageCache

        limiter = Limiter(internal_usage_cache=InternalUsageCache(DualCache()))
        data = {"messages": messages}
        prompt, output = limiter._estimate_input_and_output_tokens(
            data, min_configured_tpm_limit=tpm_limit, call_type="acompletion"
        )
    except (ImportError, AttributeError, TypeError):
        return None
    from importlib.metadata import version

    return {"input": prompt, "output": output, "total": prompt + output,
            "litellm": version("litellm")}  # fmt: skip


def exact_prompt_tokens(stack: Stack, model: str, messages: list[dict[str, Any]]) -> int | None:
    """The backend's own count of the same messages (sent straight to it, one token asked)."""
    backend = next((b for b in stack.backends if b.name == model), stack.backends[0])
    answer = httpx.post(f"{backend.url}/v1/chat/completions", timeout=stack.timeout,
                        headers={"Authorization": f"Bearer {BACKEND_KEY}"},
                        json={"model": model, "messages": messages, "max_tokens": 1})  # fmt: skip
    usage = answer.json().get("usage") if answer.status_code == 200 else None
    return usage.get("prompt_tokens") if isinstance(usage, dict) else None


def backend_calls(stack: Stack, model: str) -> int | None:
    """How many chat requests the backend received so far (the twin's journal; None elsewhere)."""
    backend = next((b for b in stack.backends if b.name == model), stack.backends[0])
    try:
        answer = httpx.get(f"{backend.url}/_portway/journal", timeout=10)
    except httpx.HTTPError:
        return None
    if answer.status_code != 200:
        return None
    entries = answer.json()
    entries = entries.get("entries", entries) if isinstance(entries, dict) else entries
    return sum(1 for e in entries if str(e.get("path", "")).endswith("/chat/completions"))


def _counted(stack: Stack, model: str) -> Callable[[], int | None]:
    """Call it after a request: how many requests the backend received since (None: unknown)."""
    before = backend_calls(stack, model)

    def since() -> int | None:
        after = backend_calls(stack, model)
        return after - before if after is not None and before is not None else None

    return since


def keys_and_limits(stack: Stack) -> Finding:
    """Post 4: per-key model scope, an RPM limit, a TPM limit, and the SDK's retries."""
    if not stack.gateway:
        return Finding.not_applicable("no gateway was given (--gateway URL or --target mock)")
    allowed, other = stack.backends[0].name, stack.backends[-1].name
    minted: list[str] = []
    try:
        full = mint(stack, keys.Scope("portway-full"), minted)
        scoped = mint(stack, keys.Scope("portway-scoped", (allowed,), rpm_limit=RPM), minted)
        tight = mint(stack, keys.Scope("portway-tpm", tpm_limit=TPM), minted)
        seen = {name: sorted(m.id for m in client_for(stack, key).models.list().data)
                for name, key in (("full", full), ("scoped", scoped), ("tpm", tight))}  # fmt: skip
        reached_other = _counted(stack, other)
        denied = call(client_for(stack, scoped), other, "Hello")
        denied["backend_requests"] = reached_other()
        rpm = [call(client_for(stack, scoped), allowed, f"Call {n}: what is Canada's capital?")
               for n in range(1, RPM + 2)]  # fmt: skip
        oversized = [{"role": "user", "content": OVERSIZED}]
        reached_allowed = _counted(stack, allowed)
        tpm = call(client_for(stack, tight), allowed, OVERSIZED)
        tpm["backend_requests"] = reached_allowed()
        estimate = litellm_estimate(oversized, TPM)
        exact = exact_prompt_tokens(stack, allowed, oversized)
        # The same RPM calls on a fresh key, with the SDK's default max_retries (2).
        fresh = mint(stack, keys.Scope("portway-retried", (allowed,), rpm_limit=RPM), minted)
        before = backend_calls(stack, allowed)
        default = openai.OpenAI(base_url=f"{stack.gateway}/v1", api_key=fresh,
                                timeout=stack.timeout + 130)  # fmt: skip
        retried = [call(default, allowed, f"Call {n}: what is Canada's capital?")
                   for n in range(1, RPM + 2)]  # fmt: skip
        after = backend_calls(stack, allowed)
    finally:
        if stack.features is None or stack.features.keys is None:
            keys.delete_on_gateway(stack.gateway, stack.gateway_key, minted, stack.timeout)
    reached = after - before if after is not None and before is not None else None
    data = {"models_per_key": seen, "scope": {"model": other, **denied},
            "rpm": {"limit": RPM, "calls": rpm}, "tpm": {"limit": TPM, "call": tpm,
            "litellm_estimate": estimate, "exact_prompt_tokens": exact},
            "retried": {"calls": retried, "backend_requests": reached,
                        "max_retries": default.max_retries},
            "rate_window_s": stack.features.rate_window if stack.features else None}  # fmt: skip
    return Finding(data, _explain(data, allowed), _show(data, allowed),
                   status="ok" if _as_series(data) else "unexpected")  # fmt: skip


def _as_series(data: dict[str, Any]) -> bool:
    scoped, full = data["models_per_key"]["scoped"], data["models_per_key"]["full"]
    statuses = [c["status"] for c in data["rpm"]["calls"]]
    return (
        len(scoped) == 1 and len(full) > 1 and data["scope"]["status"] in (401, 403)
        and statuses == [200] * RPM + [429] and data["tpm"]["call"]["status"] == 429
        and data["scope"].get("backend_requests") in (0, None)
        and data["tpm"]["call"].get("backend_requests") in (0, None)
        and all(c["status"] == 200 for c in data["retried"]["calls"])
        and data["retried"]["calls"][-1].get("retries", 0) >= 1
    )  # fmt: skip


def _show(data: dict[str, Any], allowed: str) -> list:
    tpm, estimate = data["tpm"], data["tpm"]["litellm_estimate"] or {}
    scope = data["scope"]
    return [
        Facts("GET /v1/models, per key", ("key", "models it sees"),
              tuple((k, ", ".join(v)) for k, v in data["models_per_key"].items())),
        Answer(f"The scoped key asks for {scope['model']}: HTTP {scope['status']}",
               f"{scope.get('type')}: {scope.get('message')}"),
        Facts(f"rpm_limit={data['rpm']['limit']}, max_retries=0", ("call", "HTTP", "seconds",
              "retry-after"), tuple((str(n), str(c["status"]), f"{c['seconds']:.2f}",
              str(c.get("retry_after") or "-")) for n, c in enumerate(data["rpm"]["calls"], 1))),
        Facts(f"tpm_limit={tpm['limit']}: one oversized prompt", ("what", "tokens"), (
              ("LiteLLM's estimate: input (chars / 4)", str(estimate.get("input", "?"))),
              ("LiteLLM's estimate: output reserved", str(estimate.get("output", "?"))),
              ("the backend's exact prompt_tokens", str(tpm["exact_prompt_tokens"])),
              ("answer", f"HTTP {tpm['call']['status']} ({tpm['call'].get('limit_type')})"))),
        Facts("The same calls with the SDK's default max_retries="
              f"{data['retried']['max_retries']}", ("call", "HTTP", "retries", "seconds"),
              tuple((str(n), str(c["status"]), str(c.get("retries", "-")), f"{c['seconds']:.2f}")
                    for n, c in enumerate(data["retried"]["calls"], 1))),
    ]  # fmt: skip


def _explain(data: dict[str, Any], allowed: str) -> list[str]:
    seen, scope, tpm = data["models_per_key"], data["scope"], data["tpm"]
    rpm = [c["status"] for c in data["rpm"]["calls"]]
    last = data["retried"]["calls"][-1]
    estimate = tpm["litellm_estimate"]
    lines = [
        f"One gateway, three keys: the full key lists {', '.join(seen['full'])}; the key "
        f"scoped to {allowed} lists only {', '.join(seen['scoped'])}, and asking it for "
        f"{scope['model']} got HTTP {scope['status']} ({scope.get('type')}) from the gateway"
        + _reached(scope.get("backend_requests"), scope["model"])
        + ".",
        f"With rpm_limit={data['rpm']['limit']} the calls answered {', '.join(map(str, rpm))}: "
        f"call {len(rpm)} was refused with 429 and retry-after "
        f"{data['rpm']['calls'][-1].get('retry_after')} s (LiteLLM sends its whole window "
        "length, not the time left in it).",
    ]
    if estimate:
        lines.append(
            f"With tpm_limit={tpm['limit']} the oversized prompt got HTTP "
            f"{tpm['call']['status']}{_reached(tpm['call'].get('backend_requests'), 'its backend')}"
            f": LiteLLM {estimate['litellm']} "
            f"estimated {estimate['input']} input tokens (characters / 4) plus "
            f"{estimate['output']} reserved for the answer, where the backend counts "
            f"{tpm['exact_prompt_tokens']} prompt tokens exactly. The limit acts on the "
            "estimate, not on the count the backend will report."
        )
    lines.append(
        f"With the SDK's default max_retries={data['retried']['max_retries']}, call "
        f"{len(data['retried']['calls'])} came back HTTP {last['status']} after "
        f"{last['seconds']:.1f} s and {last.get('retries')} retry: the SDK slept the "
        "retry-after the gateway sent and tried again in the next window. The 429 never "
        "reached the code; it became latency."
        + (f" The backend received {data['retried']['backend_requests']} requests for the "
           f"{len(data['retried']['calls'])} calls: the refused attempt never left the "
           "gateway." if data["retried"]["backend_requests"] is not None else "")
    )  # fmt: skip
    return lines


def _reached(count: int | None, backend: str) -> str:
    """What the backend's journal says about a refused request (nothing when there is none)."""
    if count is None:
        return ""
    if count == 0:
        return f" ({backend}'s journal: no request arrived)"
    return f" (yet {backend}'s journal counts {count} request(s) in the meantime)"
