"""What the lab needs to know about Ollama itself: model naming, and its native ``/api`` routes.

Used by the preflight to tell "Ollama is not running" from "this is not Ollama" from "the model
is not pulled" before the first chat call, and to name the engine in ``--json`` output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

REGISTRY_PREFIXES = ("registry.ollama.ai/library/", "registry.ollama.ai/", "library/")


def canonical_name(name: str) -> str:
    """A model name as Ollama resolves it: a bare name means ``:latest``, case does not matter.

    >>> canonical_name("Llama3.1")
    'llama3.1:latest'
    """
    name = name.strip().lower()
    for prefix in REGISTRY_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    if ":" not in name.rpartition("/")[2]:
        name += ":latest"
    return name


def same_model(a: str, b: str) -> bool:
    return canonical_name(a) == canonical_name(b)


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """What answered: ``ollama 0.12.6``, the bundled fake, or an unknown OpenAI-compatible one."""

    name: str  # "ollama", "portway-fake", "unknown", or one of lab.engines' names
    version: str = ""
    emulates: str = ""  # for the fake: the Ollama release it reproduces
    evidence: str = ""  # how a non-Ollama engine was recognised ("owned_by 'vllm'")

    @property
    def is_ollama(self) -> bool:
        return self.name in ("ollama", "portway-fake")

    def describe(self) -> str:
        if self.name == "portway-fake":
            return f"Portway fake Ollama {self.version} (emulating Ollama {self.emulates})"
        if self.name == "ollama":
            return f"Ollama {self.version}".strip()
        from lab.engines import DISPLAY_NAMES

        if self.name in DISPLAY_NAMES:
            named = f"{DISPLAY_NAMES[self.name]} {self.version}".strip()
            return f"{named} ({self.evidence})" if self.evidence else named
        return "an OpenAI-compatible server (engine not identified)"

    def as_dict(self) -> dict[str, str]:
        data = {"name": self.name, "version": self.version}
        if self.emulates:
            data["emulates"] = self.emulates
        if self.evidence:
            data["evidence"] = self.evidence
        return data


class NotOllama(Exception):
    """Something answered at the address, but not the way Ollama does."""

    def __init__(self, evidence: str) -> None:
        super().__init__(evidence)
        self.evidence = evidence


def version(http: httpx.Client, root: str) -> str:
    """``GET /api/version``; raises :class:`NotOllama` if the answer is not Ollama's."""
    response = http.get(f"{root}/api/version")
    if response.status_code != 200:
        raise NotOllama(f"GET {root}/api/version answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        raise NotOllama(f"GET {root}/api/version answered something that is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("version"), str):
        raise NotOllama(f"GET {root}/api/version answered JSON without a version field")
    return body["version"]


def pulled_models(http: httpx.Client, root: str) -> list[str]:
    """``GET /api/tags``: the names of the models this Ollama has pulled."""
    response = http.get(f"{root}/api/tags")
    if response.status_code != 200:
        raise NotOllama(f"GET {root}/api/tags answered HTTP {response.status_code}")
    try:
        models = response.json().get("models") or []
        return [entry.get("name") or entry.get("model") for entry in models]
    except (ValueError, AttributeError, TypeError):
        raise NotOllama(
            f"GET {root}/api/tags answered something that is not a model list"
        ) from None


def release_of(version: str) -> tuple[int, ...] | None:
    """An Ollama version as (major, minor, patch), for comparisons; None if it is not one.

    >>> release_of("v0.12.3-rc1"), release_of("dev")
    ((0, 12, 3), None)
    """
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", version)
    return tuple(int(part) for part in match.groups()) if match else None
