"""JSON as Go's ``encoding/json`` writes it: the one place the fake encodes Go-shaped JSON.

Used by the wire layers (response bodies, stream lines, tool-call ``arguments``) and by the chat
templates (``{{ .Function.Arguments }}``, ``{{ $.Tools }}``, ``{{ . }}`` of a tool, enum values),
since Ollama prints those with ``json.Marshal`` too. The rules, from Go's ``encoding/json``
(``encode.go``) and ``strconv``:

* Compact: no spaces, struct fields in declaration order (a Python ``dict`` keeps its order),
  map keys sorted (``sorted_maps`` sorts them where the Go value is a map).
* Strings (``appendString`` with HTML escaping, what ``json.Marshal`` and ``json.Encoder`` do by
  default): ``"`` and ``\\`` backslashed; ``\\b \\f \\n \\r \\t`` as short escapes (Go >= 1.22;
  Ollama's go.mod asks for 1.26); other bytes below 0x20 as ``\\u00XX``; ``<``, ``>``, ``&`` as
  ``\\u003c``, ``\\u003e``, ``\\u0026``; U+2028 and U+2029 as ``\\u2028``, ``\\u2029``; other
  characters raw (UTF-8). An unpaired surrogate, which Go's decoder never produces (it reads
  ``"\\ud800"`` as U+FFFD), is written as that U+FFFD.
* Floats (``floatEncoder``, 64-bit): ``strconv.FormatFloat(f, 'f', -1, 64)``, the shortest
  digits that round-trip, without an exponent, unless ``|f| < 1e-6`` or ``|f| >= 1e21``, where
  it is ``'e'`` format with a two-digit exponent cleaned up to one digit for small negative
  exponents (``1.5e-07`` -> ``1.5e-7``). So ``1.0`` is ``1``, ``-0.0`` is ``-0``, ``1e-05`` is
  ``0.00001``, ``1e20`` is ``100000000000000000000`` and ``1e21`` is ``1e+21``. NaN and
  infinities are not JSON: Go refuses them (``UnsupportedValueError``), so does this module.
* Integers are Go integers (``int``, ``int64``): all digits. But a number Go decoded into
  ``any`` (tool-call arguments, schema values) is a ``float64``: ``as_decoded`` makes every
  number a float, so ``12345678901234567890`` prints as ``12345678901234567000``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson

_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def dumps(value: Any) -> bytes:
    """``json.Marshal(value)``: compact, dict order kept, Go's escapes and float format.

    orjson does the encoding (it escapes quotes, backslashes and control characters as Go
    does); ``<``, ``>``, ``&``, U+2028 and U+2029 can only occur inside JSON strings, so
    replacing them in the encoded bytes is exact; floats are handed to orjson pre-formatted.
    """
    try:
        body = orjson.dumps(_go_numbers(value))
    except (orjson.JSONEncodeError, RecursionError):
        # An unpaired surrogate (orjson refuses it, Go writes U+FFFD), or a tree deeper than
        # orjson's 254 levels (Go writes up to 10,000): the rare case, built with a stack.
        return _encode_deep(value).encode()
    for raw, escaped in _ESCAPES:
        if raw in body:
            body = body.replace(raw, escaped)
    return body


def dumps_strings(texts: list[str]) -> list[bytes]:
    """``[dumps(text) for text in texts]`` from one ``dumps`` of the list (a stream's pieces:
    one call instead of one per piece).

    The list is written ``["a","b",...]``; inside a JSON string every ``"`` is escaped, so
    the bytes ``","`` (quote, comma, quote, both quotes unescaped) occur only between two
    elements, and cutting there gives each element's own encoding. Go's extra escapes are
    applied to the whole list first; they never produce or touch a quote or a comma."""
    if not texts:
        return []
    body = dumps(texts)
    if not body.startswith(b'["') or not body.endswith(b'"]'):  # pragma: no cover - not str
        return [dumps(text) for text in texts]
    inner = body[2:-2].split(b'","')
    if len(inner) != len(texts):  # pragma: no cover - impossible for a list of str
        return [dumps(text) for text in texts]
    return [b'"' + part + b'"' for part in inner]


def marshal(value: Any) -> str:
    """``string(json.Marshal(value))``, as the templates' ``String()`` methods print it."""
    return dumps(value).decode()


def format_float(value: float) -> str:
    """A float64 as ``encoding/json`` writes it (see the module docstring)."""
    if not math.isfinite(value):
        raise ValueError(f"json: unsupported value: {value!r}")
    negative, digits, point = shortest_digits(value)
    minus = "-" if negative else ""
    absolute = abs(value)
    if absolute != 0 and (absolute < 1e-6 or absolute >= 1e21):
        return minus + exponent_form(digits, point, cleanup=True)
    if point <= 0:
        return f"{minus}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return minus + digits + "0" * (point - len(digits))
    return f"{minus}{digits[:point]}.{digits[point:]}"


def shortest_digits(value: float) -> tuple[bool, str, int]:
    """``strconv``'s shortest decimal that reads back as ``value``: (negative, digits, point),
    the value being ``0.digits * 10**point``. Python's ``repr`` is the same shortest
    round-trip decimal."""
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    if text == "0":
        return bool(sign), "0", 1
    return bool(sign), text, len(text) + exponent


def exponent_form(digits: str, point: int, *, cleanup: bool = False) -> str:
    """``strconv``'s ``'e'`` format with shortest digits: ``d.ddde±XX`` (two exponent digits at
    least); ``cleanup`` is ``floatEncoder``'s ``e-07`` -> ``e-7``."""
    power = point - 1
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    width = 1 if cleanup and power < 0 else 2
    return f"{mantissa}e{'-' if power < 0 else '+'}{abs(power):0{width}d}"


def sorted_maps(value: Any) -> Any:
    """``value`` as a Go ``map[string]any`` tree holds it: every object's keys sorted."""
    return _map_tree(value, lambda leaf: leaf)


def as_decoded(value: Any) -> Any:
    """``value`` after Go's ``json.Unmarshal`` into ``any``: maps with sorted keys and every
    number a ``float64`` (``json.Marshal`` of that is what the templates print)."""
    return _map_tree(value, _as_float64)


def _as_float64(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # Go's decoder refuses such a number; keep the digits
            return value
    return value


def _map_tree(value: Any, leaf: Callable[[Any], Any]) -> Any:
    """A copy of a JSON tree with every object's keys sorted and ``leaf`` applied to every
    scalar; iterative, so that a tree nested 10,000 deep (Go's decoder limit) is fine."""
    if not isinstance(value, dict | list | tuple):
        return leaf(value)
    root: Any = {} if isinstance(value, dict) else []
    todo: list[tuple[Any, Any]] = [(value, root)]
    while todo:
        source, target = todo.pop()
        pairs = ((k, source[k]) for k in sorted(source)) if isinstance(source, dict) else None
        for key, item in pairs if pairs is not None else ((None, i) for i in source):
            if isinstance(item, dict | list | tuple):
                copy: Any = {} if isinstance(item, dict) else []
                todo.append((item, copy))
            else:
                copy = leaf(item)
            if pairs is not None:
                target[key] = copy
            else:
                target.append(copy)
    return root


class _Raw(str):
    """Punctuation already encoded, waiting on the deep encoder's stack."""


def _encode_deep(value: Any) -> str:
    """``dumps`` for trees too deep for orjson: the same output, built with an explicit stack."""
    out: list[str] = []
    todo: list[Any] = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, _Raw):
            out.append(item)
        elif isinstance(item, str):
            out.append(_string(item))
        elif item is None or item is True or item is False:
            out.append({None: "null", True: "true", False: "false"}[item])
        elif isinstance(item, float):
            out.append(format_float(item))
        elif isinstance(item, int):
            out.append(str(item))
        elif isinstance(item, dict | list | tuple):
            keyed = isinstance(item, dict)
            items: list[tuple[Any, Any]] = (
                list(item.items()) if isinstance(item, dict) else list(enumerate(item))
            )
            if not items:
                out.append("{}" if keyed else "[]")
                continue
            out.append("{" if keyed else "[")
            todo.append(_Raw("}" if keyed else "]"))
            for index in range(len(items) - 1, -1, -1):
                key, child = items[index]
                todo.append(child)
                head = "," if index else ""
                todo.append(_Raw(head + (_string(str(key)) + ":" if keyed else "")))
        else:
            out.append(_string(str(item)))
    return "".join(out)


def _string(text: str) -> str:
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    encoded = orjson.dumps(text).decode()
    for raw, escaped in _ESCAPES:
        encoded = encoded.replace(raw.decode(), escaped.decode())
    return encoded


def _go_numbers(value: Any) -> Any:
    """Floats replaced by their Go text (an ``orjson.Fragment``); containers rebuilt only
    when something inside them changed."""
    kind = type(value)
    if kind is float:
        return orjson.Fragment(format_float(value))
    if kind is dict:
        changed = None
        for key, item in value.items():
            new = _go_numbers(item) if type(item) in _CONTAINERS else item
            if new is not item:
                changed = changed or {}
                changed[key] = new
        return value if changed is None else {**value, **changed}
    if kind is list or kind is tuple:
        items = [_go_numbers(item) if type(item) in _CONTAINERS else item for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


_CONTAINERS = frozenset({float, dict, list, tuple})
