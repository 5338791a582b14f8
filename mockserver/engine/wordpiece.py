"""BERT WordPiece tokenization the way Ollama's runner does it (llama.cpp's WPM tokenizer).

Ollama 0.32.15 (ollama/ollama@fb3076099) embeds through llama-server (``llm/llama_server.go``
``Embedding`` posts to its ``/v1/embeddings``; ``Tokenize`` / ``Detokenize`` call its
``/tokenize`` / ``/detokenize``), so the BERT embedding models are tokenized by llama.cpp's
``llm_tokenizer_wpm_session`` (``src/llama-vocab.cpp``), over a GGUF vocabulary that the
converter rewrote with "phantom spaces" (``convert/convert_bert.go``: ``[BRACKETED]`` kept,
``##piece`` -> ``piece``, any other ``word`` -> ``▁word``). What this module reproduces:

1. Special-token text (the vocabulary's five control tokens ``[PAD] [UNK] [CLS] [SEP] [MASK]``)
   is split out first and becomes that token (llama-server parses specials).
2. Each other fragment: NFD (``strip_accents``, which follows ``lowercase``: both default to
   true when the GGUF has no ``tokenizer.ggml.normalizer.*`` keys, as the registry's BERT
   models do), accent marks dropped, lower-cased code point by code point; split on
   whitespace; NUL, U+FFFD and control characters dropped; punctuation, ASCII symbols and CJK
   ideographs become words of their own.
3. Each word, prefixed with ``▁``, is cut greedily into the longest vocabulary entries; a word
   that cannot be cut entirely is one ``[UNK]``.
4. ``add_special``: ``[CLS]`` first and ``[SEP]`` last (what the embedding call counts).

The vocabulary is the HF ``vocab.txt`` (``##`` continuation marks) read with the converter's
rewrite applied. Unicode character classes come from Python's ``unicodedata``, not llama.cpp's
own tables; they agree except possibly on code points assigned after Python's Unicode version.
"""

from __future__ import annotations

import re
import unicodedata

from mockserver.engine.vocab import VocabFile

BERT_UNCASED = VocabFile(
    "bert-base-uncased.vocab.txt.xz",
    "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
)

_PHANTOM = "\u2581"
# llama.cpp's unicode whitespace set (unicode.cpp ``unicode_set_whitespace``).
_WHITESPACE = frozenset(
    (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028,
     0x2029, 0x202F, 0x205F, 0x3000)
)  # fmt: skip


def _is_chinese(cpt: int) -> bool:
    """``llm_tokenizer_wpm_session::is_chinese_char`` (its ranges, HF's 0x2B920 quirk kept)."""
    return (
        0x4E00 <= cpt <= 0x9FFF
        or 0x3400 <= cpt <= 0x4DBF
        or 0x20000 <= cpt <= 0x2A6DF
        or 0x2A700 <= cpt <= 0x2B73F
        or 0x2B740 <= cpt <= 0x2B81F
        or 0x2B920 <= cpt <= 0x2CEAF
        or 0xF900 <= cpt <= 0xFAFF
        or 0x2F800 <= cpt <= 0x2FA1F
    )


def _lower(char: str) -> str:
    """``unicode_tolower``: one code point to one (Python's mapping may expand: keep the first)."""
    lowered = char.lower()
    return lowered[0] if lowered else char


def words(text: str) -> list[str]:
    """``preprocess``: the words of one fragment (normalised, lower-cased, split)."""
    out: list[str] = []
    current: list[str] = []
    for char in unicodedata.normalize("NFD", text):
        cpt = ord(char)
        if cpt in _WHITESPACE:
            if current:
                out.append("".join(current))
                current = []
            continue
        category = unicodedata.category(char)
        if cpt == 0 or cpt == 0xFFFD or category in ("Cc", "Cf", "Co", "Cs"):
            continue
        if category.startswith("M"):  # strip_accents
            continue
        if (
            category.startswith("P")
            or (cpt < 0x7F and category.startswith("S"))
            or (_is_chinese(cpt))
        ):
            if current:
                out.append("".join(current))
                current = []
            out.append(_lower(char))
            continue
        current.append(_lower(char))
    if current:
        out.append("".join(current))
    return out


class WordPieceTokenizer:
    """A BERT vocabulary tokenized as llama.cpp's WPM tokenizer does (see the module doc)."""

    def __init__(self, vocab: VocabFile = BERT_UNCASED) -> None:
        entries = vocab.read().decode("utf-8").split("\n")
        if entries and entries[-1] == "":
            entries.pop()
        self._pieces: list[str] = []
        self._ids: dict[str, int] = {}
        self.specials: dict[str, int] = {}
        for index, entry in enumerate(entries):
            if entry.startswith("[") and entry.endswith("]"):
                piece = entry
            elif entry.startswith("##"):
                piece = entry[2:]
            else:
                piece = _PHANTOM + entry
            self._pieces.append(piece)
            self._ids.setdefault(piece, index)
        for name in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"):
            self.specials[name] = entries.index(name)
        self.unk = self.specials["[UNK]"]
        self.cls = self.specials["[CLS]"]
        self.sep = self.specials["[SEP]"]
        self._longest = max(len(piece) for piece in self._pieces)
        self._split = re.compile("(" + "|".join(map(re.escape, self.specials)) + ")")

    def encode(self, text: str, *, add_special: bool = False) -> list[int]:
        ids: list[int] = [self.cls] if add_special else []
        for index, fragment in enumerate(self._split.split(text)):
            if index % 2:
                ids.append(self.specials[fragment])
            elif fragment:
                for word in words(fragment):
                    ids += self._word(word)
        if add_special:
            ids.append(self.sep)
        return ids

    def _word(self, word: str) -> list[int]:
        text = _PHANTOM + word
        found: list[int] = []
        start = 0
        while start < len(text):
            for end in range(min(len(text), start + self._longest), start, -1):
                token = self._ids.get(text[start:end])
                if token is not None:
                    found.append(token)
                    start = end
                    break
            else:
                return [self.unk]
        return found

    def decode(self, ids: list[int]) -> str:
        """``/detokenize``: each piece's text, ``▁`` read as a space."""
        return "".join(self._pieces[token].replace(_PHANTOM, " ") for token in ids)
