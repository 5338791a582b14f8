"""Response bodies serialised as Ollama's Go server writes them."""

from __future__ import annotations

from typing import Any

import orjson

_HTML_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def dumps(value: Any) -> bytes:
    """Compact JSON, dict order kept, with the escapes of Go's ``json.Encoder``.

    ``<``, ``>`` and ``&`` can only occur inside JSON strings, so replacing them in the encoded
    bytes is exact.
    """
    body = orjson.dumps(value)
    for raw, escaped in _HTML_ESCAPES:
        if raw in body:
            body = body.replace(raw, escaped)
    return body
