"""The registry templates, rendered and counted.

``lab/data/fidelity_corpus.json`` (package data, which ``lab fidelity`` sends) holds cases
derived from the template rules of ``ollama-wire-spec.md`` §8 for every family (multi-turn,
system prompts, two system messages, Unicode, special-token text typed by a user, whitespace,
tools, tool calls and results, empty assistant turns, prefill). Each case names a model, the
request (``messages`` in Ollama's native ``/api/chat`` form, optional ``tools``, ``think`` and
``current_date``), the exact prompt string the template renders (without BOS, which the
tokenizer adds) and ``prompt_tokens`` (BOS included, as Ollama reports it). The same file is
meant to be replayed against a real Ollama.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mockserver.engine.catalog import TABLE_MODELS, Catalog
from mockserver.engine.chat import ChatRequest, Message, ToolCall
from mockserver.engine.engine import Engine
from mockserver.engine.families import FAMILIES, Output
from mockserver.errors import OllamaError

CORPUS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[1] / "lab" / "data" / "fidelity_corpus.json").read_text("utf-8")
)
ENGINE = Engine(Catalog(TABLE_MODELS), current_date="2026-03-23")


def _message(data: dict[str, Any]) -> Message:
    calls = tuple(
        ToolCall(call["function"]["name"], call["function"]["arguments"])
        for call in data.get("tool_calls", ())
    )
    return Message(
        role=data["role"],
        content=data.get("content", ""),
        thinking=data.get("thinking", ""),
        tool_calls=calls,
        tool_name=data.get("tool_name", ""),
    )


def _render(model: str, messages: list[dict[str, Any]], /, **extra: Any):
    request = ChatRequest(
        model=model,
        messages=tuple(_message(m) for m in messages),
        render_only=True,
        tools=tuple(extra.get("tools", ())),
        think=extra.get("think"),
    )
    engine = Engine(Catalog(TABLE_MODELS), current_date=extra.get("current_date", "2026-03-23"))
    return engine.chat(request).prompt


@pytest.mark.parametrize("case", CORPUS, ids=[case["id"] for case in CORPUS])
def test_corpus(case: dict[str, Any]) -> None:
    extra = {key: case[key] for key in ("tools", "think", "current_date") if key in case}
    prompt = _render(case["model"], case["messages"], **extra)
    assert prompt.text == case["rendered"]
    assert prompt.tokens == case["prompt_tokens"]


def test_corpus_covers_every_family() -> None:
    cards = [ENGINE.catalog.find(case["model"]) for case in CORPUS]
    assert {card.family for card in cards if card is not None} == set(FAMILIES)
    assert None not in cards


# The worked examples of spec §8, verbatim (BOS excluded: the tokenizer adds it).
SPEC_EXAMPLES = [
    (
        "llama3.2:3b",
        [{"role": "user", "content": "Hi"}],
        "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n\n"
        "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
    ),
    (
        "qwen2.5:7b",
        [{"role": "user", "content": "Hi"}],
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
        "assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    ),
    (
        "gemma3:4b",
        [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}],
        "<start_of_turn>user\nS<end_of_turn>\n<start_of_turn>user\nHi<end_of_turn>\n"
        "<start_of_turn>model\n",
    ),
    # mistral: spec §8's examples with the two spaces it marks † dropped, i.e. revision
    # 1ff5b64b61b9, the one the runner's tokenizer agrees with (templates/mistral.py).
    (
        "mistral:7b",
        [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}],
        "[INST] S\n\nHi[/INST]",
    ),
    (
        "mistral:7b",
        [
            {"role": "user", "content": "U1"},
            {"role": "assistant", "content": "A1"},
            {"role": "user", "content": "U2"},
        ],
        "[INST] U1[/INST]A1</s>[INST] U2[/INST]",
    ),
]


@pytest.mark.parametrize(("model", "messages", "expected"), SPEC_EXAMPLES)
def test_spec_examples(model: str, messages: list[dict[str, Any]], expected: str) -> None:
    assert _render(model, messages).text == expected


def test_explicit_system_replaces_qwen_default() -> None:
    text = _render("qwen2.5:7b", [{"role": "system", "content": "Be terse."}]).text
    assert "You are Qwen" not in text
    assert text.startswith("<|im_start|>system\nBe terse.<|im_end|>\n")


def test_gemma3_refuses_tools() -> None:
    tool = {"type": "function", "function": {"name": "f", "description": "", "parameters": {}}}
    with pytest.raises(OllamaError) as error:
        ENGINE.chat(
            ChatRequest("gemma3:4b", (Message("user", "hi"),), tools=(tool,), render_only=True)
        )
    assert "does not support tools" in str(error.value.message)


# --- framing: completion_tokens counts what the model emits ---------------------------------

END_OF_TURN = {
    "llama3.2": "<|eot_id|>",
    "llama3.1": "<|eot_id|>",
    "qwen2.5": "<|im_end|>",
    "gemma3": "<end_of_turn>",
    "mistral": "</s>",
}


@pytest.mark.parametrize("name", sorted(END_OF_TURN))
def test_frame_is_content_then_end_of_turn(name: str) -> None:
    family = FAMILIES[name]
    segments = family.frame(Output(content="Paris is the capital of France."))
    assert segments == [
        ("content", "Paris is the capital of France."),
        ("control", END_OF_TURN[name]),
    ]
    assert len(family.tokenizer.encode(END_OF_TURN[name])) == 1


TOOL_CALL_FRAMES = {
    "llama3.2": '{"name": "get_weather", "parameters": {"city":"Paris"}}',
    "qwen2.5": '<tool_call>\n{"name": "get_weather", "arguments": {"city":"Paris"}}\n</tool_call>',
    "mistral": '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city":"Paris"}}]',
}


@pytest.mark.parametrize("name", sorted(TOOL_CALL_FRAMES))
def test_frame_tool_call(name: str) -> None:
    family = FAMILIES[name]
    output = Output(content="", tool_calls=(ToolCall("get_weather", {"city": "Paris"}),))
    assert family.frame(output) == [
        ("control", TOOL_CALL_FRAMES[name]),
        ("control", END_OF_TURN[name]),
    ]


@pytest.mark.parametrize("model", [m for m in TABLE_MODELS if not m.startswith("gpt-oss")])
def test_completion_tokens_are_content_plus_end_of_turn(model: str) -> None:
    result = ENGINE.chat(ChatRequest(model, (Message("user", "Say something, please."),)))
    family = FAMILIES[result.card.family]
    assert result.completion is not None
    content = result.completion.content
    assert result.completion.eval_count == len(family.tokenizer.encode(content)) + 1
