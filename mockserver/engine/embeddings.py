"""Embedding models: what Ollama's EmbedHandler and its runner do, and deterministic vectors.

What is exact (Ollama 0.32.15, ollama/ollama@fb3076099):

* **Counting.** ``prompt_eval_count`` is llama-server's ``usage.prompt_tokens`` summed over the
  inputs (``llm/llama_server.go`` ``Embedding``): the tokens the runner evaluates, its special
  tokens included: ``[CLS]`` ... ``[SEP]`` for the BERT WordPiece models (llama.cpp's WPM
  tokenizer, ``engine/wordpiece.py``), ``<bos>`` ... ``<eos>`` for embeddinggemma (Gemma 3's
  vocabulary; the registry GGUF's ``add_eos_token`` is UNVERIFIED, taken from the HF
  tokenizer_config of google/embeddinggemma-300m).
* **Truncation** (``server/routes.go`` EmbedHandler): the budget is the model's trained context,
  capped by ``num_ctx`` when that is positive, minus one for BOS and one for EOS unless the text
  already starts / ends with them (``adjustTokenLimit``: Ollama reads ``add_bos_token`` without
  the ``tokenizer.ggml.`` prefix, so the default ``true`` always applies). ``truncate: false``
  over the budget is 400 "the input length exceeds the context length"; otherwise the text is
  cut to the budget's tokens and detokenized. A budget <= 0 is "input after truncation exceeds
  maximum context length". The runner refuses more tokens than its context or physical batch
  (``n_ubatch``: ``num_batch``, by default ``min(2048, num_ctx)``, capped at the runner's
  context, ``llm/llama_server.go`` ``embeddingBatchSize``); Ollama then retries once cut to
  ``num_batch`` ("input exceeds maximum context length and cannot be truncated further" when
  that cuts nothing).
* **Capabilities.** EmbedHandler schedules with no capability check: a chat model loads, and its
  runner (started without ``--embedding``) answers 501 "This server does not support
  embeddings. Start it with `--embeddings`" (llama-server's words, passed on).
* **Normalisation.** Ollama L2-normalises every vector (after llama-server did), then cuts to
  ``dimensions`` and normalises again. The legacy ``/api/embeddings`` returns the runner's
  output as is; for nomic-bert models Ollama asks llama-server for raw, unnormalised vectors
  (``legacyEmbeddingsWereRaw``).

What is NOT a real model: the vectors. They are feature hashing (words, word bigrams and
character trigrams of the lower-cased text, each added with a sign to a few dimensions chosen
by SHAKE-256 of the model name and the feature, plus a small dense share every input
carries), so texts that share words are nearer than texts that do not, the same text always
gives the same vector, and truncated input gives the vector of the truncated text. They carry
no meaning beyond shared surface forms.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import re
import threading
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mockserver.errors import OllamaError

DEFAULT_EMBEDDING_NUM_BATCH = 2048  # llm/llama_server.go DefaultEmbeddingNumBatch
LLAMA_SERVER_DEFAULT_UBATCH = 512  # llama-server's n_ubatch when Ollama passes no -ub

INPUT_TOO_LONG = "the input length exceeds the context length"
NOTHING_LEFT = "input after truncation exceeds maximum context length"
CANNOT_TRUNCATE = "input exceeds maximum context length and cannot be truncated further"
NO_EMBEDDINGS = "This server does not support embeddings. Start it with `--embeddings`"


class EmbeddingText(Protocol):
    """How a model's runner tokenizes for embedding."""

    bos: int  # tokenizer.ggml.bos_token_id
    eos: int  # tokenizer.ggml.eos_token_id

    def tokenize(self, text: str) -> list[int]:
        """llama-server ``/tokenize``: specials parsed, none added."""
        ...

    def embed_tokens(self, text: str) -> list[int]:
        """What ``/v1/embeddings`` evaluates: the text with the model's special tokens."""
        ...

    def detokenize(self, ids: list[int]) -> str: ...


class _WordPieceText:
    """BERT WordPiece (bert-base-uncased); GGUF bos/eos ids are [CLS]/[SEP] (101/102)."""

    def __init__(self) -> None:
        from mockserver.engine.wordpiece import WordPieceTokenizer

        self._tokenizer = WordPieceTokenizer()
        self.bos = self._tokenizer.cls
        self.eos = self._tokenizer.sep

    def tokenize(self, text: str) -> list[int]:
        return self._tokenizer.encode(text)

    def embed_tokens(self, text: str) -> list[int]:
        return self._tokenizer.encode(text, add_special=True)

    def detokenize(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids)


class _GemmaText:
    """Gemma 3's vocabulary (shared with the gemma3 chat family, loaded once): <bos>=2, <eos>=1."""

    bos = 2
    eos = 1

    def __init__(self) -> None:
        from mockserver.engine.families import GEMMA3

        self._tokenizer = GEMMA3.tokenizer

    def tokenize(self, text: str) -> list[int]:
        return self._tokenizer.encode(text)

    def embed_tokens(self, text: str) -> list[int]:
        return [self.bos, *self._tokenizer.encode(text), self.eos]

    def detokenize(self, ids: list[int]) -> str:
        token_bytes = self._tokenizer.token_bytes  # type: ignore[attr-defined]
        return b"".join(token_bytes(token) for token in ids).decode("utf-8", errors="replace")


@dataclass(eq=False)
class EmbeddingModel:
    """One embedding model: its runner's tokenizer, output size and registry facts."""

    name: str
    dimensions: int
    load_text: Callable[[], EmbeddingText]
    # The registry ``params`` layer (Modelfile PARAMETER lines), in a fixed order.
    parameters: tuple[tuple[str, Any], ...] = ()
    raw_legacy: bool = False  # /api/embeddings returns unnormalised vectors
    model_info: dict[str, Any] = field(default_factory=dict)
    license_name: str = ""
    _text: EmbeddingText | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def text(self) -> EmbeddingText:
        if self._text is None:
            with self._lock:
                if self._text is None:
                    self._text = self.load_text()
        return self._text

    @property
    def loaded(self) -> bool:
        return self._text is not None

    def option(self, name: str) -> Any:
        return dict(self.parameters).get(name)


def _shared_wordpiece() -> Callable[[], EmbeddingText]:
    cache: list[EmbeddingText] = []
    lock = threading.Lock()

    def load() -> EmbeddingText:
        with lock:
            if not cache:
                cache.append(_WordPieceText())
        return cache[0]

    return load


_WORDPIECE = _shared_wordpiece()

# Keyed by ModelCard.family. model_info: the GGUF hyper-parameters the model cards publish
# (context length and embedding size come from the catalog card). Parameters: the registry's
# params layer where it is known (nomic-embed-text ``num_ctx 8192``; all-minilm ``num_ctx 256``,
# the budget a published Ollama 0.33 measurement found, sentence-transformers' max_seq_length).
EMBEDDING_MODELS: dict[str, EmbeddingModel] = {
    model.name: model
    for model in (
        EmbeddingModel(
            "nomic-embed-text",
            768,
            _WORDPIECE,
            parameters=(("num_ctx", 8192),),
            raw_legacy=True,  # nomic-bert without normalize_embeddings
            model_info={
                "general.architecture": "nomic-bert",
                "nomic-bert.attention.causal": False,
                "nomic-bert.attention.head_count": 12,
                "nomic-bert.attention.layer_norm_epsilon": 1e-12,
                "nomic-bert.block_count": 12,
                "nomic-bert.feed_forward_length": 3072,
                "nomic-bert.pooling_type": 1,
                "nomic-bert.rope.freq_base": 1000,
            },
            license_name="Apache-2.0",
        ),
        EmbeddingModel(
            "mxbai-embed-large",
            1024,
            _WORDPIECE,
            model_info={
                "general.architecture": "bert",
                "bert.attention.causal": False,
                "bert.attention.head_count": 16,
                "bert.attention.layer_norm_epsilon": 1e-12,
                "bert.block_count": 24,
                "bert.feed_forward_length": 4096,
                "bert.pooling_type": 2,
            },
            license_name="Apache-2.0",
        ),
        EmbeddingModel(
            "all-minilm",
            384,
            _WORDPIECE,
            parameters=(("num_ctx", 256),),
            model_info={
                "general.architecture": "bert",
                "bert.attention.causal": False,
                "bert.attention.head_count": 12,
                "bert.attention.layer_norm_epsilon": 1e-12,
                "bert.block_count": 6,
                "bert.feed_forward_length": 1536,
                "bert.pooling_type": 1,
            },
            license_name="Apache-2.0",
        ),
        EmbeddingModel(
            "embeddinggemma",
            768,
            _GemmaText,
            model_info={
                "general.architecture": "gemma3",
                "gemma3.attention.causal": False,
                "gemma3.attention.head_count": 3,
                "gemma3.attention.head_count_kv": 1,
                "gemma3.attention.key_length": 256,
                "gemma3.attention.sliding_window": 512,
                "gemma3.attention.value_length": 256,
                "gemma3.block_count": 24,
                "gemma3.feed_forward_length": 1152,
                "gemma3.pooling_type": 1,
            },
            license_name="Gemma Terms of Use",
        ),
    )
}


def embedding_model(family: str) -> EmbeddingModel | None:
    return EMBEDDING_MODELS.get(family)


# --- vectors ---------------------------------------------------------------------------------

_WORD = re.compile(r"\w+", re.UNICODE)
_FUNCTION_WORDS = """a an and are as at be by for from has have in is it its of on or that the this
to was were will with what why how who when where which do does"""
_STOPWORDS = frozenset(_FUNCTION_WORDS.split())


def _features(text: str) -> dict[str, float]:
    words = _WORD.findall(text.lower())
    features: dict[str, float] = {}
    for word in words:
        if word in _STOPWORDS:  # function words: a little weight, no sub-word features
            features["w:" + word] = features.get("w:" + word, 0.0) + 0.2
            continue
        weight = 1.0
        features["w:" + word] = features.get("w:" + word, 0.0) + weight
        padded = f"<{word}>"
        grams = [padded[i : i + 3] for i in range(max(len(padded) - 2, 1))]
        for gram in grams:
            key = "c:" + gram
            features[key] = features.get(key, 0.0) + 0.5 * weight / len(grams)
    for left, right in itertools.pairwise(words):
        key = f"b:{left} {right}"
        features[key] = features.get(key, 0.0) + 0.5
    return features


_SPREAD = 16  # dimensions each feature is hashed into (signed feature hashing)


@functools.lru_cache(maxsize=16)
def _background(model: str, dimensions: int) -> tuple[float, ...]:
    """A dense direction every input of ``model`` shares (its special tokens' share)."""
    direction = hashlib.shake_256(f"{model}\0<special>".encode()).digest(dimensions)
    values = [byte - 127.5 for byte in direction]
    norm = math.sqrt(sum(value * value for value in values))
    return tuple(value / norm for value in values)


def raw_vector(model: str, text: str, dimensions: int) -> list[float]:
    """The unnormalised vector of ``text``: signed feature hashing.

    Each feature (word, bigram, character trigram) adds its weight, with a sign, to
    ``_SPREAD`` dimensions chosen by SHAKE-256 of the model name and the feature, so unrelated
    features rarely meet; every input also carries a small dense share (its special tokens).
    """
    vector = [0.4 * value for value in _background(model, dimensions)]
    seed = f"{model}\0".encode()
    scale = 1.0 / math.sqrt(_SPREAD)
    for feature, weight in _features(text).items():
        digest = hashlib.shake_256(seed + feature.encode()).digest(4 * _SPREAD)
        for slot in range(_SPREAD):
            chunk = int.from_bytes(digest[4 * slot : 4 * slot + 4], "little")
            value = weight * scale if chunk & 1 else -weight * scale
            vector[(chunk >> 1) % dimensions] += value
    return vector


def normalize(vector: list[float]) -> list[float]:
    """``normalize`` in ``server/routes.go``: divide by the L2 norm (at least 1e-12)."""
    norm = math.sqrt(sum(value * value for value in vector))
    scale = 1.0 / max(norm, 1e-12)
    return [value * scale for value in vector]


def float32(values: list[float]) -> list[float]:
    """The float32 values Ollama holds (``[]float32``)."""
    return array("f", values).tolist()


# --- the handler's algorithm -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunnerLimits:
    """The numbers EmbedHandler and its runner work with for one request."""

    num_ctx: int  # opts.NumCtx: request, else the model's params, else the server default
    num_batch: int  # opts.NumBatch after WithDefaultEmbeddingNumBatch
    trained_ctx: int  # <arch>.context_length
    runner_ctx: int  # the runner's context (at least 4, at most the trained context)

    @property
    def runner_tokens(self) -> int:
        """The most tokens llama-server embeds: its context and its physical batch."""
        ubatch = self.num_batch if self.num_batch > 0 else LLAMA_SERVER_DEFAULT_UBATCH
        return min(self.runner_ctx, ubatch)

    def context(self) -> int:
        """``inputTokensAndContext``'s ctxLen before adjustment."""
        if self.num_ctx > 0:
            return min(self.num_ctx, self.trained_ctx)
        return self.trained_ctx


def runner_limits(
    options: dict[str, Any], model_options: dict[str, Any], default_num_ctx: int, trained: int
) -> RunnerLimits:
    merged = {**model_options, **options}
    num_ctx = int(merged.get("num_ctx", default_num_ctx))
    if "num_batch" in merged:
        num_batch = int(merged["num_batch"])
    else:
        num_batch = min(DEFAULT_EMBEDDING_NUM_BATCH, num_ctx) if num_ctx > 0 else 2048
    runner_ctx = max(num_ctx, 4)
    if trained:
        runner_ctx = min(runner_ctx, trained)
    return RunnerLimits(num_ctx, num_batch, trained, runner_ctx)


@dataclass(frozen=True, slots=True)
class Embedded:
    vector: list[float]  # float32 values, normalised (and cut to ``dimensions``)
    tokens: int  # what the runner evaluated


def _adjust(text: EmbeddingText, tokens: list[int], limit: int) -> int:
    if tokens and tokens[0] != text.bos:
        limit -= 1
    if tokens and tokens[-1] != text.eos:
        limit -= 1
    return limit


def embed_one(
    model: EmbeddingModel,
    source: str,
    limits: RunnerLimits,
    *,
    truncate: bool | None,
    dimensions: int,
) -> Embedded:
    """``embedWithRetry`` then the normalisations, for one input of ``/api/embed``."""
    text = model.text
    tokens = text.tokenize(source)
    budget = _adjust(text, tokens, limits.context())
    if truncate is False:
        if budget <= 0:
            raise OllamaError(400, NOTHING_LEFT)
        if len(tokens) > budget:
            raise OllamaError(400, INPUT_TOO_LONG)
    else:
        if budget <= 0:
            raise OllamaError(400, NOTHING_LEFT)
        if len(tokens) > budget:
            source = text.detokenize(tokens[:budget])
    evaluated = text.embed_tokens(source)
    if len(evaluated) > limits.runner_tokens:  # llama-server refuses it (a 400 Ollama retries)
        if truncate is False:
            raise OllamaError(400, INPUT_TOO_LONG)
        tokens = text.tokenize(source)
        budget = _adjust(text, tokens, limits.context())
        if limits.num_batch > 0:
            budget = min(budget, _adjust(text, tokens, limits.num_batch))
        if budget <= 0:
            raise OllamaError(400, NOTHING_LEFT)
        if len(tokens) <= budget:
            raise OllamaError(400, CANNOT_TRUNCATE)
        source = text.detokenize(tokens[:budget])
        evaluated = text.embed_tokens(source)
        if len(evaluated) > limits.runner_tokens:
            raise OllamaError(400, INPUT_TOO_LONG)
    vector = normalize(raw_vector(model.name, source, model.dimensions))
    if 0 < dimensions < len(vector):
        vector = normalize(vector[:dimensions])
    return Embedded(float32(vector), len(evaluated))


def embed_legacy(model: EmbeddingModel, prompt: str, limits: RunnerLimits) -> list[float]:
    """``/api/embeddings``: no truncation; the runner's refusal is a 500 with its words."""
    evaluated = model.text.embed_tokens(prompt)
    if len(evaluated) > limits.runner_tokens:
        raise OllamaError(500, INPUT_TOO_LONG)
    vector = raw_vector(model.name, prompt, model.dimensions)
    return float32(vector if model.raw_legacy else normalize(vector))


def refuse_chat_model(
    encode: Callable[[str], list[int]], source: str, limits: RunnerLimits, *, truncate: bool | None
) -> OllamaError:
    """A chat model asked to embed: the truncation checks run on its tokens (llama-server
    tokenizes for any model), then its runner, started without ``--embedding``, answers 501."""
    tokens = encode(source)
    budget = limits.context() - (2 if tokens else 0)
    if budget <= 0:
        return OllamaError(400, NOTHING_LEFT)
    if truncate is False and len(tokens) > budget:
        return OllamaError(400, INPUT_TOO_LONG)
    return OllamaError(501, NO_EMBEDDINGS)


# --- /api/show -------------------------------------------------------------------------------

_BERT_TOKENIZER = {
    "tokenizer.ggml.bos_token_id": 101,
    "tokenizer.ggml.cls_token_id": 101,
    "tokenizer.ggml.eos_token_id": 102,
    "tokenizer.ggml.mask_token_id": 103,
    "tokenizer.ggml.model": "bert",
    "tokenizer.ggml.padding_token_id": 0,
    "tokenizer.ggml.scores": None,
    "tokenizer.ggml.seperator_token_id": 102,
    "tokenizer.ggml.token_type": None,
    "tokenizer.ggml.token_type_count": 2,
    "tokenizer.ggml.tokens": None,
    "tokenizer.ggml.unknown_token_id": 100,
}
_GEMMA_TOKENIZER = {
    "tokenizer.ggml.add_bos_token": True,
    "tokenizer.ggml.add_eos_token": True,
    "tokenizer.ggml.bos_token_id": 2,
    "tokenizer.ggml.eos_token_id": 1,
    "tokenizer.ggml.model": "llama",
    "tokenizer.ggml.padding_token_id": 0,
    "tokenizer.ggml.pre": "default",
    "tokenizer.ggml.scores": None,
    "tokenizer.ggml.token_type": None,
    "tokenizer.ggml.tokens": None,
    "tokenizer.ggml.unknown_token_id": 3,
}
_FILE_TYPES = {"F16": 1, "BF16": 32}  # llama.cpp's LLAMA_FTYPE_MOSTLY_F16 / _BF16


def _parameter_count(size: str) -> int:
    units = {"K": 1e3, "M": 1e6, "B": 1e9}
    try:
        return int(float(size[:-1]) * units[size[-1]])
    except (KeyError, ValueError):
        return 0


def show_fields(
    model: EmbeddingModel,
    *,
    name: str,
    digest: str,
    architecture: str,
    parameter_size: str,
    quantization: str,
    context_length: int,
) -> dict[str, Any]:
    """What ``/api/show`` says of an embedding model beyond its details.

    The template is Ollama's default (``{{ .Prompt }}``); the parameters are the registry
    params layer; ``model_info`` holds the GGUF key/values the fake knows (the published model
    configs), arrays ``null`` as a non-verbose show prints them. Not carried: the licence text
    and the tensor table (both omitted, as omitempty fields).
    """
    lines = [
        '# Modelfile generated by "ollama show"',
        "# To build a new Modelfile based on this, replace FROM with:",
        f"# FROM {name}",
        "",
        f"FROM /root/.ollama/models/blobs/sha256-{digest}",
        "TEMPLATE {{ .Prompt }}",
        *(f"PARAMETER {key} {value}" for key, value in model.parameters),
    ]
    info: dict[str, Any] = {
        "general.file_type": _FILE_TYPES.get(quantization, 1),
        "general.parameter_count": _parameter_count(parameter_size),
        f"{architecture}.context_length": context_length,
        f"{architecture}.embedding_length": model.dimensions,
        **model.model_info,
        **(_GEMMA_TOKENIZER if architecture == "gemma3" else _BERT_TOKENIZER),
    }
    fields: dict[str, Any] = {"modelfile": "\n".join(lines) + "\n"}
    if model.parameters:
        fields["parameters"] = "\n".join(f"{key:<30} {value}" for key, value in model.parameters)
    fields["template"] = "{{ .Prompt }}"
    fields["model_info"] = dict(sorted(info.items()))
    return fields
