"""Token counts of texts with special tokens, from the counts of the fragments between them.

**Why it exists.** A stateless client re-sends its whole conversation on every turn, so the
rendered prompt of turn N is mostly the text of turn N-1: the same messages between the same
control tokens. Every tokenizer here first cuts its input at the special tokens it contains
and tokenizes each fragment between them on its own, so the count of a text is the sum of
its fragments' counts plus one per special token, and a fragment's count depends on nothing
but its own text. Keeping fragment -> count (``FragmentCounts``, bounded by bytes) makes a
prompt cost what its new text costs: the history is looked up, not tokenized again.

The cut, per tokenizer (each checked against whole-text tokenization by
``tests/test_fragments.py``, property-based):

- **tiktoken** (o200k_harmony, ``HarmonyTokenizer``): ``CoreBPE::encode`` finds the next
  allowed special token, encodes the ordinary text before it (regex pre-tokenization, then
  BPE per piece), emits the special, and goes on after it (tiktoken ``src/lib.rs``
  ``_encode_native``). Every Harmony special is ``<|name|>`` without ``<`` or ``|`` inside, so
  two cannot overlap: any way of finding them finds the same ones.
- **Hugging Face tokenizers** (llama3, qwen2.5, gemma3): ``AddedVocabulary`` splits the input
  on the added tokens first (an Aho-Corasick automaton, leftmost-longest match), then
  normalizes and pre-tokenizes each remaining piece on its own (``tokenizers``
  ``src/tokenizer/added_vocabulary.rs``). Exact when no added token strips the whitespace
  next to it (``lstrip``/``rstrip``), matches only whole words (``single_word``) or is
  matched after normalization (``normalized``), and when no pre-tokenizer treats the start of
  the input specially (a Metaspace ``prepend_scheme: first``): ``HFTokenizer`` checks the
  shipped vocabularies at load, and counts whole texts when one does not hold.
- **SentencePiece as llama.cpp runs it** (mistral, ``SentencePieceTokenizer``): llama.cpp's
  SPM tokenizer partitions the text on the special tokens and encodes each fragment on its
  own, with the space prefix on each one (``llama-vocab.cpp`` ``tokenize``,
  ``tokenizer_st_partition``), which is how ``SentencePieceTokenizer.encode`` is written.
"""

from __future__ import annotations

import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable


class FragmentCounts:
    """``count(text)``: the tokens of ``text``, its fragments between specials counted once.

    ``specials`` finds the special tokens (one capturing group: ``re.split`` alternates
    fragment, special, fragment...); ``count_fragment`` tokenizes one fragment. With
    ``known``, ``specials`` finds candidates that can neither overlap one another nor a
    special (Harmony's ``<|...|>`` shape: one regex instead of a trie of 1,089 tokens, ~25 ms
    to compile at the first request), and a candidate not in ``known`` is text. Fragments are
    kept up to ``budget`` bytes, the oldest kept leaving first (no reordering on a hit: a
    lookup is one C call, which is what makes the history cheap); one longer than ``max_fragment``
    characters is counted every time.
    """

    def __init__(
        self,
        specials: re.Pattern[str],
        count_fragment: Callable[[str], int],
        *,
        budget: int = 8 * 1024 * 1024,
        max_fragment: int = 32_768,
        known: frozenset[str] | None = None,
    ) -> None:
        if specials.groups != 1:
            raise ValueError("the specials pattern needs exactly one capturing group")
        # The text cut at its specials: text, special, text, ... (also the tokenizer's encode).
        self.split = specials.split if known is None else cut_at_known(specials.split, known)
        self._count_fragment = count_fragment
        self._max_fragment = max_fragment
        self.budget = budget
        self.size = 0  # bytes kept: each fragment's str and its dict slot
        self._known: OrderedDict[str, int] = OrderedDict()  # oldest first
        self._lock = threading.Lock()

    def count(self, text: str) -> int:
        parts = self.split(text)
        total = len(parts) // 2  # the specials
        known = self._known.get
        for fragment in parts[0::2]:
            if fragment:
                tokens = known(fragment)
                if tokens is None:
                    tokens = self._learn(fragment)
                total += tokens
        return total

    def __len__(self) -> int:
        return len(self._known)

    def _learn(self, fragment: str) -> int:
        tokens = self._count_fragment(fragment)
        if len(fragment) > self._max_fragment:
            return tokens
        size = sys.getsizeof(fragment) + _SLOT
        with self._lock:  # the engine's threads count too
            if fragment in self._known:
                return tokens
            self._known[fragment] = tokens
            self.size += size
            while self.size > self.budget and self._known:
                oldest, _ = self._known.popitem(last=False)  # O(1), unlike a dict's first key
                self.size -= sys.getsizeof(oldest) + _SLOT
        return tokens


_SLOT = 100  # a dict slot, the int, the hash table's share


def cut_at_known(
    split: Callable[[str], list[str]], known: frozenset[str]
) -> Callable[[str], list[str]]:
    """``split``, with every candidate that is not a ``known`` special joined back into the
    text around it (a candidate cannot contain the start of a special: see the class)."""

    def split_known(text: str) -> list[str]:
        parts = split(text)
        if all(map(known.__contains__, parts[1::2])):  # nearly always
            return parts
        joined = [parts[0]]
        for index in range(1, len(parts), 2):
            if parts[index] in known:
                joined += (parts[index], parts[index + 1])
            else:
                joined[-1] += parts[index] + parts[index + 1]
        return joined

    return split_known


def longest_first(tokens: Iterable[str]) -> re.Pattern[str]:
    """A regex (one capturing group) that finds ``tokens`` in a text as leftmost-longest
    matching does (what an Aho-Corasick ``LeftmostLongest`` automaton finds), compiled as a
    trie: thousands of alternatives (gemma3 has 6,415 added tokens, Harmony 1,089 specials)
    would otherwise be tried one by one at every position."""
    trie: dict[str, dict] = {}
    for token in tokens:
        if not token:
            continue
        node = trie
        for char in token:
            node = node.setdefault(char, {})
        node[""] = {}  # a token ends here

    def pattern(node: dict[str, dict]) -> str:
        ends = "" in node
        branches = [re.escape(char) + pattern(child) for char, child in node.items() if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends:  # longer first (greedy), else the token that ends here
            return f"(?:{body})?"
        return body

    return re.compile("(" + (pattern(trie) or "(?!)") + ")")
