"""Ollama's chat templates, one renderer per model family.

A renderer turns a collated conversation into the exact prompt string Ollama's registry
template produces (``ollama-wire-spec.md`` §8). BOS is not part of the string: the family's
tokenizer settings add it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from mockserver.engine.chat import Message, Think


@dataclass(frozen=True, slots=True)
class Conversation:
    """What a template sees: Ollama's ``.System``, ``.Messages`` and ``.Tools``."""

    system: str
    messages: list[Message]
    tools: tuple[dict[str, Any], ...]
    think: Think
    current_date: str


class Template(Protocol):
    def __call__(self, conversation: Conversation) -> str: ...
