"""gpt-oss: Ollama's Harmony template, ``gptoss.gotmpl`` (``ollama-wire-spec.md`` §8, gpt-oss).

A fixed system block (model identity, knowledge cutoff, the server's current date, the
reasoning level, the built-in browser and python tools when the request names them, the valid
channels), a developer block only when there is system text or a function tool, then the
messages, ending with ``<|start|>assistant`` unless the last message is an assistant prefill.
Property types are Ollama's ``toTypeScriptType`` (``api.ToolProperty.ToTypeScriptType``).
"""

from __future__ import annotations

from typing import Any

from mockserver.engine.chat import Message
from mockserver.engine.templates import Conversation
from mockserver.engine.templates.tools import arguments_json, template_tool, typescript_type

_BROWSER = ("browser.search", "browser.open", "browser.find")
BUILTIN_TOOLS = (*_BROWSER, "python")

_BROWSER_HEAD = """

## browser

// Tool for browsing.
// The cursor appears in brackets before each browsing display, like [cursor].
// Cite information from the tool using the line-citation format shown by the browser output.
// Do not quote more than 10 words directly from the tool output.
// sources=web (default: web)
namespace browser {"""
_BROWSER_TOOLS = {
    "browser.search": """

// Searches for information related to query and displays topn results.
type search = (_: {
query: string,
topn?: number, // default: 10
source?: string,
}) => any;""",
    "browser.open": """

// Opens the link id from the page indicated by cursor starting at line number loc, showing \
num_lines lines.
// If cursor is not provided, the most recent page is implied.
// If id is a string, it is treated as a fully qualified URL associated with source.
// If loc is not provided, the viewport will be positioned at the beginning of the document or \
centered on the most relevant passage, if available.
// Use this function without id to scroll to a new location of an opened page.
type open = (_: {
id?: number | string, // default: -1
cursor?: number, // default: -1
loc?: number, // default: -1
num_lines?: number, // default: -1
view_source?: boolean, // default: false
source?: string,
}) => any;""",
    "browser.find": """

// Finds exact matches of pattern in the current page, or the page given by cursor.
type find = (_: {
pattern: string,
cursor?: number, // default: -1
}) => any;""",
}
_PYTHON = """

## python

Use this tool to execute Python code in your chain of thought. The code will not be shown to \
the user. This tool should be used for internal reasoning, but not for code that is intended to \
be visible to the user (e.g. when creating plots, tables, or files).

When you send a message containing Python code to python, it will be executed in a stateful \
Jupyter notebook environment. python will respond with the output of the execution or time out \
after 120.0 seconds. The drive at '/mnt/data' can be used to save and persist user files. \
Internet access for this session is UNKNOWN. Depends on the cluster."""


def render(conversation: Conversation) -> str:
    names = [_tool_name(tool) for tool in conversation.tools]
    functions = [t for t, name in zip(conversation.tools, names, strict=True) if not _builtin(name)]
    out = _system_block(conversation, set(names), bool(functions))
    if functions or conversation.system:
        out += _developer_block(functions, conversation.system)
    messages = conversation.messages
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    last = messages[-1] if messages else None
    # The template's two prefill flags hold for every message, not only the last one.
    prefill_content = bool(last and last.role == "assistant" and last.content)
    prefill_thinking = bool(
        last and last.role == "assistant" and not last.content and last.thinking
    )
    for index, message in enumerate(messages):
        if message.role == "tool":
            to = (
                message.tool_name
                if _builtin(message.tool_name)
                else f"functions.{message.tool_name}"
            )
            out += f"<|start|>{to} to=assistant<|message|>{message.content}<|end|>"
        elif message.role == "assistant":
            if message.thinking and index > last_user:
                out += f"<|start|>assistant<|channel|>analysis<|message|>{message.thinking}"
                out += "" if prefill_thinking else "<|end|>"
            if message.content:
                out += f"<|start|>assistant<|channel|>final<|message|>{message.content}"
                out += "" if prefill_content else "<|end|>"
            out += tool_call_text(message)
        elif message.role == "user":
            out += f"<|start|>user<|message|>{message.content}<|end|>"
        # system and any other role: not rendered in the loop
    if not (prefill_content or prefill_thinking):
        out += "<|start|>assistant"
    return out


def tool_call_text(message: Message) -> str:
    """An assistant's tool calls as the template prints them."""
    out = ""
    for call in message.tool_calls:
        builtin = _builtin(call.name)
        channel = "analysis" if builtin else "commentary"
        to = call.name if builtin else f"functions.{call.name}"
        out += (
            f"<|start|>assistant<|channel|>{channel} to={to} <|constrain|>json"
            f"<|message|>{arguments_json(call)}<|call|>"
        )
    return out


def reasoning_level(think: object) -> str | None:
    """The ``Reasoning:`` line's level, or None when reasoning is off."""
    if think is False:
        return None
    if think in ("low", "medium", "high"):
        return str(think)
    if think == "max":  # server/routes.go: harmony only knows low/medium/high
        return "high"
    return "medium"


def _system_block(conversation: Conversation, names: set[str], functions: bool) -> str:
    out = (
        "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
        f"Knowledge cutoff: 2024-06\nCurrent date: {conversation.current_date}"
    )
    level = reasoning_level(conversation.think)
    if level is not None:
        out += f"\n\nReasoning: {level}"
    if names & set(BUILTIN_TOOLS):
        out += "\n\n# Tools"
        if names & set(_BROWSER):
            out += _BROWSER_HEAD
            out += "".join(_BROWSER_TOOLS[name] for name in _BROWSER if name in names)
            out += "\n\n} // namespace browser"
        if "python" in names:
            out += _PYTHON
    out += (
        "\n\n# Valid channels: analysis, commentary, final. "
        "Channel must be included for every message."
    )
    if functions:
        out += "\nCalls to these tools must go to the commentary channel: 'functions'."
    return out + "<|end|>"


def _developer_block(functions: list[dict[str, Any]], system: str) -> str:
    out = "<|start|>developer<|message|>"
    if functions:
        out += "# Tools\n\n## functions\n\nnamespace functions {"
        out += "".join(_tool_signature(tool) for tool in functions)
        out += "\n\n} // namespace functions"
    if system:
        out += "\n\n# Instructions\n\n" + system
    return out + "<|end|>"


def _tool_signature(tool: dict[str, Any]) -> str:
    function = template_tool(tool)["function"]
    out = "\n"
    if function["description"]:
        out += f"\n// {function['description']}"
    properties = function["parameters"]["properties"]
    if not properties:
        return out + f"\ntype {function['name']} = () => any;"
    out += f"\ntype {function['name']} = (_: {{"
    for name, spec in properties.items():
        if spec.get("description"):
            out += f"\n  // {spec['description']}"
        out += f"\n  {name}: {typescript_type(spec)},"
    return out + "\n}) => any;"


def _tool_name(tool: dict[str, Any]) -> str:
    return str(template_tool(tool)["function"]["name"])


def _builtin(name: str) -> bool:
    return name in BUILTIN_TOOLS
