"""Counting a prompt fragment by fragment (``mockserver/engine/fragments.py``) gives exactly
the tokenizer's whole-text count, for every vocabulary: generated texts mixing the
vocabulary's own special tokens, partial ones, whitespace runs and any Unicode, and the
rendered prompts of the fidelity corpus. Counted twice (the second time from the fragment
cache), the answer is the same."""

from __future__ import annotations

import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.engine.families import GEMMA3, GPT_OSS, LLAMA32, MISTRAL, QWEN25, Family
from mockserver.engine.fragments import FragmentCounts, longest_first

FAMILIES = [GPT_OSS, LLAMA32, QWEN25, GEMMA3, MISTRAL]
# 150 texts per vocabulary by default; `nox -s fuzz` asks for more (PORTWAY_FUZZ_EXAMPLES).
EXAMPLES = max(150, int(os.environ.get("PORTWAY_FUZZ_EXAMPLES", "0")))

# Text a template or a user may put between and around special tokens.
WORDS = ["user", "assistant", "\n", "\n\n", "  ", " ", "Hello", " world", "é", "🙂", "'s",
         "123456", "\t", "<", "|", ">", "<|", "|>", "</", "[", "]", "▁", "<0x0A>", "<|x|>",
         "<||>"]  # fmt: skip


def specials_of(family: Family) -> list[str]:
    """The special tokens the vocabulary splits on, a few hundred at most (gemma3 has
    6,415 added tokens: every tenth)."""
    tokenizer = family.tokenizer
    found = getattr(tokenizer, "specials", None) or getattr(tokenizer, "_added", None)
    if isinstance(found, dict) and family is not MISTRAL:
        names = list(found.values())
    elif found:
        names = list(found)
    else:  # Harmony
        from mockserver.engine.tokenizers import _HARMONY_SPECIALS

        names = list(_HARMONY_SPECIALS)
    return sorted(names)[::10] + sorted(names, key=len)[:20]


def texts(family: Family) -> st.SearchStrategy[str]:
    specials = specials_of(family)
    partial = [s[: len(s) // 2] for s in specials[:20]] + [s[1:] for s in specials[:20]]
    piece = st.one_of(
        st.sampled_from(specials),
        st.sampled_from(partial),
        st.sampled_from(WORDS),
        st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
    )
    return st.lists(piece, max_size=24).map("".join)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_counting_by_fragments_is_counting_the_whole_text(family: Family) -> None:
    tokenizer = family.tokenizer

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(texts(family))
    def check(text: str) -> None:
        whole = len(tokenizer.encode(text))
        assert tokenizer.count(text) == whole, text
        assert tokenizer.count(text) == whole, text  # the fragments now cached

    check()


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_a_growing_conversation_counts_as_the_whole_prompt(family: Family) -> None:
    """Turn after turn of the same conversation, each rendered prompt counted from the
    cached fragments of the turns before: the count of the whole text every time."""
    from mockserver.engine.chat import Message, collate
    from mockserver.engine.templates import Conversation

    turns = [
        Message("user", "Hi, I'm planning a trip across Canada."),
        Message("assistant", "Nice! Which provinces are you thinking of visiting?"),
        Message("user", "Mainly Quebec and Ontario,\n\nwith a stop in the Maritimes 🙂."),
        Message("assistant", "Great picks.  Are you flying in or driving?"),
        Message("user", "Driving. What's the capital of Canada? <b>é</b>"),
    ]
    for end in range(1, len(turns) + 1):
        system, messages = collate(tuple(turns[:end]))
        text = family.render(
            Conversation(
                system=system, messages=messages, tools=(), think=None, current_date="2026-03-23"
            )
        )
        assert family.tokenizer.count(text) == len(family.tokenizer.encode(text))


@pytest.mark.parametrize(
    "text",
    [
        "<|foo|>",  # the shape of a Harmony special, not one: text
        "a<|reserved_199999|>b<|reserved_200013|>c",  # below the reserved range, then in it
        "<||><|END|><|end |>",
        "<|a<|end|>",  # a candidate cut short by the start of a real special
        "<|end|><|nope|><|start|>user<|message|>x<|return|>",
        "x<|nope|>",
        "<|nope|>y<|call|>",
        "<|start|>assistant<|channel|>final<|message|><|fake|><|end|>",
    ],
)
def test_harmony_counts_look_alike_specials_as_text(text: str) -> None:
    """Harmony's fragments are cut at every ``<|...|>``; one that is not a special is joined
    back into the text around it, as tiktoken tokenizes it."""
    tokenizer = GPT_OSS.tokenizer
    whole = len(tokenizer.encode(text))
    assert tokenizer.count(text) == whole
    assert tokenizer.count(text) == whole  # from the kept fragments


def test_the_trie_pattern_finds_the_leftmost_longest_token() -> None:
    """What an Aho-Corasick LeftmostLongest automaton finds (Hugging Face's added tokens)."""
    split = longest_first(["<a>", "<a><b>", "<ab", "b", "<"]).split
    assert split("x<a><b>y") == ["x", "<a><b>", "y"]  # the longer token, not "<a>" then "<"
    assert split("<a>y<abz") == ["", "<a>", "y", "<ab", "z"]
    assert split("bbb") == ["", "b", "", "b", "", "b", ""]
    assert split("<x") == ["", "<", "x"]
    assert split("") == [""]


def test_the_fragment_cache_is_bounded_by_bytes() -> None:
    """Many large distinct fragments: what is kept stays under the budget; a fragment over
    the longest kept is counted, not kept."""
    counted: list[str] = []

    def count(fragment: str) -> int:
        counted.append(fragment)
        return len(fragment.split())

    counts = FragmentCounts(longest_first(["<s>"]), count, budget=200_000)
    for index in range(500):
        text = f"<s>{index} " + "é " * 2_000 + "<s>"
        assert counts.count(text) == 2 + 2_001
        assert counts.size <= 200_000
    assert 1 <= len(counts) < 100
    assert counts.size == sum(sys.getsizeof(f) + 100 for f in counts._known)
    counts.count("<s>again<s>again")
    assert counted[-1] == "again" and counted.count("again") == 1  # the second: from the cache
