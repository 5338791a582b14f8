# ruff: noqa: E501 - registry template text is data, kept byte for byte
"""What ``POST /api/show`` says about each model: registry template, parameters, licence, GGUF info.

Keyed by the catalog's ``ModelCard.family``. The texts are Ollama registry data, not code:

* ``template``: the registry ``TEMPLATE`` layer (a Go template). gpt-oss is the text Ollama's own
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

from dataclasses import dataclass, field
from typing import Any

from mockserver.engine.catalog import ModelCard


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

GPT_OSS_TEMPLATE = """<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.
Knowledge cutoff: 2024-06
Current date: {{ currentDate }}
{{- if and .IsThinkSet .Think (ne .ThinkLevel "") }}

Reasoning: {{ .ThinkLevel }}
{{- else if or (not .IsThinkSet) (and .IsThinkSet .Think) }}

Reasoning: medium
{{- end }}

{{- $hasNonBuiltinTools := false }}
{{- if .Tools -}}
{{- $hasBrowserSearch := false }}
{{- $hasBrowserOpen := false }}
{{- $hasBrowserFind := false }}
{{- $hasPython := false }}
  {{- range .Tools }}
    {{- if eq .Function.Name "browser.search" -}}{{- $hasBrowserSearch = true -}}
    {{- else if eq .Function.Name "browser.open" -}}{{- $hasBrowserOpen = true -}}
    {{- else if eq .Function.Name "browser.find" -}}{{- $hasBrowserFind = true -}}
    {{- else if eq .Function.Name "python" -}}{{- $hasPython = true -}}
    {{- else }}{{ $hasNonBuiltinTools = true -}}
    {{- end }}
  {{- end }}
{{- if or $hasBrowserSearch $hasBrowserOpen $hasBrowserFind $hasPython }}

# Tools
{{- if or $hasBrowserSearch $hasBrowserOpen $hasBrowserFind }}

## browser

// Tool for browsing.
// The cursor appears in brackets before each browsing display, like [cursor].
// Cite information from the tool using the line-citation format shown by the browser output.
// Do not quote more than 10 words directly from the tool output.
// sources=web (default: web)
namespace browser {
{{- if $hasBrowserSearch }}

// Searches for information related to query and displays topn results.
type search = (_: {
query: string,
topn?: number, // default: 10
source?: string,
}) => any;
{{- end }}
{{- if $hasBrowserOpen }}

// Opens the link id from the page indicated by cursor starting at line number loc, showing num_lines lines.
// If cursor is not provided, the most recent page is implied.
// If id is a string, it is treated as a fully qualified URL associated with source.
// If loc is not provided, the viewport will be positioned at the beginning of the document or centered on the most relevant passage, if available.
// Use this function without id to scroll to a new location of an opened page.
type open = (_: {
id?: number | string, // default: -1
cursor?: number, // default: -1
loc?: number, // default: -1
num_lines?: number, // default: -1
view_source?: boolean, // default: false
source?: string,
}) => any;
{{- end }}
{{- if $hasBrowserFind }}

// Finds exact matches of pattern in the current page, or the page given by cursor.
type find = (_: {
pattern: string,
cursor?: number, // default: -1
}) => any;
{{- end }}

} // namespace browser
{{- end }}{{/* end if has browser tools */}}
{{- if $hasPython }}

## python

Use this tool to execute Python code in your chain of thought. The code will not be shown to the user. This tool should be used for internal reasoning, but not for code that is intended to be visible to the user (e.g. when creating plots, tables, or files).

When you send a message containing Python code to python, it will be executed in a stateful Jupyter notebook environment. python will respond with the output of the execution or time out after 120.0 seconds. The drive at '/mnt/data' can be used to save and persist user files. Internet access for this session is UNKNOWN. Depends on the cluster.
{{- end }}{{/* end if hasPython */}}
{{- end }}{{/* end if has any built-in tools */}}
{{- end }}{{/* end if .Tools */}}

# Valid channels: analysis, commentary, final. Channel must be included for every message.{{ if $hasNonBuiltinTools }}
Calls to these tools must go to the commentary channel: 'functions'.
{{- end -}}<|end|>{{/* end of system */ -}}
{{- if or $hasNonBuiltinTools .System -}}
<|start|>developer<|message|>{{- if $hasNonBuiltinTools }}# Tools

## functions

namespace functions {
{{- range .Tools }}
{{- if not (or (eq .Function.Name "browser.search") (eq .Function.Name "browser.open") (eq .Function.Name "browser.find") (eq .Function.Name "python")) }}
{{if .Function.Description }}
// {{ .Function.Description }}
{{- end }}
{{- if and .Function.Parameters.Properties (gt (len .Function.Parameters.Properties) 0) }}
type {{ .Function.Name }} = (_: {
{{- range $name, $prop := .Function.Parameters.Properties }}
{{- if $prop.Description }}
  // {{ $prop.Description }}
{{- end }}
  {{ $name }}: {{ $prop | toTypeScriptType }},
{{- end }}
}) => any;
{{- else }}
type {{ .Function.Name }} = () => any;
{{- end }}
{{- end }}{{/* end if not browser tool */}}
{{- end }}{{/* end of range .Tools */}}

} // namespace functions
{{- end }}{{/* end if hasNonBuiltinTools */}}
{{- if .System}}

# Instructions

{{ .System }}
{{- end -}}
<|end|>
{{- end -}}
{{- /* Find the index of the last user message */ -}}
{{- $lastUserIdx := -1 }}
{{- $prefillingContent := false }}
{{- $prefillingThinkingOnly := false }}
{{- range $i, $msg := .Messages }}
  {{- $last := eq (len (slice $.Messages $i)) 1 -}}
  {{- if eq $msg.Role "user" }}
    {{- $lastUserIdx = $i }}
  {{- end -}}
  {{- if and $last (eq $msg.Role "assistant") (gt (len $msg.Content) 0) }}
    {{- $prefillingContent = true }}
  {{- else if and $last (eq $msg.Role "assistant") (gt (len $msg.Thinking) 0) }}
    {{- $prefillingThinkingOnly = true }}
  {{- end }}
{{- end -}}
{{- /* Now render messages */ -}}
{{- range $i, $msg := .Messages }}
  {{- $last := eq (len (slice $.Messages $i)) 1 -}}
  {{- if (ne $msg.Role "system") -}}
    {{- if eq $msg.Role "tool" -}}
      {{- if or (eq $msg.ToolName "python") (eq $msg.ToolName "browser.search") (eq $msg.ToolName "browser.open") (eq $msg.ToolName "browser.find") -}}
        <|start|>{{ $msg.ToolName }} to=assistant<|message|>{{ $msg.Content }}<|end|>
      {{- else -}}
        <|start|>functions.{{ $msg.ToolName }} to=assistant<|message|>{{ $msg.Content }}<|end|>
      {{- end -}}
    {{- else if eq $msg.Role "assistant" -}}
      {{- if and $msg.Thinking (gt $i $lastUserIdx) -}}{{- /* Show thinking only after last user message */ -}}
      <|start|>assistant<|channel|>analysis<|message|>{{ $msg.Thinking }}{{- if not $prefillingThinkingOnly -}}<|end|>{{- end -}}
      {{- end -}}
      {{- if gt (len $msg.Content) 0 -}}
        <|start|>assistant<|channel|>final<|message|>{{ $msg.Content }}{{- if not $prefillingContent -}}<|end|>{{- end -}}
      {{- end -}}
      {{- if gt (len $msg.ToolCalls) 0 -}}
        {{- range $j, $toolCall := $msg.ToolCalls -}}
          {{- $isBuiltin := or (eq $toolCall.Function.Name "python") (eq $toolCall.Function.Name "browser.search") (eq $toolCall.Function.Name "browser.open") (eq $toolCall.Function.Name "browser.find") -}}
          <|start|>assistant<|channel|>{{ if $isBuiltin }}analysis{{ else }}commentary{{ end }} to={{ if not $isBuiltin}}functions.{{end}}{{ $toolCall.Function.Name }} <|constrain|>json<|message|>{{ $toolCall.Function.Arguments }}<|call|>
        {{- end -}}
      {{- end -}}
    {{- else if eq $msg.Role "user" -}}
      <|start|>{{ $msg.Role }}<|message|>{{ $msg.Content }}<|end|>
    {{- end }}
  {{- else }}
  {{- end }}
{{- end -}}
{{- if not (or $prefillingContent $prefillingThinkingOnly) -}}
<|start|>assistant
{{- end -}}"""

_LLAMA3_MESSAGES = """{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<|start_header_id|>user<|end_header_id|>
{{- if and $.Tools $last }}

Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.

Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}. Do not use variables.

{{ range $.Tools }}
{{- . }}
{{ end }}
{{ .Content }}<|eot_id|>
{{- else }}

{{ .Content }}<|eot_id|>
{{- end }}{{ if $last }}<|start_header_id|>assistant<|end_header_id|>

{{ end }}
{{- else if eq .Role "assistant" }}<|start_header_id|>assistant<|end_header_id|>
{{- if .ToolCalls }}
{{ range .ToolCalls }}
{"name": "{{ .Function.Name }}", "parameters": {{ .Function.Arguments }}}{{ end }}
{{- else }}

{{ .Content }}
{{- end }}{{ if not $last }}<|eot_id|>{{ end }}
{{- else if eq .Role "tool" }}<|start_header_id|>ipython<|end_header_id|>

{{ .Content }}<|eot_id|>{{ if $last }}<|start_header_id|>assistant<|end_header_id|>

{{ end }}
{{- end }}
{{- end }}"""

LLAMA32_TEMPLATE = (
    """<|start_header_id|>system<|end_header_id|>

Cutting Knowledge Date: December 2023

{{ if .System }}{{ .System }}
{{- end }}
{{- if .Tools }}When you receive a tool call response, use the output to format an answer to the orginal user question.

You are a helpful assistant with tool calling capabilities.
{{- end }}<|eot_id|>
"""
    + _LLAMA3_MESSAGES
)

LLAMA31_TEMPLATE = (
    """{{- if or .System .Tools }}<|start_header_id|>system<|end_header_id|>
{{- if .System }}

{{ .System }}
{{- end }}
{{- if .Tools }}

Cutting Knowledge Date: December 2023

When you receive a tool call response, use the output to format an answer to the orginal user question.

You are a helpful assistant with tool calling capabilities.
{{- end }}<|eot_id|>
{{- end }}
"""
    + _LLAMA3_MESSAGES
)

QWEN25_TEMPLATE = """{{- if .Messages }}
{{- if or .System .Tools }}<|im_start|>system
{{- if .System }}
{{ .System }}
{{- end }}
{{- if .Tools }}

# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{{- range .Tools }}
{"type": "function", "function": {{ .Function }}}
{{- end }}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call>
{{- end }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ if .Content }}{{ .Content }}
{{- else if .ToolCalls }}<tool_call>
{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}
{{ end }}</tool_call>
{{- end }}{{ if not $last }}<|im_end|>
{{ end }}
{{- else if eq .Role "tool" }}<|im_start|>user
<tool_response>
{{ .Content }}
</tool_response><|im_end|>
{{ end }}
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ end }}
{{- end }}
{{- else }}
{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ if .Prompt }}<|im_start|>user
{{ .Prompt }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ end }}{{ .Response }}{{ if .Response }}<|im_end|>{{ end }}"""

GEMMA3_TEMPLATE = """{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if or (eq .Role "user") (eq .Role "system") }}<start_of_turn>user
{{ .Content }}<end_of_turn>
{{ if $last }}<start_of_turn>model
{{ end }}
{{- else if eq .Role "assistant" }}<start_of_turn>model
{{ .Content }}{{ if not $last }}<end_of_turn>
{{ end }}
{{- end }}
{{- end }}"""

MISTRAL_TEMPLATE = """{{- if .Messages }}
{{- range $index, $_ := .Messages }}
{{- if eq .Role "user" }}
{{- if and (eq (len (slice $.Messages $index)) 1) $.Tools }}[AVAILABLE_TOOLS] {{ $.Tools }}[/AVAILABLE_TOOLS]
{{- end }}[INST] {{ if and $.System (eq (len (slice $.Messages $index)) 1) }}{{ $.System }}

{{ end }}{{ .Content }}[/INST]
{{- else if eq .Role "assistant" }}
{{- if .Content }} {{ .Content }}
{{- else if .ToolCalls }}[TOOL_CALLS] [
{{- range .ToolCalls }}{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}
{{- end }}]
{{- end }}</s>
{{- else if eq .Role "tool" }}[TOOL_RESULTS] {"content": {{ .Content }}} [/TOOL_RESULTS]
{{- end }}
{{- end }}
{{- else }}[INST] {{ if .System }}{{ .System }}

{{ end }}{{ .Prompt }}[/INST]
{{- end }} {{ .Response }}
{{- if .Response }}</s>
{{- end }}"""

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
        template=GPT_OSS_TEMPLATE,
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
        template=LLAMA32_TEMPLATE,
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
        template=LLAMA31_TEMPLATE,
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
        template=QWEN25_TEMPLATE,
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
        template=GEMMA3_TEMPLATE,
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
        template=MISTRAL_TEMPLATE,
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
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


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
    """GGUF key/values, sorted by key as Go's map encoding sorts them."""
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
        "tokenizer.ggml.merges": [],
        "tokenizer.ggml.model": modelfile.tokenizer_model,
        "tokenizer.ggml.pre": modelfile.tokenizer_pre,
        "tokenizer.ggml.token_type": [],
        "tokenizer.ggml.tokens": [],
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
