"""Ids and timestamps: random like Ollama's, or repeatable under ``--seed``.

Ollama's completion ids are ``chatcmpl-<rand.Intn(999)>`` and tool-call ids ``call_`` + 8
characters of ``[a-z0-9]``. With a seed, both come from sha256(seed, request body) (the first
completion number from its last 16 bytes, every other draw from a generator seeded by its first
16) and the clock is frozen, so the same request gives the same bytes in any process.
"""

from __future__ import annotations

import hashlib
import random
import string
import time

FROZEN_CLOCK = 1767225600  # 2026-01-01T00:00:00Z
_CALL_ID_ALPHABET = string.ascii_lowercase + string.digits


# Unseeded ids as Ollama draws them: ``math/rand`` (completion, call and message numbers) from
# one generator seeded by the OS at start, no system call per request; ``crypto/rand`` ids
# (``token_hex``) from the OS every time.
_MATH_RAND = random.Random()
_CRYPTO_RAND = random.SystemRandom()


class RequestIdentity:
    def __init__(self, seed: int | None, body: bytes) -> None:
        self._rng: random.Random | None
        self._crypto: random.Random | None
        self._digest = b""
        self._first: int | None = None  # seeded: the first completion number, from the hash
        if seed is None:
            self._rng, self._crypto = _MATH_RAND, _CRYPTO_RAND
            self._now = time.time()
        else:
            # The generator is made at the first draw past the completion id, which most
            # answers need alone: seeding a ``random.Random`` costs ~5 us, five times the hash.
            self._digest = hashlib.sha256(f"{seed}\0".encode() + body).digest()
            self._first = int.from_bytes(self._digest[16:], "big") % 999
            self._rng = self._crypto = None
            self._now = float(FROZEN_CLOCK)

    def _generator(self) -> random.Random:
        """The request's generator; seeded, made at its first use (from the hash's first half)."""
        if self._rng is None:
            self._rng = self._crypto = random.Random(int.from_bytes(self._digest[:16], "big"))
        return self._rng

    @property
    def created(self) -> int:
        return int(self._now)

    @property
    def now(self) -> float:
        return self._now

    def completion_id(self, prefix: str = "chatcmpl") -> str:
        if self._first is not None:  # seeded, the first draw: from the hash itself
            number, self._first = self._first, None
            return f"{prefix}-{number}"
        return f"{prefix}-{self._generator().randrange(999)}"

    def number(self, below: int) -> int:
        """Go's ``rand.Intn(below)`` (Ollama's ``resp_<n>``, ``msg_<n>`` ids)."""
        return self._generator().randrange(below)

    def token_hex(self, nbytes: int) -> str:
        """``nbytes`` random bytes in hex (Ollama's crypto/rand ids, e.g. Anthropic ``msg_``)."""
        crypto = self._crypto if self._crypto is not None else self._generator()
        return f"{crypto.getrandbits(8 * nbytes):0{2 * nbytes}x}"

    def call_ids(self, count: int) -> list[str]:
        if count <= 0:  # most answers: no generator made for no draw
            return []
        rng = self._generator()
        return [
            "call_" + "".join(rng.choice(_CALL_ID_ALPHABET) for _ in range(8)) for _ in range(count)
        ]
