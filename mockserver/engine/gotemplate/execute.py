"""The executor of Go's ``text/template`` (``text/template/exec.go``, ``funcs.go``).

``Template.execute(data)`` walks the parsed trees as Go's ``state`` does: pipelines (the
previous command's value is the next one's last argument; an ``interface {}`` is unwrapped
after each command), variables (``$`` is the data; ``:=`` declares, ``=`` assigns, scopes end
with the control structure), ``if``/``with`` truthiness (the zero value of its type is false:
``0``, ``""``, ``false``, nil, an empty slice or map; a struct is always true), ``range`` over
slices, maps (sorted keys), integers (Go >= 1.22), with ``else``, ``break`` and ``continue``,
``template``/``block`` calls (no variables inherited), and ``missingkey=zero`` (Ollama's
option: a missing key of a ``map[string]any`` is a nil ``any``, printed ``<no value>``).

Builtins: ``and or`` (short-circuit, the deciding operand is the value), ``not len index slice
eq ne lt le gt ge print printf println html js urlquery call``. Errors are Go's
``ExecError`` words: ``template: :LINE:COL: executing "NAME" at <NODE>: MESSAGE``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from mockserver.engine.gotemplate.parse import (
    ActionNode,
    BoolNode,
    BranchNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    IfNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    RangeNode,
    StringNode,
    TemplateNode,
    TextNode,
    Tree,
    VariableNode,
    WithNode,
    parse,
)
from mockserver.engine.gotemplate.values import (
    INVALID,
    GoMap,
    GoSlice,
    GoStruct,
    format_one,
    go_type_of,
    print_value,
    sprint,
    sprintf,
    sprintln,
)

MAX_EXEC_DEPTH = 100_000  # exec.go maxExecDepth
_MISSING = object()  # missingVal: no final argument from a previous command
_VALUE = "reflect.Value"  # a builtin's parameter that takes any value as it is


class ExecError(Exception):
    """A template that failed while executing; ``str()`` is Go's ``err.Error()``."""


@dataclass(frozen=True)
class GoFunc:
    """A function of the template's FuncMap: its Go parameter types (``"any"``, ``"string"``,
    ``"int"``, ``"float64"``, ``"bool"``), whether the last is variadic, and whether it also
    returns an error (``fn`` then raises ``ValueError`` with the error's text)."""

    fn: Callable[..., Any]
    params: tuple[str, ...]
    variadic: bool = False
    returns_error: bool = False


class _FieldError(Exception):
    """No field or method of that name (worded by the chain, which knows the static type)."""


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def _is_true(value: Any) -> bool:
    """``isTrue``: the zero value of its type is false."""
    if value is INVALID or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | list | tuple | dict | bytes):
        return len(value) > 0
    return True  # structs, pointers to them, functions


def _indirect_interface(value: Any) -> Any:
    return INVALID if value is None else value


class Template:
    """Parsed trees plus the functions they may call (``template.New("").Funcs(f).Parse``)."""

    def __init__(self, text: str, funcs: dict[str, GoFunc] | None = None) -> None:
        self.funcs = dict(funcs or {})
        self.trees: dict[str, Tree] = parse(text, set(self.funcs) | set(_BUILTINS))
        self.name = ""

    def execute(self, data: Any, *, tree: Tree | None = None, funcs: bool = True) -> str:
        """``Execute`` on ``data``; ``tree`` replaces the top-level tree (Ollama's legacy
        path runs a trimmed copy); ``funcs=False`` runs it as a bare ``template.New("")``:
        no functions, no other templates, the default ``missingkey`` (a missing key is no
        value at all, so a field of it is no value too, not an error)."""
        root = tree if tree is not None else self.trees.get(self.name)
        if root is None:
            raise ExecError(f'template: : "{self.name}" is an incomplete or empty template')
        state = _State(self, root, funcs=funcs)
        state.vars = [("$", data)]
        state.walk(data, root.root)
        return "".join(state.out)


class _State:
    def __init__(self, template: Template, tree: Tree, *, funcs: bool) -> None:
        self.template = template
        self.tree = tree
        self.use_funcs = funcs
        self.out: list[str] = []
        self.vars: list[tuple[str, Any]] = []
        self.node: Node | None = None
        self.depth = 0
        self.dot_is_any = False  # dot is a range element of a []any / map[string]any
        self.last_field_any = False  # the last field evaluated was a map[string]any's element

    # --- errors ------------------------------------------------------------------------
    def error(self, message: str) -> ExecError:
        name = self.tree.name
        if self.node is None:
            return ExecError(f"template: {name}: {message}")
        text = self.tree.text
        prefix = text[: self.node.pos]
        newline = prefix.rfind("\n")
        column = len(prefix[newline + 1 :].encode()) if newline >= 0 else len(prefix.encode())
        line = 1 + prefix.count("\n")
        context = self.node.text()  # ErrorContext: the node's whole text
        return ExecError(
            f'template: :{line}:{column}: executing "{name}" at <{context}>: {message}'
        )

    def at(self, node: Node) -> None:
        self.node = node

    # --- variables ------------------------------------------------------------------------
    def mark(self) -> int:
        return len(self.vars)

    def pop(self, mark: int) -> None:
        del self.vars[mark:]

    def set_var(self, name: str, value: Any) -> None:
        for index in range(len(self.vars) - 1, -1, -1):
            if self.vars[index][0] == name:
                self.vars[index] = (name, value)
                return
        raise self.error(f"undefined variable: {name}")

    def set_top_var(self, n: int, value: Any) -> None:
        name = self.vars[-n][0]
        self.vars[-n] = (name, value)

    def var_value(self, name: str) -> Any:
        for index in range(len(self.vars) - 1, -1, -1):
            if self.vars[index][0] == name:
                return self.vars[index][1]
        raise self.error(f"undefined variable: {name}")

    # --- walking --------------------------------------------------------------------------
    def walk(self, dot: Any, node: Node) -> None:
        self.at(node)
        if isinstance(node, ActionNode):
            assert node.pipe is not None
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.print_value(node, value)
        elif isinstance(node, ListNode):
            for child in node.nodes:
                self.walk(dot, child)
        elif isinstance(node, TextNode):
            self.out.append(node.value)
        elif isinstance(node, IfNode | WithNode):
            self.walk_if_or_with(dot, node)
        elif isinstance(node, RangeNode):
            self.walk_range(dot, node)
        elif isinstance(node, TemplateNode):
            self.walk_template(dot, node)
        elif isinstance(node, BreakNode):
            raise _Break
        elif isinstance(node, ContinueNode):
            raise _Continue
        else:
            raise self.error(f"unknown node: {node.text()}")

    def walk_if_or_with(self, dot: Any, node: BranchNode) -> None:
        mark = self.mark()
        try:
            assert node.pipe is not None and node.list is not None
            value = self.eval_pipeline(dot, node.pipe)
            if _is_true(_indirect_interface(value)):
                if isinstance(node, WithNode):
                    outer_any, self.dot_is_any = self.dot_is_any, False
                    try:
                        self.walk(value, node.list)
                    finally:
                        self.dot_is_any = outer_any
                else:
                    self.walk(dot, node.list)
            elif node.else_list is not None:
                self.walk(dot, node.else_list)
        finally:
            self.pop(mark)

    def walk_range(self, dot: Any, node: BranchNode) -> None:
        self.at(node)
        assert node.pipe is not None and node.list is not None
        pipe = node.pipe
        outer = self.mark()
        try:
            value = self.eval_pipeline(dot, pipe)
            if value is None:
                value = INVALID
            mark = self.mark()

            def one(index: Any, element: Any) -> None:
                if pipe.decl:
                    if pipe.is_assign:
                        name = pipe.decl[0].ident[0]
                        self.set_var(name, index if len(pipe.decl) > 1 else element)
                    else:
                        self.set_top_var(1, element)
                if len(pipe.decl) > 1:
                    if pipe.is_assign:
                        self.set_var(pipe.decl[1].ident[0], element)
                    else:
                        self.set_top_var(2, index)
                outer_any, self.dot_is_any = self.dot_is_any, element_is_any
                try:
                    self.walk(element, node.list)  # type: ignore[arg-type]
                except _Continue:
                    pass
                finally:
                    self.dot_is_any = outer_any
                    self.pop(mark)

            element_is_any = _holds_any(value) or type(value) is list
            items: Iterator[tuple[Any, Any]] | None = None
            if isinstance(value, list | tuple):
                items = iter(list(enumerate(value)))
            elif isinstance(value, dict):
                from mockserver.engine.gotemplate.values import sort_keys

                items = iter([(key, value[key]) for key in sort_keys(value)])
            elif isinstance(value, int) and not isinstance(value, bool):
                if len(pipe.decl) > 1:
                    raise self.error(
                        f"can't use {print_value(value)} to iterate over more than one variable"
                    )
                items = iter([(i, i) for i in range(value)])
            elif value is INVALID:
                items = iter(())
            else:
                raise self.error(f"range can't iterate over {print_value(value)}")
            ran = False
            try:
                for index, element in items:
                    ran = True
                    one(index, element)
            except _Break:
                return
            if not ran and node.else_list is not None:
                self.walk(dot, node.else_list)
        finally:
            self.pop(outer)

    def walk_template(self, dot: Any, node: TemplateNode) -> None:
        self.at(node)
        tree = self.template.trees.get(node.name) if self.use_funcs else None
        if tree is None:
            raise self.error(f'template "{node.name}" not defined')
        if self.depth == MAX_EXEC_DEPTH:
            raise self.error(f"exceeded maximum template depth ({MAX_EXEC_DEPTH})")
        dot = self.eval_pipeline(dot, node.pipe) if node.pipe is not None else INVALID
        inner = _State(self.template, tree, funcs=self.use_funcs)
        inner.out = self.out
        inner.depth = self.depth + 1
        inner.vars = [("$", dot)]
        inner.walk(dot, tree.root)

    # --- evaluation -----------------------------------------------------------------------
    def eval_pipeline(self, dot: Any, pipe: PipeNode | None) -> Any:
        if pipe is None:
            return INVALID
        self.at(pipe)
        value: Any = _MISSING
        for command in pipe.cmds:
            value = self.eval_command(dot, command, value)
            if value is None:  # an interface {} is dug into: a nil one is no value
                value = INVALID
        for variable in pipe.decl:
            if pipe.is_assign:
                self.set_var(variable.ident[0], value)
            else:
                self.vars.append((variable.ident[0], value))
        return value

    def not_a_function(self, args: list[Node], final: Any) -> None:
        if len(args) > 1 or final is not _MISSING:
            raise self.error(f"can't give argument to non-function {args[0].text()}")

    def eval_command(self, dot: Any, command: CommandNode, final: Any) -> Any:
        first = command.args[0]
        if isinstance(first, FieldNode):
            self.at(first)
            return self.eval_field_chain(dot, dot, first, first.ident, command.args, final)
        if isinstance(first, ChainNode):
            return self.eval_chain(dot, first, command.args, final)
        if isinstance(first, IdentifierNode):
            return self.eval_function(dot, first, command, command.args, final)
        if isinstance(first, PipeNode):
            self.not_a_function(command.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, VariableNode):
            return self.eval_variable(dot, first, command.args, final)
        self.at(first)
        self.not_a_function(command.args, final)
        if isinstance(first, BoolNode):
            return first.value
        if isinstance(first, DotNode):
            return dot
        if isinstance(first, NilNode):
            raise self.error("nil is not a command")
        if isinstance(first, NumberNode):
            return self.ideal_constant(first)
        if isinstance(first, StringNode):
            return first.value
        raise self.error(f"can't evaluate command {first.text()!r}")

    def ideal_constant(self, constant: NumberNode) -> Any:
        self.at(constant)
        text = constant.source
        if constant.is_complex:
            raise self.error(f"complex constant {text} is not supported here")
        is_hex_int = text[:2].lower() == "0x" and not any(c in text for c in ".pP")
        if (
            constant.is_float
            and not is_hex_int
            and not text.startswith("'")
            and any(c in text for c in ".eEpP")
        ):
            return constant.float_value
        if constant.is_int:
            return constant.int_value
        if constant.is_uint:
            raise self.error(f"{text} overflows int")
        return INVALID

    def eval_chain(self, dot: Any, chain: ChainNode, args: list[Node], final: Any) -> Any:
        self.at(chain)
        assert chain.node is not None
        if isinstance(chain.node, NilNode):
            raise self.error(f"indirection through explicit nil in {chain.text()}")
        receiver = self.eval_arg(dot, "any", chain.node)
        return self.eval_field_chain(dot, receiver, chain, chain.fields, args, final)

    def eval_variable(self, dot: Any, variable: VariableNode, args: list[Node], final: Any) -> Any:
        self.at(variable)
        value = self.var_value(variable.ident[0])
        if len(variable.ident) == 1:
            self.not_a_function(args, final)
            return value
        return self.eval_field_chain(dot, value, variable, variable.ident[1:], args, final)

    def eval_field_chain(
        self,
        dot: Any,
        receiver: Any,
        node: Node,
        ident: list[str],
        args: list[Node] | None,
        final: Any,
    ) -> Any:
        # a map[string]interface {}'s element, not yet unwrapped: its static type is any
        held_as_any = receiver is dot and self.dot_is_any and isinstance(node, FieldNode)
        try:
            for name in ident[:-1]:
                element_is_any = _holds_any(receiver)
                receiver = self.eval_field(dot, name, node, None, _MISSING, receiver)
                held_as_any = element_is_any
            self.last_field_any = _holds_any(receiver)  # the value's static type is any
            return self.eval_field(dot, ident[-1], node, args, final, receiver)
        except _FieldError as error:
            kind = "interface {}" if held_as_any else go_type_of(receiver)
            raise self.error(f"can't evaluate field {error} in type {kind}") from None

    def eval_field(
        self,
        dot: Any,
        name: str,
        node: Node,
        args: list[Node] | None,
        final: Any,
        receiver: Any,
    ) -> Any:
        if receiver is INVALID:
            return INVALID  # missingkey=zero: no error
        if receiver is None:
            raise self.error(f"nil pointer evaluating interface {{}}.{name}")
        method = _method(receiver, name)
        if method is not None:
            return self.eval_call(dot, method, False, node, name, args, final)
        has_args = (args is not None and len(args) > 1) or final is not _MISSING
        if isinstance(receiver, GoStruct):
            if name in receiver.go_fields:
                if has_args:
                    raise self.error(f"{name} has arguments but cannot be invoked as function")
                return receiver.field(name)
        elif isinstance(receiver, dict) and all(isinstance(k, str) for k in receiver):
            if has_args:
                raise self.error(f"{name} is not a method but has arguments")
            if name in receiver:
                return receiver[name]
            if not self.use_funcs:  # a bare template.New(""): missingkey=default
                return INVALID
            zero = getattr(receiver, "zero", None)
            return zero() if zero is not None else None
        raise _FieldError(name)

    def eval_function(
        self, dot: Any, node: IdentifierNode, command: Node, args: list[Node] | None, final: Any
    ) -> Any:
        self.at(node)
        name = node.name
        builtin = _BUILTINS.get(name)
        function = self.template.funcs.get(name) if self.use_funcs else None
        if function is None and builtin is None:
            raise self.error(f'"{name}" is not a defined function')
        if function is not None:
            return self.eval_call(dot, function, False, command, name, args, final)
        assert builtin is not None
        return self.eval_call(dot, builtin, True, command, name, args, final)

    def eval_call(
        self,
        dot: Any,
        function: GoFunc,
        builtin: bool,
        node: Node,
        name: str,
        args: list[Node] | None,
        final: Any,
    ) -> Any:
        given = list(args[1:]) if args is not None else []
        count = len(given) + (0 if final is _MISSING else 1)
        params = function.params
        fixed = len(given)
        if function.variadic:
            fixed = len(params) - 1
            if count < fixed:
                raise self.error(
                    f"wrong number of args for {name}: want at least {fixed} got {len(given)}"
                )
        elif count != len(params):
            raise self.error(f"wrong number of args for {name}: want {len(params)} got {count}")
        if builtin and name in ("and", "or"):
            value: Any = INVALID
            for arg in given:
                value = self.eval_arg(dot, _VALUE, arg)
                if _is_true(_indirect_interface(value)) == (name == "or"):
                    return value
            if final is not _MISSING:
                value = self.validate(final, _VALUE)
            return value
        argv: list[Any] = []
        index = 0
        while index < fixed and index < len(given):
            argv.append(self.eval_arg(dot, params[index], given[index]))
            index += 1
        if function.variadic:
            while index < len(given):
                self.last_field_any = False
                value = self.eval_arg(dot, params[-1], given[index])
                if builtin and name == "slice" and self.last_field_any:
                    value = _HeldAsAny(value)  # slice does not dig into its indexes
                argv.append(value)
                index += 1
        if final is not _MISSING:
            kind = params[-1]
            if function.variadic and count - 1 < fixed:
                kind = params[count - 1]
            argv.append(self.validate(final, kind))
        try:
            result = function.fn(*argv)
        except ValueError as error:
            self.at(node)
            raise self.error(f"error calling {name}: {error}") from None
        except (IndexError, TypeError, RecursionError) as error:
            self.at(node)
            raise self.error(f"error calling {name}: {error}") from None
        return result

    def eval_arg(self, dot: Any, kind: str, node: Node) -> Any:
        self.at(node)
        if isinstance(node, DotNode):
            return self.validate(dot, kind)
        if isinstance(node, NilNode):
            if kind in ("any", _VALUE) or kind.startswith(("[]", "map[", "*")):
                return None
            raise self.error(f"cannot assign nil to {kind}")
        if isinstance(node, FieldNode):
            self.at(node)
            value = self.eval_field_chain(dot, dot, node, node.ident, [node], _MISSING)
            return self.validate(value, kind)
        if isinstance(node, VariableNode):
            return self.validate(self.eval_variable(dot, node, [], _MISSING), kind)
        if isinstance(node, PipeNode):
            return self.validate(self.eval_pipeline(dot, node), kind)
        if isinstance(node, IdentifierNode):
            return self.validate(self.eval_function(dot, node, node, None, _MISSING), kind)
        if isinstance(node, ChainNode):
            return self.validate(self.eval_chain(dot, node, [], _MISSING), kind)
        if kind == "bool":
            if isinstance(node, BoolNode):
                return node.value
            raise self.error(f"expected bool; found {node.text()}")
        if kind == "int":
            if isinstance(node, NumberNode) and node.is_int:
                return node.int_value
            raise self.error(f"expected integer; found {node.text()}")
        if kind == "float64":
            if isinstance(node, NumberNode) and node.is_float:
                return node.float_value
            raise self.error(f"expected float; found {node.text()}")
        if kind == "string":
            if isinstance(node, StringNode):
                return node.value
            raise self.error(f"expected string; found {node.text()}")
        # interface {} or reflect.Value: evalEmptyInterface
        if isinstance(node, BoolNode):
            return node.value
        if isinstance(node, NumberNode):
            return self.ideal_constant(node)
        if isinstance(node, StringNode):
            return node.value
        raise self.error(f"can't handle {node.text()} for arg of type {kind}")

    def validate(self, value: Any, kind: str) -> Any:
        """``validateType``: a value for a parameter of Go type ``kind``."""
        if value is INVALID:
            if kind == "any":
                return None
            if kind == _VALUE:
                raise self.error("invalid value; expected reflect.Value")
            if kind.startswith(("[]", "map[", "*")):
                return None
            raise self.error(f"invalid value; expected {kind}")
        if kind in ("any", _VALUE):
            return value
        expected = {"string": str, "int": int, "float64": float, "bool": bool}.get(kind)
        if expected is not None:
            ok = isinstance(value, expected) and (kind == "bool" or not isinstance(value, bool))
            if not ok:
                got = "interface {}" if value is None else go_type_of(value)
                raise self.error(f"wrong type for value; expected {kind}; got {got}")
        return value

    def print_value(self, node: Node, value: Any) -> None:
        self.at(node)
        if value is INVALID:
            self.out.append("<no value>")
            return
        if isinstance(value, GoFunc) or (callable(value) and not isinstance(value, GoStruct)):
            raise self.error(f"can't print {node.text()} of type {go_type_of(value)}")
        self.out.append(print_value(value, top_pointer=False))


def _holds_any(container: Any) -> bool:
    """Whether a field of ``container`` is an ``interface {}`` (a ``map[string]any``)."""
    if isinstance(container, GoMap):
        return container.go_type in ("map[string]interface {}", "template.templateArgs")
    return isinstance(container, dict)


def _method(receiver: Any, name: str) -> GoFunc | None:
    """A method of the receiver's type (``MethodByName``), as a function of no arguments."""
    found: Callable[..., Any] | None = None
    if isinstance(receiver, GoStruct):
        found = receiver.method(name)
    elif isinstance(receiver, GoSlice | GoMap):
        if name == "String" and receiver.stringer is not None:
            stringer = receiver.stringer
            return GoFunc(lambda: stringer(receiver), ())
        found = receiver.methods.get(name)
    if found is None:
        return None
    return GoFunc(found, ())


# --- builtins (funcs.go) --------------------------------------------------------------------


def _basic_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "invalid"


def _eq(first: Any, *others: Any) -> bool:
    first = _indirect_interface(first)
    if not others:
        raise ValueError("missing argument for comparison")
    kind = _basic_kind(first)
    for other in others:
        other = _indirect_interface(other)
        other_kind = _basic_kind(other)
        truth = False
        if kind != other_kind:
            if first is not INVALID and other is not INVALID:
                raise ValueError("incompatible types for comparison")
        elif kind != "invalid":
            truth = first == other
        else:  # neither is a basic kind: canCompare, isNil, Comparable
            kinds = (_reflect_kind(first), _reflect_kind(other))
            if kinds[0] != kinds[1] and "invalid" not in kinds:
                raise ValueError(
                    f"non-comparable types {format_one(first, 's')}: {go_type_of(first)}, "
                    f"{go_type_of(other)}: {print_value(other)}"
                )
            if _is_nil(first) or _is_nil(other):
                truth = _is_nil(first) == _is_nil(other)
            elif kinds[1] in ("slice", "map"):
                shown = format_one(other, "s")
                raise ValueError(f"non-comparable type {shown}: {go_type_of(other)}")
            else:
                truth = first is other
        if truth:
            return True
    return False


def _reflect_kind(value: Any) -> str:
    if value is INVALID:
        return "invalid"
    if isinstance(value, list | tuple):
        return "slice"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, GoStruct):
        return "ptr" if value.pointer else "struct"
    return "other"


def _is_nil(value: Any) -> bool:
    return value is INVALID or value is None or (isinstance(value, GoSlice | GoMap) and value.nil)


def _ne(first: Any, second: Any) -> bool:
    return not _eq(first, second)


def _lt(first: Any, second: Any) -> bool:
    first, second = _indirect_interface(first), _indirect_interface(second)
    kind, other = _basic_kind(first), _basic_kind(second)
    if kind == "invalid" or other == "invalid":
        raise ValueError("invalid type for comparison")
    if kind != other:
        raise ValueError("incompatible types for comparison")
    if kind == "bool":
        raise ValueError("invalid type for comparison")
    if kind == "string":
        return bool(
            first.encode("utf-8", "surrogatepass") < second.encode("utf-8", "surrogatepass")
        )
    return bool(first < second)


def _le(first: Any, second: Any) -> bool:
    return _lt(first, second) or _eq(first, second)


def _gt(first: Any, second: Any) -> bool:
    return not _le(first, second)


def _ge(first: Any, second: Any) -> bool:
    return not _lt(first, second)


def _not(value: Any) -> bool:
    return not _is_true(_indirect_interface(value))


def _len(value: Any) -> int:
    if value is None:
        raise ValueError("len of nil pointer")
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, list | tuple | dict | bytes):
        return len(value)
    raise ValueError(f"len of type {go_type_of(value)}")


@dataclass(frozen=True)
class _HeldAsAny:
    """A ``slice`` index read from a ``map[string]any``: its type is ``interface {}``."""

    value: Any


def _index_arg(index: Any, cap: int) -> int:
    if isinstance(index, _HeldAsAny):
        raise ValueError("cannot index slice/array with type interface {}")
    if isinstance(index, int) and not isinstance(index, bool):
        if index < 0 or index > cap:
            raise ValueError(f"index out of range: {index}")
        return index
    if index is INVALID or index is None:
        raise ValueError("cannot index slice/array with nil")
    raise ValueError(f"cannot index slice/array with type {go_type_of(index)}")


def _index(item: Any, *indexes: Any) -> Any:
    item = _indirect_interface(item)
    if item is INVALID:
        raise ValueError("index of untyped nil")
    for index in indexes:
        index = _indirect_interface(index)
        if item is None:
            raise ValueError("index of nil pointer")
        if isinstance(item, str):
            data = item.encode("utf-8", "surrogatepass")
            position = _index_arg(index, len(data))
            if position == len(data):
                raise ValueError("reflect: string index out of range")
            item = data[position]
        elif isinstance(item, list | tuple):
            position = _index_arg(index, len(item))
            if position == len(item):
                raise ValueError("reflect: slice index out of range")
            item = item[position]
        elif isinstance(item, dict):
            if not isinstance(index, str):
                got = "interface {}" if index is INVALID else go_type_of(index)
                raise ValueError(f"value has type {got}; should be string")
            if index in item:
                item = item[index]
            else:
                zero = getattr(item, "zero", None)
                item = zero() if zero is not None else None
        else:
            raise ValueError(f"can't index item of type {go_type_of(item)}")
    return item


def _slice(item: Any, *indexes: Any) -> Any:
    item = _indirect_interface(item)
    if item is INVALID:
        raise ValueError("slice of untyped nil")
    if len(indexes) > 3:
        raise ValueError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise ValueError("cannot 3-index slice a string")
        data = item.encode("utf-8", "surrogatepass")
        cap = len(data)
    elif isinstance(item, list | tuple):
        cap = len(item)
    else:
        raise ValueError(f"can't slice item of type {go_type_of(item)}")
    bounds = [0, cap if not isinstance(item, str) else len(data), 0]
    for position, index in enumerate(indexes):
        bounds[position] = _index_arg(_indirect_interface(index), cap)
    if bounds[0] > bounds[1]:
        raise ValueError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    if len(indexes) == 3 and bounds[1] > bounds[2]:
        raise ValueError(f"invalid slice index: {bounds[1]} > {bounds[2]}")
    if isinstance(item, str):
        return data[bounds[0] : bounds[1]].decode("utf-8", "surrogateescape")
    part = item[bounds[0] : bounds[1]]
    if isinstance(item, GoSlice):
        return GoSlice(part, item.go_type, stringer=item.stringer, methods=item.methods)
    return list(part)


def _printable(args: tuple[Any, ...]) -> list[Any]:
    return list(args)


def _eval_args(args: tuple[Any, ...]) -> str:
    """``evalArgs`` (html, js, urlquery): each operand through ``printableValue`` (a nil one
    is ``<no value>``), then ``fmt.Sprint``."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(["<no value>" if a is None or a is INVALID else a for a in args])


def html_escape(text: str) -> str:
    """``template.HTMLEscapeString``."""
    return (
        text.replace("&", "&amp;")
        .replace("'", "&#39;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("\x00", "\ufffd")
    )


def js_escape(text: str) -> str:
    """``template.JSEscapeString``."""
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == "'":
            out.append("\\'")
        elif char == '"':
            out.append('\\"')
        elif char in "<>&=" or ord(char) < 0x20 or (ord(char) >= 0x80 and not char.isprintable()):
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return "".join(out)


def _call(function: Any, *args: Any) -> Any:
    function = _indirect_interface(function)
    if function is INVALID:
        raise ValueError("call of nil")
    if not isinstance(function, GoFunc):
        raise ValueError(f"non-function of type {go_type_of(function)}")
    return function.fn(*args)


_BUILTINS: dict[str, GoFunc] = {
    "and": GoFunc(lambda *a: a[-1], (_VALUE, _VALUE), variadic=True),
    "or": GoFunc(lambda *a: a[-1], (_VALUE, _VALUE), variadic=True),
    "not": GoFunc(_not, (_VALUE,)),
    "len": GoFunc(_len, (_VALUE,), returns_error=True),
    "index": GoFunc(_index, (_VALUE, _VALUE), variadic=True, returns_error=True),
    "slice": GoFunc(_slice, (_VALUE, _VALUE), variadic=True, returns_error=True),
    "eq": GoFunc(_eq, (_VALUE, _VALUE), variadic=True, returns_error=True),
    "ne": GoFunc(_ne, (_VALUE, _VALUE), returns_error=True),
    "lt": GoFunc(_lt, (_VALUE, _VALUE), returns_error=True),
    "le": GoFunc(_le, (_VALUE, _VALUE), returns_error=True),
    "gt": GoFunc(_gt, (_VALUE, _VALUE), returns_error=True),
    "ge": GoFunc(_ge, (_VALUE, _VALUE), returns_error=True),
    "print": GoFunc(lambda *a: sprint(_printable(a)), ("any",), variadic=True),
    "printf": GoFunc(lambda f, *a: sprintf(f, _printable(a)), ("string", "any"), variadic=True),
    "println": GoFunc(lambda *a: sprintln(_printable(a)), ("any",), variadic=True),
    "html": GoFunc(lambda *a: html_escape(_eval_args(a)), ("any",), variadic=True),
    "js": GoFunc(lambda *a: js_escape(_eval_args(a)), ("any",), variadic=True),
    "urlquery": GoFunc(
        lambda *a: urllib.parse.quote_plus(_eval_args(a), safe="-_.~"), ("any",), variadic=True
    ),
    "call": GoFunc(_call, (_VALUE, _VALUE), variadic=True, returns_error=True),
}

__all__ = ["ExecError", "GoFunc", "Template"]
