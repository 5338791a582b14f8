"""gpt-oss: Ollama's Harmony template (``ollama-wire-spec.md`` §8, gpt-oss).

A fixed system block (model identity, knowledge cutoff, the server's current date, the
reasoning level, the valid channels), a developer block only when there is system text or
tools, then the messages, ending with ``<|start|>assistant``.
"""

from __future__ import annotations

from typing import Any

from mockserver.engine.chat import Message
from mockserver.engine.templates import Conversation
from mockserver.engine.templates.gojson import go_json


def render(conversation: Conversation) -> str:
    parts = [_system_block(conversation), _developer_block(conversation)]
    messages = [m for m in conversation.messages if m.role not in ("system", "developer")]
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    for index, message in enumerate(messages):
        is_last = index == len(messages) - 1
        if message.role == "user":
            parts.append(f"<|start|>user<|message|>{message.content}<|end|>")
        elif message.role == "assistant":
            parts.append(_assistant(message, after_last_user=index > last_user, is_last=is_last))
        elif message.role == "tool":
            parts.append(
                f"<|start|>functions.{message.tool_name} to=assistant<|message|>"
                f"{message.content}<|end|>"
            )
    if not messages or messages[-1].role != "assistant":
        parts.append("<|start|>assistant")
    return "".join(parts)


def reasoning_level(think: object) -> str | None:
    """The ``Reasoning:`` line's level, or None when reasoning is off."""
    if think is False:
        return None
    if think in ("low", "medium", "high"):
        return str(think)
    if think == "max":  # gpt-oss has no level above high
        return "high"
    return "medium"


def _system_block(conversation: Conversation) -> str:
    lines = [
        "You are ChatGPT, a large language model trained by OpenAI.",
        "Knowledge cutoff: 2024-06",
        f"Current date: {conversation.current_date}",
    ]
    level = reasoning_level(conversation.think)
    if level is not None:
        lines += ["", f"Reasoning: {level}"]
    lines += [
        "",
        "# Valid channels: analysis, commentary, final. "
        "Channel must be included for every message.",
    ]
    if conversation.tools:
        lines.append("Calls to these tools must go to the commentary channel: 'functions'.")
    return "<|start|>system<|message|>" + "\n".join(lines) + "<|end|>"


def _developer_block(conversation: Conversation) -> str:
    if not conversation.system and not conversation.tools:
        return ""
    body = ""
    if conversation.tools:
        body += "# Tools\n\n## functions\n\nnamespace functions {"
        for tool in conversation.tools:
            body += _tool_signature(tool.get("function") or {})
        body += "\n\n} // namespace functions"
    if conversation.system:
        body += "\n\n# Instructions\n\n" + conversation.system
    return f"<|start|>developer<|message|>{body}<|end|>"


def _tool_signature(function: dict[str, Any]) -> str:
    out = f"\n\n// {function.get('description', '')}\n"
    properties = (function.get("parameters") or {}).get("properties") or {}
    name = function.get("name", "")
    if not properties:
        return out + f"type {name} = () => any;"
    out += f"type {name} = (_: {{\n"
    for prop, spec in sorted(properties.items()):
        spec = spec if isinstance(spec, dict) else {}
        if spec.get("description"):
            out += f"  // {spec['description']}\n"
        out += f"  {prop}: {typescript_type(spec)},\n"
    return out + "}) => any;"


def typescript_type(spec: dict[str, Any]) -> str:
    """A JSON-schema property as the TypeScript type Harmony shows the model."""
    if spec.get("enum"):
        return " | ".join(go_json(value) for value in spec["enum"])
    kind = spec.get("type")
    if isinstance(kind, list):
        return " | ".join(_scalar_type(k, spec) for k in kind)
    return _scalar_type(kind, spec)


def _scalar_type(kind: Any, spec: dict[str, Any]) -> str:
    if kind == "array":
        items = spec.get("items")
        return (typescript_type(items) if isinstance(items, dict) else "any") + "[]"
    if kind in ("integer", "number"):
        return "number"
    if kind in ("string", "boolean", "null", "object"):
        return str(kind)
    return "any"


def _assistant(message: Message, *, after_last_user: bool, is_last: bool) -> str:
    out = ""
    if message.thinking and after_last_user:
        out += f"<|start|>assistant<|channel|>analysis<|message|>{message.thinking}<|end|>"
    if message.tool_calls:
        for call in message.tool_calls:
            out += (
                f"<|start|>assistant<|channel|>commentary to=functions.{call.name} "
                f"<|constrain|>json<|message|>{go_json(call.arguments)}<|call|>"
            )
        return out
    out += f"<|start|>assistant<|channel|>final<|message|>{message.content}"
    return out if is_last else out + "<|end|>"
