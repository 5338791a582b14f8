"""Ollama's chat templates, one renderer per model family.

A renderer turns a collated conversation into the exact prompt string Ollama's registry
template produces (``ollama-wire-spec.md`` §8). BOS is not part of the string: the family's
tokenizer settings add it. Each family's template text lives next to its renderer as
``<family>.gotmpl`` (what ``/api/show`` serves); ``tests/test_template_texts.py`` runs those
texts with Go's ``text/template`` and requires every renderer to produce the same string.
``tools.py`` is how the templates see and print tools and tool calls (Ollama's Go types).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mockserver.engine.chat import Message, Think


@dataclass(frozen=True, slots=True)
class Conversation:
    """What a template sees: Ollama's ``.System``, ``.Messages`` and ``.Tools``."""

    system: str
    messages: list[Message]
    tools: tuple[dict[str, Any], ...]
    think: Think
    current_date: str
