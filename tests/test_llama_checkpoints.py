"""The prefix cache through context checkpoints, against numbers measured on the real
llama-server (built from the llama.cpp tree in llama-cpp-python 0.3.36, Gemma 3 270M Q4_K_M,
``--ctx-size 2048 --parallel 1 --cache-ram 0``, Gemma 3's template; see
``tools/LLAMACPP_NOTES.md``): the twin serving ``--model gemma3-270m`` must give the same
``cached_tokens`` for the same sequence of requests."""

from __future__ import annotations

import httpx
import pytest

from mockserver.config import Settings
from mockserver.server import serving

A = [
    {"role": "user", "content": "Name a Canadian city."},
    {"role": "assistant", "content": "Ottawa."},
    {"role": "user", "content": "Another one please, quickly."},
]
A_EDITED = [*A[:2], {"role": "user", "content": "And a province?"}]
OTHER = [{"role": "user", "content": "Something else entirely here."}]

# (request, prompt_tokens, cached_tokens) in order, as the real server answered them
MEASURED = [
    (A, 32, 0),  # an empty slot
    (A, 32, 27),  # the checkpoint before the last 4 tokens: 28 kept, less the re-evaluated one
    (A_EDITED, 30, 17),  # the checkpoint at the last user message (token 18)
    (OTHER, 14, 1),  # only <bos>: the checkpoint at the first user message (token 1)
    (A, 32, 1),
]


@pytest.mark.slow  # PORTWAY_SLOW=1 or nox -s slow (tests/conftest.py)
def test_the_twin_reuses_what_the_real_server_reused():
    settings = Settings(port=0, flavor="llama-server", llama_model="gemma3-270m",
                        alias="gemma-3-270m-q4_k_m", ctx_size=2048, parallel=1)  # fmt: skip
    seen = []
    with serving(settings) as twin:
        for messages, _, _ in MEASURED:
            body = {"messages": messages, "max_tokens": 3}
            usage = httpx.post(f"{twin.url}/v1/chat/completions", json=body).json()["usage"]
            seen.append((usage["prompt_tokens"], usage["prompt_tokens_details"]["cached_tokens"]))
    assert seen == [(tokens, cached) for _, tokens, cached in MEASURED]
