"""The parser of Go's ``text/template`` (``text/template/parse/parse.go`` and ``node.go``).

``parse(text, functions)`` gives the trees of a template text, by name: the top-level one
(``""``) and one per ``{{define}}`` / ``{{block}}``. Errors are Go's, word for word:
``template: :LINE: MESSAGE`` (Ollama's templates are named ``""``).

Go 1.24's grammar (what Ollama is built with): ``{{else with}}`` (Go 1.23) is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mockserver.engine.gotemplate.lexer import Item, Kind, go_quote, lex


class ParseError(Exception):
    """A template that does not parse; ``str()`` is Go's ``err.Error()``."""


# --- nodes -----------------------------------------------------------------------------------


@dataclass(eq=False)
class Node:
    pos: int

    def text(self) -> str:  # node.String()
        raise NotImplementedError


@dataclass(eq=False)
class ListNode(Node):
    nodes: list[Node] = field(default_factory=list)

    def text(self) -> str:
        return "".join(n.text() for n in self.nodes)


@dataclass(eq=False)
class TextNode(Node):
    value: str = ""

    def text(self) -> str:
        return self.value


@dataclass(eq=False)
class VariableNode(Node):
    ident: list[str] = field(default_factory=list)

    def text(self) -> str:
        return ".".join(self.ident)


@dataclass(eq=False)
class CommandNode(Node):
    args: list[Node] = field(default_factory=list)

    def text(self) -> str:
        parts = []
        for arg in self.args:
            parts.append(f"({arg.text()})" if isinstance(arg, PipeNode) else arg.text())
        return " ".join(parts)


@dataclass(eq=False)
class PipeNode(Node):
    line: int = 0
    is_assign: bool = False
    decl: list[VariableNode] = field(default_factory=list)
    cmds: list[CommandNode] = field(default_factory=list)

    def text(self) -> str:
        out = ""
        if self.decl:
            out = ", ".join(v.text() for v in self.decl) + " := "
        return out + " | ".join(c.text() for c in self.cmds)


@dataclass(eq=False)
class ActionNode(Node):
    line: int = 0
    pipe: PipeNode | None = None

    def text(self) -> str:
        return "{{" + (self.pipe.text() if self.pipe else "") + "}}"


@dataclass(eq=False)
class IdentifierNode(Node):
    name: str = ""

    def text(self) -> str:
        return self.name


@dataclass(eq=False)
class DotNode(Node):
    def text(self) -> str:
        return "."


@dataclass(eq=False)
class NilNode(Node):
    def text(self) -> str:
        return "nil"


@dataclass(eq=False)
class FieldNode(Node):
    ident: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "".join("." + i for i in self.ident)


@dataclass(eq=False)
class ChainNode(Node):
    node: Node | None = None
    fields: list[str] = field(default_factory=list)

    def text(self) -> str:
        assert self.node is not None
        inner = self.node.text()
        if isinstance(self.node, PipeNode):
            inner = f"({inner})"
        return inner + "".join("." + f for f in self.fields)


@dataclass(eq=False)
class BoolNode(Node):
    value: bool = False

    def text(self) -> str:
        return "true" if self.value else "false"


@dataclass(eq=False)
class NumberNode(Node):
    source: str = ""
    is_int: bool = False
    is_uint: bool = False
    is_float: bool = False
    is_complex: bool = False
    int_value: int = 0
    float_value: float = 0.0

    def text(self) -> str:
        return self.source


@dataclass(eq=False)
class StringNode(Node):
    quoted: str = ""
    value: str = ""

    def text(self) -> str:
        return self.quoted


@dataclass(eq=False)
class BranchNode(Node):
    keyword: str = ""
    line: int = 0
    pipe: PipeNode | None = None
    list: ListNode | None = None
    else_list: ListNode | None = None

    def text(self) -> str:
        assert self.pipe is not None and self.list is not None
        out = "{{" + self.keyword + " " + self.pipe.text() + "}}" + self.list.text()
        if self.else_list is not None:
            out += "{{else}}" + self.else_list.text()
        return out + "{{end}}"


class IfNode(BranchNode):
    pass


class RangeNode(BranchNode):
    pass


class WithNode(BranchNode):
    pass


@dataclass(eq=False)
class TemplateNode(Node):
    line: int = 0
    name: str = ""
    pipe: PipeNode | None = None

    def text(self) -> str:
        if self.pipe is None:
            return "{{template " + go_quote(self.name) + "}}"
        return "{{template " + go_quote(self.name) + " " + self.pipe.text() + "}}"


@dataclass(eq=False)
class BreakNode(Node):
    line: int = 0

    def text(self) -> str:
        return "{{break}}"


@dataclass(eq=False)
class ContinueNode(Node):
    line: int = 0

    def text(self) -> str:
        return "{{continue}}"


@dataclass(eq=False)
class _EndNode(Node):
    def text(self) -> str:
        return "{{end}}"


@dataclass(eq=False)
class _ElseNode(Node):
    line: int = 0

    def text(self) -> str:
        return "{{else}}"


def is_empty_tree(node: Node | None) -> bool:
    """``parse.IsEmptyTree``: nothing but space (and comments)."""
    if node is None:
        return True
    if isinstance(node, ListNode):
        return all(is_empty_tree(n) for n in node.nodes)
    if isinstance(node, TextNode):
        return not node.value.strip(" \t\n\r\v\f\x85\xa0")
    return False


# --- the parser ------------------------------------------------------------------------------


@dataclass(eq=False)
class Tree:
    name: str
    root: ListNode
    text: str  # the whole template text (for error positions)


def parse(text: str, functions: frozenset[str] | set[str]) -> dict[str, Tree]:
    """``template.New("").Parse(text)``'s trees by name (``text/template/parse.Parse``)."""
    trees: dict[str, Tree] = {}
    items = lex(text)
    stream = _Stream(items)
    _Parser("", text, stream, functions, trees).parse_top()
    return trees


class _Stream:
    """The lexer's items with Go's three-token look-ahead (``token[3]``, ``peekCount``)."""

    def __init__(self, items: list[Item]) -> None:
        self.items = items
        self.index = 0

    def next_item(self) -> Item:
        if self.index < len(self.items):
            item = self.items[self.index]
            self.index += 1
            return item
        last = self.items[-1]
        return Item(Kind.EOF, last.pos, "", last.line)


class _Parser:
    def __init__(
        self,
        name: str,
        text: str,
        stream: _Stream,
        functions: frozenset[str] | set[str],
        trees: dict[str, Tree],
    ) -> None:
        self.name = name
        self.text = text
        self.stream = stream
        self.functions = functions
        self.trees = trees
        self.token: list[Item] = [Item(Kind.EOF, 0, "", 1)] * 3
        self.peek_count = 0
        self.vars = ["$"]
        self.range_depth = 0
        self.action_line = 0
        self.root = ListNode(0)

    # token handling (parse.go next/backup/peek)
    def next(self) -> Item:
        if self.peek_count > 0:
            self.peek_count -= 1
        else:
            self.token[0] = self.stream.next_item()
        return self.token[self.peek_count]

    def backup(self) -> None:
        self.peek_count += 1

    def backup2(self, t1: Item) -> None:
        self.token[1] = t1
        self.peek_count = 2

    def backup3(self, t2: Item, t1: Item) -> None:
        self.token[1] = t1
        self.token[2] = t2
        self.peek_count = 3

    def peek(self) -> Item:
        if self.peek_count > 0:
            return self.token[self.peek_count - 1]
        self.peek_count = 1
        self.token[0] = self.stream.next_item()
        return self.token[0]

    def next_non_space(self) -> Item:
        while True:
            token = self.next()
            if token.kind is not Kind.SPACE:
                return token

    def peek_non_space(self) -> Item:
        token = self.next_non_space()
        self.backup()
        return token

    def errorf(self, message: str) -> ParseError:
        return ParseError(f"template: {self.name_for_errors}:{self.token[0].line}: {message}")

    name_for_errors = ""  # ParseName: the top-level template's name, "" in Ollama

    def expect(self, kind: Kind, context: str) -> Item:
        token = self.next_non_space()
        if token.kind is not kind:
            raise self.unexpected(token, context)
        return token

    def unexpected(self, token: Item, context: str) -> ParseError:
        if token.kind is Kind.ERROR:
            extra = ""
            if self.action_line != 0 and self.action_line != token.line:
                extra = f" in action started at {self.name_for_errors}:{self.action_line}"
                if token.val.endswith(" action"):
                    extra = extra[len(" in action") :]
            return self.errorf(f"{token}{extra}")
        return self.errorf(f"unexpected {token} in {context}")

    def add(self) -> None:
        tree = self.trees.get(self.name)
        if tree is None or is_empty_tree(tree.root):
            self.trees[self.name] = Tree(self.name, self.root, self.text)
            return
        if not is_empty_tree(self.root):
            raise self.errorf(f"template: multiple definition of template {go_quote(self.name)}")

    def child(self, name: str) -> _Parser:
        """A ``{{define}}`` or ``{{block}}`` body: a new tree on the same items."""
        parser = _Parser(name, self.text, self.stream, self.functions, self.trees)
        parser.token = self.token
        parser.peek_count = self.peek_count
        return parser

    def resume(self, child: _Parser) -> None:
        self.token = child.token
        self.peek_count = child.peek_count

    # grammar
    def parse_top(self) -> None:
        self.root = ListNode(self.peek().pos)
        while self.peek().kind is not Kind.EOF:
            if self.peek().kind is Kind.LEFT_DELIM:
                delim = self.next()
                if self.next_non_space().kind is Kind.DEFINE:
                    definition = self.child("definition")
                    definition.parse_definition()
                    self.resume(definition)
                    continue
                self.backup2(delim)
            node = self.text_or_action()
            if isinstance(node, _EndNode | _ElseNode):
                raise self.errorf(f"unexpected {node.text()}")
            self.root.nodes.append(node)
        self.add()

    def parse_definition(self) -> None:
        context = "define clause"
        token = self.next_non_space()
        if token.kind not in (Kind.STRING, Kind.RAW_STRING):
            raise self.unexpected(token, context)
        self.name = self.unquote(token.val)
        self.expect(Kind.RIGHT_DELIM, context)
        self.root, end = self.item_list()
        if not isinstance(end, _EndNode):
            raise self.errorf(f"unexpected {end.text()} in {context}")
        self.add()

    def unquote(self, quoted: str) -> str:
        try:
            return go_unquote(quoted)
        except ValueError:
            raise self.errorf("invalid syntax") from None

    def item_list(self) -> tuple[ListNode, Node]:
        nodes = ListNode(self.peek_non_space().pos)
        while self.peek_non_space().kind is not Kind.EOF:
            node = self.text_or_action()
            if isinstance(node, _EndNode | _ElseNode):
                return nodes, node
            nodes.nodes.append(node)
        raise self.errorf("unexpected EOF")

    def text_or_action(self) -> Node:
        token = self.next_non_space()
        if token.kind is Kind.TEXT:
            return TextNode(token.pos, token.val)
        if token.kind is Kind.LEFT_DELIM:
            self.action_line = token.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        raise self.unexpected(token, "input")

    def action(self) -> Node:
        token = self.next_non_space()
        kind = token.kind
        if kind is Kind.BLOCK:
            return self.block_control()
        if kind is Kind.BREAK:
            return self.loop_control(token, BreakNode, "break")
        if kind is Kind.CONTINUE:
            return self.loop_control(token, ContinueNode, "continue")
        if kind is Kind.ELSE:
            return self.else_control()
        if kind is Kind.END:
            return _EndNode(self.expect(Kind.RIGHT_DELIM, "end").pos)
        if kind is Kind.IF:
            return self.control(IfNode, "if")
        if kind is Kind.RANGE:
            return self.control(RangeNode, "range")
        if kind is Kind.TEMPLATE:
            return self.template_control()
        if kind is Kind.WITH:
            return self.control(WithNode, "with")
        self.backup()
        token = self.peek()
        return ActionNode(token.pos, token.line, self.pipeline("command", Kind.RIGHT_DELIM))

    def loop_control(self, token: Item, node: type, word: str) -> Node:
        after = self.next_non_space()
        if after.kind is not Kind.RIGHT_DELIM:
            raise self.unexpected(after, "{{" + word + "}}")
        if self.range_depth == 0:
            raise self.errorf("{{" + word + "}} outside {{range}}")
        return node(token.pos, token.line)

    def else_control(self) -> Node:
        peek = self.peek_non_space()
        if peek.kind in (Kind.IF, Kind.WITH):
            return _ElseNode(peek.pos, peek.line)
        token = self.expect(Kind.RIGHT_DELIM, "else")
        return _ElseNode(token.pos, token.line)

    def control(self, node: type[BranchNode], context: str) -> BranchNode:
        depth = len(self.vars)
        try:
            pipe = self.pipeline(context, Kind.RIGHT_DELIM)
            if context == "range":
                self.range_depth += 1
            body, nxt = self.item_list()
            if context == "range":
                self.range_depth -= 1
            else_list = None
            if isinstance(nxt, _ElseNode):
                if context in ("if", "with") and self.peek().kind is (
                    Kind.IF if context == "if" else Kind.WITH
                ):
                    self.next()
                    else_list = ListNode(nxt.pos, [self.control(node, context)])
                else:
                    else_list, nxt = self.item_list()
                    if not isinstance(nxt, _EndNode):
                        raise self.errorf(f"expected end; found {nxt.text()}")
        finally:
            del self.vars[depth:]
        return node(pipe.pos, context, pipe.line, pipe, body, else_list)

    def template_control(self) -> Node:
        context = "template clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe = None
        if self.next_non_space().kind is not Kind.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, Kind.RIGHT_DELIM)
        return TemplateNode(token.pos, token.line, name, pipe)

    def template_name(self, token: Item, context: str) -> str:
        if token.kind not in (Kind.STRING, Kind.RAW_STRING):
            raise self.unexpected(token, context)
        return self.unquote(token.val)

    def block_control(self) -> Node:
        context = "block clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe = self.pipeline(context, Kind.RIGHT_DELIM)
        block = self.child(name)
        block.root, end = block.item_list()
        if not isinstance(end, _EndNode):
            raise self.errorf(f"unexpected {end.text()} in {context}")
        block.add()
        self.resume(block)
        return TemplateNode(token.pos, token.line, name, pipe)

    def pipeline(self, context: str, end: Kind) -> PipeNode:
        token = self.peek_non_space()
        pipe = PipeNode(token.pos, token.line)
        while True:  # decls
            variable = self.peek_non_space()
            if variable.kind is not Kind.VARIABLE:
                break
            self.next()
            after_variable = self.peek()
            nxt = self.peek_non_space()
            if nxt.kind in (Kind.ASSIGN, Kind.DECLARE):
                pipe.is_assign = nxt.kind is Kind.ASSIGN
                self.next_non_space()
                pipe.decl.append(VariableNode(variable.pos, variable.val.split(".")))
                self.vars.append(variable.val)
            elif nxt.kind is Kind.CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(VariableNode(variable.pos, variable.val.split(".")))
                self.vars.append(variable.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().kind in (
                        Kind.VARIABLE,
                        Kind.RIGHT_DELIM,
                        Kind.RIGHT_PAREN,
                    ):
                        continue
                    raise self.errorf("range can only initialize variables")
                raise self.errorf(f"too many declarations in {context}")
            elif after_variable.kind is Kind.SPACE:
                self.backup3(variable, after_variable)
            else:
                self.backup2(variable)
            break
        while True:
            token = self.next_non_space()
            if token.kind is end:
                self.check_pipeline(pipe, context)
                return pipe
            if token.kind in _OPERAND_START:
                self.backup()
                pipe.cmds.append(self.command())
            else:
                raise self.unexpected(token, context)

    def check_pipeline(self, pipe: PipeNode, context: str) -> None:
        if not pipe.cmds:
            raise self.errorf(f"missing value for {context}")
        for index, command in enumerate(pipe.cmds[1:]):
            if isinstance(command.args[0], BoolNode | DotNode | NilNode | NumberNode | StringNode):
                raise self.errorf(f"non executable command in pipeline stage {index + 2}")

    def command(self) -> CommandNode:
        command = CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                command.args.append(operand)
            token = self.next()
            if token.kind is Kind.SPACE:
                continue
            if token.kind in (Kind.RIGHT_DELIM, Kind.RIGHT_PAREN):
                self.backup()
            elif token.kind is not Kind.PIPE:
                raise self.unexpected(token, "operand")
            break
        if not command.args:
            raise self.errorf("empty command")
        return command

    def operand(self) -> Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().kind is Kind.FIELD:
            chain = ChainNode(self.peek().pos, node)
            while self.peek().kind is Kind.FIELD:
                chain.fields.append(self.next().val[1:])
            if isinstance(node, FieldNode):
                return FieldNode(chain.pos, [*node.ident, *chain.fields])
            if isinstance(node, VariableNode):
                return VariableNode(chain.pos, [*node.ident, *chain.fields])
            if isinstance(node, BoolNode | StringNode | NumberNode | NilNode | DotNode):
                raise self.errorf(f"unexpected . after term {go_quote(node.text())}")
            return chain
        return node

    def term(self) -> Node | None:
        token = self.next_non_space()
        kind = token.kind
        if kind is Kind.IDENTIFIER:
            if token.val not in self.functions:
                raise self.errorf(f"function {go_quote(token.val)} not defined")
            return IdentifierNode(token.pos, token.val)
        if kind is Kind.DOT:
            return DotNode(token.pos)
        if kind is Kind.NIL:
            return NilNode(token.pos)
        if kind is Kind.VARIABLE:
            variable = VariableNode(token.pos, token.val.split("."))
            if variable.ident[0] not in self.vars:
                raise self.errorf(f"undefined variable {go_quote(variable.ident[0])}")
            return variable
        if kind is Kind.FIELD:
            return FieldNode(token.pos, token.val[1:].split("."))
        if kind is Kind.BOOL:
            return BoolNode(token.pos, token.val == "true")
        if kind in (Kind.CHAR_CONSTANT, Kind.COMPLEX, Kind.NUMBER):
            return self.number(token)
        if kind is Kind.LEFT_PAREN:
            return self.pipeline("parenthesized pipeline", Kind.RIGHT_PAREN)
        if kind in (Kind.STRING, Kind.RAW_STRING):
            return StringNode(token.pos, token.val, self.unquote(token.val))
        self.backup()
        return None

    def number(self, token: Item) -> NumberNode:
        """``newNumber``: what the constant can be (int, float...), or Go's error."""
        text = token.val
        node = NumberNode(token.pos, text)
        if token.kind is Kind.CHAR_CONSTANT:
            try:
                value = go_unquote(text)
            except ValueError:
                raise self.errorf("invalid syntax") from None
            if len(value) != 1:
                raise self.errorf(f"malformed character constant: {text}")
            node.is_int = node.is_uint = node.is_float = True
            node.int_value = ord(value)
            node.float_value = float(ord(value))
            return node
        if token.kind is Kind.COMPLEX or text.endswith("i"):
            node.is_complex = True  # not printed by any template Ollama serves
            return node
        as_int = _go_int(text)
        if as_int is not None and -(2**63) <= as_int < 2**64:
            node.is_uint = 0 <= as_int < 2**64 and not text.startswith("-")
            node.is_int = -(2**63) <= as_int < 2**63
            if as_int == 0:
                node.is_uint = True
            node.int_value = as_int
            node.is_float = True
            node.float_value = float(as_int)
        else:
            as_float = _go_float(text)
            if as_float is not None:
                if not any(c in text for c in ".eEpP"):
                    raise self.errorf(f"integer overflow: {go_quote(text)}")
                node.is_float = True
                node.float_value = as_float
                if as_float == int(as_float) and abs(as_float) < 2**63:
                    node.is_int = True
                    node.int_value = int(as_float)
        if not (node.is_int or node.is_uint or node.is_float):
            raise self.errorf(f"illegal number syntax: {go_quote(text)}")
        return node


_OPERAND_START = frozenset(
    {
        Kind.BOOL,
        Kind.CHAR_CONSTANT,
        Kind.COMPLEX,
        Kind.DOT,
        Kind.FIELD,
        Kind.IDENTIFIER,
        Kind.NUMBER,
        Kind.NIL,
        Kind.RAW_STRING,
        Kind.STRING,
        Kind.VARIABLE,
        Kind.LEFT_PAREN,
    }
)


def _go_int(text: str) -> int | None:
    """``strconv.ParseInt(text, 0, 64)``'s syntax (base prefixes, underscores)."""
    body = text.lstrip("+-")
    sign = -1 if text.startswith("-") else 1
    if text[:1] in "+-" and len(text) - len(body) != 1:
        return None
    try:
        if body[:2].lower() in ("0x", "0b", "0o"):
            return sign * int(body, 0)
        if len(body) > 1 and body.startswith("0") and body.replace("_", "").isdigit():
            return sign * int(body.replace("_", ""), 8)
        if body.replace("_", "").isdigit() and not body.startswith("_") and "__" not in body:
            return sign * int(body.replace("_", ""))
    except ValueError:
        return None
    return None


def _go_float(text: str) -> float | None:
    try:
        if "x" in text.lower():
            return float.fromhex(text.replace("_", ""))
        return float(text.replace("_", ""))
    except ValueError:
        return None


def go_unquote(quoted: str) -> str:
    """``strconv.Unquote`` of a Go string, raw string or character literal."""
    if len(quoted) < 2:
        raise ValueError(quoted)
    if quoted[0] == "`":
        if quoted[-1] != "`":
            raise ValueError(quoted)
        return quoted[1:-1].replace("\r", "")
    if quoted[0] not in "\"'" or quoted[-1] != quoted[0]:
        raise ValueError(quoted)
    body = quoted[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        escape = body[index + 1 : index + 2]
        simple = {
            "a": "\a",
            "b": "\b",
            "f": "\f",
            "n": "\n",
            "r": "\r",
            "t": "\t",
            "v": "\v",
            "\\": "\\",
        }
        if escape in simple:
            out.append(simple[escape])
            index += 2
        elif escape == quoted[0]:
            out.append(escape)
            index += 2
        elif escape in ("x", "u", "U"):
            size = {"x": 2, "u": 4, "U": 8}[escape]
            digits = body[index + 2 : index + 2 + size]
            if len(digits) != size or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError(quoted)
            code = int(digits, 16)
            if escape == "x":
                out.append(bytes([code]).decode("latin-1") if code < 0x80 else chr(code))
            else:
                if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                    raise ValueError(quoted)
                out.append(chr(code))
            index += 2 + size
        elif escape in "01234567" and escape:
            digits = body[index + 1 : index + 4]
            if len(digits) != 3 or any(c not in "01234567" for c in digits):
                raise ValueError(quoted)
            out.append(chr(int(digits, 8)))
            index += 4
        else:
            raise ValueError(quoted)
    return "".join(out)


__all__ = ["ParseError", "Tree", "go_unquote", "parse"]
