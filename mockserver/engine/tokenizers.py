"""Tokenizers for the model families, built from the shipped vocabularies.

Every tokenizer parses special-token text as the special token (as Ollama does for the
rendered template and for anything a user typed), and never adds BOS itself: the family
decides whether BOS counts.
"""

from __future__ import annotations

import base64
from typing import Protocol

from mockserver.engine.vocab import VocabFile


class Tokenizer(Protocol):
    """What the engine needs from a vocabulary."""

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, special-token text parsed as specials, no BOS."""
        ...

    def pieces(self, text: str) -> list[str]:
        """``text`` cut into the pieces a streaming engine emits, one per token.

        Pieces concatenate back to ``text``; a token that ends inside a multi-byte character
        is merged with the next one, as Ollama buffers incomplete UTF-8.
        """
        ...


# o200k_base's split pattern, as published in tiktoken (tiktoken_ext/openai_public.py).
_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)

# The Harmony special tokens of o200k_harmony (gpt-oss), as tiktoken defines them.
_HARMONY_SPECIALS = {
    "<|startoftext|>": 199998,
    "<|endoftext|>": 199999,
    "<|reserved_200000|>": 200000,
    "<|reserved_200001|>": 200001,
    "<|return|>": 200002,
    "<|constrain|>": 200003,
    "<|reserved_200004|>": 200004,
    "<|channel|>": 200005,
    "<|start|>": 200006,
    "<|end|>": 200007,
    "<|message|>": 200008,
    "<|reserved_200009|>": 200009,
    "<|reserved_200010|>": 200010,
    "<|reserved_200011|>": 200011,
    "<|call|>": 200012,
} | {f"<|reserved_{i}|>": i for i in range(200013, 201088)}

O200K_BASE = VocabFile(
    "o200k_base.tiktoken.gz",
    "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
)


class HarmonyTokenizer:
    """o200k_harmony, the gpt-oss tokenizer, on tiktoken with the shipped o200k_base ranks."""

    def __init__(self, vocab: VocabFile = O200K_BASE) -> None:
        import tiktoken

        ranks = {
            base64.b64decode(token): int(rank)
            for token, rank in (line.split() for line in vocab.read().splitlines() if line)
        }
        self._encoding = tiktoken.Encoding(
            "o200k_harmony",
            pat_str=_O200K_PATTERN,
            mergeable_ranks=ranks,
            special_tokens=_HARMONY_SPECIALS,
        )

    def encode(self, text: str) -> list[int]:
        return self._encoding.encode(text, allowed_special="all")

    def pieces(self, text: str) -> list[str]:
        return _pieces_from_bytes(
            self._encoding.decode_single_token_bytes(token) for token in self.encode(text)
        )


def _pieces_from_bytes(token_bytes) -> list[str]:
    """Join token byte strings into text pieces, holding back incomplete UTF-8."""
    pieces: list[str] = []
    pending = b""
    for chunk in token_bytes:
        pending += chunk
        try:
            pieces.append(pending.decode("utf-8"))
        except UnicodeDecodeError:
            continue
        pending = b""
    if pending:
        pieces.append(pending.decode("utf-8", errors="replace"))
    return pieces
