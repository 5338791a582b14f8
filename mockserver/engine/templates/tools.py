"""Tools and tool calls as Ollama's chat templates see and print them.

Ollama decodes a request's ``tools`` into ``api.Tool`` and hands templates a converted copy
(``template/template.go`` convertToolsForTemplate, ollama/ollama@fb3076099); the printing rules
follow from those Go types:

* ``{{ . }}`` of a tool (``templateTool``) and ``{{ $.Tools }}`` (``templateTools``) print
  ``json.Marshal`` of ``{type, items?, function: {name, description, parameters: {type,
  $defs?, items?, required?, properties}}}``: ``description`` always, ``required`` only when
  non-empty (``omitempty``), ``properties`` a Go map (keys sorted; ``null`` when the request
  has none).
* Each property is an ``api.ToolProperty``: ``anyOf, type, items, description, enum,
  properties, required``, every one ``omitempty``; a one-element ``type`` list prints as a
  string; nested ``properties`` keep the request's order (an ordered map); other JSON-schema
  keys (``additionalProperties``, ``default``...) are not part of the type and vanish.
* ``{{ .Function }}`` (``templateToolFunction``) has no ``String`` method, so ``text/template``
  prints it with ``fmt``'s ``%v``: ``{name description {type <nil> <nil> [required] {...}}}``,
  the properties as JSON (``templateProperties.String``). That is what Ollama sends qwen2.5
  (ollama/ollama#14601, open at the emulated commit).
* ``{{ .Function.Arguments }}`` (``templateArgs``) prints ``json.Marshal`` of the decoded
  ``map[string]any``: sorted keys, every number a float64.
"""

from __future__ import annotations

from typing import Any

from mockserver.engine.chat import ToolCall
from mockserver.wire.gojson import (
    as_decoded,
    exponent_form,
    format_float,
    marshal,
    shortest_digits,
)


def arguments_json(call: ToolCall) -> str:
    """``{{ .Function.Arguments }}``."""
    return marshal(as_decoded(call.arguments or {}))


def tool_json(tool: dict[str, Any]) -> str:
    """``{{ . }}`` of one tool (``templateTool.String``)."""
    return marshal(template_tool(tool))


def tools_json(tools: tuple[dict[str, Any], ...]) -> str:
    """``{{ $.Tools }}`` (``templateTools.String``)."""
    return marshal([template_tool(tool) for tool in tools])


def function_text(tool: dict[str, Any]) -> str:
    """``{{ .Function }}``: ``fmt``'s ``%v`` of ``templateToolFunction``."""
    function = template_tool(tool)["function"]
    parameters = function["parameters"]
    properties = parameters["properties"]
    fields = [
        parameters["type"],
        go_value_text(parameters.get("$defs")),
        go_value_text(parameters.get("items")),
        "[" + " ".join(parameters.get("required", ())) + "]",
        "{}" if properties is None else marshal(properties),
    ]
    return f"{{{function['name']} {function['description']} {{{' '.join(fields)}}}}}"


def template_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """``templateTool`` as ``json.Marshal`` sees it: its fields, in their order."""
    function = _object(tool.get("function"))
    parameters = _object(function.get("parameters"))
    out: dict[str, Any] = {"type": _string(tool.get("type"))}
    if tool.get("items") is not None:
        out["items"] = as_decoded(tool["items"])
    params: dict[str, Any] = {"type": _string(parameters.get("type"))}
    if parameters.get("$defs") is not None:
        params["$defs"] = as_decoded(parameters["$defs"])
    if parameters.get("items") is not None:
        params["items"] = as_decoded(parameters["items"])
    if parameters.get("required"):
        params["required"] = list(parameters["required"])
    properties = parameters.get("properties")
    params["properties"] = (
        None
        if not isinstance(properties, dict)
        else {name: tool_property(properties[name]) for name in sorted(properties)}
    )
    out["function"] = {
        "name": _string(function.get("name")),
        "description": _string(function.get("description")),
        "parameters": params,
    }
    return out


def tool_property(spec: Any) -> dict[str, Any]:
    """An ``api.ToolProperty`` as ``json.Marshal`` writes it (every field ``omitempty``)."""
    spec = _object(spec)
    out: dict[str, Any] = {}
    if isinstance(spec.get("anyOf"), list) and spec["anyOf"]:
        out["anyOf"] = [tool_property(one) for one in spec["anyOf"]]
    types = property_types(spec)
    if types:
        out["type"] = types[0] if len(types) == 1 else types
    if spec.get("items") is not None:
        out["items"] = as_decoded(spec["items"])
    if spec.get("description"):
        out["description"] = spec["description"]
    if spec.get("enum"):
        out["enum"] = as_decoded(spec["enum"])
    if isinstance(spec.get("properties"), dict):
        out["properties"] = {name: tool_property(p) for name, p in spec["properties"].items()}
    if spec.get("required"):
        out["required"] = list(spec["required"])
    return out


def property_types(spec: dict[str, Any]) -> list[str]:
    """``api.PropertyType``: a JSON-schema ``type``, one string or a list of them."""
    kind = spec.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [str(k) for k in kind]
    return []


_TYPESCRIPT = {
    "string": "string",
    "number": "number",
    "integer": "number",
    "boolean": "boolean",
    "array": "any[]",
    "object": "Record<string, any>",
    "null": "null",
}


def typescript_type(spec: Any) -> str:
    """``toTypeScriptType`` (``api.ToolProperty.ToTypeScriptType``): ``anyOf`` members or the
    types joined by `` | ``; ``any`` without a type; enums and item types are not shown."""
    spec = _object(spec)
    if isinstance(spec.get("anyOf"), list) and spec["anyOf"]:
        return " | ".join(typescript_type(one) for one in spec["anyOf"])
    types = property_types(spec)
    if not types:
        return "any"
    return " | ".join(_TYPESCRIPT.get(kind, "any") for kind in types)


def go_value_text(value: Any) -> str:
    """``fmt``'s ``%v`` of a value Go decoded into ``any`` (maps print ``map[k:v ...]`` with
    sorted keys, numbers as ``%g`` with the shortest digits)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _g_format(float(value))
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value_text(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_value_text(item) for item in value) + "]"
    return str(value)


def _g_format(value: float) -> str:
    """``fmt``'s ``%v`` of a float64: ``strconv.FormatFloat(f, 'g', -1, 64)``, the shortest
    digits, in exponent form when the exponent is below -4 or at least 6 (``%g``'s precision
    for shortest digits), else plain."""
    negative, digits, point = shortest_digits(value)
    minus = "-" if negative else ""
    if value != 0 and not -4 <= point - 1 < 6:
        return minus + exponent_form(digits, point)
    return format_float(value)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""
