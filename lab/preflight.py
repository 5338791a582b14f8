"""Checks before the first chat call, so that a setup problem reads as a paragraph, not a trace.

For Ollama (``--target ollama``, or a URL where Ollama answers): is it reachable, is it Ollama
(``GET /api/version``), is the model pulled (``GET /api/tags``, Ollama's naming rules). For other
OpenAI-compatible servers: is it reachable, is the key accepted, is the model listed by
``GET /v1/models`` (when the server lists models at all), and, when ``/v1/models`` does not
answer JSON, does ``POST /v1/chat/completions`` (an empty body, which every OpenAI-compatible
server rejects in JSON without generating) show an API at all, or a web page, a static file
server, a proxy's error page. Every preflight call is bounded (:mod:`lab.bounds`):
:data:`PREFLIGHT_TIMEOUT` seconds each, a capped body.
"""

from __future__ import annotations

import json

import httpx

from lab import engines, modeltable
from lab.bounds import AnswerTooLarge, DeadlineExceeded, bounded_client
from lab.errors import SetupError, describe_answer, start_ollama_advice
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
    timeout: float | None = None,
) -> EngineInfo:
    """Raise :class:`SetupError` if the experiments cannot run; else say what answered.

    Each preflight call ends within :data:`PREFLIGHT_TIMEOUT` seconds, or ``timeout`` (the
    run's ``--timeout``) if that is shorter.
    """
    owned = http is None
    seconds = _seconds(timeout)
    http = http or bounded_client(seconds)
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


def _seconds(timeout: float | None = None) -> float:
    return PREFLIGHT_TIMEOUT if timeout is None else min(PREFLIGHT_TIMEOUT, timeout)


def _waited(exc: httpx.TimeoutException) -> float:
    """How long the preflight waited: the deadline that expired, else the default."""
    return exc.seconds if isinstance(exc, DeadlineExceeded) else PREFLIGHT_TIMEOUT


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
    except httpx.TimeoutException as exc:
        raise SetupError(
            f"Ollama at {target.root} did not answer",
            f"GET {target.root}/api/version got no answer within {_waited(exc):g} s. "
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
    except NotOllama as exc:
        raise SetupError(
            f"{target.label} answered GET /api/tags with something Ollama does not send",
            f"{exc.evidence}. Ollama lists its pulled models there, each with a name; this "
            f"server answered /api/version like Ollama but cannot be read as one. Check that "
            f"{target.root} is Ollama (`curl -s {target.root}/api/tags`) and look at its log; "
            "another OpenAI-compatible server goes with --target BASE_URL/v1.",
        ) from None
    except (httpx.TimeoutException, AnswerTooLarge) as exc:
        raise SetupError(
            f"{target.label} did not answer GET /api/tags",
            f"GET {target.root}/api/tags failed: {exc}. Ollama answers it at once when it is "
            "healthy: restart it and check `curl -s " + target.root + "/api/tags`.",
        ) from None
    except httpx.HTTPError:
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
    except httpx.TimeoutException as exc:
        raise SetupError(
            f"{target.openai_url} did not answer",
            f"No answer from {target.root} within {_waited(exc):g} s. Check the server "
            "is healthy and that --target is right.",
        ) from None
    except (NotOllama, httpx.HTTPError):
        listed = _require_listed(http, target, model, api_key)
        if listed is None or not _is_json(listed):
            _require_openai_api(http, target, api_key, listed)
        return engines.identify(http, target, listed)
    _require_pulled(http, target, model, ram_gib)
    return EngineInfo("ollama", release)


def _require_listed(
    http: httpx.Client, target: Target, model: str, api_key: str
) -> httpx.Response | None:
    """Ask ``GET /v1/models``; a clear answer (401/403, a list without the model) stops us.

    So does a list that is not a model list (ids that are not names), a hang, or an answer
    too large to read. Returns the answer (``lab.engines.identify`` reads the engine from it),
    or ``None`` when the request failed otherwise.
    """
    url = f"{target.openai_url}/models"
    try:
        response = http.get(url, headers={"Authorization": f"Bearer {api_key}"})
    except (httpx.TimeoutException, AnswerTooLarge) as exc:
        raise _unusable(target, f"GET {url}", exc) from None
    except httpx.HTTPError:
        return None
    if response.status_code in (401, 403):
        raise SetupError(
            f"{target.label} rejected the API key",
            f"GET {url} answered HTTP {response.status_code}. Pass the key it expects with "
            "--api-key or OPENAI_API_KEY.",
        )
    if response.status_code != 200:
        return response
    try:
        data = response.json()["data"]
    except (ValueError, KeyError, TypeError):
        return response
    if data is None:
        return response
    entries = data if isinstance(data, list) else [data]
    ids = [entry.get("id") for entry in entries if isinstance(entry, dict)]
    odd = [value for value in ids if not isinstance(value, str) or not value.strip()]
    odd += [entry for entry in entries if not isinstance(entry, dict)]
    if odd:
        shown = ", ".join(_json(value) for value in odd[:3])
        raise SetupError(
            f"{target.label} answered GET /v1/models with entries that are not models",
            f"GET {url} answered a list whose model ids are {shown}: an OpenAI model list "
            "has one entry per model, each with its name as a string id (what --model takes). "
            "This server is not OpenAI-compatible at this address, or it is broken: check "
            "--target and the server's log.",
        )
    names = [name for name in ids if isinstance(name, str)]  # all of them, checked above
    if names and model not in names and not any(same_model(i, model) for i in names):
        raise SetupError(
            f"{target.label} does not serve {model}",
            f"GET {url} lists {_names(names)}.{did_you_mean(model, names)} Run with --model "
            "set to one of them (or MODEL=NAME).",
        )
    return response


def _require_openai_api(
    http: httpx.Client, target: Target, api_key: str, models: httpx.Response | None
) -> None:
    """Does anything speak the OpenAI API here? A web page or a file server must not pass.

    ``GET /v1/models`` did not answer JSON, which some OpenAI-compatible servers do not serve;
    so ask ``POST /v1/chat/completions`` with an empty JSON body: such a server rejects it with
    a JSON error (Ollama, llama-server, vLLM: HTTP 400) without generating anything, where a
    static file server answers 501 with an HTML page, and nginx 405.
    """
    url = f"{target.openai_url}/chat/completions"
    try:
        probe = http.post(url, json={}, headers={"Authorization": f"Bearer {api_key}"})
    except (httpx.TimeoutException, AnswerTooLarge) as exc:
        raise _unusable(target, f"POST {url}", exc) from None
    except httpx.HTTPError as exc:
        raise SetupError(
            f"{target.openai_url} could not be checked",
            f"GET {target.openai_url}/models did not answer JSON and POST {url} failed "
            f"({exc}). Check that the server is running and that --target is its base URL.",
        ) from None
    if _is_json(probe):
        return
    listed = (
        f"GET {target.openai_url}/models answered {describe_answer(models)}, and " if models else ""
    )
    raise SetupError(
        f"{target.openai_url} is not an OpenAI-compatible base URL",
        f"Something answers HTTP at {target.root}, but not as an OpenAI-compatible server: "
        f"{listed}POST {url} answered {describe_answer(probe)}. An OpenAI-compatible server "
        "answers both in JSON. Check that --target is the base URL of an LLM server, which "
        "usually ends in /v1 (Ollama: http://localhost:11434/v1, llama-server: "
        "http://localhost:8080/v1, vLLM: http://localhost:8000/v1); for a local Ollama, "
        "--target ollama; to try the lab without any server, --target mock.",
    )


def _unusable(target: Target, request: str, exc: httpx.HTTPError) -> SetupError:
    return SetupError(
        f"{target.openai_url} did not answer",
        f"{request} failed: {exc}. A healthy server answers it at once; check that the server "
        "is working and that --target is right.",
    )


def _is_json(response: httpx.Response) -> bool:
    """Did the server answer a JSON object (an API's answer, an error included)?"""
    try:
        return isinstance(response.json(), dict)
    except (ValueError, UnicodeDecodeError):
        return False


def _json(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:39] + "…"


def _size_hint(model: str, ram_gib: float | None) -> str:
    return modeltable.memory_advice(model, ram_gib)  # one memory rule, stated where shown


def _names(names: list[str]) -> str:
    return ", ".join(names) if names else "no models"
