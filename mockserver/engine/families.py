"""Model families: one vocabulary, one chat template, one way of framing output.

A family is everything the engine needs to count like Ollama: the tokenizer (loaded lazily,
once, on first use), whether the tokenizer adds BOS, the registry template, the model's default
system prompt, its capabilities, and how its generated tokens are framed (so that
``completion_tokens`` counts every token the model emits, control tokens included).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from mockserver.engine.chat import Message, ToolCall
from mockserver.engine.templates import Conversation, gemma, harmony, llama3, mistral, qwen
from mockserver.engine.templates.tools import arguments_json
from mockserver.engine.tokenizers import (
    HarmonyTokenizer,
    SentencePieceTokenizer,
    Tokenizer,
    gemma3_tokenizer,
    llama3_tokenizer,
    qwen2_tokenizer,
)

# A stretch of generated output: "reasoning" and "content" reach the client,
# "control" tokens (channel markers, end-of-turn) are counted but never shown.
Segment = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Output:
    """What the fake decided the model says, before framing and tokenizing."""

    content: str
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    # How the content streams: None = a piece per token (the engine's way), "whole" = one
    # piece, N = pieces of N characters (a scenario rule's ``chunking``); counts do not change.
    chunking: str | int | None = None
    source: str = ""  # what decided it, for the journal: "scenario:<rule>", "script:<name>"...


@dataclass(eq=False)
class Family:
    name: str
    load_tokenizer: Callable[[], Tokenizer]
    render: Callable[[Conversation], str]
    frame: Callable[[Output], list[Segment]]
    bos: bool
    default_system: str = ""
    thinking: bool = False
    _tokenizer: Tokenizer | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def tokenizer(self) -> Tokenizer:
        """The family's tokenizer, loaded on first use and kept."""
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    self._tokenizer = self.load_tokenizer()
        return self._tokenizer

    @property
    def loaded(self) -> bool:
        return self._tokenizer is not None

    def count(self, prompt: str) -> int:
        """Prompt tokens as Ollama reports them: BOS (if the model adds one) + the prompt."""
        return len(self.tokenizer.encode(prompt)) + (1 if self.bos else 0)


def _frame_harmony(output: Output) -> list[Segment]:
    """gpt-oss emits its analysis channel, then the final channel (or a tool call)."""
    segments: list[Segment] = []
    if output.reasoning:
        segments += [
            ("control", "<|channel|>analysis<|message|>"),
            ("reasoning", output.reasoning),
            ("control", "<|end|><|start|>assistant"),
        ]
    if output.tool_calls:
        for call in output.tool_calls:
            segments += [
                ("control", f"<|channel|>commentary to=functions.{call.name} <|constrain|>json"),
                ("control", f"<|message|>{arguments_json(call)}<|call|>"),
            ]
        return segments
    return [
        *segments,
        ("control", "<|channel|>final<|message|>"),
        ("content", output.content),
        ("control", "<|return|>"),
    ]


def _framer(
    end_of_turn: str, tool_calls: Callable[[Message], str]
) -> Callable[[Output], list[Segment]]:
    """Framing of a model that emits its answer then one end-of-turn token.

    Tool calls are emitted in the form the model writes them (the form its template shows
    them; several calls as the model's own format joins them, ``emitted_tool_calls``) and
    counted, but not shown as content; they replace any text.
    """

    def frame(output: Output) -> list[Segment]:
        if output.tool_calls:
            calls = tool_calls(Message(role="assistant", tool_calls=output.tool_calls))
            return [("control", calls.lstrip("\n")), ("control", end_of_turn)]
        return [("content", output.content), ("control", end_of_turn)]

    return frame


LLAMA32 = Family(
    name="llama3.2",
    load_tokenizer=llama3_tokenizer,
    render=llama3.render_32,
    frame=_framer("<|eot_id|>", llama3.tool_call_text),
    bos=True,
)

LLAMA31 = Family(
    name="llama3.1",
    load_tokenizer=llama3_tokenizer,
    render=llama3.render_31,
    frame=_framer("<|eot_id|>", llama3.tool_call_text),
    bos=True,
)

QWEN25 = Family(
    name="qwen2.5",
    load_tokenizer=qwen2_tokenizer,
    render=qwen.render,
    frame=_framer("<|im_end|>", qwen.emitted_tool_calls),
    bos=False,
    default_system=qwen.DEFAULT_SYSTEM,
)

GEMMA3 = Family(
    name="gemma3",
    load_tokenizer=gemma3_tokenizer,
    render=gemma.render,
    frame=_framer("<end_of_turn>", lambda message: ""),  # no tools capability
    bos=True,
)

MISTRAL = Family(
    name="mistral",
    load_tokenizer=SentencePieceTokenizer,
    render=mistral.render,
    frame=_framer("</s>", mistral.emitted_tool_calls),
    bos=True,
)

GPT_OSS = Family(
    name="gptoss",
    load_tokenizer=HarmonyTokenizer,
    render=harmony.render,
    frame=_frame_harmony,
    bos=False,
    thinking=True,
)

# Families whose exact counting is implemented; the catalog serves only their models.
FAMILIES: dict[str, Family] = {
    family.name: family for family in (LLAMA32, LLAMA31, QWEN25, GEMMA3, MISTRAL, GPT_OSS)
}
