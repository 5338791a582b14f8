"""Go values for the template executor, and how Go's ``fmt`` prints them.

Python values stand for Go values: ``str`` (string), ``bool``, ``int`` (int), ``float``
(float64), ``list`` (``[]interface {}``), ``dict`` (``map[string]interface {}``), ``None`` (a nil
``interface {}``). Typed values carry their Go type: ``GoSlice`` / ``GoMap`` (a slice or map type,
possibly nil, possibly with a ``String`` method) and ``GoStruct`` (a struct or a pointer to one,
its exported fields in declaration order, its methods). ``INVALID`` is a zero
``reflect.Value``: what a template prints as ``<no value>``.

Printing follows ``fmt`` (``print.go``, ``format.go``): ``%v`` of a slice ``[a b]``, of a map
``map[k:v]`` with sorted keys (``internal/fmtsort``), of a struct ``{a b}`` (``&{a b}`` for a
pointer at the top, an address below it), floats ``%g`` with the shortest digits, a value with a
``String`` method through it (at any depth); ``printf``'s verbs, flags, width and precision, and
its error forms (``%!d(string=x)``, ``%!s(MISSING)``, ``%!(EXTRA ...)``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

from mockserver.engine.gotemplate.lexer import go_quote
from mockserver.wire.gojson import exponent_form, format_float, shortest_digits


class _Invalid:
    """A zero ``reflect.Value`` (no value at all)."""

    _instance: ClassVar[_Invalid | None] = None

    def __new__(cls) -> _Invalid:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "INVALID"


INVALID = _Invalid()


class GoSlice(list):
    """A typed Go slice; ``nil`` when it is the nil slice (``json`` writes ``null``)."""

    def __init__(
        self,
        items: Any = (),
        go_type: str = "[]interface {}",
        *,
        nil: bool = False,
        stringer: Callable[[Any], str] | None = None,
        methods: dict[str, Callable[..., Any]] | None = None,
    ) -> None:
        super().__init__(items)
        self.go_type = go_type
        self.nil = nil and not self
        self.stringer = stringer
        self.methods = methods or {}


class GoMap(dict):
    """A typed Go map (``nil`` for the nil map)."""

    def __init__(
        self,
        items: Any = (),
        go_type: str = "map[string]interface {}",
        *,
        nil: bool = False,
        stringer: Callable[[Any], str] | None = None,
    ) -> None:
        super().__init__(items)
        self.go_type = go_type
        self.nil = nil and not self
        self.stringer = stringer
        self.methods: dict[str, Callable[..., Any]] = {}


class GoStruct:
    """A Go struct value, or a pointer to one (``pointer``; ``None`` fields are nil ``any``).

    Subclasses name their type and fields; a ``go_String`` method makes them a
    ``fmt.Stringer``; other ``go_<Name>`` methods are template-callable methods.
    """

    go_type: ClassVar[str] = "struct"
    go_fields: ClassVar[tuple[str, ...]] = ()
    pointer: bool = False

    def field(self, name: str) -> Any:
        return getattr(self, name)

    def method(self, name: str) -> Callable[..., Any] | None:
        return getattr(self, "go_" + name, None)

    def type_name(self) -> str:
        return ("*" if self.pointer else "") + self.go_type


def go_type_of(value: Any) -> str:
    """``reflect.TypeOf(value).String()``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, GoSlice | GoMap):
        return value.go_type
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, GoStruct):
        return value.type_name()
    if isinstance(value, bytes):
        return "[]uint8"
    if callable(value):
        return "func"
    return "interface {}"


def stringer(value: Any) -> Callable[[], str] | None:
    """The value's ``String`` method, if it is a ``fmt.Stringer``."""
    if isinstance(value, GoSlice | GoMap) and value.stringer is not None:
        return lambda: value.stringer(value)  # type: ignore[misc]
    if isinstance(value, GoStruct):
        method = value.method("String")
        if method is not None:
            return method
    return None


def _shortest_g(value: float) -> str:
    """``strconv.FormatFloat(value, 'g', -1, 64)`` (``%v`` of a float64): the shortest digits,
    in exponent form when the exponent is below -4 or at least 6 (``eprec`` for shortest)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    negative, digits, point = shortest_digits(value)
    exponent = point - 1
    if exponent < -4 or exponent >= 6:
        return ("-" if negative else "") + exponent_form(digits, point)
    return format_float(value)


def print_value(
    value: Any, verb: str = "v", *, plus: bool = False, depth: int = 0, top_pointer: bool = True
) -> str:
    """``fmt``'s ``%v`` (``%+v`` with ``plus``) / ``%s`` of ``value``; ``top_pointer=False``
    prints a pointer to a struct as the struct (``text/template``'s ``printableValue``)."""
    if value is INVALID:
        return "<invalid reflect.Value>" if depth == 0 else "<invalid Value>"
    if value is None:
        return "<nil>"
    string_method = stringer(value)
    if string_method is not None and verb in "vsq":
        return string_method()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _shortest_g(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        if verb == "s":
            return value.decode("utf-8", errors="replace")
        return "[" + " ".join(str(b) for b in value) + "]"
    if isinstance(value, GoStruct):
        if value.pointer and depth > 0:
            return "0xc000010000"  # an address: Go prints where the struct lives
        inner = " ".join(
            (f"{name}:" if plus else "")
            + print_value(value.field(name), verb, plus=plus, depth=depth + 1)
            for name in value.go_fields
        )
        return ("&" if value.pointer and top_pointer else "") + "{" + inner + "}"
    if isinstance(value, dict):
        return (
            "map["
            + " ".join(
                print_value(key, verb, plus=plus, depth=depth + 1)
                + ":"
                + print_value(value[key], verb, plus=plus, depth=depth + 1)
                for key in sort_keys(value)
            )
            + "]"
        )
    if isinstance(value, list | tuple):
        return "[" + " ".join(print_value(v, verb, plus=plus, depth=depth + 1) for v in value) + "]"
    return str(value)


def sort_keys(mapping: dict[Any, Any]) -> list[Any]:
    """``internal/fmtsort``: numbers by value, strings by bytes."""
    keys = list(mapping)
    if all(isinstance(k, str) for k in keys):
        return sorted(keys, key=lambda k: k.encode("utf-8", "surrogatepass"))
    return sorted(keys)


def sprint(args: list[Any]) -> str:
    """``fmt.Sprint``: a space between operands when neither is a string."""
    out = []
    for index, arg in enumerate(args):
        if index > 0 and not isinstance(arg, str) and not isinstance(args[index - 1], str):
            out.append(" ")
        out.append(print_value(arg))
    return "".join(out)


def sprintln(args: list[Any]) -> str:
    """``fmt.Sprintln``: always a space between operands, a newline at the end."""
    return " ".join(print_value(arg) for arg in args) + "\n"


# --- printf ------------------------------------------------------------------------------------


def sprintf(format_text: str, args: list[Any]) -> str:
    """``fmt.Sprintf`` for the verbs templates use (``v s q d t f e g x X c o b T %``)."""
    out: list[str] = []
    used = 0
    index = 0
    size = len(format_text)
    while index < size:
        char = format_text[index]
        if char != "%":
            end = format_text.find("%", index)
            end = size if end < 0 else end
            out.append(format_text[index:end])
            index = end
            continue
        index += 1
        flags = ""
        while index < size and format_text[index] in "+-# 0":
            flags += format_text[index]
            index += 1
        width: int | None = None
        if index < size and format_text[index] == "*":
            index += 1
            width, used = _star(args, used)
        else:
            start = index
            while index < size and format_text[index].isdigit():
                index += 1
            width = int(format_text[start:index]) if index > start else None
        precision: int | None = None
        if index < size and format_text[index] == ".":
            index += 1
            if index < size and format_text[index] == "*":
                index += 1
                precision, used = _star(args, used)
            else:
                start = index
                while index < size and format_text[index].isdigit():
                    index += 1
                precision = int(format_text[start:index]) if index > start else 0
        if index >= size:
            out.append("%!(NOVERB)")
            break
        verb = format_text[index]
        index += 1
        if verb == "%":
            out.append("%")
            continue
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[used]
        used += 1
        out.append(_operand(arg, verb, flags, width, precision))
    if used < len(args):
        extra = ", ".join(
            ("<nil>" if a is None else f"{go_type_of(a)}={print_value(a)}") for a in args[used:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _operand(arg: Any, verb: str, flags: str, width: int | None, precision: int | None) -> str:
    """One operand with its width: a slice's elements are each padded (``printValue``)."""
    go_syntax_verb = verb == "v" and "#" in flags
    if isinstance(arg, dict) and verb != "T" and stringer(arg) is None and not go_syntax_verb:
        pairs = [
            _operand(key, verb, flags, width, precision)
            + ":"
            + ("<nil>" if arg[key] is None else _operand(arg[key], verb, flags, width, precision))
            for key in sort_keys(arg)
        ]
        return "map[" + " ".join(pairs) + "]"
    if (
        isinstance(arg, list | tuple)
        and verb != "T"
        and stringer(arg) is None
        and not go_syntax_verb
    ):
        if verb == "s" and isinstance(arg, bytes):
            return _pad(format_one(arg, verb, flags, precision), width, flags, arg, verb)
        parts = [
            "<nil>" if item is None else _operand(item, verb, flags, width, precision)
            for item in arg
        ]
        return "[" + " ".join(parts) + "]"
    if _refuses(arg, verb):  # badVerb: the operand under %v, with the verb's width
        shown = _pad(format_one(arg, "v", flags, precision), width, flags, arg, "v")
        return f"%!{verb}({go_type_of(arg)}={shown})"
    return _pad(format_one(arg, verb, flags, precision), width, flags, arg, verb)


def _star(args: list[Any], used: int) -> tuple[int | None, int]:
    if used < len(args) and isinstance(args[used], int) and not isinstance(args[used], bool):
        return args[used], used + 1
    return None, used + 1


def _pad(text: str, width: int | None, flags: str, arg: Any, verb: str) -> str:
    if width is None or len(text) >= width:
        return text
    fill = width - len(text)
    if "-" in flags:
        return text + " " * fill
    numeric = isinstance(arg, int | float) and not isinstance(arg, bool) and verb not in "sqvTc"
    if "0" in flags and (numeric or verb in "sv"):
        if numeric and text[:1] in "+- ":
            return text[0] + "0" * fill + text[1:]
        return "0" * fill + text
    return " " * fill + text


_VERBS = {
    bool: "tv",
    int: "bdoOqxXUcv",
    float: "bgGxXeEfFv",
    str: "svqxX",
}


def _refuses(arg: Any, verb: str) -> bool:
    """A basic operand that its verb cannot print (``%d`` of a string...)."""
    if verb == "T" or (stringer(arg) is not None and verb in "sqxXv"):
        return False
    for kind in (bool, int, float, str):
        if isinstance(arg, kind):
            return verb not in _VERBS[kind]
    return False


def bad_verb(arg: Any, verb: str) -> str:
    if arg is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type_of(arg)}={print_value(arg)})"


def format_one(arg: Any, verb: str, flags: str = "", precision: int | None = None) -> str:
    """One operand under one verb."""
    if verb == "T":
        return "<nil>" if arg is None else go_type_of(arg)
    if verb == "v":
        if "#" in flags:
            return go_syntax(arg)
        if isinstance(arg, float) and precision is not None:
            return _float(arg, "g", flags, precision)
        if isinstance(arg, str):
            return _string(arg, "v", flags, precision)
        if isinstance(arg, int) and not isinstance(arg, bool) and precision is not None:
            return _integer(arg, "d", flags, precision)
        if isinstance(arg, int | float) and not isinstance(arg, bool):
            return _sign(print_value(arg), flags)
        return print_value(arg, plus="+" in flags)
    if arg is None:
        return f"%!{verb}(<nil>)"
    method = stringer(arg)
    if method is not None and verb in "sqxX":
        arg = method()
    if isinstance(arg, bool):
        return ("true" if arg else "false") if verb == "t" else bad_verb(arg, verb)
    if isinstance(arg, int):
        return _integer(arg, verb, flags, precision)
    if isinstance(arg, float):
        return _float(arg, verb, flags, precision)
    if isinstance(arg, str):
        return _string(arg, verb, flags, precision)
    if isinstance(arg, list | tuple):
        return "[" + " ".join(_element(v, verb, flags, precision) for v in arg) + "]"
    if isinstance(arg, dict):
        return (
            "map["
            + " ".join(
                _element(k, verb, flags, precision) + ":" + _element(arg[k], verb, flags, None)
                for k in sort_keys(arg)
            )
            + "]"
        )
    if isinstance(arg, GoStruct):
        if verb in "sdqxXfegtcob" and not arg.pointer:
            inner = " ".join(format_one(arg.field(n), verb, flags) for n in arg.go_fields)
            return "{" + inner + "}"
        return "&{" + " ".join(format_one(arg.field(n), verb) for n in arg.go_fields) + "}"
    return bad_verb(arg, verb)


def _element(value: Any, verb: str, flags: str, precision: int | None) -> str:
    """An element of a slice or map: a nil one prints ``<nil>`` whatever the verb."""
    return "<nil>" if value is None else format_one(value, verb, flags, precision)


def _sign(text: str, flags: str) -> str:
    if text.startswith("-"):
        return text
    if "+" in flags:
        return "+" + text
    if " " in flags:
        return " " + text
    return text


def _integer(value: int, verb: str, flags: str, precision: int | None) -> str:
    if verb == "d":
        body = str(abs(value))
    elif verb == "x":
        body = f"{abs(value):x}"
    elif verb == "X":
        body = f"{abs(value):X}"
    elif verb == "o":
        body = f"{abs(value):o}"
    elif verb == "b":
        body = f"{abs(value):b}"
    elif verb == "c":
        return chr(value) if 0 <= value <= 0x10FFFF else "\ufffd"
    elif verb == "q":
        char = chr(value) if 0 <= value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF else "\ufffd"
        inner = go_quote(char)[1:-1].replace('\\"', '"').replace("'", "\\'")
        return "'" + inner + "'"
    elif verb == "U":
        return f"U+{value & (2**64 - 1):04X}"
    elif verb in "feEgG":
        return bad_verb(value, verb)
    else:
        return bad_verb(value, verb)
    if precision is not None and len(body) < precision:
        body = "0" * (precision - len(body)) + body
    if "#" in flags and verb in "xX":
        body = ("0x" if verb == "x" else "0X") + body
    return _sign(("-" if value < 0 else "") + body, flags)


def _float(value: float, verb: str, flags: str, precision: int | None) -> str:
    if verb not in "feEgGvxXb":
        return bad_verb(value, verb)
    if math.isnan(value):
        return _sign("NaN", flags)
    if math.isinf(value):
        return _sign("+Inf" if value > 0 else "-Inf", flags)
    if verb == "b":
        text = _binary_float(value)
    elif verb in "xX":
        text = _hex_float(value, precision)
        text = text.upper().replace("0X", "0X") if verb == "X" else text
    elif verb == "f":
        text = f"{value:.{6 if precision is None else precision}f}"
    elif verb in "eE":
        text = f"{value:.{6 if precision is None else precision}{verb}}"
    elif precision is None:
        text = _shortest_g(value)
        if verb == "G":
            text = text.upper()
    else:
        text = f"{value:.{max(precision, 1) if precision else 1}{verb.lower()}}"
        if verb == "G":
            text = text.upper()
    return _sign(text, flags)


def _binary_float(value: float) -> str:
    """``strconv.FormatFloat(value, 'b', -1, 64)``: an integer mantissa, ``p``, a power of 2."""
    if value == 0:
        return ("-" if math.copysign(1.0, value) < 0 else "") + "0p-1074"
    mantissa, exponent = math.frexp(abs(value))
    bits, power = int(mantissa * 2**53), exponent - 53
    if power < -1074:  # subnormal: the smallest exponent, a shorter mantissa
        bits >>= -1074 - power
        power = -1074
    return f"{'-' if value < 0 else ''}{bits}p{'+' if power >= 0 else '-'}{abs(power)}"


def _hex_float(value: float, precision: int | None) -> str:
    """``strconv.FormatFloat(value, 'x', -1, 64)``: ``0x1.8p+01``."""
    if value == 0:
        mantissa, exponent = "0", 0
        sign = "-" if math.copysign(1.0, value) < 0 else ""
    else:
        sign = "-" if value < 0 else ""
        hexed = float.hex(abs(value))  # 0x1.8000000000000p+1
        body, _, power = hexed[2:].partition("p")
        whole, _, fraction = body.partition(".")
        fraction = fraction.rstrip("0")
        if precision is not None:
            fraction = (fraction + "0" * precision)[:precision]
        mantissa = whole + ("." + fraction if fraction else "")
        exponent = int(power)
    return f"{sign}0x{mantissa}p{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


def _string(value: str, verb: str, flags: str, precision: int | None) -> str:
    if precision is not None and verb in "sqv":
        value = value[:precision]
    if verb in "sv":
        return value
    if verb == "q":
        if "#" in flags and "`" not in value:
            return "`" + value + "`"
        return go_quote(value)
    if verb in "xX":
        data = value.encode()
        text = data.hex() if verb == "x" else data.hex().upper()
        if " " in flags:
            text = " ".join(text[i : i + 2] for i in range(0, len(text), 2))
        return text
    return bad_verb(value, verb)


def _go_syntax_element(value: Any) -> str:
    """An ``interface {}`` element under ``%#v``: a nil one is ``interface {}(nil)``."""
    return "interface {}(nil)" if value is None else go_syntax(value)


def go_syntax(value: Any) -> str:
    """``%#v`` for the simple values."""
    if value is None:
        return "<nil>"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, bool | int | float):
        return print_value(value)
    if isinstance(value, list | tuple):
        return go_type_of(value) + "{" + ", ".join(_go_syntax_element(v) for v in value) + "}"
    if isinstance(value, dict):
        return (
            go_type_of(value)
            + "{"
            + ", ".join(f"{go_syntax(k)}:{_go_syntax_element(value[k])}" for k in sort_keys(value))
            + "}"
        )
    return print_value(value)


__all__ = [
    "INVALID",
    "GoMap",
    "GoSlice",
    "GoStruct",
    "go_type_of",
    "print_value",
    "sprint",
    "sprintf",
    "sprintln",
]
