"""qwen2.5 (7b and 3b): Ollama's registry template, blob ``eb4402837c78`` (spec §8).

ChatML. A system block only when there is system text or tools (the engine prepends the model's
default system prompt when the request has none); tool definitions go into the system block;
tool results are user turns wrapped in ``<tool_response>``. No BOS.

Each tool line is ``{"type": "function", "function": {{ .Function }}}``, and at the emulated
commit ``{{ .Function }}`` prints Go struct syntax, not JSON (``tools.function_text``;
ollama/ollama#14601): the fake sends the model what Ollama sends it.
"""

from __future__ import annotations

from mockserver.engine.chat import Message
from mockserver.engine.templates import Conversation
from mockserver.engine.templates.tools import arguments_json, function_text

DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

_TOOLS_HEAD = (
    "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
)
_TOOLS_TAIL = (
    "\n</tools>\n\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
)


def render(conversation: Conversation) -> str:
    out = ""
    if conversation.system or conversation.tools:
        out = "<|im_start|>system"
        if conversation.system:
            out += "\n" + conversation.system
        if conversation.tools:
            out += _TOOLS_HEAD
            out += "".join(
                f'\n{{"type": "function", "function": {function_text(tool)}}}'
                for tool in conversation.tools
            )
            out += _TOOLS_TAIL
        out += "<|im_end|>\n"
    messages = conversation.messages
    for index, message in enumerate(messages):
        last = index == len(messages) - 1
        if message.role == "user":
            out += f"<|im_start|>user\n{message.content}<|im_end|>\n"
        elif message.role == "assistant":
            out += "<|im_start|>assistant\n"
            if message.content:
                out += message.content
            elif message.tool_calls:
                out += tool_call_text(message)
            if not last:
                out += "<|im_end|>\n"
        elif message.role == "tool":
            out += f"<|im_start|>user\n<tool_response>\n{message.content}\n</tool_response>"
            out += "<|im_end|>\n"
        # Any last message but an assistant one (a system message too) opens the reply.
        if last and message.role != "assistant":
            out += "<|im_start|>assistant\n"
    return out


def tool_call_text(message: Message) -> str:
    """Assistant tool calls as the template prints them (and the model emits them)."""
    calls = "".join(
        f'{{"name": "{call.name}", "arguments": {arguments_json(call)}}}\n'
        for call in message.tool_calls
    )
    return f"<tool_call>\n{calls}</tool_call>"


def emitted_tool_calls(message: Message) -> str:
    """Tool calls as the model writes them: one ``<tool_call>`` block per call, the blocks
    joined by a newline. That is how Qwen2.5-Instruct's own chat template, the one it was
    trained with (``tokenizer_config.json``: for each call a newline, ``<tool_call>``, a
    newline, the call's JSON, a newline, ``</tool_call>``), writes several calls; Ollama's
    template shows them back in a single block (:func:`tool_call_text`), and its parser
    (``tools/tools.go``, tag ``<tool_call>``) reads both. One call: the same text either way."""
    return "\n".join(
        tool_call_text(Message(role="assistant", tool_calls=(call,))) for call in message.tool_calls
    )
