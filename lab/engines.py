"""Which engine answers at a target, and how big its context window is.

Preflight recognises Ollama by ``GET /api/version`` (and knows the bundled fake because it
started it). Any other OpenAI-compatible server is identified here, from clues that cost nothing
or one cheap GET, first match wins:

1. ``GET /v1/models`` (preflight already asks): each entry's ``owned_by`` names the server:
   ``llamacpp`` (llama.cpp's ``llama-server``), ``vllm``, ``organization_owner`` (LM Studio),
   ``me`` (llama-cpp-python's server). vLLM also lists ``max_model_len``.
2. The ``Server`` response header, when a server names itself (``llama.cpp``).
3. ``GET /props``: llama-server's settings, including ``n_ctx``; ``GET /version``: vLLM's.

The experiments adapt to what is found: the context window to overflow
(:func:`context_window`), wording that names the engine, and on the bundled fake
(:func:`answers_are_scripted`) the honest note that its answers are written text, not a model's.

Importing this module costs nothing (``httpx`` is loaded by the functions that probe), so the
experiments that use it can be listed without loading an HTTP stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeGuard

if TYPE_CHECKING:
    import httpx

    from lab.ollama import EngineInfo
    from lab.targets import Target

FAKE = "portway-fake"  # the bundled fake: preflight names it so, because the lab started it
LLAMA_CPP = "llama.cpp"
LLAMA_CPP_PYTHON = "llama-cpp-python"
VLLM = "vllm"
LM_STUDIO = "lm-studio"
UNKNOWN = "unknown"

DISPLAY_NAMES = {
    LLAMA_CPP: "llama.cpp server (llama-server)",
    LLAMA_CPP_PYTHON: "llama-cpp-python's server (llama.cpp)",
    VLLM: "vLLM",
    LM_STUDIO: "LM Studio",
}

# ``owned_by`` of ``GET /v1/models`` entries, as each server writes it.
OWNED_BY = {
    "llamacpp": LLAMA_CPP,
    "vllm": VLLM,
    "organization_owner": LM_STUDIO,
    "me": LLAMA_CPP_PYTHON,
}

PROBE_TIMEOUT = 5.0

# Engines that, without max_tokens, generate until the context is full (minutes on a CPU):
# the experiments cap their answers there. Elsewhere the engine's own default is kept.
ANSWER_CAPS = {LLAMA_CPP_PYTHON: 256}


def answer_cap(engine: EngineInfo) -> dict[str, int]:
    """``{"max_tokens": N}`` for an engine that needs a cap, else ``{}`` (extra ``create`` args)."""
    cap = ANSWER_CAPS.get(engine.name)
    return {"max_tokens": cap} if cap else {}


def answers_are_scripted(engine: EngineInfo) -> bool:
    """True on the bundled fake: it runs no model, its answers are text it was given or made up.

    Its token counts are engine-exact, its words are not evidence of what a model would say.
    """
    return engine.name == FAKE


SCRIPTED_NOTE = (
    "These answers come from the bundled fake, which runs no model: their words are canned "
    "text, not evidence of what a model does with the request. Its token counts are what "
    "Ollama counts for the same request; run against a real model (--target ollama) to see "
    "what a model answers."
)


def identify(
    http: httpx.Client, target: Target, models: httpx.Response | None = None
) -> EngineInfo:
    """The engine behind a server that is not Ollama; ``EngineInfo("unknown")`` if unsure.

    ``models`` is preflight's ``GET /v1/models`` answer when it has one. The extra probes
    (``/props``, ``/version``) are only made when the server lists models, i.e. speaks the
    OpenAI API at this address, so an unrelated server is not poked at random paths.
    """
    from lab.ollama import EngineInfo

    if models is None or models.status_code != 200:
        return EngineInfo(UNKNOWN)
    for entry in _entries(models):
        engine = OWNED_BY.get(str(entry.get("owned_by", "")).lower())
        if engine:
            return EngineInfo(engine, evidence=f"GET /v1/models: owned_by {entry['owned_by']!r}")
    server = models.headers.get("server", "")
    if "llama.cpp" in server.lower():
        return EngineInfo(LLAMA_CPP, evidence=f"Server: {server}")
    props = _get_json(http, f"{target.root}/props")
    if isinstance(props, dict) and "default_generation_settings" in props:
        build = props.get("build_info")
        return EngineInfo(
            LLAMA_CPP, build if isinstance(build, str) else "", evidence="GET /props answered"
        )
    version = _get_json(http, f"{target.root}/version")
    if isinstance(version, dict) and isinstance(version.get("version"), str):
        return EngineInfo(VLLM, version["version"], evidence="GET /version answered")
    return EngineInfo(UNKNOWN)


@dataclass(frozen=True, slots=True)
class Window:
    """A context window in tokens and where the number came from."""

    tokens: int
    source: str


def context_window(
    http: httpx.Client, target: Target, model: str, engine: EngineInfo
) -> Window | None:
    """The context window ``model`` runs with on ``target``, if the engine says; else ``None``.

    Ollama (and the fake): ``GET /api/ps`` lists loaded models with their ``context_length``
    (the ``num_ctx`` they were loaded with), so ask after a first request. llama-server:
    ``GET /props`` ``n_ctx``. vLLM: ``max_model_len`` in ``/v1/models``. LM Studio:
    ``loaded_context_length`` in ``/api/v0/models/{model}``.
    """
    from lab.ollama import same_model

    if engine.is_ollama:
        body = _get_json(http, f"{target.root}/api/ps")
        for entry in _dicts(body, "models"):
            name = entry.get("model") or entry.get("name") or ""
            length = entry.get("context_length")
            if isinstance(name, str) and same_model(name, model) and _count(length):
                return Window(length, "GET /api/ps context_length")
        return None
    if engine.name == LLAMA_CPP:
        props = _get_json(http, f"{target.root}/props")
        if isinstance(props, dict):
            settings = props.get("default_generation_settings")
            settings = settings if isinstance(settings, dict) else {}
            n_ctx = settings.get("n_ctx", props.get("n_ctx"))
            if _count(n_ctx):
                return Window(n_ctx, "GET /props n_ctx")
        return None
    if engine.name == VLLM:
        body = _get_json(http, f"{target.openai_url}/models")
        for entry in _dicts(body, "data"):
            if entry.get("id") == model and _count(entry.get("max_model_len")):
                return Window(entry["max_model_len"], "GET /v1/models max_model_len")
        return None
    if engine.name == LM_STUDIO:
        body = _get_json(http, f"{target.root}/api/v0/models/{model}")
        if isinstance(body, dict) and _count(body.get("loaded_context_length")):
            return Window(body["loaded_context_length"], "GET /api/v0/models loaded_context_length")
    return None


def _count(value: object) -> TypeGuard[int]:
    """A positive whole number (a context window), not a bool or a string."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _dicts(body: object, key: str) -> list[dict[str, Any]]:
    """The object entries of ``body[key]`` when it is a list; anything else gives none."""
    listed = body.get(key) if isinstance(body, dict) else None
    return (
        [entry for entry in listed if isinstance(entry, dict)] if isinstance(listed, list) else []
    )


_LIMIT = re.compile(r"(?:maximum context length is|context window of|n_ctx[^0-9]{0,12})\s*(\d+)")


def window_in_error(message: str) -> int | None:
    """The window an over-long-prompt error names (vLLM, llama.cpp, llama-cpp-python, OpenAI)."""
    match = _LIMIT.search(message)
    return int(match.group(1)) if match else None


def refuses_long_prompt(status: int, message: str) -> bool:
    """Is this error an engine refusing a prompt longer than its context window?"""
    text = message.lower()
    return status in (400, 413, 422) and any(
        word in text
        for word in (
            "context length",
            "context window",
            "context size",  # llama-server: "the request exceeds the available context size"
            "context_length",
            "n_ctx",
            "too long",
        )
    )


def _entries(models: httpx.Response) -> list[dict[str, Any]]:
    try:
        return _dicts(models.json(), "data")
    except ValueError:
        return []


def _get_json(http: httpx.Client, url: str) -> Any:
    import httpx

    try:
        response = http.get(url, timeout=PROBE_TIMEOUT)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        return response.json()
    except ValueError:
        return None
