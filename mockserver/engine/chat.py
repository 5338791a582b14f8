"""The engine's view of a chat request: plain, wire-independent, immutable.

Both API surfaces (OpenAI ``/v1`` and Ollama's native ``/api``) translate their JSON into these
types; the engine never sees a wire format.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

# What the client asked of reasoning: None = the model's default, False = off,
# True = on at the default level, or an effort level.
Think = bool | Literal["low", "medium", "high", "max"] | None


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]
    id: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    content: str = ""
    thinking: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_name: str = ""
    images: tuple[bytes, ...] = ()  # decoded payloads (images, or audio from ``input_audio``)


@dataclass(frozen=True, slots=True)
class Options:
    """Sampling and runtime options, as Ollama's native ``options`` names them."""

    num_predict: int | None = None
    num_ctx: int | None = None
    num_keep: int | None = None
    seed: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    tools: tuple[dict[str, Any], ...] = ()
    think: Think = None
    options: Options = field(default_factory=Options)
    render_only: bool = False
    # Native only: ``raw`` sends the single user message's text untemplated (``/api/generate``);
    # ``truncate=False`` skips both truncation stages (the runner then refuses a prompt that
    # does not fit); ``shift=False`` turns context shift off (a prompt over num_ctx is a 400).
    raw: bool = False
    truncate: bool = True
    shift: bool = True
    # ``format`` as sent (native) or mapped from ``response_format`` (``/v1``): None, "json" or
    # a JSON schema; checked when the model generates, as the runner does (structured.py).
    format: Any = None
    # ``/api/generate``'s ``context``, detokenized: written before the rendered prompt.
    prefix: str = ""
    # ``/api/generate``'s ``template``: rendered instead of the model's, without chatPrompt.
    template: str = ""
    # ``logprobs`` / ``top_logprobs`` (0-20, checked by the handlers): engine/logprobs.py.
    logprobs: bool = False
    top_logprobs: int = 0


def collate(messages: tuple[Message, ...]) -> tuple[str, list[Message]]:
    """Ollama's template pre-processing (``template/template.go`` collate).

    Returns the system text (every system message joined with a blank line) and the
    messages with consecutive same-role messages (except ``tool``) merged: the first one
    stays, the next one's content is appended after a blank line (even when either is empty);
    its other fields (thinking, tool calls) are not carried over. System messages stay in the
    list; templates skip them in the loop.
    """
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    merged: list[Message] = []
    for message in messages:
        previous = merged[-1] if merged else None
        if previous is not None and previous.role == message.role and message.role != "tool":
            merged[-1] = replace(
                previous,
                content=f"{previous.content}\n\n{message.content}",
                images=previous.images + message.images,
            )
        else:
            merged.append(message)
    return system, merged
