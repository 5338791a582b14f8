"""What ``POST /api/show`` says about each model: registry template, parameters, licence, GGUF info.

Keyed by the catalog's ``ModelCard.family``. The texts are Ollama registry data, not code:

* ``template``: the registry ``TEMPLATE`` layer (a Go template), kept as a data file next to the
  renderers (``templates/<family>.gotmpl``). gpt-oss is the text Ollama's own
  repository reproduces as the gpt-oss default template (``x/create/client/create.go``,
  ``gptossDefaultTemplate``); the others are reconstructed from published copies of the registry
  pages (``ollama-wire-spec.md`` §8). ``template_verified`` says which were checked against a
  byte-exact source; none has been diffed against a registry blob here.
* ``parameters``: the registry ``params`` layer, in a fixed order (Ollama iterates a Go map, so
  its order varies between calls).
* ``model_info``: GGUF key/values of the published GGUFs (architecture hyper-parameters);
  ``<arch>.context_length`` always comes from the catalog card. Large tokenizer arrays are
  empty, as Ollama shows them without ``verbose``.
* ``tensors``: derived from the architecture (names and shapes as llama.cpp names them, types as
  commonly quantized); synthetic, not read from a blob.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from mockserver.engine import templates
from mockserver.engine.catalog import ModelCard
from mockserver.engine.templates.tools import go_value_text


@dataclass(frozen=True, slots=True)
class Arch:
    """The GGUF hyper-parameters a show response and a tensor list are built from."""

    blocks: int
    embedding: int
    heads: int
    heads_kv: int
    feed_forward: int
    vocab: int
    rope_base: float
    head_dim: int = 0
    experts: int = 0
    experts_used: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key_length(self) -> int:
        return self.head_dim or self.embedding // self.heads


@dataclass(frozen=True, slots=True)
class Modelfile:
    template: str
    parameters: tuple[tuple[str, Any], ...]
    license: str
    arch: Arch
    tokenizer_model: str
    tokenizer_pre: str
    template_verified: bool = False


# --- templates -------------------------------------------------------------------------------


@functools.cache
def template_text(family: str) -> str:
    """The registry ``TEMPLATE`` of a family: ``templates/<family>.gotmpl``, byte for byte
    (package data, next to the family's Python renderer, which must agree with it:
    ``tests/test_template_texts.py`` runs it with Go's ``text/template``)."""
    return (resources.files(templates) / f"{family}.gotmpl").read_text("utf-8")


# --- licences (the first lines of each licence layer) -----------------------------------------

_APACHE = """
                                 Apache License
                           Version 2.0, January 2004
                        http://www.apache.org/licenses/

   TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION
"""
_LLAMA32_LICENSE = """LLAMA 3.2 COMMUNITY LICENSE AGREEMENT
Llama 3.2 Version Release Date: September 25, 2024
"""
_LLAMA31_LICENSE = """LLAMA 3.1 COMMUNITY LICENSE AGREEMENT
Llama 3.1 Version Release Date: July 23, 2024
"""
_GEMMA_LICENSE = """Gemma Terms of Use

Last modified: February 21, 2024
"""
_QWEN_LICENSE = _APACHE

_LLAMA_STOPS = (
    ("stop", "<|start_header_id|>"),
    ("stop", "<|end_header_id|>"),
    ("stop", "<|eot_id|>"),
)

MODELFILES: dict[str, Modelfile] = {
    "gptoss": Modelfile(
        template=template_text("gptoss"),
        parameters=(("temperature", 1),),
        license=_APACHE,
        arch=Arch(
            blocks=24,
            embedding=2880,
            heads=64,
            heads_kv=8,
            feed_forward=2880,
            vocab=201088,
            rope_base=150000.0,
            head_dim=64,
            experts=32,
            experts_used=4,
            extra={
                "attention.sliding_window": 128,
                "rope.scaling.factor": 32,
                "rope.scaling.original_context_length": 4096,
            },
        ),
        tokenizer_model="gpt2",
        tokenizer_pre="gpt-4o",
        template_verified=True,
    ),
    "llama3.2": Modelfile(
        template=template_text("llama3.2"),
        parameters=_LLAMA_STOPS,
        license=_LLAMA32_LICENSE,
        arch=Arch(
            blocks=28,
            embedding=3072,
            heads=24,
            heads_kv=8,
            feed_forward=8192,
            vocab=128256,
            rope_base=500000.0,
        ),
        tokenizer_model="gpt2",
        tokenizer_pre="llama-bpe",
    ),
    "llama3.1": Modelfile(
        template=template_text("llama3.1"),
        parameters=_LLAMA_STOPS,
        license=_LLAMA31_LICENSE,
        arch=Arch(
            blocks=32,
            embedding=4096,
            heads=32,
            heads_kv=8,
            feed_forward=14336,
            vocab=128256,
            rope_base=500000.0,
        ),
        tokenizer_model="gpt2",
        tokenizer_pre="llama-bpe",
    ),
    "qwen2.5": Modelfile(
        template=template_text("qwen2.5"),
        parameters=(),
        license=_QWEN_LICENSE,
        arch=Arch(
            blocks=28,
            embedding=3584,
            heads=28,
            heads_kv=4,
            feed_forward=18944,
            vocab=152064,
            rope_base=1000000.0,
        ),
        tokenizer_model="gpt2",
        tokenizer_pre="qwen2",
    ),
    "gemma3": Modelfile(
        template=template_text("gemma3"),
        parameters=(("stop", "<end_of_turn>"), ("temperature", 1), ("top_k", 64), ("top_p", 0.95)),
        license=_GEMMA_LICENSE,
        arch=Arch(
            blocks=34,
            embedding=2560,
            heads=8,
            heads_kv=4,
            feed_forward=10240,
            vocab=262144,
            rope_base=1000000.0,
            head_dim=256,
        ),
        tokenizer_model="llama",
        tokenizer_pre="default",
        template_verified=True,
    ),
    "mistral": Modelfile(
        template=template_text("mistral"),
        parameters=(("stop", "[INST]"), ("stop", "[/INST]")),
        license=_APACHE,
        arch=Arch(
            blocks=32,
            embedding=4096,
            heads=32,
            heads_kv=8,
            feed_forward=14336,
            vocab=32768,
            rope_base=1000000.0,
        ),
        tokenizer_model="llama",
        tokenizer_pre="default",
    ),
}

# Sizes that differ between tags of one family.
_ARCH_BY_TAG: dict[str, Arch] = {
    "qwen2.5:3b": Arch(
        blocks=36,
        embedding=2048,
        heads=16,
        heads_kv=2,
        feed_forward=11008,
        vocab=151936,
        rope_base=1000000.0,
    ),
}


def modelfile_for(card: ModelCard) -> Modelfile | None:
    return MODELFILES.get(card.family)


def arch_for(card: ModelCard, modelfile: Modelfile) -> Arch:
    return _ARCH_BY_TAG.get(card.name, modelfile.arch)


def parameters_text(modelfile: Modelfile) -> str:
    """``/api/show`` ``parameters``: name padded to 30, value as Go's ``%#v`` prints it."""
    return "\n".join(f"{name:<30} {_go_sharp_v(value)}" for name, value in modelfile.parameters)


def _go_sharp_v(value: Any) -> str:
    """``%#v`` of a parameter Go decoded from JSON: a quoted string, or a number or bool as
    ``%v`` prints it (float64 numbers: ``1`` for 1.0, ``1e-06``, ``1.23456789e+08``)."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return go_value_text(value)


def _go_quote(text: str) -> str:
    """``parser.quote``: multi-line or space-padded arguments are quoted."""
    if "\n" in text or text.startswith(" ") or text.endswith(" "):
        return f'"""{text}"""' if '"' in text else f'"{text}"'
    return text


def modelfile_text(card: ModelCard, modelfile: Modelfile, system: str) -> str:
    """``ollama show --modelfile``: the header, then one command per line (``Model.String``)."""
    lines = [
        '# Modelfile generated by "ollama show"',
        "# To build a new Modelfile based on this, replace FROM with:",
        f"# FROM {card.name}",
        "",
        f"FROM /root/.ollama/models/blobs/sha256-{card.full_digest}",
        f"TEMPLATE {_go_quote(modelfile.template)}",
    ]
    if system:
        lines.append(f"SYSTEM {_go_quote(system)}")
    lines += [f"PARAMETER {name} {_go_quote(str(value))}" for name, value in modelfile.parameters]
    lines.append(f"LICENSE {_go_quote(modelfile.license)}")
    return "\n".join(lines) + "\n"


def model_info(card: ModelCard, modelfile: Modelfile) -> dict[str, Any]:
    """GGUF key/values, sorted by key as Go's map encoding sorts them.

    The tokenizer arrays are ``null``: ``getModelData`` decodes without ``verbose`` with
    ``maxArraySize`` 0, so every non-empty GGUF array keeps no values and its ``*array``
    marshals as ``null`` (``fs/ggml/gguf.go`` newArray; the ``[]any`` length check after it
    never matches an ``*array``). ``verbose`` fills them (``gguf_vocab.py``)."""
    arch = arch_for(card, modelfile)
    prefix = card.arch_family
    info: dict[str, Any] = {
        "general.architecture": prefix,
        "general.file_type": 2 if card.quantization_level == "Q4_0" else 15,
        "general.parameter_count": _parameter_count(card),
        "general.quantization_version": 2,
        f"{prefix}.attention.head_count": arch.heads,
        f"{prefix}.attention.head_count_kv": arch.heads_kv,
        f"{prefix}.attention.key_length": arch.key_length,
        f"{prefix}.attention.layer_norm_rms_epsilon": 1e-05 if prefix != "gemma3" else 1e-06,
        f"{prefix}.attention.value_length": arch.key_length,
        f"{prefix}.block_count": arch.blocks,
        f"{prefix}.context_length": card.context_length,
        f"{prefix}.embedding_length": arch.embedding,
        f"{prefix}.feed_forward_length": arch.feed_forward,
        f"{prefix}.rope.freq_base": arch.rope_base,
        "tokenizer.ggml.merges": None,
        "tokenizer.ggml.model": modelfile.tokenizer_model,
        "tokenizer.ggml.pre": modelfile.tokenizer_pre,
        "tokenizer.ggml.token_type": None,
        "tokenizer.ggml.tokens": None,
    }
    if arch.experts:
        info[f"{prefix}.expert_count"] = arch.experts
        info[f"{prefix}.expert_used_count"] = arch.experts_used
        info["general.file_type"] = 38  # MXFP4
    for key, value in arch.extra.items():
        info[f"{prefix}.{key}"] = value
    return dict(sorted(info.items()))


def _parameter_count(card: ModelCard) -> int:
    size = card.parameter_size.rstrip("B")
    try:
        return int(float(size) * 1_000_000_000)
    except ValueError:
        return 0


def tensors(card: ModelCard, modelfile: Modelfile) -> list[dict[str, Any]]:
    """The tensor table ``/api/show`` lists: name, type, shape (synthetic, see module doc)."""
    arch = arch_for(card, modelfile)
    weight = "MXFP4" if arch.experts else card.quantization_level
    q_dim = arch.heads * arch.key_length
    kv_dim = arch.heads_kv * arch.key_length
    out: list[dict[str, Any]] = [
        {
            "name": "output.weight",
            "type": "Q6_K" if not arch.experts else "BF16",
            "shape": [arch.embedding, arch.vocab],
        },
        {"name": "output_norm.weight", "type": "F32", "shape": [arch.embedding]},
        {
            "name": "token_embd.weight",
            "type": "Q6_K" if not arch.experts else "BF16",
            "shape": [arch.embedding, arch.vocab],
        },
    ]
    for block in range(arch.blocks):
        b = f"blk.{block}"
        out += [
            {"name": f"{b}.attn_k.weight", "type": weight, "shape": [arch.embedding, kv_dim]},
            {"name": f"{b}.attn_norm.weight", "type": "F32", "shape": [arch.embedding]},
            {"name": f"{b}.attn_output.weight", "type": weight, "shape": [q_dim, arch.embedding]},
            {"name": f"{b}.attn_q.weight", "type": weight, "shape": [arch.embedding, q_dim]},
            {"name": f"{b}.attn_v.weight", "type": weight, "shape": [arch.embedding, kv_dim]},
            {"name": f"{b}.ffn_norm.weight", "type": "F32", "shape": [arch.embedding]},
        ]
        if arch.experts:
            shape = [arch.embedding, arch.feed_forward, arch.experts]
            out += [
                {"name": f"{b}.attn_sinks.weight", "type": "F32", "shape": [arch.heads]},
                {"name": f"{b}.ffn_down_exps.weight", "type": weight, "shape": shape},
                {"name": f"{b}.ffn_gate_exps.weight", "type": weight, "shape": shape},
                {
                    "name": f"{b}.ffn_gate_inp.weight",
                    "type": "F32",
                    "shape": [arch.embedding, arch.experts],
                },
                {"name": f"{b}.ffn_up_exps.weight", "type": weight, "shape": shape},
            ]
        else:
            out += [
                {
                    "name": f"{b}.ffn_down.weight",
                    "type": weight,
                    "shape": [arch.feed_forward, arch.embedding],
                },
                {
                    "name": f"{b}.ffn_gate.weight",
                    "type": weight,
                    "shape": [arch.embedding, arch.feed_forward],
                },
                {
                    "name": f"{b}.ffn_up.weight",
                    "type": weight,
                    "shape": [arch.embedding, arch.feed_forward],
                },
            ]
    return out
