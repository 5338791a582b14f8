"""Post 1's count next to Post 2's: one conversation rendered by Ollama and by llama.cpp.

Post 1 counted gpt-oss:20b's prompts on Ollama, whose Go Harmony renderer writes the prompt
(``model/renderers`` at the emulated commit; the lab computes it with the bundled fake Ollama's
engine, which reimplements that renderer and the o200k_harmony vocabulary). Post 2's
llama-server renders the GGUF's own Jinja chat template (``--jinja``) and tokenizes that. Both
renderings of the same messages are put side by side here, with the parts where their texts
differ: that difference, not the vocabulary (the same one), is what moves the count.

The llama.cpp side is asked of the backend itself (``POST /apply-template`` and ``/tokenize``
with ``add_special``, which is what its ``usage.prompt_tokens`` counts). The Ollama side takes
the backend's "Current date" so that the comparison isolates the renderers.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

import httpx

from lab.series.targets import BACKEND_KEY, Backend

OLLAMA_MODEL = "gpt-oss:20b"
_DATE = re.compile(r"Current date: (\d{4}-\d{2}-\d{2})")


def conversations(prompt: str, five_turn: list[Any]) -> list[tuple[str, list[Any]]]:
    return [
        ("Post 2's prompt", [{"role": "user", "content": prompt}]),
        ("Post 1's 5-turn conversation", five_turn),
        ("with a system message", [{"role": "system", "content": "Answer in one sentence."},
                                   {"role": "user", "content": prompt}]),
    ]  # fmt: skip


def is_gpt_oss(backend: Backend, timeout: float) -> bool:
    """The backend serves a Harmony template (its ``/props`` chat_template has channels)."""
    try:
        props = httpx.get(f"{backend.url}/props", timeout=timeout, headers=_auth()).json()
    except (httpx.HTTPError, ValueError):
        return False
    return "<|channel|>" in str(props.get("chat_template") or "")


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {BACKEND_KEY}"}


def llama_cpp_rendering(backend: Backend, messages: list[Any], timeout: float) -> tuple[str, int]:
    prompt = httpx.post(f"{backend.url}/apply-template", json={"messages": messages},
                        timeout=timeout, headers=_auth()).json()["prompt"]  # fmt: skip
    ids = httpx.post(f"{backend.url}/tokenize", json={"content": prompt, "add_special": True},
                     timeout=timeout, headers=_auth()).json()["tokens"]  # fmt: skip
    return prompt, len(ids)


def ollama_rendering(messages: list[Any], current_date: str | None) -> tuple[str, int]:
    """The prompt Ollama writes for gpt-oss:20b on ``/v1/chat/completions`` and its count
    (``prompt_eval_count``, Post 1's ``usage.prompt_tokens``), from the fake Ollama's engine."""
    from mockserver.engine.catalog import Catalog
    from mockserver.engine.chat import ChatRequest, Message
    from mockserver.engine.engine import Engine

    engine = Engine(Catalog((OLLAMA_MODEL,)), current_date=current_date)
    request = ChatRequest(
        model=OLLAMA_MODEL,
        messages=tuple(Message(role=m["role"], content=m["content"]) for m in messages),
    )
    card, family = engine.resolve(request.model)
    prompt = engine.prompt(request, card, family)
    return prompt.text, prompt.tokens


def differing_parts(ollama: str, llama_cpp: str, context: int = 16) -> list[dict[str, str]]:
    """Where the two prompt texts differ, each part with a little shared text around it."""
    parts = []
    matcher = difflib.SequenceMatcher(None, ollama, llama_cpp, autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            continue
        parts.append({
            "before": ollama[max(0, a0 - context):a0],
            "ollama": ollama[a0:a1],
            "llama_cpp": llama_cpp[b0:b1],
            "after": ollama[a1:a1 + context],
        })  # fmt: skip
    return parts


def compare(backend: Backend, prompt: str, five_turn: list[Any], timeout: float) -> list[dict]:
    rows = []
    for label, messages in conversations(prompt, five_turn):
        llama_text, llama_count = llama_cpp_rendering(backend, messages, timeout)
        found = _DATE.search(llama_text)
        ollama_text, ollama_count = ollama_rendering(messages, found.group(1) if found else None)
        rows.append({
            "conversation": label, "messages": len(messages),
            "ollama_prompt_tokens": ollama_count, "llama_cpp_prompt_tokens": llama_count,
            "identical_text": ollama_text == llama_text,
            "differing_parts": differing_parts(ollama_text, llama_text),
            "ollama_prompt": ollama_text, "llama_cpp_prompt": llama_text,
        })  # fmt: skip
    return rows
