"""``logprobs`` / ``top_logprobs``: one entry per generated token, as Ollama passes them on.

Ollama asks llama-server for ``n_probs = max(top_logprobs, 1)`` when ``logprobs`` is set
(``llm/llama_server.go``), keeps each streamed token's ``logprob`` and, only when
``top_logprobs > 0``, its alternatives (``convertLogprobs``), and adds each token's UTF-8
``bytes`` (``server/logprob.go`` toAPILogprobs; ``bytes`` omitted for an empty token). Every
token the runner emits has one, control tokens included (gpt-oss's channel markers); the
end-of-turn token, never emitted, has none.

The fake runs no model, so the numbers are made up, deterministically and honestly: a
function of the conversation, the position and the token (sha256), never of the clock. The
token is the fake's real emitted token; its alternatives are real tokens of the same
vocabulary, its neighbours by id (near ids are related pieces in these BPE/SPM vocabularies),
valid UTF-8 and not control tokens. Each logprob is at most 0, the probabilities of a position
sum to at most 1, the list is sorted most likely first, the sampled token among them, and it
has exactly ``top_logprobs`` entries. They are not a model's probabilities.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from mockserver.engine.tokenizers import Tokenizer

MAX_TOP = 20
_NEIGHBOURS = 600  # ids tried either side of the token's own


def _unit(seed: bytes, salt: int) -> float:
    """A number in [0, 1) from ``seed`` and ``salt``."""
    digest = hashlib.sha256(seed + salt.to_bytes(4, "little")).digest()
    return int.from_bytes(digest[:8], "little") / 2**64


def entry(token: str, logprob: float) -> dict[str, Any]:
    """``api.TokenLogprob``: token, logprob, bytes (omitempty)."""
    out: dict[str, Any] = {"token": token, "logprob": logprob}
    if token:
        out["bytes"] = list(token.encode("utf-8", "surrogatepass"))
    return out


def for_tokens(
    tokenizer: Tokenizer, pieces: list[str], top: int, context: str
) -> list[dict[str, Any]]:
    """``api.Logprob`` of each emitted token (``top`` alternatives when ``top > 0``)."""
    out = []
    base = hashlib.sha256(context.encode("utf-8", "surrogatepass")).digest()
    for position, piece in enumerate(pieces):
        seed = base + position.to_bytes(4, "little") + piece.encode("utf-8", "surrogatepass")
        # The sampled token: usually likely (p between about 0.35 and 1).
        chosen = math.log(1.0 - 0.65 * _unit(seed, 0) ** 2)
        item = entry(piece, chosen)
        if top > 0:
            item["top_logprobs"] = _top(tokenizer, piece, chosen, top, seed)
        out.append(item)
    return out


def _top(
    tokenizer: Tokenizer, piece: str, chosen: float, top: int, seed: bytes
) -> list[dict[str, Any]]:
    alternatives = _alternatives(tokenizer, piece, top - 1, seed)
    rest = 1.0 - math.exp(chosen)  # what the other tokens share
    entries = [entry(piece, chosen)]
    left = rest
    for index, token in enumerate(alternatives):
        share = left * (0.35 + 0.3 * _unit(seed, 100 + index))  # a part of what is left
        left -= share
        entries.append(entry(token, math.log(max(share, 1e-300))))
    entries.sort(key=lambda e: e["logprob"], reverse=True)
    return entries


def _alternatives(tokenizer: Tokenizer, piece: str, count: int, seed: bytes) -> list[str]:
    """``count`` other tokens of the vocabulary near the piece's own id."""
    if count <= 0:
        return []
    ids = tokenizer.encode(piece) if piece else []
    home = ids[0] if ids else int(_unit(seed, 1) * 30_000)
    token_bytes = getattr(tokenizer, "token_bytes", None)
    found: list[str] = []
    seen = {piece}
    step = 0
    while len(found) < count and step < _NEIGHBOURS:
        step += 1
        offset = 1 + int(_unit(seed, 1000 + step) * _NEIGHBOURS)
        candidate = home + (offset if step % 2 else -offset)
        if candidate < 0 or token_bytes is None:
            continue
        try:
            text = token_bytes(candidate).decode("utf-8")
        except (IndexError, KeyError, ValueError, OverflowError, UnicodeDecodeError):
            continue
        if not text or text in seen or (text.startswith("<") and text.endswith(">")):
            continue
        seen.add(text)
        found.append(text)
    return found
