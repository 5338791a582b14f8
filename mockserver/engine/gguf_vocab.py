"""The tokenizer arrays of a model's GGUF, as ``/api/show`` with ``verbose`` returns them.

``GetModelInfo`` (``server/routes.go``, ollama/ollama@fb3076099) reads the GGUF's key/values
with every array whole when ``verbose`` is set (``getModelData``: ``maxArraySize = -1``) and,
without it, replaces every array longer than 5 by ``[]``. The arrays are the vocabulary the
model was converted with; the fake builds them from the vocabulary it ships, as llama.cpp's
GGUF converter writes them (``convert_hf_to_gguf.py`` ``get_vocab_base`` / ``_set_vocab_*``):

* ``tokenizer.ggml.tokens``: every token by id, in its vocabulary's spelling (byte-level BPE
  characters such as ``Ġthe``; SentencePiece pieces such as ``▁the`` and ``<0x0A>``);
* ``tokenizer.ggml.token_type``: 1 normal, 2 unknown, 3 control (special added tokens), 4
  user-defined (other added tokens), 6 byte;
* ``tokenizer.ggml.merges``: a BPE vocabulary's merges, ``"left right"``. gpt-oss ships as
  tiktoken ranks, whose merges are recovered the way Hugging Face's tiktoken converter does
  (``bpe(token, max_rank=rank)`` leaves exactly the pair that made it).

UNVERIFIED against a real GGUF's bytes (the fake has none): the ids, spellings and merges are
the shipped vocabularies' own; the token types follow the converter's rules. Built once per
family, off the event loop (a few seconds for gpt-oss's 200k merges).
"""

from __future__ import annotations

import functools
import json
from typing import Any

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


@functools.lru_cache(maxsize=8)
def arrays(family: str) -> dict[str, list[Any]]:
    """``tokenizer.ggml.{tokens,token_type,merges}`` for a family's vocabulary."""
    from mockserver.engine import tokenizers

    if family in ("llama3.1", "llama3.2"):
        return _from_tokenizer_json(tokenizers.LLAMA3.read(), byte_level=True)
    if family == "qwen2.5":
        return _from_tokenizer_json(
            tokenizers.QWEN.read(), byte_level=True, drop=tokenizers.QWEN3_ONLY_TOKENS
        )
    if family == "gemma3":
        return _from_tokenizer_json(tokenizers.GEMMA3.read(), byte_level=False)
    if family == "mistral":
        return _from_sentencepiece(tokenizers.MISTRAL_V3.read())
    if family == "gptoss":
        return _from_ranks(tokenizers.o200k_ranks())
    return {}


def _from_tokenizer_json(
    data: bytes, *, byte_level: bool, drop: frozenset[str] = frozenset()
) -> dict[str, list[Any]]:
    spec = json.loads(data)
    model = spec["model"]
    by_id: dict[int, str] = {index: token for token, index in model["vocab"].items()}
    types: dict[int, int] = {}
    for added in spec.get("added_tokens", ()):
        if added["content"] in drop:
            continue
        by_id[added["id"]] = added["content"]
        types[added["id"]] = CONTROL if added.get("special") else USER_DEFINED
    size = max(by_id) + 1
    tokens = [by_id.get(index, f"[PAD{index}]") for index in range(size)]
    token_type = []
    for index, token in enumerate(tokens):
        kind = types.get(index)
        if kind is None:
            if index not in by_id:
                kind = USER_DEFINED
            elif not byte_level and len(token) == 6 and token.startswith("<0x"):
                kind = BYTE
            elif token == model.get("unk_token"):
                kind = UNKNOWN
            else:
                kind = NORMAL
        token_type.append(kind)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", ())]
    out: dict[str, list[Any]] = {"tokens": tokens, "token_type": token_type}
    if byte_level:
        out["merges"] = merges
    return out


def _from_sentencepiece(data: bytes) -> dict[str, list[Any]]:
    from sentencepiece import sentencepiece_model_pb2

    model = sentencepiece_model_pb2.ModelProto()  # type: ignore[attr-defined]
    model.ParseFromString(data)
    kinds = {1: NORMAL, 2: UNKNOWN, 3: CONTROL, 4: USER_DEFINED, 5: UNUSED, 6: BYTE}
    return {
        "tokens": [piece.piece for piece in model.pieces],
        "token_type": [kinds.get(piece.type, NORMAL) for piece in model.pieces],
    }


def _byte_level_encoder() -> dict[int, str]:
    """GPT-2's bytes -> printable characters (``bytes_to_unicode``)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    table = {byte: chr(byte) for byte in printable}
    extra = 0
    for byte in range(256):
        if byte not in table:
            table[byte] = chr(256 + extra)
            extra += 1
    return table


def _from_ranks(ranks: dict[bytes, int]) -> dict[str, list[Any]]:
    from mockserver.engine.tokenizers import _HARMONY_SPECIALS

    encode = _byte_level_encoder()

    def spell(token: bytes) -> str:
        return "".join(encode[b] for b in token)

    size = max(max(ranks.values()), max(_HARMONY_SPECIALS.values())) + 1
    tokens = [f"[PAD{index}]" for index in range(size)]
    token_type = [USER_DEFINED] * size
    merges = []
    for token, rank in ranks.items():
        tokens[rank] = spell(token)
        token_type[rank] = NORMAL
        if len(token) > 1:
            pair = _bpe(ranks, token, rank)
            if len(pair) == 2:
                merges.append(f"{spell(pair[0])} {spell(pair[1])}")
    for text, index in _HARMONY_SPECIALS.items():
        tokens[index] = text
        token_type[index] = CONTROL
    return {"tokens": tokens, "token_type": token_type, "merges": merges}


def _bpe(ranks: dict[bytes, int], token: bytes, max_rank: int) -> list[bytes]:
    """Byte-pair merging of ``token`` using only the merges ranked below ``max_rank``."""
    parts = [token[i : i + 1] for i in range(len(token))]
    while len(parts) > 2:
        best, best_rank = -1, max_rank
        for index in range(len(parts) - 1):
            rank = ranks.get(parts[index] + parts[index + 1])
            if rank is not None and rank < best_rank:
                best, best_rank = index, rank
        if best < 0:
            break
        parts[best : best + 2] = [parts[best] + parts[best + 1]]
    return parts
