"""Decode a JSON request body into a pydantic model, failing the way Go's decoder words it.

Ollama decodes bodies with Go's ``encoding/json`` into typed structs: unknown fields are
ignored, ``null`` leaves a field unset, and a value of the wrong JSON type fails with
``json: cannot unmarshal <json type> into Go struct field <Struct>.<path> of type <go type>``.
"""

from __future__ import annotations

import codecs
import math
import re
from typing import Annotated, Any, TypeVar, get_args

import orjson
from pydantic import BaseModel, Field, ValidationError

from mockserver.errors import OllamaError
from mockserver.threads import off_loop

Model = TypeVar("Model", bound=BaseModel)


def parse_json(body: bytes, *, from_middleware: bool) -> Any:
    if not body.strip():
        raise OllamaError(400, "EOF", from_middleware=from_middleware)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # what orjson refuses, Go may accept (see go_loads)
    try:
        return go_loads(body)
    except GoSyntaxError as exc:
        raise OllamaError(400, str(exc), from_middleware=from_middleware) from None


LARGE_BODY = 256 * 1024  # bodies decoded off the event loop

# Go's ``int`` (64 bits here): a JSON integer beyond it fails to decode (``literalStore``:
# ``ParseInt`` fails or ``OverflowInt``) with the literal in the error, as a float does.
GoInt = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


async def decode_body(
    model: type[Model], body: bytes, *, go_struct: str, from_middleware: bool
) -> Model:
    """``validate(model, parse_json(body))``; a large body in a worker thread, so that parsing
    10 MB of JSON does not hold up every other client."""

    def decode() -> Model:
        data = parse_json(body, from_middleware=from_middleware)
        return validate(model, data, go_struct=go_struct, from_middleware=from_middleware)

    if len(body) <= LARGE_BODY:
        return decode()
    return await off_loop(decode)


def validate(model: type[Model], data: Any, *, go_struct: str, from_middleware: bool) -> Model:
    if data is None:  # encoding/json: null into a struct "has no effect": the zero request
        data = {}
    if not isinstance(data, dict):
        raise OllamaError(
            400,
            f"json: cannot unmarshal {json_kind(data)} into Go value of type {go_struct}",
            from_middleware=from_middleware,
        )
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        path = ".".join(str(p) for p in error["loc"] if not isinstance(p, int))
        go_type = _go_type(model, error["loc"])
        given = error.get("input")
        kind = json_kind(given)
        if go_type == "int" and isinstance(given, int | float) and not isinstance(given, bool):
            kind = f"number {_go_number(given)}"  # a fraction, or beyond 64 bits
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
_TOOL_FUNCTION_FIELDS: tuple[tuple[str, str, type], ...] = (
    ("name", "string", str),
    ("description", "string", str),
    ("parameters", "api.ToolFunctionParameters", dict),
)
_TOOL_PARAMETERS_FIELDS: tuple[tuple[str, str, type], ...] = (
    ("type", "string", str),
    ("required", "[]string", list),
    ("properties", "map[string]api.ToolProperty", dict),
)


def _check_tools(tools: Any, go_struct: str, from_middleware: bool) -> None:
    struct = go_struct.rsplit(".", 1)[-1]

    def fail(path: str, go_type: str, value: Any) -> OllamaError:
        return OllamaError(
            400,
            f"json: cannot unmarshal {json_kind(value)} into Go struct field "
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
        if isinstance(part, int):  # an element of a list: Go names the element's type
            go_type = go_type.removeprefix("[]")
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


def json_kind(value: Any) -> str:
    """The JSON type of a decoded value, as Go's decoding errors name it."""
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
    """The literal Go quotes, as the decoded value spells it: an integer that fits 64 bits
    exactly; any other number as float64, as JSON encoders write it (the body's own spelling
    is not kept: ``1E30`` is quoted ``1e+30``, and an integer beyond 64 bits, which the JSON
    decoder gives as float64, as that float: UNVERIFIED digits, the same 400)."""
    return str(value) if isinstance(value, int) else repr(value)


# --- Go's decoder, where orjson refuses what Go accepts ---------------------------------------
#
# orjson is the fast path. It refuses four things Go's ``encoding/json`` (Go 1.26, the toolchain
# of ollama/ollama@fb3076099) accepts: nesting deeper than 1,024 (Go: 10,000, scanner.go
# ``maxNestingDepth``), lone UTF-16 surrogate escapes and invalid UTF-8 in strings (Go: U+FFFD,
# decode.go ``unquote``), and data after the first value (gin decodes with ``json.Decoder``,
# which reads one value and leaves the rest). ``go_loads`` is Go's reading of a body, iterative
# so that depth costs no Python recursion.

MAX_DEPTH = 10_000  # encoding/json scanner.go maxNestingDepth
_WS = rb"[ \t\n\r]*"
_TOKEN = re.compile(
    _WS
    + rb"(?:"
    + rb'(?P<string>"[^"\\\x00-\x1f]*(?:\\[\s\S][^"\\\x00-\x1f]*)*")'
    + rb"|(?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)"
    + rb"|(?P<literal>true|false|null)"
    + rb"|(?P<punct>[\[\]{},:]))"
)
_ESCAPE = re.compile(
    r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"
    r"|\\u([0-9a-fA-F]{4})|\\([\s\S])"
)
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
                   "t": "\t"}  # fmt: skip
_LITERALS = {b"true": True, b"false": False, b"null": None}


class GoSyntaxError(ValueError):
    """What Go's decoder says about a body it cannot read (its ``Error()`` text)."""


def _unescape(match: re.Match[str]) -> str:
    high, low, single, simple = match.groups()
    if high is not None:
        code = 0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00)
        return chr(code)
    if single is not None:
        code = int(single, 16)
        return "\ufffd" if 0xD800 <= code <= 0xDFFF else chr(code)
    if simple in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[simple]
    raise GoSyntaxError(
        f"invalid character {_quote_char(simple.encode()[:1])} in string escape code"
    )


def _string(raw: bytes) -> str:
    """A JSON string literal (quotes included) as Go decodes it: every invalid UTF-8 byte and
    every lone surrogate escape becomes U+FFFD."""
    text = raw[1:-1].decode("utf-8", "go-replace")
    return _ESCAPE.sub(_unescape, text) if "\\" in text else text


def _key(raw: bytes) -> tuple[str, bool]:
    """An object key, and whether its escapes held a lone surrogate (wk8's ordered map, which
    Ollama decodes tool-call arguments into, refuses those; Go's own maps take U+FFFD)."""
    text = raw[1:-1].decode("utf-8", "go-replace")
    if "\\" not in text:
        return text, False
    lone = any(
        m.group(3) is not None and 0xD800 <= int(m.group(3), 16) <= 0xDFFF
        for m in _ESCAPE.finditer(text)
    )
    return _ESCAPE.sub(_unescape, text), lone


def _go_replace(error: UnicodeError) -> tuple[str, int]:
    """One U+FFFD per invalid byte, as Go's ``utf8.DecodeRune`` steps (size 1)."""
    assert isinstance(error, UnicodeDecodeError)
    return "\ufffd" * (error.end - error.start), error.end


codecs.register_error("go-replace", _go_replace)


def _number(raw: bytes) -> int | float:
    """Integers that fit 64 bits stay ints (as orjson gives them); others are float64.
    A number beyond float64 fails as Go fails it for an ``any`` or float field (UNVERIFIED:
    Go also names the struct field, and skips the check for fields it ignores)."""
    if len(raw) <= 21 and raw.lstrip(b"-").isdigit():  # as orjson: ints that fit 64 bits
        number = int(raw)
        if -(2**63) <= number < 2**64:
            return number
    value = float(raw)
    if math.isinf(value):
        raise GoSyntaxError(
            f"json: cannot unmarshal number {raw.decode()} into Go value of type float64"
        )
    return value


_VALUE, _ARRAY_FIRST, _OBJECT_FIRST, _KEY, _COLON, _NEXT = range(6)
_CONTEXT = {
    _VALUE: "looking for beginning of value",
    _ARRAY_FIRST: "looking for beginning of value",
    _OBJECT_FIRST: "looking for beginning of object key string",
    _KEY: "looking for beginning of object key string",
    _COLON: "after object key",
}
_STRING_PREFIX = re.compile(rb'"[^"\\\x00-\x1f]*(?:\\[\s\S][^"\\\x00-\x1f]*)*')


def go_loads(body: bytes | str) -> Any:
    """The first JSON value of ``body``, as Go's ``json.Decoder`` reads it (see above).

    Raises ``GoSyntaxError`` with Go's words: ``unexpected EOF``, ``invalid character 'x'
    looking for beginning of value`` (and the scanner's other contexts), ``invalid character
    '[' exceeded max depth``.
    """
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    return _decode(data)[0]


def _decode(data: bytes, lone_keys: list[str] | None = None) -> tuple[Any, int]:
    """The first value of ``data`` and where it ends; ``lone_keys`` collects the top-level
    object's keys that held a lone surrogate escape."""
    stack: list[Any] = []  # the open containers, innermost last
    keys: list[str] = []  # the pending key of every open object
    position = 0
    state = _VALUE
    while True:
        match = _TOKEN.match(data, position)
        if match is None:
            raise GoSyntaxError(_scanner_error(data, position, state, stack))
        kind = match.lastgroup
        token = match.group(kind or 0)
        if kind == "number" and data[match.end() : match.end() + 1] in (b".", b"e", b"E"):
            raise GoSyntaxError(_number_error(data, match.end()))
        position = match.end()
        token_at = position - len(token)
        if state in (_OBJECT_FIRST, _KEY):
            if kind == "string":
                key, lone = _key(token)
                if lone and lone_keys is not None and len(stack) == 1:
                    lone_keys.append(key)
                keys.append(key)
                state = _COLON
                continue
            if token != b"}" or state == _KEY:
                raise GoSyntaxError(_scanner_error(data, token_at, state, stack))
            value = stack.pop()
        elif state == _COLON:
            if token != b":":
                raise GoSyntaxError(_scanner_error(data, token_at, state, stack))
            state = _VALUE
            continue
        elif state == _NEXT:
            is_object = isinstance(stack[-1], dict)
            if token == b",":
                state = _KEY if is_object else _VALUE
                continue
            if token != (b"}" if is_object else b"]"):
                raise GoSyntaxError(_scanner_error(data, token_at, state, stack))
            value = stack.pop()
        elif kind == "string":
            value = _string(token)
        elif kind == "number":
            value = _number(token)
        elif kind == "literal":
            value = _LITERALS[token]
        elif token in (b"[", b"{"):
            if len(stack) >= MAX_DEPTH:
                raise GoSyntaxError(f"invalid character '{token.decode()}' exceeded max depth")
            stack.append([] if token == b"[" else {})
            state = _ARRAY_FIRST if token == b"[" else _OBJECT_FIRST
            continue
        elif token == b"]" and state == _ARRAY_FIRST:
            value = stack.pop()
        else:
            raise GoSyntaxError(_scanner_error(data, token_at, state, stack))
        if not stack:
            return value, position
        container = stack[-1]
        if isinstance(container, dict):
            container[keys.pop()] = value
        else:
            container.append(value)
        state = _NEXT


def _scanner_error(data: bytes, position: int, state: int, stack: list[Any]) -> str:
    """Go's scanner error at the first byte it cannot take (scanner.go ``s.error``)."""
    while position < len(data) and data[position] in b" \t\n\r":
        position += 1
    if position >= len(data):
        return "unexpected EOF"
    byte = data[position : position + 1]
    if state == _NEXT:
        context = (
            "after object key:value pair" if isinstance(stack[-1], dict) else "after array element"
        )
    elif byte == b'"' and state in (_VALUE, _ARRAY_FIRST, _OBJECT_FIRST, _KEY):
        prefix = _STRING_PREFIX.match(data, position)
        end = prefix.end() if prefix else position + 1
        if end >= len(data):
            return "unexpected EOF"
        return f"invalid character {_quote_char(data[end : end + 1])} in string literal"
    elif byte in b"tfn" and state in (_VALUE, _ARRAY_FIRST):
        word = {b"t": b"true", b"f": b"false", b"n": b"null"}[byte]
        for offset in range(1, len(word)):
            if position + offset >= len(data):
                return "unexpected EOF"
            if data[position + offset] != word[offset]:
                got = _quote_char(data[position + offset : position + offset + 1])
                expected = chr(word[offset])
                return (
                    f"invalid character {got} in literal {word.decode()} (expecting '{expected}')"
                )
        context = _CONTEXT[state]
    elif byte == b"-" and state in (_VALUE, _ARRAY_FIRST):
        if position + 1 >= len(data):
            return "unexpected EOF"
        return (
            f"invalid character {_quote_char(data[position + 1 : position + 2])} in numeric literal"
        )
    else:
        context = _CONTEXT[state]
    return f"invalid character {_quote_char(byte)} {context}"


def _number_error(data: bytes, position: int) -> str:
    """A number cut after its ``.`` or ``e`` (the only partial numbers the pattern leaves)."""
    mark = data[position : position + 1]
    following = position + 1
    if mark == b".":
        context = "after decimal point in numeric literal"
    else:
        context = "in exponent of numeric literal"
        if data[following : following + 1] in (b"+", b"-"):
            following += 1
    if following >= len(data):
        return "unexpected EOF"
    return f"invalid character {_quote_char(data[following : following + 1])} {context}"


def _quote_char(byte: bytes) -> str:
    """Go's ``quoteChar``: ``'x'``, with ``strconv.Quote``'s escapes where it has them (a byte
    is the rune of the same value: 0xff is ``'ÿ'``)."""
    char = byte.decode("latin-1")
    if char == "'":
        return "'\\''"
    if char == '"':
        return "'\"'"
    if char.isprintable():
        return f"'{char}'"
    named = {
        "\a": "\\a",
        "\b": "\\b",
        "\f": "\\f",
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
        "\v": "\\v",
    }
    if char in named:
        return f"'{named[char]}'"
    code = ord(char)
    return f"'\\x{code:02x}'" if code < 0x80 else f"'\\u{code:04x}'"


def tool_call_arguments(text: str) -> dict[str, Any]:
    """A ``/v1`` tool call's ``arguments`` string as Ollama decodes it, else ``ValueError``.

    ``FromCompletionToolCall`` (``openai/openai.go``) is ``json.Unmarshal`` into
    ``api.ToolCallFunctionArguments``, an ordered map (``internal/orderedmap``, on
    wk8/go-ordered-map v2.1.8 and buger/jsonparser): the whole string must be one JSON value
    (``json.Unmarshal`` checks it first, 10,000 levels deep at most); ``null`` is no arguments;
    anything else but an object fails, as does a key holding a lone surrogate escape (jsonparser
    cannot unescape it); every value is decoded into ``any``: numbers are float64 (a number
    beyond float64 fails), lone surrogates and invalid UTF-8 in strings are U+FFFD. Any failure
    is Ollama's ``invalid tool call arguments``.
    """
    data = text.encode("utf-8", "surrogatepass")
    lone_keys: list[str] = []
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            value, end = _decode(data, lone_keys)
        except GoSyntaxError:
            raise ValueError("not JSON") from None
        if data[end:].strip(b" \t\n\r"):
            raise ValueError("data after the value") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("not an object")
    if lone_keys:
        raise ValueError("a key with a lone surrogate")
    try:
        return as_go_any(value)
    except OverflowError:
        raise ValueError("a number beyond float64") from None


def as_go_any(value: Any) -> Any:
    """``value`` as Go holds it in an ``any``: every number a float64 (bools stay bools).

    Iterative, as deep as the decoder goes. ``OverflowError`` for an int beyond float64.
    """
    if not isinstance(value, dict | list):
        return _go_scalar(value)
    root: Any = {} if isinstance(value, dict) else []
    pending = [(value, root)]
    while pending:
        source, target = pending.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in items:
            if isinstance(item, dict | list):
                copy: Any = {} if isinstance(item, dict) else []
                pending.append((item, copy))
                item = copy
            else:
                item = _go_scalar(item)
            if isinstance(target, dict):
                target[str(key)] = item
            else:
                target.append(item)
    return root


def _go_scalar(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
