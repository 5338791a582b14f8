"""``lab post 6 7 --target URL``: any one OpenAI-compatible server, for the posts that need one.

Post 7 measures whatever serves ``/v1/chat/completions`` (llama-server, llama-cpp-python's
server, vLLM, Ollama); Post 6 needs to know which engine it talks to (llama-server refuses an
overlong prompt, Ollama truncates it), so the preflight also asks Ollama's ``/api/version``.
Every failure is one paragraph (:class:`lab.errors.SetupError`, exit code 2).
"""

from __future__ import annotations

import httpx

from lab.errors import SetupError
from lab.series.targets import BACKEND_KEY, Backend, Stack

PREFLIGHT_S = 10.0


def url_stack(url: str, timeout: float, model: str | None = None) -> Stack:
    root = url.strip().rstrip("/")
    root = root[:-3] if root.endswith("/v1") else root
    limit = min(timeout, PREFLIGHT_S)
    try:
        models = httpx.get(f"{root}/v1/models", timeout=limit,
                           headers={"Authorization": f"Bearer {BACKEND_KEY}"})  # fmt: skip
    except httpx.HTTPError as exc:
        raise SetupError(
            f"No server answers on {root}",
            f"Posts 6 and 7 talk to one OpenAI-compatible server, and {root} could not be "
            f"reached ({type(exc).__name__}). Start it (llama-server, `python -m "
            "llama_cpp.server`, `ollama serve`, vLLM) and check the port, or run the lab with "
            "--target mock.",
        ) from None
    try:
        listed = models.json().get("data") if models.status_code == 200 else None
    except ValueError:
        listed = None
    ids = [str(m.get("id")) for m in listed or [] if isinstance(m, dict) and m.get("id")]
    if not ids:
        raise SetupError(
            f"{root} does not look like an OpenAI-compatible server",
            f"GET /v1/models answered {models.status_code} without a list of models; "
            "Posts 6 and 7 need a server that speaks /v1/chat/completions (for Ollama, "
            "pull a model first: `ollama pull gpt-oss:20b`).",
        )
    if model is not None and model not in ids:
        raise SetupError(
            f"{root} does not serve {model}",
            f"It lists {', '.join(ids[:8])}; pass one of them with --model, or pull it.",
        )
    name = model or ids[0]
    return Stack([Backend(name, root)], ollama=root if _is_ollama(root, limit) else None,
                 timeout=timeout, label=root)  # fmt: skip


def _is_ollama(root: str, timeout: float) -> bool:
    try:
        answer = httpx.get(f"{root}/api/version", timeout=timeout)
        return answer.status_code == 200 and "version" in answer.json()
    except (httpx.HTTPError, ValueError, TypeError):
        return False
