"""JSON as Ollama's Go templates print it.

Go's ``encoding/json`` writes compact JSON and escapes ``<``, ``>`` and ``&``; Ollama's tool
types fix the key order of tool definitions, and map-typed values (tool-call arguments,
properties) come out with sorted keys.
"""

from __future__ import annotations

import json
from typing import Any

_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def go_json(value: Any) -> str:
    """Compact JSON with sorted keys and Go's HTML escapes."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.translate(_GO_ESCAPES)


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
    """Compact JSON keeping dict order (structs), with Go's HTML escapes."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.translate(_GO_ESCAPES)


def function_json(tool: dict[str, Any]) -> str:
    """A tool's ``function`` as Ollama's ``api.ToolFunction`` prints (``{{ .Function }}``)."""
    return _ordered_json(canonical_tool(tool)["function"])


def tools_json(tools: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> str:
    """The whole tool list as Ollama's ``api.Tools`` prints (``{{ $.Tools }}``)."""
    return _ordered_json([canonical_tool(tool) for tool in tools])
