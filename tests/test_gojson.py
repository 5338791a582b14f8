"""``mockserver.wire.gojson``: JSON byte for byte as Go's ``encoding/json`` writes it.

The expected texts are derived from Go's source: ``encode.go`` floatEncoder (``strconv``'s
shortest ``'f'`` format, ``'e'`` below 1e-6 and from 1e21 on, ``e-07`` cleaned up to ``e-7``),
``appendString`` with HTML escaping (``<>&``, U+2028, U+2029; ``\\b`` and ``\\f`` short since Go
1.22; other control bytes ``\\u00XX``), struct fields in order, map keys sorted, numbers
decoded into ``any`` as float64. When a ``go`` is on PATH the same table is also run through
Go's own encoder (``tests/gojson/marshal.go``).
"""

from __future__ import annotations

import math
from typing import Any

import goharness
import pytest

from mockserver.wire import gojson
from mockserver.wire.gojson import as_decoded, dumps, format_float, sorted_maps

FLOATS = [
    (1.0, "1"),
    (0.0, "0"),
    (-0.0, "-0"),
    (1.5, "1.5"),
    (0.1, "0.1"),
    (0.30000000000000004, "0.30000000000000004"),
    (-2.5, "-2.5"),
    (123456789.0, "123456789"),
    (1e-5, "0.00001"),
    (1e-6, "0.000001"),  # the smallest 'f' value
    (1.234e-6, "0.000001234"),
    (9.99e-7, "9.99e-7"),  # below 1e-6: 'e', exponent cleaned up
    (1.5e-7, "1.5e-7"),
    (1e-10, "1e-10"),
    (2.5e-100, "2.5e-100"),
    (5e-324, "5e-324"),
    (1e20, "100000000000000000000"),
    (999999999999999900000.0, "999999999999999900000"),
    (1e21, "1e+21"),  # from 1e21 on: 'e', two exponent digits
    (-1e21, "-1e+21"),
    (1.5e300, "1.5e+300"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (12345678901234567890.0, "12345678901234567000"),
]

STRINGS = [
    ("plain", '"plain"'),
    ("<b>Tom & Jerry</b>", '"\\u003cb\\u003eTom \\u0026 Jerry\\u003c/b\\u003e"'),
    ("line\u2028para\u2029", '"line\\u2028para\\u2029"'),
    ('quote " backslash \\', '"quote \\" backslash \\\\"'),
    ("\n\r\t", '"\\n\\r\\t"'),
    ("\x00\x01\x1f", '"\\u0000\\u0001\\u001f"'),
    ("\x7f", '"\x7f"'),  # DEL is not escaped
    ("é 日本 😀", '"é 日本 😀"'),  # UTF-8, raw
    ("/", '"/"'),
]
# Go 1.22 changed these two (before: \u0008, \u000c); Ollama's go.mod asks for Go 1.26.
STRINGS_GO_1_22 = [("\b\f", '"\\b\\f"')]

VALUES: list[tuple[Any, str]] = [
    ({"b": 1, "a": [1, 2.0, None, True]}, '{"b":1,"a":[1,2,null,true]}'),  # a struct: in order
    ({"x": {"z": 0.5, "y": 1e21}}, '{"x":{"z":0.5,"y":1e+21}}'),
    ([], "[]"),
    ({}, "{}"),
    (None, "null"),
]

# A value Go decoded into ``any`` (tool-call arguments, schema values): maps with sorted keys,
# every number a float64.
DECODED: list[tuple[Any, str]] = [
    ({"b": 1, "a": {"d": 2, "c": 1.0}}, '{"a":{"c":1,"d":2},"b":1}'),
    ({"big": 12345678901234567890}, '{"big":12345678901234567000}'),
    ({"n": 10**21, "f": 1e-7}, '{"f":1e-7,"n":1e+21}'),
    (
        {"list": [3, "x", False, None, {"k": "<v>"}]},
        '{"list":[3,"x",false,null,{"k":"\\u003cv\\u003e"}]}',
    ),
    ({"é": 1, "e": 2, "Z": 3}, '{"Z":3,"e":2,"é":1}'),  # byte order of the UTF-8 keys
]


@pytest.mark.parametrize(("value", "expected"), FLOATS, ids=[repr(f) for f, _ in FLOATS])
def test_float(value: float, expected: str) -> None:
    assert format_float(value) == expected
    assert dumps(value) == expected.encode()
    assert dumps([value]) == f"[{expected}]".encode()


@pytest.mark.parametrize(("value", "expected"), [*STRINGS, *STRINGS_GO_1_22])
def test_string(value: str, expected: str) -> None:
    assert dumps(value).decode() == expected


@pytest.mark.parametrize(("value", "expected"), VALUES)
def test_value_keeps_struct_order(value: Any, expected: str) -> None:
    assert dumps(value).decode() == expected


@pytest.mark.parametrize(("value", "expected"), DECODED)
def test_decoded_value(value: Any, expected: str) -> None:
    assert dumps(as_decoded(value)).decode() == expected


def test_an_unpaired_surrogate_is_the_replacement_character() -> None:
    # Go's decoder reads "\ud800" as U+FFFD, and writes that character raw.
    assert dumps("a\ud800b").decode() == '"a\ufffdb"'


def test_sorted_maps_sorts_every_level() -> None:
    assert list(sorted_maps({"b": {"d": 1, "c": 2}, "a": 0})) == ["a", "b"]
    assert list(sorted_maps({"b": {"d": 1, "c": 2}})["b"]) == ["c", "d"]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_not_a_json_number_is_refused(value: float) -> None:
    with pytest.raises(ValueError, match="unsupported value"):
        format_float(value)


# --- the same table through Go's own encoder ----------------------------------------------


@pytest.fixture(scope="module")
def go_marshal(tmp_path_factory: pytest.TempPathFactory):
    binary = goharness.build("gojson", tmp_path_factory.mktemp("gojson"))
    return lambda inputs: goharness.run(binary, inputs)


def test_floats_match_go(go_marshal) -> None:
    got = go_marshal([{"float": value.hex()} for value, _ in FLOATS])
    assert got == [expected for _, expected in FLOATS]


def test_strings_match_go(go_marshal) -> None:
    cases = list(STRINGS)
    if (goharness.go_version() or (0, 0)) >= (1, 22):
        cases += STRINGS_GO_1_22
    got = go_marshal([{"value": value} for value, _ in cases])
    assert got == [expected for _, expected in cases]


def test_decoded_values_match_go(go_marshal) -> None:
    got = go_marshal([{"value": value} for value, _ in DECODED])
    assert got == [expected for _, expected in DECODED]


TRICKY = ['","', '"', "\\", '\\","', ",", "", 'a"b', "<&>", "\u2028", "é🙂", "\x00\x1f", '"]', '["']


@pytest.mark.parametrize("texts", [TRICKY, TRICKY[::-1], ["only"], [], ["\ud800", "x"]])
def test_strings_dumped_in_one_call_are_each_strings_json(texts: list[str]) -> None:
    assert gojson.dumps_strings(texts) == [gojson.dumps(text) for text in texts]
