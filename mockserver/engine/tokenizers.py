"""Tokenizers for the model families, built from the shipped vocabularies.

Every tokenizer parses special-token text as the special token (as Ollama does for the
rendered template and for anything a user typed), and never adds BOS itself: the family
decides whether BOS counts.
"""

from __future__ import annotations

import binascii
import functools
import json
import marshal
import re
from collections.abc import Iterable
from typing import Protocol

from mockserver.engine.fragments import FragmentCounts, longest_first
from mockserver.engine.vocab import VocabFile


class Tokenizer(Protocol):
    """What the engine needs from a vocabulary."""

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, special-token text parsed as specials, no BOS."""
        ...

    def count(self, text: str) -> int:
        """``len(encode(text))``, with the fragments between special tokens counted once
        (``mockserver/engine/fragments.py``)."""
        ...

    def pieces(self, text: str) -> list[str]:
        """``text`` cut into the pieces a streaming engine emits, one per token.

        Pieces concatenate back to ``text``; a token that ends inside a multi-byte character
        is merged with the next one, as Ollama buffers incomplete UTF-8.
        """
        ...


# o200k_base's split pattern, as published in tiktoken (tiktoken_ext/openai_public.py).
_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)

# The Harmony special tokens of o200k_harmony (gpt-oss), as tiktoken defines them.
_HARMONY_SPECIALS = {
    "<|startoftext|>": 199998,
    "<|endoftext|>": 199999,
    "<|reserved_200000|>": 200000,
    "<|reserved_200001|>": 200001,
    "<|return|>": 200002,
    "<|constrain|>": 200003,
    "<|reserved_200004|>": 200004,
    "<|channel|>": 200005,
    "<|start|>": 200006,
    "<|end|>": 200007,
    "<|message|>": 200008,
    "<|reserved_200009|>": 200009,
    "<|reserved_200010|>": 200010,
    "<|reserved_200011|>": 200011,
    "<|call|>": 200012,
} | {f"<|reserved_{i}|>": i for i in range(200013, 201088)}

# Every Harmony special is ``<|name|>`` with no ``<`` or ``|`` inside: this finds all of them
# (and look-alikes, which ``FragmentCounts(known=...)`` joins back into the text).
_SPECIAL_CANDIDATE = re.compile(r"(<\|[^<|]*\|>)")
_HARMONY_NAMES = frozenset(_HARMONY_SPECIALS)

O200K_BASE = VocabFile(
    "o200k_base.tiktoken.gz",
    "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
)


# The same tokens in rank order, one ``marshal`` list (``tools/pack_vocab.py``): ~3x quicker to
# load than parsing the .tiktoken file, which is the start-up's longest step before the first
# gpt-oss answer. The .tiktoken file stays the reference (its sha256 is upstream's).
O200K_TOKENS = VocabFile(
    "o200k_base.tokens.marshal.gz",
    "815c4e3e4416d5b9f9d301ddfa151a2a741026c83732b27af78f5dc0a3f1270a",
)


def o200k_ranks() -> dict[bytes, int]:
    """o200k_base's mergeable ranks, from the packed token list when this Python reads it (the
    ``marshal`` format is CPython's own, stable since version 4 but not promised to be), else
    from the .tiktoken file. Both are sha256-checked; a test checks they agree."""
    try:
        tokens = marshal.loads(O200K_TOKENS.read())
    except (ValueError, EOFError, TypeError):  # a Python that no longer reads this format
        tokens = None
    if isinstance(tokens, list):
        return dict(zip(tokens, range(len(tokens)), strict=True))
    return _tiktoken_ranks(O200K_BASE.read())


def _tiktoken_ranks(data: bytes) -> dict[bytes, int]:
    """A ``.tiktoken`` file (``base64-token rank`` per line) as tiktoken's mergeable ranks.

    One split and C-level maps instead of a comprehension over 200k lines; tiktoken's files
    number their tokens 0, 1, 2 ... in file order, and when the first and last lines say so
    (the shipped file is sha256-checked; tests/test_tokenizers.py checks every line) the ranks
    are that count instead of 200k parsed integers. The gpt-oss vocabulary load is most of the
    fake's time to its first answer."""
    fields = data.split()
    tokens = map(binascii.a2b_base64, fields[0::2])
    count = len(fields) // 2
    if count and fields[1] == b"0" and fields[-1] == str(count - 1).encode():
        return dict(zip(tokens, range(count), strict=True))
    return dict(zip(tokens, map(int, fields[1::2]), strict=True))


class HarmonyTokenizer:
    """o200k_harmony, the gpt-oss tokenizer, on tiktoken with the shipped o200k_base ranks.

    tiktoken's core is built without the 1,089 specials (their regex is ~13 ms of the first
    request's vocabulary build): the text is cut at the specials here, exactly as
    ``CoreBPE::encode`` cuts it at the allowed ones (``mockserver/engine/fragments.py``), and
    each piece between them is ``encode_ordinary``. The same ids as tiktoken's
    ``encode(text, allowed_special="all")`` with the specials (``tests/test_tokenizers.py``).
    """

    def __init__(self) -> None:
        import tiktoken

        ranks = o200k_ranks()
        self._ranks = ranks
        encoding = tiktoken.Encoding(
            "o200k_base", pat_str=_O200K_PATTERN, mergeable_ranks=ranks, special_tokens={}
        )
        self._decode_token = encoding.decode_single_token_bytes
        self._ordinary = encoding._core_bpe.encode_ordinary
        self._bytes_of: dict[int, bytes] = {
            token: name.encode() for name, token in _HARMONY_SPECIALS.items()
        }
        self._counts = FragmentCounts(
            _SPECIAL_CANDIDATE, self._count_ordinary, known=_HARMONY_NAMES
        )

    @functools.cached_property
    def max_token_bytes(self) -> int:
        """The longest token, in bytes: a text of n bytes has at least n / this many tokens."""
        return max(max(map(len, self._ranks)), max(map(len, _HARMONY_SPECIALS)))

    def encode(self, text: str) -> list[int]:
        try:
            return self._encode(text)
        except UnicodeEncodeError:  # lone surrogates: tiktoken's own fix-up, as encode() does
            return self._encode(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))

    def _encode(self, text: str) -> list[int]:
        if "<|" not in text:
            return self._ordinary(text)
        ids: list[int] = []
        parts = self._counts.split(text)  # text, special, text, ... (look-alikes are text)
        for index in range(0, len(parts), 2):
            if parts[index]:
                ids += self._ordinary(parts[index])
            if index + 1 < len(parts):
                ids.append(_HARMONY_SPECIALS[parts[index + 1]])
        return ids

    def count(self, text: str) -> int:
        return self._counts.count(text)

    def _count_ordinary(self, text: str) -> int:
        """Tokens of a text without specials (``encode_ordinary``: no special is parsed)."""
        try:
            return len(self._ordinary(text))
        except UnicodeEncodeError:  # lone surrogates: the fix-up ``encode`` makes
            text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
            return len(self._ordinary(text))

    def token_bytes(self, token_id: int) -> bytes:
        cached = self._bytes_of.get(token_id)
        if cached is None:
            cached = self._bytes_of[token_id] = self._decode_token(token_id)
        return cached

    def pieces(self, text: str) -> list[str]:
        return _pieces_from_bytes(self.token_bytes(token) for token in self.encode(text))


# --- Hugging Face tokenizer.json vocabularies (llama3.x, qwen2.5, gemma3) -------------------

LLAMA3 = VocabFile(
    "llama3.tokenizer.json.xz",
    "e134af98b985517b4f068e3755ae90d4e9cd2d45d328325dc503f1c6b2d06cc7",
)
QWEN = VocabFile(
    "qwen.tokenizer.json.xz",
    "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4",
)
GEMMA3 = VocabFile(
    "gemma3.tokenizer.json.xz",
    "4667f2089529e8e7657cfb6d1c19910ae71ff5f28aa7ab2ff2763330affad795",
)
MISTRAL_V3 = VocabFile(
    "mistral_instruct_tokenizer_240323.model.v3.xz",
    "9addc8bdce5988448ae81b729336f43a81262160ae8da760674badab9d4c7d33",
)

# The shipped Qwen vocabulary is Qwen3's: same byte-level BPE vocab and merges as Qwen2.5, plus
# four added tokens Qwen2.5 does not have. Dropped at load time so that text like
# "<think>" is ordinary text for qwen2.5, as it is in Ollama's qwen2.5 GGUF.
QWEN3_ONLY_TOKENS = frozenset({"<think>", "</think>", "<tool_response>", "</tool_response>"})


def _byte_level_decoder() -> dict[str, int]:
    """GPT-2's table from the printable characters byte-level BPE vocabularies use to bytes."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    others = [byte for byte in range(256) if byte not in printable]
    table = {chr(byte): byte for byte in printable}
    table.update({chr(256 + n): byte for n, byte in enumerate(others)})
    return table


_FALLBACK_BYTE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


class HFTokenizer:
    """A Hugging Face ``tokenizer.json`` vocabulary on the ``tokenizers`` library.

    ``encode(text, add_special_tokens=False)`` parses every added token (the chat template's
    control tokens included) as one token and adds no BOS, which is how Ollama tokenizes a
    rendered prompt. ``byte_level`` says how a token's text maps back to bytes: GPT-2 byte
    level (llama3, qwen2) or SentencePiece style, ``▁`` for space and ``<0xNN>`` byte
    fallback (gemma3).
    """

    def __init__(
        self,
        vocab: VocabFile,
        *,
        byte_level: bool,
        drop_added: Iterable[str] = (),
        drop_normalizer: bool = False,
    ) -> None:
        import os

        # One text per batch: no thread pool wanted (and none to warn about when forking).
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from tokenizers import Tokenizer as HFTokenizerImpl

        text = vocab.read().decode("utf-8")
        drop = frozenset(drop_added)
        if drop or drop_normalizer:
            spec = json.loads(text)
            spec["added_tokens"] = [t for t in spec["added_tokens"] if t["content"] not in drop]
            if drop_normalizer:
                spec["normalizer"] = None
            text = json.dumps(spec, ensure_ascii=False)
        self._tokenizer = HFTokenizerImpl.from_str(text)
        del text
        _return_freed_memory()
        self._added = {
            token_id: token.content
            for token_id, token in self._tokenizer.get_added_tokens_decoder().items()
        }
        self._byte_level = byte_level
        self._bytes_of: dict[int, bytes] = {}
        self._max_token_bytes = 0
        self._counts: FragmentCounts | None = None
        if _splits_first(self._tokenizer):
            self._counts = FragmentCounts(longest_first(self._added.values()), self._count_plain)

    @property
    def max_token_bytes(self) -> int:
        """The longest token's text in UTF-8 bytes (its normalized form: gemma3's normalizer
        only turns " " into "▁", never shortens), so a text of n bytes has at least n / this
        many tokens. Byte-level tokens spell each byte as one character: an upper bound too."""
        if not self._max_token_bytes:
            vocab = self._tokenizer.get_vocab(with_added_tokens=True)
            size = len if self._byte_level else (lambda token: len(token.encode("utf-8")))
            self._max_token_bytes = max(map(size, vocab))
            del vocab
            _return_freed_memory()
        return self._max_token_bytes

    def encode(self, text: str) -> list[int]:
        if len(text) > _GIL_FREE_CHARS:
            # The same ids; ``encode_batch`` lets go of the GIL while it works (``encode`` keeps
            # it: a 300 KB prompt would stop the event loop for a tenth of a second).
            return self._tokenizer.encode_batch([text], add_special_tokens=False)[0].ids
        return self._tokenizer.encode(text, add_special_tokens=False).ids

    def count(self, text: str) -> int:
        if self._counts is None:  # a vocabulary where fragments are not independent
            return len(self.encode(text))
        return self._counts.count(text)

    def _count_plain(self, text: str) -> int:
        return len(self.encode(text))

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes one token stands for (a special token: its text)."""
        cached = self._bytes_of.get(token_id)
        if cached is None:
            cached = self._bytes_of[token_id] = self._token_bytes(token_id)
        return cached

    def _token_bytes(self, token_id: int) -> bytes:
        if token_id in self._added:
            content = self._added[token_id]
            # Added tokens hold their text as is (gemma3's include runs of "▁" for spaces).
            return content.encode("utf-8") if self._byte_level else _sentencepiece_bytes(content)
        token = self._tokenizer.id_to_token(token_id)
        if token is None:
            raise IndexError(token_id)
        if self._byte_level:
            return bytes(_BYTE_LEVEL_DECODER[char] for char in token)
        return _sentencepiece_bytes(token)

    def pieces(self, text: str) -> list[str]:
        return _pieces_from_bytes(self.token_bytes(token) for token in self.encode(text))


def _splits_first(tokenizer: object) -> bool:
    """Whether this vocabulary tokenizes the texts between its added tokens independently
    (``mockserver/engine/fragments.py``): no added token strips its neighbours' whitespace,
    matches whole words only or after normalization, and no pre-tokenizer treats the start
    of the input specially (Metaspace ``prepend_scheme: first``)."""
    for token in tokenizer.get_added_tokens_decoder().values():  # type: ignore[attr-defined]
        if token.lstrip or token.rstrip or token.single_word or token.normalized:
            return False
    pre_tokenizer = tokenizer.pre_tokenizer  # type: ignore[attr-defined]
    state = pre_tokenizer.__getstate__() if pre_tokenizer is not None else b"{}"
    return b'"prepend_scheme":"first"' not in state


_BYTE_LEVEL_DECODER = _byte_level_decoder()
_GIL_FREE_CHARS = 16_384  # longer texts are encoded without holding the GIL


def _return_freed_memory() -> None:
    """Give the heap freed after parsing a large tokenizer.json back to the OS (glibc only).

    Parsing gemma3's 33 MB JSON peaks at ~500 MB; without this the process keeps ~420 MB
    resident, with it ~125 MB. A no-op where glibc's ``malloc_trim`` is not available.
    """
    import contextlib
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _sentencepiece_bytes(piece: str) -> bytes:
    match = _FALLBACK_BYTE.fullmatch(piece)
    if match:
        return bytes([int(match.group(1), 16)])
    return piece.replace("\u2581", " ").encode("utf-8")


@functools.cache
def llama3_tokenizer() -> HFTokenizer:
    """Llama 3 BPE (128k), the vocabulary of llama3.1 and llama3.2 (loaded once for both)."""
    return HFTokenizer(LLAMA3, byte_level=True)


def qwen2_tokenizer() -> HFTokenizer:
    """Qwen2/2.5 BPE (151k).

    Two load-time changes to the shipped file: Qwen3's four extra added tokens are dropped,
    and so is the NFC normalizer, because Ollama's BPE tokenizer (Go engine and llama.cpp
    alike) does not normalize input. UNVERIFIED for decomposed Unicode input against a real
    Ollama; identical on NFC text, i.e. nearly all text.
    """
    return HFTokenizer(QWEN, byte_level=True, drop_added=QWEN3_ONLY_TOKENS, drop_normalizer=True)


def gemma3_tokenizer() -> HFTokenizer:
    """Gemma 3 SentencePiece-BPE (262k) as a tokenizer.json: no dummy prefix, byte fallback."""
    return HFTokenizer(GEMMA3, byte_level=False)


# SentencePiece piece types (sentencepiece_model.proto ModelProto.SentencePiece.Type).
_SP_UNKNOWN = 2
_SP_CONTROL = 3
_SP_USER_DEFINED = 4


class SentencePieceTokenizer:
    """A SentencePiece model (mistral v0.3) tokenized the way Ollama's runner does it.

    Which code tokenizes: at the emulated commit every model runs on llama.cpp's
    ``llama-server`` (``llm/server.go`` ``NewLlamaServer``; Ollama's Go engine and its Go
    SentencePiece are gone from the tree, ``LLAMA_CPP_VERSION`` b10488), and the prompt string
    goes to its ``/completion`` (``llm/llama_server.go``), tokenized with ``parse_special``.
    So the rule is llama.cpp's SPM tokenizer (``src/llama-vocab.cpp``
    ``llama_vocab::impl::tokenize``, ``LLAMA_VOCAB_TYPE_SPM``):

    - the text is first partitioned on the special tokens, the pieces whose type is control,
      user-defined or unknown (``cache_special_tokens``: ``<unk>``, ``<s>``, ``</s>``,
      ``[INST]``, ``[TOOL_CALLS]``...), longest first, each one a single token;
    - every text fragment is encoded on its own, and a space is put in front of it when the
      fragment starts the text or follows a special token (``is_prev_special``), because
      ``add_space_prefix`` is on: llama.cpp's default for SPM vocabularies, and the GGUF
      converter writes this model's ``add_dummy_prefix: true``;
    - the fragment is then merged by piece score over the whole fragment, with no split on
      whitespace (llama.cpp's ``llm_tokenizer_spm`` has none), spaces kept as typed.

    sentencepiece has the same merge; its own dummy prefix and whitespace split are turned off
    in the model's spec at load and the space is added here, where llama.cpp adds it.

    ``encode`` is that prompt rule (prompts, ``/api/generate``'s ``context``). Generated text
    is different: the model emits its own pieces, no fragment prefix, so ``output_ids`` and
    ``pieces`` encode the text as it stands.
    """

    def __init__(self, vocab: VocabFile = MISTRAL_V3) -> None:
        import sentencepiece
        from sentencepiece import sentencepiece_model_pb2

        model = sentencepiece_model_pb2.ModelProto()  # type: ignore[attr-defined]
        model.ParseFromString(vocab.read())
        self.add_space_prefix: bool = model.normalizer_spec.add_dummy_prefix
        model.normalizer_spec.add_dummy_prefix = False
        model.normalizer_spec.remove_extra_whitespaces = False
        model.trainer_spec.split_by_whitespace = False
        self.specials: dict[str, int] = {
            piece.piece: index
            for index, piece in enumerate(model.pieces)
            if piece.type in (_SP_UNKNOWN, _SP_CONTROL, _SP_USER_DEFINED)
        }
        self._processor = sentencepiece.SentencePieceProcessor(
            model_proto=model.SerializeToString()
        )
        by_length = sorted(self.specials, key=len, reverse=True)
        self._split = re.compile("(" + "|".join(map(re.escape, by_length)) + ")")
        self._bytes_of: dict[int, bytes] = {}
        # llama.cpp's partition (``encode`` below): the fragments are independent by design.
        self._counts = FragmentCounts(self._split, self._count_fragment)

    def encode(self, text: str) -> list[int]:
        prefix = " " if self.add_space_prefix else ""
        ids: list[int] = []
        # The split alternates text, special, text...: every non-empty text fragment starts
        # the text or follows a special token, so each one gets the prefix.
        for index, fragment in enumerate(self._split.split(text)):
            if index % 2:
                ids.append(self.specials[fragment])
            elif fragment:
                ids += self._processor.encode(prefix + fragment)
        return ids

    def count(self, text: str) -> int:
        return self._counts.count(text)

    def _count_fragment(self, fragment: str) -> int:
        prefix = " " if self.add_space_prefix else ""
        return len(self._processor.encode(prefix + fragment))

    def output_ids(self, text: str) -> list[int]:
        """The tokens a model emits for ``text``: specials as tokens, no fragment prefix."""
        ids: list[int] = []
        for index, fragment in enumerate(self._split.split(text)):
            if index % 2:
                ids.append(self.specials[fragment])
            elif fragment:
                ids += self._processor.encode(fragment)
        return ids

    def token_bytes(self, token_id: int) -> bytes:
        cached = self._bytes_of.get(token_id)
        if cached is None:
            piece = self._processor.id_to_piece(token_id)
            cached = self._bytes_of[token_id] = (
                piece.encode("utf-8") if piece in self.specials else _sentencepiece_bytes(piece)
            )
        return cached

    def pieces(self, text: str) -> list[str]:
        return _pieces_from_bytes(self.token_bytes(token) for token in self.output_ids(text))


def encode_pieces(tokenizer: Tokenizer, text: str) -> tuple[int, tuple[str, ...]]:
    """``(len(encode(text)), pieces(text))`` from a single encode where the tokenizer can say
    which bytes each token stands for."""
    token_bytes = getattr(tokenizer, "token_bytes", None)
    if token_bytes is None:
        return len(tokenizer.encode(text)), tuple(tokenizer.pieces(text))
    # Generated text: a tokenizer whose prompt rule differs says how a model emits it.
    ids = getattr(tokenizer, "output_ids", tokenizer.encode)(text)
    return len(ids), tuple(_pieces_of(tokenizer, ids, token_bytes))


def _pieces_of(tokenizer: object, ids: list[int], token_bytes) -> list[str]:
    """``_pieces_from_bytes`` of the tokens' bytes, from each token's text decoded once.

    When every token is whole UTF-8 on its own (nearly always), each piece is that token's
    text, which is what ``_pieces_from_bytes`` gives then; a token that ends inside a
    character (None here) sends the whole list through ``_pieces_from_bytes``. Bounded by
    the vocabulary (one entry per token id seen), kept on the tokenizer."""
    known: dict[int, str | None] | None = getattr(tokenizer, "_piece_text", None)
    if known is None:
        known = {}
        tokenizer._piece_text = known  # type: ignore[attr-defined]
    try:
        pieces = list(map(known.__getitem__, ids))
    except KeyError:
        for token in ids:
            if token not in known:
                try:
                    known[token] = token_bytes(token).decode("utf-8")
                except UnicodeDecodeError:
                    known[token] = None
        pieces = [known[token] for token in ids]
    if None in pieces:
        return _pieces_from_bytes(token_bytes(token) for token in ids)
    return pieces  # type: ignore[return-value]


def _pieces_from_bytes(token_bytes) -> list[str]:
    """Join token byte strings into text pieces, holding back incomplete UTF-8."""
    pieces: list[str] = []
    pending = b""
    for chunk in token_bytes:
        pending += chunk
        try:
            pieces.append(pending.decode("utf-8"))
        except UnicodeDecodeError:
            continue
        pending = b""
    if pending:
        pieces.append(pending.decode("utf-8", errors="replace"))
    return pieces
