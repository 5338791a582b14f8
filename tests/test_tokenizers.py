"""The shipped vocabularies: checksums, special tokens, pieces, and Ollama's tokenizer quirks."""

from __future__ import annotations

import lzma

import pytest

from mockserver.engine import vocab as vocab_module
from mockserver.engine.families import FAMILIES
from mockserver.engine.tokenizers import (
    GEMMA3,
    LLAMA3,
    MISTRAL_V3,
    O200K_BASE,
    O200K_TOKENS,
    QWEN,
    HFTokenizer,
    SentencePieceTokenizer,
)
from mockserver.engine.vocab import VocabFile, VocabularyError

SHIPPED = [O200K_BASE, O200K_TOKENS, LLAMA3, QWEN, GEMMA3, MISTRAL_V3]

SPECIALS = {
    "gptoss": ["<|start|>", "<|message|>", "<|end|>", "<|channel|>", "<|return|>", "<|call|>"],
    "llama3.2": ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
    "llama3.1": ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
    "qwen2.5": ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<tool_call>", "</tool_call>"],
    "gemma3": ["<bos>", "<start_of_turn>", "<end_of_turn>", "<eos>"],
    "mistral": ["<s>", "</s>", "[INST]", "[/INST]", "[TOOL_CALLS]", "[AVAILABLE_TOOLS]",
                "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]", "[/TOOL_RESULTS]"],
}  # fmt: skip

TEXTS = [
    "Hello, world! How's it going?",
    "  two leading spaces, a\ttab,\n\nblank lines and a trailing space ",
    "Café naïve — 你好，世界！今日は。Ωμέγα",
    "emoji 🦀🐇 and a ZWJ sequence 👩‍💻 and flags 🇫🇷",
    "code: def f(x):\n    return {'a': [1, 2, 3]}  # ok",
]


@pytest.mark.parametrize("vocab", SHIPPED, ids=lambda v: v.filename)
def test_shipped_vocabulary_matches_checksum(vocab: VocabFile) -> None:
    assert vocab.read()  # raises VocabularyError on a mismatch


def test_corrupted_vocabulary_fails_loudly(tmp_path, monkeypatch) -> None:
    data = bytearray(MISTRAL_V3.read())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / MISTRAL_V3.filename).write_bytes(lzma.compress(bytes(data)))
    monkeypatch.setattr(vocab_module, "files", lambda package: tmp_path)
    with pytest.raises(VocabularyError, match="corrupt"):
        SentencePieceTokenizer(MISTRAL_V3)


def test_wrong_checksum_fails_loudly() -> None:
    with pytest.raises(VocabularyError, match="corrupt: sha256"):
        HFTokenizer(VocabFile(LLAMA3.filename, "0" * 64), byte_level=True)


def test_missing_vocabulary_fails_loudly() -> None:
    with pytest.raises(VocabularyError, match="missing"):
        VocabFile("no-such-vocab.json.xz", "0" * 64).read()


@pytest.mark.parametrize("name", sorted(SPECIALS))
def test_specials_are_single_tokens(name: str) -> None:
    tokenizer = FAMILIES[name].tokenizer
    for special in SPECIALS[name]:
        assert len(tokenizer.encode(special)) == 1, special
        # ... also when a user types one in the middle of text
        assert len(tokenizer.encode(f"a{special}b")) == 3, special


@pytest.mark.parametrize("name", sorted(SPECIALS))
@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_pieces_concatenate_back(name: str, text: str) -> None:
    tokenizer = FAMILIES[name].tokenizer
    pieces = tokenizer.pieces(text)
    assert "".join(pieces) == text
    assert len(pieces) <= len(tokenizer.encode(text))


@pytest.mark.parametrize("name", sorted(SPECIALS))
def test_pieces_are_one_per_token_on_ascii(name: str) -> None:
    tokenizer = FAMILIES[name].tokenizer
    text = "The quick brown fox jumps over the lazy dog."
    assert len(tokenizer.pieces(text)) == len(tokenizer.encode(text))


@pytest.mark.parametrize("name", sorted(SPECIALS))
def test_no_bos_added_by_encode(name: str) -> None:
    tokenizer = FAMILIES[name].tokenizer
    assert tokenizer.encode("") == []
    assert tokenizer.pieces("Hi")[0].startswith("H")


def test_qwen25_has_no_qwen3_tokens() -> None:
    tokenizer = FAMILIES["qwen2.5"].tokenizer
    for text in ["<think>", "</think>", "<tool_response>", "</tool_response>"]:
        assert len(tokenizer.encode(text)) > 1, text
        assert "".join(tokenizer.pieces(text)) == text


def test_qwen25_does_not_normalize() -> None:
    tokenizer = FAMILIES["qwen2.5"].tokenizer
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    assert tokenizer.encode(composed) != tokenizer.encode(decomposed)
    assert "".join(tokenizer.pieces(decomposed)) == decomposed


def test_mistral_output_has_no_dummy_prefix_and_keeps_spaces() -> None:
    tokenizer = FAMILIES["mistral"].tokenizer
    assert tokenizer.pieces("Describe a rabbit") == ["Describe", " a", " rab", "bit"]
    assert "".join(tokenizer.pieces("a   b")) == "a   b"


@pytest.mark.parametrize(
    ("prompt", "pieces"),
    [
        # llama.cpp's SPM rule: a space before every text fragment that starts the prompt or
        # follows a special token (add_space_prefix), no split on whitespace
        ("Hi", ["\u2581Hi"]),
        ("[INST]Hi[/INST]", ["[INST]", "\u2581Hi", "[/INST]"]),
        ("[INST] Hi[/INST]", ["[INST]", "\u2581", "\u2581Hi", "[/INST]"]),
        ("[/INST] ", ["[/INST]", "\u2581\u2581"]),
        ("</s>A", ["</s>", "\u2581A"]),
        ("<unk>", ["<unk>"]),  # unknown-type pieces are specials too (cache_special_tokens)
    ],
)
def test_mistral_prompts_are_tokenized_as_llama_cpp_does(prompt: str, pieces: list[str]) -> None:
    tokenizer = FAMILIES["mistral"].tokenizer
    ids = tokenizer.encode(prompt)
    assert [tokenizer._processor.id_to_piece(token) for token in ids] == pieces


def test_llama_families_share_one_vocabulary() -> None:
    assert FAMILIES["llama3.2"].tokenizer is FAMILIES["llama3.1"].tokenizer


def test_the_shipped_o200k_ranks_are_every_line_in_order() -> None:
    """The fast read of the .tiktoken file (ranks counted, not parsed) equals parsing each line,
    as tiktoken's own ``load_tiktoken_bpe`` does."""
    import base64

    from mockserver.engine.tokenizers import _tiktoken_ranks

    data = O200K_BASE.read()
    parsed = {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in data.splitlines() if line)
    }
    assert _tiktoken_ranks(data) == parsed
    shuffled = b"\n".join(data.splitlines()[::-1])  # a file in another order: ranks parsed
    assert _tiktoken_ranks(shuffled) == parsed


def test_the_packed_gpt_oss_tokens_are_the_tiktoken_files_ranks() -> None:
    """The token list the fake loads (``tools/pack_vocab.py``) holds exactly the ranks of the
    shipped .tiktoken file, upstream's bytes."""
    from mockserver.engine.tokenizers import _tiktoken_ranks, o200k_ranks

    assert o200k_ranks() == _tiktoken_ranks(O200K_BASE.read())


def test_a_python_that_cannot_read_the_packed_tokens_parses_the_tiktoken_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mockserver.engine import tokenizers

    def unreadable(data: bytes) -> object:
        raise ValueError("bad marshal data (unknown type code)")

    monkeypatch.setattr(tokenizers.marshal, "loads", unreadable)
    assert tokenizers.o200k_ranks() == tokenizers._tiktoken_ranks(O200K_BASE.read())


def _tiktoken_with_specials():
    """o200k_harmony as tiktoken builds it with its specials: the reference encode."""
    import tiktoken

    from mockserver.engine.tokenizers import _HARMONY_SPECIALS, _O200K_PATTERN, _tiktoken_ranks

    return tiktoken.Encoding(
        "o200k_harmony",
        pat_str=_O200K_PATTERN,
        mergeable_ranks=_tiktoken_ranks(O200K_BASE.read()),
        special_tokens=_HARMONY_SPECIALS,
    )


_HARMONY_TEXTS = [
    *TEXTS,
    "<|start|>user<|message|>Hi<|end|><|start|>assistant",
    "<|foo|> <|reserved_199999|> <|reserved_200013|> <||> <|END|> <|a<|end|>",
    "x<|channel|>analysis<|message|>thinking...<|end|><|return|><|call|><|constrain|>json",
    "lone \ud800 surrogate <|end|> and a pair \ud83d\ude00 split <|message|>\udfff",
    "<|start|><|start|><|end|>",
    "",
]


def test_harmony_encode_is_tiktokens_with_every_special_allowed() -> None:
    """The core is built without specials and the text cut at them here: the same ids as
    tiktoken's ``encode(allowed_special="all")`` on an encoding that has them, and the same
    bytes for every id."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from mockserver.engine.tokenizers import _HARMONY_SPECIALS, HarmonyTokenizer

    ours, reference = HarmonyTokenizer(), _tiktoken_with_specials()

    def same(text: str) -> None:
        try:
            expected = reference.encode(text, allowed_special="all")
        except UnicodeEncodeError:  # tiktoken's Encoding.encode makes this fix-up itself
            fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
            expected = reference.encode(fixed, allowed_special="all")
        assert ours.encode(text) == expected, text
        assert ours.count(text) == len(expected), text
        for token in set(expected):
            assert ours.token_bytes(token) == reference.decode_single_token_bytes(token)

    for text in _HARMONY_TEXTS:
        same(text)
    names = sorted(_HARMONY_SPECIALS)
    piece = st.one_of(
        st.sampled_from(names[::25] + names[-12:]),
        st.sampled_from(["<|", "|>", "<||>", "<|x|>", "<", "|", " ", "\n", "é", "🙂"]),
        st.text(max_size=10),  # lone surrogates included
    )

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(piece, max_size=20).map("".join))
    def check(text: str) -> None:
        same(text)

    check()
