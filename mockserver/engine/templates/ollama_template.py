"""Ollama's ``template`` package: any template text, parsed and executed as Ollama does.

The registry families have Python renderers (``templates/*.py``), but a request's
``template`` (``/api/generate``) or a created model's TEMPLATE (``/api/create``) can be any Go
template: those run here, through ``mockserver.engine.gotemplate`` (Go's ``text/template``
semantics), with what ``template/template.go`` (ollama/ollama@fb3076099) gives them:

* ``Parse``: ``missingkey=zero``, the functions ``json``, ``currentDate``, ``yesterdayDate``,
  ``toTypeScriptType``; ``Vars`` (every identifier of every tree, lower-cased; a
  ``{{template}}`` without a pipeline fails: "undefined template specified"); a template naming
  neither ``.Messages`` nor ``.Response`` gets ``{{ .Response }}`` appended.
* ``Execute``: with a prompt and a suffix, ``{Prompt, Suffix, Response, Think...}``; else, a
  template naming ``.Messages`` gets the collated messages (``templateMessage``), the tools
  (``templateTools``), ``.System`` (every system message joined); else the legacy loop: one
  execution per system/user/assistant turn with ``.System``/``.Prompt``/``.Response``, the last
  turn with a copy of the template cut after its first ``.Response`` (``deleteNode``), run as a
  template without functions (``template.New("").AddParseTree``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from mockserver.engine.chat import Message, Think
from mockserver.engine.gotemplate import (
    ExecError,
    GoFunc,
    GoMap,
    GoSlice,
    GoStruct,
    ParseError,
    Template,
)
from mockserver.engine.gotemplate import parse as nodes
from mockserver.engine.templates import tools as tool_types
from mockserver.wire.gojson import as_decoded, marshal


class TemplateError(Exception):
    """A template Ollama refuses (``str()`` is its error text)."""


# --- what the template sees: the Go types of template/template.go and api/types.go ------------


class ToolProperty(GoStruct):
    """``api.ToolProperty`` (its ``ToTypeScriptType`` method is callable from templates)."""

    go_type = "api.ToolProperty"
    go_fields = ("AnyOf", "Type", "Items", "Description", "Enum", "Properties", "Required")

    def __init__(self, spec: Any) -> None:
        self.spec = spec if isinstance(spec, dict) else {}
        any_of = self.spec.get("anyOf")
        self.AnyOf = GoSlice(
            [ToolProperty(one) for one in any_of] if isinstance(any_of, list) else [],
            "[]api.ToolProperty",
            nil=True,
        )
        self.Type = GoSlice(
            tool_types.property_types(self.spec),
            "api.PropertyType",
            nil=True,
            stringer=lambda kinds: (
                "" if not kinds else kinds[0] if len(kinds) == 1 else "[" + " ".join(kinds) + "]"
            ),
        )
        self.Items = as_decoded(self.spec.get("items"))
        self.Description = self.spec.get("description") or ""
        enum = self.spec.get("enum")
        self.Enum = GoSlice(as_decoded(enum) if isinstance(enum, list) else [], nil=True)
        properties = self.spec.get("properties")
        self.Properties = _PropertiesMap(properties) if isinstance(properties, dict) else None
        required = self.spec.get("required")
        self.Required = GoSlice(
            list(required) if isinstance(required, list) else [], "[]string", nil=True
        )

    def go_ToTypeScriptType(self) -> str:
        return tool_types.typescript_type(self.spec)

    def go_json(self) -> Any:
        return tool_types.tool_property(self.spec)


class _PropertiesMap(GoStruct):
    """``*api.ToolPropertiesMap``: an ordered map behind unexported fields."""

    go_type = "api.ToolPropertiesMap"
    go_fields = ("om",)
    pointer = True

    def __init__(self, properties: dict[str, Any]) -> None:
        self.om = GoMap({k: ToolProperty(v) for k, v in properties.items()})
        self.properties = properties

    def go_Len(self) -> int:
        return len(self.properties)

    def go_ToMap(self) -> GoMap:
        return _properties(self.properties)

    def go_json(self) -> Any:
        return {k: tool_types.tool_property(v) for k, v in self.properties.items()}


def _properties(properties: Any) -> GoMap:
    """``templateProperties``: a map with a JSON ``String`` (``{}`` when nil)."""
    present = isinstance(properties, dict)
    return GoMap(
        {k: ToolProperty(v) for k, v in properties.items()} if present else {},
        "template.templateProperties",
        nil=not present,
        stringer=lambda m: "{}" if m.nil else marshal(_json({k: m[k] for k in sorted(m)})),
    )


class _Parameters(GoStruct):
    go_type = "template.templateToolFunctionParameters"
    go_fields = ("Type", "Defs", "Items", "Required", "Properties")

    def __init__(self, parameters: dict[str, Any]) -> None:
        self.Type = parameters.get("type") if isinstance(parameters.get("type"), str) else ""
        self.Defs = as_decoded(parameters.get("$defs"))
        self.Items = as_decoded(parameters.get("items"))
        required = parameters.get("required")
        self.Required = GoSlice(
            list(required) if isinstance(required, list) else [], "[]string", nil=True
        )
        self.Properties = _properties(parameters.get("properties"))


class _Function(GoStruct):
    go_type = "template.templateToolFunction"
    go_fields = ("Name", "Description", "Parameters")

    def __init__(self, function: dict[str, Any]) -> None:
        name, description = function.get("name"), function.get("description")
        self.Name = name if isinstance(name, str) else ""
        self.Description = description if isinstance(description, str) else ""
        parameters = function.get("parameters")
        self.Parameters = _Parameters(parameters if isinstance(parameters, dict) else {})


class _Tool(GoStruct):
    go_type = "template.templateTool"
    go_fields = ("Type", "Items", "Function")

    def __init__(self, tool: dict[str, Any]) -> None:
        self.tool = tool
        self.Type = tool.get("type") if isinstance(tool.get("type"), str) else ""
        self.Items = as_decoded(tool.get("items"))
        function = tool.get("function")
        self.Function = _Function(function if isinstance(function, dict) else {})

    def go_String(self) -> str:
        return tool_types.tool_json(self.tool)

    def go_json(self) -> Any:
        return tool_types.template_tool(self.tool)


class _CallFunction(GoStruct):
    go_type = "template.templateToolCallFunction"
    go_fields = ("Index", "Name", "Arguments")

    def __init__(self, index: int, name: str, arguments: dict[str, Any] | None) -> None:
        self.Index = index
        self.Name = name
        self.Arguments = GoMap(
            as_decoded(arguments or {}),
            "template.templateArgs",
            nil=arguments is None,
            stringer=lambda m: "{}" if m.nil else marshal(_json(dict(m))),
        )


class _ToolCall(GoStruct):
    go_type = "template.templateToolCall"
    go_fields = ("ID", "Function")

    def __init__(self, index: int, name: str, arguments: dict[str, Any] | None) -> None:
        self.ID = ""
        self.Function = _CallFunction(index, name, arguments)


class _Message(GoStruct):
    go_type = "template.templateMessage"
    go_fields = ("Role", "Content", "Thinking", "Images", "ToolCalls", "ToolName", "ToolCallID")
    pointer = True

    def __init__(self, message: Message) -> None:
        self.Role = message.role
        self.Content = message.content
        self.Thinking = message.thinking
        self.Images = GoSlice(list(message.images), "[]api.ImageData", nil=True)  # decoded bytes
        self.ToolCalls = GoSlice(
            [_ToolCall(0, call.name, call.arguments) for call in message.tool_calls],
            "[]template.templateToolCall",
            nil=True,
        )
        self.ToolName = message.tool_name
        self.ToolCallID = ""


def _json(value: Any) -> Any:
    """What ``json.Marshal`` sees of a template value (struct fields in order, maps sorted)."""
    if isinstance(value, GoStruct):
        own = getattr(value, "go_json", None)
        if own is not None:
            return own()
        return {name: _json(value.field(name)) for name in value.go_fields}
    if isinstance(value, GoSlice) and value.nil:
        return None
    if isinstance(value, GoMap) and value.nil:
        return None
    if isinstance(value, dict):
        return {str(k): _json(value[k]) for k in sorted(value)}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    return value


# --- Parse and Execute -------------------------------------------------------------------------


def _functions(current_date: str) -> dict[str, GoFunc]:
    def yesterday(*_: str) -> str:
        try:
            return (date.fromisoformat(current_date) - timedelta(days=1)).isoformat()
        except ValueError:
            return ""

    def typescript(value: Any) -> str:
        return value.go_ToTypeScriptType() if isinstance(value, ToolProperty) else "any"

    return {
        "json": GoFunc(lambda v: marshal(_json(v)), ("any",)),
        "currentDate": GoFunc(lambda *_: current_date, ("string",), variadic=True),
        "yesterdayDate": GoFunc(yesterday, ("string",), variadic=True),
        "toTypeScriptType": GoFunc(typescript, ("any",)),
    }


def _identifiers(node: nodes.Node | None) -> list[str]:
    """``template.Identifiers``."""
    if isinstance(node, nodes.ListNode):
        return [name for child in node.nodes for name in _identifiers(child)]
    if isinstance(node, nodes.TemplateNode):
        if node.pipe is None:
            raise TemplateError("undefined template specified")
        return _identifiers(node.pipe)
    if isinstance(node, nodes.ActionNode):
        return _identifiers(node.pipe)
    if isinstance(node, nodes.BranchNode):
        names = _identifiers(node.pipe)
        for branch in (node.list, node.else_list):
            if branch is not None:
                names += _identifiers(branch)
        return names
    if isinstance(node, nodes.PipeNode):
        return [name for command in node.cmds for arg in command.args for name in _identifiers(arg)]
    if isinstance(node, nodes.FieldNode | nodes.VariableNode):
        return list(node.ident)
    return []


def _response_action() -> nodes.ActionNode:
    field_node = nodes.FieldNode(0, ["Response"])
    return nodes.ActionNode(0, 0, nodes.PipeNode(0, cmds=[nodes.CommandNode(0, [field_node])]))


@dataclass
class OllamaTemplate:
    """``template.Parse(text)``; ``execute`` is ``(*Template).Execute``."""

    text: str
    current_date: str = field(default_factory=lambda: date.today().isoformat())
    template: Template = field(init=False)
    vars: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        try:
            self.template = Template(self.text, _functions(self.current_date))
        except ParseError as error:
            raise TemplateError(str(error)) from None
        names: set[str] = set()
        for tree in self.template.trees.values():
            for node in tree.root.nodes:
                names.update(name.lower() for name in _identifiers(node))
        self.vars = frozenset(names)
        if "messages" not in self.vars and "response" not in self.vars:
            self.template.trees[""].root.nodes.append(_response_action())

    def execute(
        self,
        *,
        messages: tuple[Message, ...] = (),
        tools: tuple[dict[str, Any], ...] = (),
        think: Think = None,
        prompt: str = "",
        suffix: str = "",
    ) -> str:
        """The rendered prompt, or ``TemplateError`` with Go's execution error."""
        think_on, level, think_set = _think_values(think)
        flags = {"Think": think_on, "ThinkLevel": level, "IsThinkSet": think_set}
        try:
            if prompt and suffix:
                return self.template.execute(
                    {"Prompt": prompt, "Suffix": suffix, "Response": "", **flags}
                )
            system, collated = _collate(messages)
            if "messages" in self.vars:
                return self.template.execute(
                    {
                        "System": system,
                        "Messages": GoSlice(
                            [_Message(m) for m in collated], "[]*template.templateMessage"
                        ),
                        "Tools": GoSlice(
                            [_Tool(t) for t in tools],
                            "template.templateTools",
                            nil=not tools,
                            stringer=lambda ts: marshal(_json(list(ts)) if not ts.nil else None),
                        ),
                        "Response": "",
                        **flags,
                    }
                )
            return self._legacy(collated, flags)
        except ExecError as error:
            raise TemplateError(str(error)) from None

    def _legacy(self, messages: list[Message], flags: dict[str, Any]) -> str:
        out: list[str] = []
        turn = {"System": "", "Prompt": "", "Response": ""}

        def execute() -> None:
            out.append(self.template.execute({**turn, **flags}))
            turn.update(System="", Prompt="", Response="")

        for message in messages:
            if message.role == "system":
                if turn["Prompt"] or turn["Response"]:
                    execute()
                turn["System"] = message.content
            elif message.role == "user":
                if turn["Response"]:
                    execute()
                turn["Prompt"] = message.content
            elif message.role == "assistant":
                turn["Response"] = message.content
        top = self.template.trees[""]
        cut = _cut_after_response(copy.deepcopy(top.root))
        tree = nodes.Tree("", cut, top.text)
        out.append(self.template.execute({**turn, **flags}, tree=tree, funcs=False))
        return "".join(out)


def _cut_after_response(root: nodes.ListNode) -> nodes.ListNode:
    """``deleteNode`` with Ollama's predicate: every node after the first field naming
    ``Response`` is removed (a branch whose else-list falls after it makes Ollama panic:
    a 500, as here)."""
    cut = False

    def predicate(node: nodes.Node) -> bool:
        nonlocal cut
        if isinstance(node, nodes.FieldNode) and "Response" in node.ident:
            cut = True
            return False
        return cut

    def walk(node: nodes.Node) -> nodes.Node | None:
        if predicate(node):
            return None
        if isinstance(node, nodes.ListNode):
            node.nodes = [kept for child in node.nodes if (kept := walk(child)) is not None]
            return node
        if isinstance(node, nodes.BranchNode):
            if predicate(node):  # the embedded BranchNode is visited as a node of its own
                raise TemplateError("runtime error: invalid memory address or nil pointer")
            assert node.list is not None
            walked = walk(node.list)
            if walked is None:
                raise TemplateError("interface conversion: parse.Node is nil, not *parse.ListNode")
            node.list = walked  # type: ignore[assignment]
            if node.else_list is not None:
                walked = walk(node.else_list)
                if walked is None:
                    raise TemplateError(
                        "interface conversion: parse.Node is nil, not *parse.ListNode"
                    )
                node.else_list = walked  # type: ignore[assignment]
            return node
        if isinstance(node, nodes.ActionNode):
            assert node.pipe is not None
            pipe = walk(node.pipe)
            if pipe is None:
                return None
            node.pipe = pipe  # type: ignore[assignment]
            return node
        if isinstance(node, nodes.PipeNode):
            commands = []
            for command in node.cmds:
                args = [kept for arg in command.args if (kept := walk(arg)) is not None]
                if not args:
                    return None
                command.args = args
                commands.append(command)
            if not commands:
                return None
            node.cmds = commands
        return node

    result = walk(root)
    assert isinstance(result, nodes.ListNode)
    return result


def _collate(messages: tuple[Message, ...]) -> tuple[str, list[Message]]:
    """``collate``: the system messages joined; same-role runs merged (not tool messages)."""
    from dataclasses import replace

    system: list[str] = []
    collated: list[Message] = []
    for message in messages:
        if message.role == "system":
            system.append(message.content)
        if collated and collated[-1].role == message.role and message.role != "tool":
            last = collated[-1]
            collated[-1] = replace(last, content=last.content + "\n\n" + message.content)
        else:
            collated.append(message)
    return "\n\n".join(system), collated


def _think_values(think: Think) -> tuple[bool, str, bool]:
    """``ThinkValue``'s Bool and String, and whether it was set (``renderPrompt``)."""
    if think is None:
        return False, "", False
    if isinstance(think, bool):
        return think, "medium" if think else "", True
    return think in ("high", "medium", "low", "max"), str(think), True


__all__ = ["OllamaTemplate", "TemplateError"]
