"""The lexer of Go's ``text/template`` (``text/template/parse/lex.go``), item for item.

Delimiters are ``{{`` and ``}}``; ``{{- `` and `` -}}`` trim the white space (space, tab,
carriage return, newline) of the text beside them; comments (``{{/* */}}``) are dropped, as
``parse.Parse`` drops them without ``ParseComments``. A lexing error is an ``ERROR`` item with
Go's words, after which the lexer only answers ``EOF``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any


class Kind(Enum):
    ERROR = auto()
    BOOL = auto()
    CHAR = auto()  # a printable ASCII character, e.g. ','
    CHAR_CONSTANT = auto()
    COMPLEX = auto()
    ASSIGN = auto()  # =
    DECLARE = auto()  # :=
    EOF = auto()
    FIELD = auto()
    IDENTIFIER = auto()
    LEFT_DELIM = auto()
    LEFT_PAREN = auto()
    NUMBER = auto()
    PIPE = auto()
    RAW_STRING = auto()
    RIGHT_DELIM = auto()
    RIGHT_PAREN = auto()
    SPACE = auto()
    STRING = auto()
    TEXT = auto()
    VARIABLE = auto()
    # keywords
    BLOCK = auto()
    BREAK = auto()
    CONTINUE = auto()
    DOT = auto()
    DEFINE = auto()
    ELSE = auto()
    END = auto()
    IF = auto()
    NIL = auto()
    RANGE = auto()
    TEMPLATE = auto()
    WITH = auto()


KEYWORDS = {
    ".": Kind.DOT,
    "block": Kind.BLOCK,
    "break": Kind.BREAK,
    "continue": Kind.CONTINUE,
    "define": Kind.DEFINE,
    "else": Kind.ELSE,
    "end": Kind.END,
    "if": Kind.IF,
    "range": Kind.RANGE,
    "nil": Kind.NIL,
    "template": Kind.TEMPLATE,
    "with": Kind.WITH,
}
_KEYWORD_KINDS = frozenset(KEYWORDS.values())

LEFT, RIGHT = "{{", "}}"
_SPACE = " \t\r\n"


@dataclass(frozen=True, slots=True)
class Item:
    kind: Kind
    pos: int
    val: str
    line: int

    def __str__(self) -> str:
        """``item.String``, as parse errors quote a token."""
        if self.kind is Kind.EOF:
            return "EOF"
        if self.kind is Kind.ERROR:
            return self.val
        if self.kind in _KEYWORD_KINDS:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return go_quote(self.val[:10]) + "..."
        return go_quote(self.val)


def go_quote(text: str) -> str:
    """``strconv.Quote`` (``%q`` of a string)."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif char == "\a":
            out.append("\\a")
        elif char == "\b":
            out.append("\\b")
        elif char == "\f":
            out.append("\\f")
        elif char == "\v":
            out.append("\\v")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not char.isprintable() and char != " ":
            out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _is_alphanumeric(char: str) -> bool:
    return char == "_" or char.isalpha() or char.isdigit()


def _left_trim(text: str) -> int:
    return len(text) - len(text.lstrip(_SPACE))


def _right_trim(text: str) -> int:
    return len(text) - len(text.rstrip(_SPACE))


def _has_left_trim_marker(text: str) -> bool:
    return len(text) >= 2 and text[0] == "-" and text[1] in _SPACE


def _has_right_trim_marker(text: str) -> bool:
    return len(text) >= 2 and text[0] in _SPACE and text[1] == "-"


class _LexError(Exception):
    pass


_StateFn = Callable[[], Any] | None  # a lexer state: the next one, or None at the end


def lex(text: str) -> list[Item]:
    """Every item of ``text``, ending with ``EOF`` (or with an ``ERROR`` item)."""
    return _Lexer(text).run()


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.start = 0
        self.paren_depth = 0
        self.items: list[Item] = []

    def line_at(self, pos: int) -> int:
        return 1 + self.text.count("\n", 0, pos)

    def emit(self, kind: Kind) -> None:
        self.items.append(
            Item(kind, self.start, self.text[self.start : self.pos], self.line_at(self.start))
        )
        self.start = self.pos

    def error(self, message: str) -> None:
        self.items.append(Item(Kind.ERROR, self.start, message, self.line_at(self.start)))
        raise _LexError

    def next(self) -> str:
        if self.pos >= len(self.text):
            self.pos += 1  # so that backup() undoes it, as Go's width does for eof
            return ""
        char = self.text[self.pos]
        self.pos += 1
        return char

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def run(self) -> list[Item]:
        try:
            state: _StateFn = self.lex_text
            while state is not None:
                state = state()
        except _LexError:
            pass
        return self.items

    def lex_text(self) -> _StateFn:
        found = self.text.find(LEFT, self.pos)
        if found < 0:
            self.pos = len(self.text)
            if self.pos > self.start:
                self.emit(Kind.TEXT)
            self.emit(Kind.EOF)
            return None
        self.pos = found
        trim = 0
        if _has_left_trim_marker(self.text[found + len(LEFT) :]):
            trim = _right_trim(self.text[self.start : found])
        self.pos -= trim
        if self.pos > self.start:
            self.emit(Kind.TEXT)
        self.pos += trim
        self.start = self.pos
        return self.lex_left_delim

    def at_right_delim(self) -> tuple[bool, bool]:
        rest = self.text[self.pos :]
        if _has_right_trim_marker(rest) and rest[2:].startswith(RIGHT):
            return True, True
        return rest.startswith(RIGHT), False

    def lex_left_delim(self) -> _StateFn:
        self.pos += len(LEFT)
        trim = _has_left_trim_marker(self.text[self.pos :])
        after = 2 if trim else 0
        if self.text.startswith("/*", self.pos + after):
            self.pos += after
            self.start = self.pos
            return self.lex_comment
        self.emit(Kind.LEFT_DELIM)
        self.pos += after
        self.start = self.pos
        self.paren_depth = 0
        return self.lex_inside_action

    def lex_comment(self) -> _StateFn:
        self.pos += 2
        end = self.text.find("*/", self.pos)
        if end < 0:
            self.error("unclosed comment")
        self.pos = end + 2
        delim, trim = self.at_right_delim()
        if not delim:
            self.error("comment ends before closing delimiter")
        if trim:
            self.pos += 2
        self.pos += len(RIGHT)
        if trim:
            self.pos += _left_trim(self.text[self.pos :])
        self.start = self.pos
        return self.lex_text

    def lex_right_delim(self) -> _StateFn:
        _, trim = self.at_right_delim()
        if trim:
            self.pos += 2
            self.start = self.pos
        self.pos += len(RIGHT)
        self.emit(Kind.RIGHT_DELIM)
        if trim:
            self.pos += _left_trim(self.text[self.pos :])
            self.start = self.pos
        return self.lex_text

    def lex_inside_action(self) -> _StateFn:
        delim, _ = self.at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self.lex_right_delim
            self.error("unclosed left paren")
        char = self.next()
        if char == "":
            self.error("unclosed action")
        elif char in _SPACE:
            self.pos -= 1
            return self.lex_space
        elif char == "=":
            self.emit(Kind.ASSIGN)
        elif char == ":":
            if self.next() != "=":
                self.error("expected :=")
            self.emit(Kind.DECLARE)
        elif char == "|":
            self.emit(Kind.PIPE)
        elif char == '"':
            return self.lex_quote
        elif char == "`":
            return self.lex_raw_quote
        elif char == "$":
            return lambda: self.lex_field_or_variable(Kind.VARIABLE)
        elif char == "'":
            return self.lex_char
        elif char == "." and self.pos < len(self.text) and not "0" <= self.text[self.pos] <= "9":
            return lambda: self.lex_field_or_variable(Kind.FIELD)
        elif char in "+-." or "0" <= char <= "9":
            self.pos -= 1
            return self.lex_number
        elif _is_alphanumeric(char):
            self.pos -= 1
            return self.lex_identifier
        elif char == "(":
            self.emit(Kind.LEFT_PAREN)
            self.paren_depth += 1
        elif char == ")":
            self.emit(Kind.RIGHT_PAREN)
            self.paren_depth -= 1
            if self.paren_depth < 0:
                self.error("unexpected right paren")
        elif ord(char) < 0x80 and char.isprintable():
            self.emit(Kind.CHAR)
        else:
            self.error(f"unrecognized character in action: {_unicode_name(char)}")
        return self.lex_inside_action

    def lex_space(self) -> _StateFn:
        spaces = 0
        while self.peek() and self.peek() in _SPACE:
            self.pos += 1
            spaces += 1
        rest = self.text[self.pos - 1 :]
        if _has_right_trim_marker(rest) and rest[2:].startswith(RIGHT):
            self.pos -= 1
            if spaces == 1:
                return self.lex_inside_action
        self.emit(Kind.SPACE)
        return self.lex_inside_action

    def lex_identifier(self) -> _StateFn:
        while True:
            char = self.next()
            if not (char and _is_alphanumeric(char)):
                self.pos -= 1
                break
        if not self.at_terminator():
            self.error(f"bad character {_unicode_name(self.peek())}")
        word = self.text[self.start : self.pos]
        if word in KEYWORDS and word != ".":
            self.emit(KEYWORDS[word])
        elif word in ("true", "false"):
            self.emit(Kind.BOOL)
        else:
            self.emit(Kind.IDENTIFIER)
        return self.lex_inside_action

    def lex_field_or_variable(self, kind: Kind) -> _StateFn:
        if self.at_terminator():
            self.emit(Kind.VARIABLE if kind is Kind.VARIABLE else Kind.DOT)
            return self.lex_inside_action
        while True:
            char = self.next()
            if not (char and _is_alphanumeric(char)):
                self.pos -= 1
                break
        if not self.at_terminator():
            self.error(f"bad character {_unicode_name(self.peek())}")
        self.emit(kind)
        return self.lex_inside_action

    def at_terminator(self) -> bool:
        char = self.peek()
        if char == "" or char in _SPACE or char in ".,|:)(":
            return True
        return self.text.startswith(RIGHT, self.pos)

    def lex_char(self) -> _StateFn:
        while True:
            char = self.next()
            if char == "\\":
                char = self.next()
                if char not in ("", "\n"):
                    continue
            if char in ("", "\n"):
                self.error("unterminated character constant")
            if char == "'":
                break
        self.emit(Kind.CHAR_CONSTANT)
        return self.lex_inside_action

    def lex_quote(self) -> _StateFn:
        while True:
            char = self.next()
            if char == "\\":
                char = self.next()
                if char not in ("", "\n"):
                    continue
            if char in ("", "\n"):
                self.error("unterminated quoted string")
            if char == '"':
                break
        self.emit(Kind.STRING)
        return self.lex_inside_action

    def lex_raw_quote(self) -> _StateFn:
        end = self.text.find("`", self.pos)
        if end < 0:
            self.error("unterminated raw quoted string")
        self.pos = end + 1
        self.emit(Kind.RAW_STRING)
        return self.lex_inside_action

    def lex_number(self) -> _StateFn:
        if not self.scan_number():
            self.error(f"bad number syntax: {go_quote(self.text[self.start : self.pos])}")
        if self.peek() in ("+", "-") and self.peek():
            if not self.scan_number() or self.text[self.pos - 1] != "i":
                self.error(f"bad number syntax: {go_quote(self.text[self.start : self.pos])}")
            self.emit(Kind.COMPLEX)
        else:
            self.emit(Kind.NUMBER)
        return self.lex_inside_action

    def accept(self, valid: str) -> bool:
        if self.peek() and self.peek() in valid:
            self.pos += 1
            return True
        return False

    def accept_run(self, valid: str) -> None:
        while self.accept(valid):
            pass

    def scan_number(self) -> bool:
        self.accept("+-")
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.accept_run(digits)
        if self.accept("."):
            self.accept_run(digits)
        if len(digits) == 11 and self.accept("eE"):
            self.accept("+-")
            self.accept_run("0123456789_")
        if len(digits) == 23 and self.accept("pP"):
            self.accept("+-")
            self.accept_run("0123456789_")
        self.accept("i")
        if self.peek() and _is_alphanumeric(self.peek()):
            self.pos += 1
            return False
        return True


def _unicode_name(char: str) -> str:
    """``%#U``: ``U+0021 '!'``."""
    if not char:
        return "U+FFFFFFFF"  # eof (-1) as %#U prints it
    code = ord(char)
    text = f"U+{code:04X}"
    return f"{text} '{char}'" if char.isprintable() else text
