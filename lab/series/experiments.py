"""The experiments of Posts 2 and 3, each one function of a :class:`Stack` to a Finding."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai

from lab.experiment import Answer, Facts, Finding
from lab.series import renderings
from lab.series.limits import keys_and_limits
from lab.series.metering import metering
from lab.series.targets import BACKEND_KEY, Stack

PROMPT = "In one sentence, what makes Ottawa Canada's capital?"  # Post 2, Block 2
FIVE_TURN: list[Any] = [  # Post 1's 5-turn conversation (lab/experiments/stateless.py)
    {"role": "user", "content": "Hi, I'm planning a trip across Canada."},
    {"role": "assistant", "content": "Nice! Which provinces are you thinking of visiting?"},
    {"role": "user", "content": "Mainly Quebec and Ontario, with a stop in the Maritimes."},
    {"role": "assistant", "content": "Great picks. Are you flying in or driving?"},
    {"role": "user", "content": "Driving. What's the capital of Canada?"},
]


@dataclass(frozen=True, slots=True)
class SeriesExperiment:
    name: str
    post: int
    title: str
    summary: str
    run: Callable[[Stack], Finding]

    @property
    def lesson(self) -> str:
        return f"lab/lessons/{self.name}.md"  # package data, as the Post 1 lessons

    @property
    def lesson_file(self) -> Path:
        """The lesson page on this machine (in the checkout, or in the installed package)."""
        from importlib import resources

        return Path(str(resources.files("lab").joinpath("lessons", f"{self.name}.md")))


def _usage(response: Any) -> dict[str, Any]:
    return response.usage.model_dump(mode="json") if response.usage else {}


def _reasoning(response: Any) -> str:
    extra = response.choices[0].message.model_extra or {}
    return str(extra.get("reasoning_content") or "")


def _cached(usage: dict[str, Any]) -> int | None:
    details = usage.get("prompt_tokens_details") or {}
    return details.get("cached_tokens")


def two_models(stack: Stack) -> Finding:
    """Post 2: inventory, the same prompt in two voices, six concurrent calls on two backends."""
    inventory: list[dict[str, Any]] = []
    for backend in stack.backends:
        listed = backend.client(stack.timeout).models.list()
        inventory.append({"url": backend.url, "models": [m.id for m in listed.data]})
    voices: list[dict[str, Any]] = []
    for backend in stack.backends:
        response = backend.client(stack.timeout).chat.completions.create(
            model=backend.name, messages=[{"role": "user", "content": PROMPT}]
        )
        voices.append(
            {
                "model": backend.name,
                "content": response.choices[0].message.content,
                "reasoning_content": _reasoning(response),
                "usage": _usage(response),
            }
        )

    def one(index: int) -> dict[str, Any]:
        backend = stack.backends[index % len(stack.backends)]
        started = time.perf_counter()
        response = backend.client(stack.timeout).chat.completions.create(
            model=backend.name,
            messages=[{"role": "user", "content": f"Call {index + 1}: {PROMPT}"}],
        )
        return {"call": index + 1, "model": backend.name, "seconds": time.perf_counter() - started,
                "total_tokens": _usage(response).get("total_tokens")}  # fmt: skip

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=6) as pool:
        calls = list(pool.map(one, range(6)))
    wall = time.perf_counter() - started
    counts = [v["usage"].get("prompt_tokens") for v in voices]
    data = {"inventory": inventory, "same_prompt": voices, "concurrent": calls,
            "wall_seconds": round(wall, 3)}  # fmt: skip
    show: list = [
        Facts("Inventory", ("backend", "models"),
              tuple((i["url"], ", ".join(i["models"])) for i in inventory)),
        *(Answer(f"{v['model']} answers", str(v["content"])) for v in voices),
        Facts("The same words, two tokenizers", ("model", "prompt_tokens", "completion_tokens"),
              tuple((v["model"], str(v["usage"].get("prompt_tokens")),
                     str(v["usage"].get("completion_tokens"))) for v in voices)),
        Facts("Six concurrent calls", ("call", "backend", "seconds", "total_tokens"),
              tuple((str(c["call"]), c["model"], f"{c['seconds']:.3f}", str(c["total_tokens"]))
                    for c in calls)),
    ]  # fmt: skip
    harmony = next((b for b in stack.backends if renderings.is_gpt_oss(b, stack.timeout)), None)
    rows: list[dict[str, Any]] = []
    if harmony is not None:
        rows = renderings.compare(harmony, PROMPT, FIVE_TURN, stack.timeout)
        data["post1_vs_post2"] = rows
        show += _rendering_facts(rows)
    longest = max(c["seconds"] for c in calls)
    explanation = [
        "Two backends, one model each: the request's model field picks nothing on a "
        "llama-server; the base URL does.",
        f"The same prompt counts {counts[0]} prompt tokens on {voices[0]['model']} and "
        f"{counts[1]} on {voices[1]['model']}: each backend renders its own chat template and "
        "counts with its own vocabulary, so token budgets are per model.",
        f"Six calls took {wall:.2f} s of wall time against {longest:.2f} s for the slowest "
        "call: the two servers (and each one's slots) work at the same time.",
    ]
    if harmony is not None:
        explanation.append(_rendering_sentence(rows))
    return Finding(data, explanation, show)


def _rendering_facts(rows: list[dict[str, Any]]) -> list:
    counts = Facts("Post 1's count (Ollama's Harmony renderer) next to Post 2's (llama.cpp's "
                   "Jinja template), gpt-oss", ("conversation", "Ollama", "llama.cpp",
                   "same text"), tuple((r["conversation"], str(r["ollama_prompt_tokens"]),
                   str(r["llama_cpp_prompt_tokens"]), "yes" if r["identical_text"] else "no")
                   for r in rows))  # fmt: skip
    parts = tuple(
        (r["conversation"], repr(p["before"] + p["ollama"] + p["after"]),
         repr(p["before"] + p["llama_cpp"] + p["after"]))
        for r in rows for p in r["differing_parts"]
    )  # fmt: skip
    if not parts:
        return [counts]
    return [counts, Facts("Where the two prompts differ", ("conversation", "Ollama writes",
                          "llama.cpp writes"), parts)]  # fmt: skip


def _rendering_sentence(rows: list[dict[str, Any]]) -> str:
    same = [r["conversation"] for r in rows if r["identical_text"]]
    other = [r for r in rows if not r["identical_text"]]
    text = (f"Ollama (Post 1) and llama.cpp (Post 2) wrote the same prompt text, so the same "
            f"count, for: {', '.join(same)}." if same else "")  # fmt: skip
    for r in other:
        moved = r["llama_cpp_prompt_tokens"] - r["ollama_prompt_tokens"]
        text += (f" For \"{r['conversation']}\" the texts differ in {len(r['differing_parts'])} "
                 f"place(s) (shown above) and llama.cpp counts {moved:+d} token(s): "
                 f"{r['llama_cpp_prompt_tokens']} against Ollama's {r['ollama_prompt_tokens']}; "
                 "same vocabulary, different renderer.")  # fmt: skip
    return text.strip()


def prefix_cache(stack: Stack) -> Finding:
    """Post 1's 5-turn conversation sent twice, then grown by a turn, to one backend."""
    backend = stack.backends[0]
    client = backend.client(stack.timeout)
    grown: list[Any] = [*FIVE_TURN, {"role": "assistant", "content": "Ottawa."},
             {"role": "user", "content": "How long is the drive from Montreal?"}]  # fmt: skip
    rows: list[tuple[str, ...]] = []
    data: list[dict[str, Any]] = []
    for label, messages in (("first", FIVE_TURN), ("again", FIVE_TURN), ("grown", grown)):
        started = time.perf_counter()
        first_token: float | None = None
        usage: dict[str, Any] = {}
        text = []
        stream = client.chat.completions.create(
            model=backend.name, messages=messages, stream=True,
            stream_options={"include_usage": True},
        )  # fmt: skip
        for chunk in stream:
            delta = chunk.choices[0].delta if chunk.choices else None
            if delta is not None and (
                delta.content or (delta.model_extra or {}).get("reasoning_content")
            ):  # the first generated token, reasoning included
                first_token = first_token or time.perf_counter() - started
            if delta is not None and delta.content:
                text.append(delta.content)
            if chunk.usage:
                usage = chunk.usage.model_dump(mode="json")
        entry: dict[str, Any] = {"request": label, "messages": len(messages), "usage": usage,
                 "ttft_seconds": first_token, "answer": "".join(text)}  # fmt: skip
        data.append(entry)
        rows.append((label, str(len(messages)), str(usage.get("prompt_tokens")),
                     str(_cached(usage)), f"{(first_token or 0) * 1000:.0f} ms"))  # fmt: skip
    first, again, bigger = data
    same = first["answer"] == again["answer"] and (
        first["usage"].get("prompt_tokens") == again["usage"].get("prompt_tokens")
    )
    if _cached(again["usage"]) is None:
        return Finding.not_applicable(
            "the backend reports no usage.prompt_tokens_details.cached_tokens", {"calls": data}
        )
    explanation = [
        f"Sent again, the same conversation reused {_cached(again['usage'])} of its "
        f"{again['usage'].get('prompt_tokens')} prompt tokens from the slot's KV cache: less "
        "prefill, an earlier first token.",
        "prompt_tokens and the answer did not move: the cache saves work, it is not memory of "
        "the conversation (the client still sent every turn).",
        f"Grown by a turn, the request shares its prefix with the slot's previous one: "
        f"{_cached(bigger['usage'])} cached tokens of {bigger['usage'].get('prompt_tokens')}.",
    ]
    status = "ok" if same else "unexpected"
    if not same:
        explanation.insert(0, "Unexpected: the repeated request got a different answer or count.")
    show = [Facts("The same conversation, the slot's cache", ("request", "messages",
                  "prompt_tokens", "cached_tokens", "first token"), tuple(rows))]  # fmt: skip
    return Finding({"calls": data}, explanation, show, status=status)  # type: ignore[arg-type]


def gateway(stack: Stack) -> Finding:
    """Post 3: /v1/models on the gateway, routing by name, reasoning_content, an unknown model."""
    if not stack.gateway:
        return Finding.not_applicable("no gateway was given (--gateway URL or --target mock)")
    client = stack.gateway_client()
    listed = [m.id for m in client.models.list().data]
    routed: list[dict[str, Any]] = []
    for backend in stack.backends:
        via = client.chat.completions.create(
            model=backend.name, messages=[{"role": "user", "content": PROMPT}]
        )
        direct = httpx.post(
            f"{backend.url}/v1/chat/completions",
            timeout=stack.timeout,
            headers={"Authorization": f"Bearer {BACKEND_KEY}"},
            json={"model": backend.name, "messages": [{"role": "user", "content": PROMPT}]},
        ).json()
        through = via.model_dump(mode="json", exclude_unset=True)
        routed.append({
            "model": backend.name, "answered_as": via.model,
            "reasoning_content": _reasoning(via), "usage": _usage(via),
            "added_by_gateway": sorted(_paths(through) - _paths(direct)),
            "dropped_by_gateway": sorted(_paths(direct) - _paths(through)),
        })  # fmt: skip
    try:
        client.chat.completions.create(model="gpt-99", messages=[{"role": "user", "content": "hi"}])
        unknown: dict[str, Any] = {"status": 200}
    except openai.APIStatusError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        unknown = {"status": exc.status_code, "error": body}
    data = {"gateway": stack.gateway, "models": listed, "routed": routed, "unknown_model": unknown}
    show: list = [
        Facts("One base URL, routed by model name", ("model", "answered as", "prompt_tokens",
              "reasoning_content"), tuple((r["model"], str(r["answered_as"]),
              str(r["usage"].get("prompt_tokens")), "yes" if r["reasoning_content"] else "no")
              for r in routed)),
        Facts("What the gateway changes on the wire", ("model", "added", "dropped"),
              tuple((r["model"], ", ".join(r["added_by_gateway"]) or "-",
                     ", ".join(r["dropped_by_gateway"]) or "-") for r in routed)),
        Answer(f"gpt-99 through the gateway: HTTP {unknown['status']}", str(unknown.get("error"))),
    ]  # fmt: skip
    ok = unknown["status"] in (400, 404) and all(r["reasoning_content"] for r in routed)
    explanation = [
        f"The gateway lists {', '.join(listed)} from its config.yaml and routes each name to "
        "its backend; the client sees one base URL and one key.",
        "reasoning_content, llama-server's own field, passes through the gateway untouched.",
        f"An unknown model is refused by the gateway itself with HTTP {unknown['status']} in "
        "OpenAI's error shape (Ollama says 404 for the same mistake).",
    ]
    return Finding(data, explanation, show, status="ok" if ok else "unexpected")


def _paths(value: Any, prefix: str = "") -> set[str]:
    """The key paths of a JSON document (lists by their first item): what a diff compares."""
    if isinstance(value, dict):
        found = set()
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            found |= {path} | _paths(item, path)
        return found
    if isinstance(value, list) and value:
        return _paths(value[0], f"{prefix}[]")
    return set()


def _later(module: str, name: str) -> Callable[[Stack], Finding]:
    """Posts 6-7 live in their own modules (lab/series/conversation.py, load.py)."""

    def run(stack: Stack) -> Finding:
        import importlib

        return getattr(importlib.import_module(f"lab.series.{module}"), name)(stack)

    return run


EXPERIMENTS = (
    SeriesExperiment("two_models", 2, "Post 2 · Two models side by side",
                     "Both backends' inventory, the same prompt in two voices, six concurrent "
                     "calls.", two_models),
    SeriesExperiment("prefix_cache", 2, "Post 2 · The prefix cache is not memory",
                     "Post 1's 5-turn conversation twice, then grown: cached_tokens and the "
                     "first token move, prompt_tokens and the answer do not.", prefix_cache),
    SeriesExperiment("gateway", 3, "Post 3 · A gateway in front",
                     "A LiteLLM proxy: /v1/models, routing by name, reasoning_content, an "
                     "unknown model, what the gateway adds or drops.", gateway),
    SeriesExperiment("keys_and_limits", 4, "Post 4 · Keys, scopes and limits",
                     "Virtual keys on the gateway: a scoped key's /v1/models and 403, an RPM "
                     "429, a TPM 429 from an estimate, and the SDK's retries that hide them.",
                     keys_and_limits),
    SeriesExperiment("metering", 5, "Post 5 · Metering every request",
                     "A LiteLLM callback writes one row per request: non-streamed, streamed "
                     "without and with include_usage, cached tokens; checked and billed.",
                     metering),
    SeriesExperiment("conversation_state", 6, "Post 6 · A 50-turn thread and the window",
                     "llama-server refuses, Ollama drops turns silently; a sliding window by "
                     "exact tokens and a summary turn keep the thread under the window.",
                     _later("conversation", "conversation_state")),
    SeriesExperiment("load", 7, "Post 7 · Streaming under load",
                     "N concurrent streams per level: TTFT p50/p95, inter-token latency, "
                     "tokens/s per stream and in total, errors; the knee.",
                     _later("load", "load")),
)  # fmt: skip
