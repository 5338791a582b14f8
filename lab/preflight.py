"""Checks before the first chat call, so that a setup problem reads as a paragraph, not a trace.

For Ollama (``--target ollama``, or a URL where Ollama answers): is it reachable, is it Ollama
(``GET /api/version``), is the model pulled (``GET /api/tags``, Ollama's naming rules). For other
OpenAI-compatible servers: is it reachable, is the key accepted, is the model listed by
``GET /v1/models`` (when the server lists models at all).
"""

from __future__ import annotations

import httpx

from lab import engines, modeltable
from lab.errors import SetupError, start_ollama_advice
from lab.ollama import EngineInfo, NotOllama, canonical_name, pulled_models, same_model, version
from lab.suggest import did_you_mean
from lab.targets import Target

PREFLIGHT_TIMEOUT = 10.0


def check(
    target: Target,
    model: str,
    *,
    api_key: str,
    http: httpx.Client | None = None,
    ram_gib: float | None = None,
) -> EngineInfo:
    """Raise :class:`SetupError` if the experiments cannot run; else say what answered."""
    owned = http is None
    http = http or httpx.Client(timeout=PREFLIGHT_TIMEOUT)
    try:
        if target.kind == "mock":
            try:
                return _check_fake(http, target, model)
            except (httpx.HTTPError, NotOllama) as exc:
                raise SetupError(
                    "The bundled fake is not answering",
                    f"The fake started at {target.root} but GET /api/version or /api/tags "
                    f"failed ({exc}). This is a bug in the fake; please report it.",
                ) from None
        if target.kind == "ollama":
            return _check_ollama(http, target, model, ram_gib)
        return _check_url(http, target, model, api_key, ram_gib)
    finally:
        if owned:
            http.close()


def _check_fake(http: httpx.Client, target: Target, model: str) -> EngineInfo:
    from mockserver import __version__ as fake_version

    emulates = version(http, target.root)
    served = pulled_models(http, target.root)
    if not any(same_model(name, model) for name in served):
        raise SetupError(
            f"The bundled fake does not serve {model}",
            f"The fake has 'pulled' the models of the Post 1 table: {_names(served)}."
            f"{did_you_mean(model, served)} Run with "
            f"--model set to one of them (or unset MODEL for {modeltable.DEFAULT_MODEL}), or "
            "use --target ollama to run this model on a real Ollama.",
        )
    return EngineInfo("portway-fake", fake_version, emulates)


def _check_ollama(
    http: httpx.Client, target: Target, model: str, ram_gib: float | None
) -> EngineInfo:
    try:
        release = version(http, target.root)
    except httpx.ConnectError:
        raise SetupError(
            f"Ollama is not reachable at {target.root}",
            f"Nothing answered at {target.root} (looked there because {target.origin}). "
            + start_ollama_advice(target),
        ) from None
    except httpx.TimeoutException:
        raise SetupError(
            f"Ollama at {target.root} did not answer",
            f"GET {target.root}/api/version got no answer within {PREFLIGHT_TIMEOUT:g} s. "
            "Ollama answers that instantly when it is healthy: restart it (quit the app or "
            "stop `ollama serve`, then start it again) and check "
            f"`curl -s {target.root}/api/tags`.",
        ) from None
    except NotOllama as exc:
        raise SetupError(
            f"The server at {target.root} is not Ollama",
            f"Something answers at {target.root}, but not the way Ollama does: "
            f"{exc.evidence}. --target ollama expects Ollama's native API there (OLLAMA_HOST "
            "may point at another program). If this is another OpenAI-compatible server, run "
            f"with --target {target.root}/v1 instead.",
        ) from None
    except httpx.HTTPError as exc:
        raise SetupError(
            f"Ollama at {target.root} could not be checked",
            f"GET {target.root}/api/version failed: {exc}. {start_ollama_advice(target)}",
        ) from None
    _require_pulled(http, target, model, ram_gib)
    return EngineInfo("ollama", release)


def _require_pulled(http: httpx.Client, target: Target, model: str, ram_gib: float | None) -> None:
    try:
        pulled = pulled_models(http, target.root)
    except (httpx.HTTPError, NotOllama):
        return  # the chat call will say what is wrong, more precisely than a guess here
    if any(same_model(name, model) for name in pulled):
        return
    raise SetupError(
        f"Model {model} is not pulled on {target.label}",
        f"Ollama has no model named {canonical_name(model)} (GET {target.root}/api/tags)."
        f"{did_you_mean(model, [*pulled, *(row.model for row in modeltable.table())])} "
        f"Pull it:\n\n    ollama pull {model}\n\n"
        + _size_hint(model, ram_gib)
        + (
            f"\n\nAlready pulled: {_names(pulled)} (run with --model NAME or MODEL=NAME)."
            if pulled
            else ""
        ),
    )


def _check_url(
    http: httpx.Client, target: Target, model: str, api_key: str, ram_gib: float | None
) -> EngineInfo:
    try:
        release = version(http, target.root)
    except httpx.ConnectError:
        raise SetupError(
            f"Nothing answers at {target.openai_url}",
            f"Could not connect to {target.root}. Check that the server is running and that "
            "--target is its base URL (e.g. http://localhost:8000/v1). For a local Ollama use "
            "--target ollama; to try the lab without any server, --target mock.",
        ) from None
    except httpx.TimeoutException:
        raise SetupError(
            f"{target.openai_url} did not answer",
            f"No answer from {target.root} within {PREFLIGHT_TIMEOUT:g} s. Check the server "
            "is healthy and that --target is right.",
        ) from None
    except (NotOllama, httpx.HTTPError):
        listed = _require_listed(http, target, model, api_key)
        return engines.identify(http, target, listed)
    _require_pulled(http, target, model, ram_gib)
    return EngineInfo("ollama", release)


def _require_listed(
    http: httpx.Client, target: Target, model: str, api_key: str
) -> httpx.Response | None:
    """Ask ``GET /v1/models``; only a clear answer (401/403, or a list without it) stops us.

    Returns the answer (``lab.engines.identify`` reads the engine from it), or ``None``.
    """
    try:
        response = http.get(
            f"{target.openai_url}/models", headers={"Authorization": f"Bearer {api_key}"}
        )
    except httpx.HTTPError:
        return None
    if response.status_code in (401, 403):
        raise SetupError(
            f"{target.label} rejected the API key",
            f"GET {target.openai_url}/models answered HTTP {response.status_code}. Pass the "
            "key it expects with --api-key or OPENAI_API_KEY.",
        )
    if response.status_code != 200:
        return response
    try:
        ids = [entry["id"] for entry in response.json()["data"] or []]
    except (ValueError, KeyError, TypeError):
        return response
    if ids and model not in ids and not any(same_model(i, model) for i in ids):
        raise SetupError(
            f"{target.label} does not serve {model}",
            f"GET {target.openai_url}/models lists {_names(ids)}.{did_you_mean(model, ids)} "
            "Run with --model set to "
            "one of them (or MODEL=NAME).",
        )
    return response


def _size_hint(model: str, ram_gib: float | None) -> str:
    return modeltable.memory_advice(model, ram_gib)  # one memory rule, stated where shown


def _names(names: list[str]) -> str:
    return ", ".join(names) if names else "no models"
