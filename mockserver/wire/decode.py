"""Decode a JSON request body into a pydantic model, failing the way Go's decoder words it.

Ollama decodes bodies with Go's ``encoding/json`` into typed structs: unknown fields are
ignored, ``null`` leaves a field unset, and a value of the wrong JSON type fails with
``json: cannot unmarshal <json type> into Go struct field <Struct>.<path> of type <go type>``.
"""

from __future__ import annotations

from typing import Any, TypeVar, get_args

import orjson
from pydantic import BaseModel, ValidationError

from mockserver.errors import OllamaError

Model = TypeVar("Model", bound=BaseModel)


def parse_json(body: bytes, *, from_middleware: bool) -> Any:
    if not body.strip():
        raise OllamaError(400, "EOF", from_middleware=from_middleware)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OllamaError(
            400, _json_syntax_message(body, exc), from_middleware=from_middleware
        ) from None


def validate(model: type[Model], data: Any, *, go_struct: str, from_middleware: bool) -> Model:
    if data is None:  # encoding/json: null into a struct "has no effect": the zero request
        data = {}
    if not isinstance(data, dict):
        raise OllamaError(
            400,
            f"json: cannot unmarshal {_json_kind(data)} into Go value of type {go_struct}",
            from_middleware=from_middleware,
        )
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        path = ".".join(str(p) for p in error["loc"] if not isinstance(p, int))
        go_type = _go_type(model, error["loc"])
        kind = _json_kind(error.get("input"))
        if go_type == "int" and isinstance(error.get("input"), float):
            kind = f"number {_go_number(error['input'])}"
        struct = go_struct.rsplit(".", 1)[-1]
        raise OllamaError(
            400,
            f"json: cannot unmarshal {kind} into Go struct field {struct}.{path} of type {go_type}",
            from_middleware=from_middleware,
        ) from None
    _check_tools(getattr(parsed, "tools", None), go_struct, from_middleware)
    return parsed


# api.Tool's typed parts below the loosely modelled ``tools`` list (``[]dict``): Go decodes them
# into structs, so a wrong JSON type there is a decoding error too, not a crash later in a
# template. Go type names from ollama's api/types.go; exact strings UNVERIFIED by running.
_TOOL_FUNCTION_FIELDS = (
    ("name", "string", str),
    ("description", "string", str),
    ("parameters", "api.ToolFunctionParameters", dict),
)
_TOOL_PARAMETERS_FIELDS = (
    ("type", "string", str),
    ("required", "[]string", list),
    ("properties", "map[string]api.ToolProperty", dict),
)


def _check_tools(tools: Any, go_struct: str, from_middleware: bool) -> None:
    struct = go_struct.rsplit(".", 1)[-1]

    def fail(path: str, go_type: str, value: Any) -> OllamaError:
        return OllamaError(
            400,
            f"json: cannot unmarshal {_json_kind(value)} into Go struct field "
            f"{struct}.tools.{path} of type {go_type}",
            from_middleware=from_middleware,
        )

    for tool in tools or ():
        kind = tool.get("type")
        if kind is not None and not isinstance(kind, str):
            raise fail("type", "string", kind)
        function = tool.get("function")
        if function is None:
            continue
        if not isinstance(function, dict):
            raise fail("function", "api.ToolFunction", function)
        for key, go_type, expected in _TOOL_FUNCTION_FIELDS:
            value = function.get(key)
            if value is not None and not isinstance(value, expected):
                raise fail(f"function.{key}", go_type, value)
        for key, go_type, expected in _TOOL_PARAMETERS_FIELDS:
            value = (function.get("parameters") or {}).get(key)
            if value is not None and not isinstance(value, expected):
                raise fail(f"function.parameters.{key}", go_type, value)


def _go_type(model: type[BaseModel], loc: tuple) -> str:
    current: Any = model
    go_type = "string"
    for part in loc:
        if isinstance(part, int):
            continue
        if current is None or not hasattr(current, "model_fields"):
            break
        field = next(
            (f for name, f in current.model_fields.items() if (f.alias or name) == part), None
        )
        if field is None:
            break
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        go_type = str(extra.get("x-go-type", "string"))
        current = _nested_model(field.annotation)
    return go_type


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _nested_model(arg)
        if found is not None:
            return found
    return None


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _go_number(value: float) -> str:
    return repr(value)


def _json_syntax_message(body: bytes, exc: orjson.JSONDecodeError) -> str:
    """Go's wording for the common syntax errors: truncated input or an unexpected character."""
    text = body.decode("utf-8", errors="replace")
    position = exc.pos or 0
    if position >= len(text.rstrip()):
        return "unexpected EOF"
    return f"invalid character {text[position]!r} looking for beginning of value"
