"""``lab fidelity`` over the embedding cases: the embedding models' ``prompt_eval_count``.

The cases (``lab/data/embedding-cases.json``, published real counts with their sources, or the
items of a ``--corpus`` file whose ``endpoint`` is ``embed``) are sent to both servers as
``POST /api/embed`` (``model``, ``input``, and ``truncate`` when the case sets it), the route
whose answer reports ``prompt_eval_count`` (``server/routes.go`` EmbedHandler: the tokens of
every input, after truncation). There is no rendered prompt to compare (an embedding request
has no chat template); the count, or the refusal (status and words, e.g. ``truncate: false``
past the context), must be the target's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeGuard

import httpx

from lab.errors import SetupError

BUNDLED = "embedding-cases.json"
ENDPOINTS = {"embed": "/api/embed"}


@dataclass(frozen=True, slots=True)
class EmbedCase:
    """One ``/api/embed`` request: a model, its input, and ``truncate`` when the case sets it."""

    id: str
    model: str
    input: str | list[str]
    truncate: bool | None = None
    endpoint: str = "embed"
    source: str = ""

    def body(self, model: str) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "input": self.input}
        if self.truncate is not None:
            body["truncate"] = self.truncate
        return body


def bundled_embed_cases() -> list[EmbedCase]:
    text = resources.files("lab.data").joinpath(BUNDLED).read_text("utf-8")
    return parse_embed_cases(json.loads(text), BUNDLED)


def load_embed_cases(path: Path | None) -> list[EmbedCase]:
    """The bundled cases, or those of the corpus at ``path`` (its embedding ``endpoint`` items)."""
    if path is None:
        return bundled_embed_cases()
    try:
        return parse_embed_cases(json.loads(path.read_text("utf-8")), path.name)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SetupError(
            f"Cannot read the corpus {path}",
            f"{type(exc).__name__}: {exc}. An embedding case has an id, a model, an endpoint "
            '("embed"), an input (a string or a list of strings) and an optional truncate, '
            "like lab/data/embedding-cases.json.",
        ) from None


def parse_embed_cases(document: Any, source: str) -> list[EmbedCase]:
    if not isinstance(document, list):
        raise TypeError("the corpus is not a JSON list")
    cases: list[EmbedCase] = []
    for number, item in enumerate(document, 1):
        if not is_embedding_case(item):
            continue  # a chat case (lab/fidelity.py reads those)
        model, text = item.get("model"), item.get("input")
        if not isinstance(model, str) or not _is_input(text):
            raise ValueError(f"case {number} has no model or no input")
        truncate = item.get("truncate")
        cases.append(
            EmbedCase(
                id=str(item.get("id", f"{source}#{number}")),
                model=model,
                input=text,
                truncate=truncate if isinstance(truncate, bool) else None,
                endpoint=item["endpoint"],
                source=source,
            )
        )
    return cases


def is_embedding_case(item: Any) -> bool:
    """An item of a corpus that is an embedding request (its ``endpoint`` is one)."""
    return isinstance(item, dict) and item.get("endpoint") in ENDPOINTS


def _is_input(value: Any) -> TypeGuard[str | list[str]]:
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    )


def embed_count(http: httpx.Client, root: str, case: EmbedCase, model: str) -> tuple[Any, Any]:
    """``(prompt_eval_count, None)``, or ``(None, "HTTP status: error")``."""
    from lab.fidelity import TargetStopped

    url = f"{root}{ENDPOINTS[case.endpoint]}"
    try:
        response = http.post(url, json=case.body(model))
    except httpx.HTTPError as exc:
        raise TargetStopped(f"POST {url}: {type(exc).__name__}: {exc}") from None
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code != 200:
        said = answer.get("error") if isinstance(answer, dict) else None
        return None, f"HTTP {response.status_code}: {said or response.text.strip()[:200]}"
    count = answer.get("prompt_eval_count") if isinstance(answer, dict) else None
    if not isinstance(count, int) or isinstance(count, bool):
        return None, f"no prompt_eval_count in the answer ({json.dumps(answer)[:120]})"
    return count, None
