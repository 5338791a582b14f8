"""Go's ``base64.StdEncoding`` decoder: what it accepts, and its error words and offsets.

Ollama decodes every image and audio payload with it: ``encoding/json`` for ``[]api.ImageData``
(``/api/chat`` ``messages[].images``, ``/api/generate`` ``images``), ``DecodeString`` in
``openai/openai.go`` (``image_url`` data URLs, ``input_audio``), ``anthropic/anthropic.go`` and
``openai/responses.go``. The rules (Go's ``encoding/base64/base64.go``, ``decodeQuantum``):
the standard alphabet, ``=`` padding required, ``\\r`` and ``\\n`` skipped anywhere, trailing
bits after the last full byte ignored (the encoding is not ``Strict``). A failure is a
``CorruptInputError``, worded ``illegal base64 data at input byte N``, N a byte offset into the
input. Python's ``base64`` decodes the valid inputs; the offsets are computed here as Go does.
"""

from __future__ import annotations

import base64
import binascii
import re

_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_CANONICAL = re.compile(rb"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_NEWLINES = b"\r\n"


class CorruptInput(ValueError):
    """``base64.CorruptInputError``: ``offset`` is the byte Go reports."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"illegal base64 data at input byte {offset}")
        self.offset = offset


def decode(text: str | bytes) -> bytes:
    """``base64.StdEncoding.DecodeString``: the bytes, or ``CorruptInput`` as Go words it."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    stripped = data.replace(b"\r", b"").replace(b"\n", b"")
    if _CANONICAL.fullmatch(stripped):
        try:
            return base64.b64decode(stripped, validate=True)
        except binascii.Error:  # pragma: no cover - the pattern admits only what decodes
            pass
    raise CorruptInput(_first_error(data))


def _skip_newlines(data: bytes, at: int) -> int:
    while at < len(data) and data[at] in _NEWLINES:
        at += 1
    return at


def _first_error(data: bytes) -> int:
    """The offset ``decodeQuantum`` fails at, walking 4-character quanta as Go does."""
    at = 0
    while at < len(data):
        filled = 0
        while filled < 4:
            if at == len(data):
                return at - filled  # (filled == 0 here only for valid input)
            char = data[at]
            at += 1
            if char in _ALPHABET:
                filled += 1
                continue
            if char in _NEWLINES:
                continue
            if char != ord("="):
                return at - 1
            if filled in (0, 1):  # padding too early
                return at - 1
            if filled == 2:  # "==" expected, the first "=" consumed
                at = _skip_newlines(data, at)
                if at == len(data):
                    return len(data)
                if data[at] != ord("="):
                    return at - 1
                at += 1
            at = _skip_newlines(data, at)
            return at  # trailing garbage after the padding (== len only for valid input)
    return len(data)
