"""JSON as Ollama's Go templates print it.

Go's ``encoding/json`` (``encode.go``) writes compact JSON, escapes ``<``, ``>``, ``&``, U+2028
and U+2029, and writes every number it decoded into ``any`` as the float64 it is, in the
shortest form that reads back (``1``, not ``1.0``; ``1e+21`` from 1e21 up; ``1e-7`` below
1e-6). Ollama's tool types fix the key order of tool definitions, and map-typed values
(tool-call arguments, properties) come out with sorted keys. The encoder is iterative: a
client may send arguments nested 10,000 deep (Go's decoder limit) and Go prints them.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def go_json(value: Any) -> str:
    """Compact JSON with sorted keys, Go's escapes and Go's numbers."""
    return _encode(value, sort_keys=True)


def go_float(number: float) -> str:
    """``encoding/json`` floatEncoder for a float64: ``strconv.AppendFloat(f, fmt, -1, 64)``
    with ``fmt`` 'e' below 1e-6 and from 1e21 up, else 'f'; ``e-07`` cleaned up to ``e-7``.
    Python's ``repr`` gives the same shortest digits."""
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    text = repr(number)
    magnitude = abs(number)
    if magnitude < 1e-6 or magnitude >= 1e21:  # repr is in exponent form here too
        mantissa, _, exponent = text.partition("e")
        sign, digits = exponent[0], exponent[1:].lstrip("0") or "0"
        if sign == "+" and len(digits) < 2:
            digits = digits.rjust(2, "0")
        return f"{mantissa}e{sign}{digits}"
    fixed = format(Decimal(text), "f")
    return fixed.rstrip("0").rstrip(".") if "." in fixed else fixed


class _Raw(str):
    """Punctuation already encoded, on the encoder's to-do stack."""


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).translate(_GO_ESCAPES)


def _encode(value: Any, *, sort_keys: bool) -> str:
    out: list[str] = []
    todo: list[Any] = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, _Raw):
            out.append(item)
        elif isinstance(item, str):
            out.append(_string(item))
        elif item is None:
            out.append("null")
        elif item is True or item is False:
            out.append("true" if item else "false")
        elif isinstance(item, int):
            out.append(go_float(float(item)) if abs(item) >= 2**53 else str(item))
        elif isinstance(item, float):
            out.append(go_float(item))
        elif isinstance(item, dict):
            keys = sorted(item, key=str) if sort_keys else list(item)
            if not keys:
                out.append("{}")
                continue
            out.append("{")
            todo.append(_Raw("}"))
            for index in range(len(keys) - 1, -1, -1):
                todo.append(item[keys[index]])
                todo.append(_Raw(("," if index else "") + _string(str(keys[index])) + ":"))
        elif isinstance(item, list | tuple):
            if not item:
                out.append("[]")
                continue
            out.append("[")
            todo.append(_Raw("]"))
            for index in range(len(item) - 1, -1, -1):
                todo.append(item[index])
                if index:
                    todo.append(_Raw(","))
        else:
            out.append(_string(str(item)))
    return "".join(out)


def tool_json(tool: dict[str, Any]) -> str:
    """A tool definition in the key order of Ollama's ``api.Tool`` struct."""
    return _ordered_json(canonical_tool(tool))


def canonical_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """The tool as Ollama's ``api.Tool`` holds it after decoding (its fields, its order)."""
    function = tool.get("function") or {}
    parameters = function.get("parameters") or {}
    properties = parameters.get("properties") or {}
    return {
        "type": tool.get("type", "function"),
        "function": {
            "name": function.get("name", ""),
            "description": function.get("description", ""),
            "parameters": {
                "type": parameters.get("type", ""),
                "required": parameters.get("required"),
                "properties": {
                    name: _canonical_property(spec) for name, spec in sorted(properties.items())
                },
            },
        },
    }


def _canonical_property(spec: Any) -> dict[str, Any]:
    if not isinstance(spec, dict):
        return {}
    out: dict[str, Any] = {}
    kind = spec.get("type")
    if kind:
        out["type"] = kind[0] if isinstance(kind, list) and len(kind) == 1 else kind
    if spec.get("items") is not None:
        out["items"] = spec["items"]
    if spec.get("description"):
        out["description"] = spec["description"]
    if spec.get("enum"):
        out["enum"] = spec["enum"]
    return out


def _ordered_json(value: Any) -> str:
    """Compact JSON keeping dict order (structs), with Go's escapes and numbers."""
    return _encode(value, sort_keys=False)


def function_json(tool: dict[str, Any]) -> str:
    """A tool's ``function`` as Ollama's ``api.ToolFunction`` prints (``{{ .Function }}``)."""
    return _ordered_json(canonical_tool(tool)["function"])


def tools_json(tools: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> str:
    """The whole tool list as Ollama's ``api.Tools`` prints (``{{ $.Tools }}``)."""
    return _ordered_json([canonical_tool(tool) for tool in tools])
