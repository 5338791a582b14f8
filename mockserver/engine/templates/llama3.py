"""llama3.2 and llama3.1: Ollama's registry templates (``ollama-wire-spec.md`` §8).

Both render messages the same way; only the system header differs. llama3.2 (blob
``966de95ca8a6``) always opens with a system header carrying ``Cutting Knowledge Date``;
llama3.1 has a system header only when there is system text or tools (reconstructed from
third-party copies of the registry template: UNVERIFIED byte for byte).
"""

from __future__ import annotations

from mockserver.engine.chat import Message
from mockserver.engine.templates import Conversation
from mockserver.engine.templates.tools import arguments_json, tool_json

_KNOWLEDGE = "Cutting Knowledge Date: December 2023"
# "orginal" is the registry template's own spelling.
_TOOL_SYSTEM = (
    "When you receive a tool call response, use the output to format an answer to the orginal "
    "user question.\n\nYou are a helpful assistant with tool calling capabilities."
)
_TOOL_PROMPT = (
    "Given the following functions, please respond with a JSON for a function call with its "
    "proper arguments that best answers the given prompt.\n\n"
    'Respond in the format {"name": function name, "parameters": dictionary of argument name '
    "and its value}. Do not use variables.\n\n"
)


def header(role: str) -> str:
    return f"<|start_header_id|>{role}<|end_header_id|>"


def render_32(conversation: Conversation) -> str:
    system = f"{header('system')}\n\n{_KNOWLEDGE}\n\n{conversation.system}"
    if conversation.tools:
        system += _TOOL_SYSTEM  # directly after the system text, no separator
    return system + "<|eot_id|>" + _messages(conversation)


def render_31(conversation: Conversation) -> str:
    out = ""
    if conversation.system or conversation.tools:
        out = header("system")
        if conversation.system:
            out += "\n\n" + conversation.system
        if conversation.tools:
            out += f"\n\n{_KNOWLEDGE}\n\n{_TOOL_SYSTEM}"
        out += "<|eot_id|>"
    return out + _messages(conversation)


def tool_call_text(message: Message) -> str:
    """Assistant tool calls as the template prints them (and the model emits them)."""
    return "".join(
        f'\n{{"name": "{call.name}", "parameters": {arguments_json(call)}}}'
        for call in message.tool_calls
    )


def _messages(conversation: Conversation) -> str:
    out = ""
    messages = conversation.messages
    generation_prompt = f"{header('assistant')}\n\n"
    for index, message in enumerate(messages):
        last = index == len(messages) - 1
        if message.role == "user":
            out += header("user")
            # The tool prompt goes into the user message only when it is the final message.
            if conversation.tools and last:
                out += "\n\n" + _TOOL_PROMPT
                out += "".join(tool_json(tool) + "\n" for tool in conversation.tools)
                out += "\n" + message.content + "<|eot_id|>"
            else:
                out += "\n\n" + message.content + "<|eot_id|>"
            if last:
                out += generation_prompt
        elif message.role == "assistant":
            out += header("assistant")
            if message.tool_calls:
                out += "\n" + tool_call_text(message)
            else:
                out += "\n\n" + message.content
            if not last:
                out += "<|eot_id|>"
        elif message.role == "tool":
            out += f"{header('ipython')}\n\n{message.content}<|eot_id|>"
            if last:
                out += generation_prompt
        # system (and developer) messages are not rendered in the loop
    return out
