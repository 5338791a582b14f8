"""mistral:7b (Mistral-7B-Instruct v0.3): Ollama's registry template, revision ``1ff5b64b61b9``.

As spec §8 gives it: the system text goes only into the final user message's ``[INST]``, tool
definitions sit right before it. An assistant turn always closes with ``</s>``, even when it is
the last message (the template has no "last message" test for assistant turns: UNVERIFIED
against a real prefill).

Which revision: two are quoted, ``491dfa501e59`` and ``1ff5b64b61b9``, which differ by two
spaces, one before an assistant's text and one after the messages (so ``[/INST] `` vs
``[/INST]``). The registry is not in Ollama's source; the runner is. At the emulated commit the
prompt is tokenized by llama.cpp's SPM tokenizer, which puts a space in front of every text
fragment that follows a special token (``tokenizers.SentencePieceTokenizer``), so these two
spaces are paid twice under ``491dfa501e59``: a single-turn prompt ``[INST] U[/INST] `` ends in
``▁▁``, one token more than ``1ff5b64b61b9``'s ``[INST] U[/INST]``. The published mistral counts
(M1: 12, M5: 37, ``lab/data/fidelity-cases.json``) are one token short of ``491dfa501e59`` under
that rule and equal to ``1ff5b64b61b9``, so the fake serves ``1ff5b64b61b9``, the text of
``mistral.gotmpl``: spec §8's template without the two spaces it marks †. An assistant's text
still reads `` A`` to the model: the tokenizer's prefix supplies the space.
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
                out += message.content
            elif message.tool_calls:
                out += tool_call_text(message)
            out += "</s>"
        elif message.role == "tool":
            # The content is printed raw, not as a JSON string, exactly as the template does.
            out += f'[TOOL_RESULTS] {{"content": {message.content}}} [/TOOL_RESULTS]'
    return out


def tool_call_text(message: Message) -> str:
    """Assistant tool calls as the template prints them (and the model emits them)."""
    calls = "".join(
        f'{{"name": "{call.name}", "arguments": {arguments_json(call)}}}'
        for call in message.tool_calls
    )
    return f"[TOOL_CALLS] [{calls}]"


def emitted_tool_calls(message: Message) -> str:
    """Tool calls as the model writes them: ``[TOOL_CALLS]`` and a JSON list, its items
    separated by ``", "``, as ``json.dumps`` writes the list of calls in the format Mistral 7B
    v0.3 was trained with (mistral-common, ``tokens/tokenizers/instruct.py``:
    ``_encode_tool_calls_in_assistant_message``). Ollama's template prints the calls back with
    nothing between them (:func:`tool_call_text`); its parser (``tools/tools.go``, tag
    ``[TOOL_CALLS] [``) reads both. One call: the same text either way."""
    calls = ", ".join(
        f'{{"name": "{call.name}", "arguments": {arguments_json(call)}}}'
        for call in message.tool_calls
    )
    return f"[TOOL_CALLS] [{calls}]"
