"""Tools and tool calls as Ollama's templates print them (``engine/templates/tools.py``).

Expected texts derived from Ollama's Go types at the emulated commit (``api/types.go``,
``template/template.go``): ``description`` always present, ``required`` only when non-empty
(``omitempty``: a tool without ``required`` has no ``required`` key, never ``null``),
properties sorted (a Go map) but nested properties in request order (an ordered map), schema
keys outside ``api.ToolProperty`` dropped, ``{{ .Function }}`` printed with ``fmt``'s ``%v``,
``toTypeScriptType`` without enums or item types. With a ``go`` on PATH, the same table is
rendered by Go's ``text/template`` through ``tests/gotemplate/render.go``.
"""

from __future__ import annotations

from typing import Any

import goharness
import pytest

from mockserver.engine.chat import ToolCall
from mockserver.engine.templates.tools import (
    arguments_json,
    function_text,
    tool_json,
    typescript_type,
)


def _tool(name: str, parameters: dict[str, Any] | None = None, **function: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, **function}
    if parameters is not None:
        body["parameters"] = parameters
    return {"type": "function", "function": body}


# (tool, {{ . }}, {{ .Function }}, "name=type;" per property as toTypeScriptType prints it)
TOOLS: list[tuple[dict[str, Any], str, str, str]] = [
    (
        _tool("get_time", {"type": "object", "properties": {}}, description="Local time"),
        '{"type":"function","function":{"name":"get_time","description":"Local time",'
        '"parameters":{"type":"object","properties":{}}}}',
        "{get_time Local time {object <nil> <nil> [] {}}}",
        "",
    ),
    (
        _tool("ping"),  # no description, no parameters: "description" stays, properties null
        '{"type":"function","function":{"name":"ping","description":"",'
        '"parameters":{"type":"","properties":null}}}',
        "{ping  { <nil> <nil> [] {}}}",
        "",
    ),
    (
        _tool(
            "get_weather",
            {
                "type": "object",
                "required": ["city"],
                "additionalProperties": False,
                "properties": {
                    "unit": {"type": "string", "enum": ["c", "f"], "default": "c"},
                    "city": {"type": ["string"], "description": "City & <country>"},
                },
            },
            description="Weather",
        ),
        '{"type":"function","function":{"name":"get_weather","description":"Weather",'
        '"parameters":{"type":"object","required":["city"],"properties":{'
        '"city":{"type":"string","description":"City \\u0026 \\u003ccountry\\u003e"},'
        '"unit":{"type":"string","enum":["c","f"]}}}}}',
        '{get_weather Weather {object <nil> <nil> [city] {"city":{"type":"string",'
        '"description":"City \\u0026 \\u003ccountry\\u003e"},"unit":{"type":"string",'
        '"enum":["c","f"]}}}}',
        "city=string;unit=string;",
    ),
    (
        _tool(
            "plan",
            {
                "type": "object",
                "required": [],
                "$defs": {"step": {"type": "string", "maxLength": 80}},
                "properties": {
                    "when": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    "steps": {"type": "array", "items": {"type": "string", "minItems": 1.0}},
                    "limits": {
                        "type": "object",
                        "properties": {"z": {"type": "integer"}, "a": {"type": "number"}},
                    },
                    "mixed": {"type": ["integer", "boolean"]},
                    "free": {},
                },
            },
            description="Plan",
        ),
        '{"type":"function","function":{"name":"plan","description":"Plan",'
        '"parameters":{"type":"object","$defs":{"step":{"maxLength":80,"type":"string"}},'
        '"properties":{"free":{},'
        '"limits":{"type":"object","properties":{"z":{"type":"integer"},"a":{"type":"number"}}},'
        '"mixed":{"type":["integer","boolean"]},'
        '"steps":{"type":"array","items":{"minItems":1,"type":"string"}},'
        '"when":{"anyOf":[{"type":"string"},{"type":"null"}]}}}}}',
        "{plan Plan {object map[step:map[maxLength:80 type:string]] <nil> [] "
        '{"free":{},"limits":{"type":"object","properties":{"z":{"type":"integer"},'
        '"a":{"type":"number"}}},"mixed":{"type":["integer","boolean"]},'
        '"steps":{"type":"array","items":{"minItems":1,"type":"string"}},'
        '"when":{"anyOf":[{"type":"string"},{"type":"null"}]}}}}',
        "free=any;limits=Record<string, any>;mixed=number | boolean;steps=any[];"
        "when=string | null;",
    ),
]

# fmt's %v of numbers decoded into any ($defs shows them through {{ .Function }}): %g with the
# shortest digits, exponent form below 1e-4 and from 1e6 on.
_NUMBERS = [1e6, 123456, 1234567, 1e-5, 0.0001, 1.5e-7, 1e21, 3.14, -2.0, True, None]
TOOLS.append(
    (
        _tool("numbers", {"type": "object", "$defs": {"n": _NUMBERS}}),
        '{"type":"function","function":{"name":"numbers","description":"",'
        '"parameters":{"type":"object","$defs":{"n":[1000000,123456,1234567,0.00001,0.0001,'
        '1.5e-7,1e+21,3.14,-2,true,null]},"properties":null}}}',
        "{numbers  {object map[n:[1e+06 123456 1.234567e+06 1e-05 0.0001 1.5e-07 1e+21 3.14 -2 "
        "true <nil>]] <nil> [] {}}}",
        "",
    )
)

ARGUMENTS: list[tuple[dict[str, Any], str]] = [
    ({"city": "Paris"}, '{"city":"Paris"}'),
    ({"b": 1.0, "a": 1.5e-7, "c": 10**21}, '{"a":1.5e-7,"b":1,"c":1e+21}'),
    ({"q": "a<b & c\u2028"}, '{"q":"a\\u003cb \\u0026 c\\u2028"}'),
    ({"o": {"y": [1, 2.5], "x": None}}, '{"o":{"x":null,"y":[1,2.5]}}'),
    ({}, "{}"),
]

_PROBE = (
    "{{- range .Tools }}{{ . }}\n{{ .Function }}\n"
    "{{ range $name, $p := .Function.Parameters.Properties }}"
    "{{ $name }}={{ $p | toTypeScriptType }};{{ end }}\n{{ end }}"
)
_ARGS_PROBE = (
    "{{- range .Messages }}{{ range .ToolCalls }}{{ .Function.Arguments }}{{ end }}{{ end }}"
)


def _typescript_line(tool: dict[str, Any]) -> str:
    properties = tool["function"].get("parameters", {}).get("properties", {})
    return "".join(f"{name}={typescript_type(properties[name])};" for name in sorted(properties))


@pytest.mark.parametrize(("tool", "as_json", "as_function", "types"), TOOLS)
def test_tool_printing(tool: dict[str, Any], as_json: str, as_function: str, types: str) -> None:
    assert tool_json(tool) == as_json
    assert function_text(tool) == as_function
    assert _typescript_line(tool) == types


def test_a_tool_without_required_has_no_required_key() -> None:
    assert '"required"' not in tool_json(_tool("f", {"type": "object", "properties": {}}))


@pytest.mark.parametrize(("arguments", "expected"), ARGUMENTS)
def test_arguments(arguments: dict[str, Any], expected: str) -> None:
    assert arguments_json(ToolCall("f", arguments)) == expected


@pytest.fixture(scope="module")
def go_render(tmp_path_factory: pytest.TempPathFactory):
    binary = goharness.build("gotemplate", tmp_path_factory.mktemp("gotemplate-tools"))

    def render(cases: list[dict[str, Any]]) -> list[str]:
        results = goharness.run(binary, cases)
        assert not any(r.get("error") for r in results), results
        return [r["rendered"] for r in results]

    return render


def test_tools_match_go(go_render) -> None:
    cases = [
        {"id": str(i), "template": _PROBE, "messages": [], "tools": [tool]}
        for i, (tool, *_) in enumerate(TOOLS)
    ]
    expected = [f"{j}\n{f}\n{t}\n" for _, j, f, t in TOOLS]
    assert go_render(cases) == expected


def test_arguments_match_go(go_render) -> None:
    cases = [
        {
            "id": str(i),
            "template": _ARGS_PROBE,
            "messages": [
                {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": a}}]}
            ],
        }
        for i, (a, _) in enumerate(ARGUMENTS)
    ]
    assert go_render(cases) == [expected for _, expected in ARGUMENTS]
