"""Wire formats of the embedding routes: request bodies and numbers as Go writes them.

``api.EmbedRequest`` / ``api.EmbeddingRequest`` (``api/types.go``) and ``openai.EmbedRequest``
(``openai/openai.go``) decoded with Go's rules (``wire/decode.py``). Vectors are ``[]float32``
on ``/api/embed`` and ``/v1/embeddings`` and ``[]float64`` (each float32 widened) on the legacy
``/api/embeddings``: Go's ``encoding/json`` writes the shortest decimal that reads back as the
same float32 (or float64), in fixed notation unless the magnitude is below 1e-6 (or at least
1e21), where it writes an exponent without a leading zero (``1e-7``).
"""

from __future__ import annotations

import base64
import struct
from decimal import Decimal
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from mockserver.wire.decode import GoInt

_STRICT = ConfigDict(strict=True, extra="ignore", populate_by_name=True, defer_build=True)


def _go(go_type: str) -> dict[str, Any]:
    return {"x-go-type": go_type}


class EmbedRequestIn(BaseModel):
    """``POST /api/embed`` body (``api.EmbedRequest``)."""

    model_config = _STRICT
    model: str | None = Field(None, json_schema_extra=_go("string"))
    input: Any = None
    keep_alive: Any = None
    truncate: bool | None = Field(None, json_schema_extra=_go("bool"))
    dimensions: GoInt | None = Field(None, json_schema_extra=_go("int"))
    options: dict[str, Any] | None = Field(None, json_schema_extra=_go("map[string]interface {}"))


class EmbeddingRequestIn(BaseModel):
    """``POST /api/embeddings`` body (``api.EmbeddingRequest``)."""

    model_config = _STRICT
    model: str | None = Field(None, json_schema_extra=_go("string"))
    prompt: str | None = Field(None, json_schema_extra=_go("string"))
    keep_alive: Any = None
    options: dict[str, Any] | None = Field(None, json_schema_extra=_go("map[string]interface {}"))


class OpenAIEmbedRequestIn(BaseModel):
    """``POST /v1/embeddings`` body (``openai.EmbedRequest``)."""

    model_config = _STRICT
    input: Any = None
    model: str | None = Field(None, json_schema_extra=_go("string"))
    dimensions: GoInt | None = Field(None, json_schema_extra=_go("int"))
    encoding_format: str | None = Field(None, json_schema_extra=_go("string"))


def _shortest32(value: float) -> str:
    """The shortest ``%e`` text that reads back as the same float32."""
    target = struct.pack("<f", value)
    for digits in (6, 7, 8, 9):
        text = f"{value:.{digits - 1}e}"
        if struct.pack("<f", float(text)) == target:
            if digits == 6:
                for fewer in range(5, 0, -1):
                    shorter = f"{value:.{fewer - 1}e}"
                    if struct.pack("<f", float(shorter)) != target:
                        break
                    text = shorter
            return text
    return f"{value:.8e}"


def _go_number(shortest: str, value: float) -> str:
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        mantissa, _, exponent = shortest.partition("e")
        mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
        sign = exponent[0] if exponent[0] in "+-" else "+"
        digits = exponent.lstrip("+-").lstrip("0") or "0"
        if len(digits) < 2:
            digits = "0" + digits
        text = f"{mantissa}e{sign}{digits}"
        if text[-4:-1] == "e-0":  # Go's encoder: e-07 -> e-7
            text = text[:-2] + text[-1]
        return text
    return format(Decimal(shortest).normalize(), "f")


def go_float32(value: float) -> str:
    return _go_number(_shortest32(value), value)


def go_float64(value: float) -> str:
    return _go_number(repr(value), value)


def float32_array(values: list[float]) -> orjson.Fragment:
    return orjson.Fragment(("[" + ",".join(map(go_float32, values)) + "]").encode())


def float64_array(values: list[float]) -> orjson.Fragment:
    return orjson.Fragment(("[" + ",".join(map(go_float64, values)) + "]").encode())


def base64_floats(values: list[float]) -> str:
    """``floatsToBase64``: little-endian float32 bytes, standard base64."""
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def embed_body(
    model: str, vectors: list[list[float]], *, total_ns: int, load_ns: int, tokens: int
) -> dict[str, Any]:
    """``api.EmbedResponse``: the metrics are omitempty."""
    body: dict[str, Any] = {"model": model, "embeddings": [float32_array(v) for v in vectors]}
    if total_ns:
        body["total_duration"] = total_ns
    if load_ns:
        body["load_duration"] = load_ns
    if tokens:
        body["prompt_eval_count"] = tokens
    return body


def openai_embedding_list(
    model: str, vectors: list[list[float]], tokens: int, encoding_format: str | None
) -> dict[str, Any]:
    """``openai.ToEmbeddingList``."""
    as_base64 = (encoding_format or "").lower() == "base64"
    data = [
        {
            "object": "embedding",
            "embedding": base64_floats(vector) if as_base64 else float32_array(vector),
            "index": index,
        }
        for index, vector in enumerate(vectors)
    ]
    return {
        "object": "list",
        "data": data or None,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
