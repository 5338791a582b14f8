"""mistral:7b (Mistral-7B-Instruct v0.3): Ollama's registry template, blob ``491dfa501e59``.

As spec §8 gives it: the system text goes only into the final user message's ``[INST]``, tool
definitions sit right before it, and a literal space follows the messages, so a prompt ends with
``[/INST] ``. An assistant turn always closes with ``</s>``, even when it is the last message
(the template has no "last message" test for assistant turns: UNVERIFIED against a real
prefill). Another quoted revision (``1ff5b64b61b9``) lacks the spaces before ``A`` and at the
end; the published mistral counts match this one.
"""

from __future__ import annotations

from mockserver.engine.chat import Message
from mockserver.engine.templates import Conversation
from mockserver.engine.templates.tools import arguments_json, tools_json


def render(conversation: Conversation) -> str:
    out = ""
    messages = conversation.messages
    for index, message in enumerate(messages):
        last = index == len(messages) - 1
        if message.role == "user":
            if last and conversation.tools:
                out += f"[AVAILABLE_TOOLS] {tools_json(conversation.tools)}[/AVAILABLE_TOOLS]"
            out += "[INST] "
            if last and conversation.system:
                out += conversation.system + "\n\n"
            out += message.content + "[/INST]"
        elif message.role == "assistant":
            if message.content:
                out += " " + message.content
            elif message.tool_calls:
                out += tool_call_text(message)
            out += "</s>"
        elif message.role == "tool":
            # The content is printed raw, not as a JSON string, exactly as the template does.
            out += f'[TOOL_RESULTS] {{"content": {message.content}}} [/TOOL_RESULTS]'
    return out + " "


def tool_call_text(message: Message) -> str:
    """Assistant tool calls as the template prints them (and the model emits them)."""
    calls = "".join(
        f'{{"name": "{call.name}", "arguments": {arguments_json(call)}}}'
        for call in message.tool_calls
    )
    return f"[TOOL_CALLS] [{calls}]"
