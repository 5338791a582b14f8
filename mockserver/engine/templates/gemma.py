"""gemma3: Ollama's registry template, blob ``e0a42594d802`` (spec §8).

User *and* system messages each render as their own user turn (``.System`` is not used);
tool messages are not rendered (gemma3 has no tools capability). BOS is added by the tokenizer.
"""

from __future__ import annotations

from mockserver.engine.templates import Conversation


def render(conversation: Conversation) -> str:
    out = ""
    messages = conversation.messages
    for index, message in enumerate(messages):
        last = index == len(messages) - 1
        if message.role in ("user", "system"):
            out += f"<start_of_turn>user\n{message.content}<end_of_turn>\n"
            if last:
                out += "<start_of_turn>model\n"
        elif message.role == "assistant":
            out += f"<start_of_turn>model\n{message.content}"
            if not last:
                out += "<end_of_turn>\n"
    return out
