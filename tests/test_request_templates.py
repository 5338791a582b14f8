"""A template that is not the model's: ``/api/generate``'s ``template`` and ``/api/create``'s.

Ollama runs any Go template text (``server/routes.go`` GenerateHandler's direct template flow;
``server/create.go`` setTemplate), so the fake runs them with its Go template executor
(``mockserver/engine/gotemplate``) and counts the rendered prompt with the model's vocabulary.
Over a real loopback socket; the expected prompts are written out, and their counts come from
the model's tokenizer, never from the fake's answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from mockserver.config import Settings
from mockserver.engine.families import FAMILIES
from mockserver.server import BackgroundServer, serving

DATE = "2026-03-23"
LLAMA = FAMILIES["llama3.2"]


@pytest.fixture(scope="module")
def fake() -> Iterator[BackgroundServer]:
    with serving(Settings(port=0, seed=7, current_date=DATE)) as server:
        yield server


def generate(fake: BackgroundServer, **body: object) -> httpx.Response:
    return httpx.post(
        fake.url + "/api/generate",
        json={"model": "llama3.2:3b", "stream": False, **body},
        timeout=30,
    )


# What each request template renders for prompt "Why is the sky blue?" (no system prompt:
# llama3.2 has none by default), as Ollama's Execute renders it.
RENDERINGS = [
    ("the prompt alone", "{{ .Prompt }}", "Why is the sky blue?"),
    (
        "a legacy prompt/response template",
        "<|user|>{{ .Prompt }}<|end|><|assistant|>{{ .Response }}<|end|>",
        "<|user|>Why is the sky blue?<|end|><|assistant|>",
    ),
    (
        "a messages template",
        "{{ range .Messages }}[{{ .Role }}] {{ .Content }}\n{{ end }}[assistant]",
        "[user] Why is the sky blue?\n[assistant]",
    ),
    (
        "a system default",
        "{{ if .System }}S{{ else }}no system{{ end }}|{{ .Prompt }}",
        "no system|Why is the sky blue?",
    ),
    (
        "a legacy template's last turn: a bare template, missingkey=default",
        "{{ .Prompt }}{{ .Nothing.Deeper }}",
        "Why is the sky blue?<no value>",
    ),
    # Go >= 1.23 grammar (Ollama is built with a recent Go; the Go harness is 1.19)
    (
        "else with (Go 1.23)",
        "{{ with .Nope }}x{{ else with .Prompt }}[{{ . }}]{{ end }}",
        "[Why is the sky blue?]",
    ),
    (
        "range over an integer (Go 1.22)",
        "{{ range 3 }}{{ . }}{{ end }}|{{ .Prompt }}",
        "012|Why is the sky blue?",
    ),
    ("printf", '{{ printf "%q/%d" .Prompt (len .Prompt) }}', '"Why is the sky blue?"/20'),
    (
        "Ollama's functions in a messages template",
        "{{ currentDate }} {{ range .Messages }}{{ json .Content }}{{ end }}",
        '2026-03-23 "Why is the sky blue?"',
    ),
]


@pytest.mark.parametrize(
    ("template", "rendered"),
    [(t, r) for _, t, r in RENDERINGS],
    ids=[name for name, _, _ in RENDERINGS],
)
def test_generate_renders_the_requests_template(fake, template: str, rendered: str) -> None:
    shown = generate(
        fake, prompt="Why is the sky blue?", template=template, _debug_render_only=True
    )
    assert shown.status_code == 200
    assert shown.json()["_debug_info"]["rendered_template"] == rendered
    answered = generate(fake, prompt="Why is the sky blue?", template=template)
    assert answered.status_code == 200
    assert answered.json()["prompt_eval_count"] == LLAMA.count(rendered)


def test_the_requests_system_reaches_the_template(fake) -> None:
    shown = generate(
        fake,
        prompt="hi",
        system="Be brief.",
        template="<{{ .System }}|{{ .Prompt }}>",
        _debug_render_only=True,
    )
    assert shown.json()["_debug_info"]["rendered_template"] == "<Be brief.|hi>"


# Ollama's answers for templates it cannot parse or execute: 500 with Go's error text.
FAILURES = [
    ("unclosed action", "{{ .Prompt ", "template: :1: unclosed action"),
    ("undefined function", "{{ nope .Prompt }}", 'template: :1: function "nope" not defined'),
    ("unexpected end", "{{ end }}", "template: :1: unexpected {{end}}"),
    (
        "a template call without a pipeline",
        '{{ define "a" }}x{{ end }}{{ template "a" }}',
        "undefined template specified",
    ),
    (
        "a field of a missing key",
        "{{ .Messages }}{{ .Nothing.Deeper }}",
        'template: :1:26: executing "" at <.Nothing.Deeper>: nil pointer evaluating '
        "interface {}.Deeper",
    ),
    (
        "a function in a legacy template's last turn (run without the FuncMap)",
        "{{ .Prompt }} {{ currentDate }}",
        'template: :1:17: executing "" at <currentDate>: "currentDate" is not a defined function',
    ),
    (
        "a bad call",
        "{{ index .Prompt 99 }}",
        'template: :1:3: executing "" at <index .Prompt 99>: error calling index: '
        "index out of range: 99",
    ),
]


@pytest.mark.parametrize(
    ("template", "error"), [(t, e) for _, t, e in FAILURES], ids=[n for n, _, _ in FAILURES]
)
def test_a_template_ollama_refuses_is_its_500(fake, template: str, error: str) -> None:
    reply = generate(fake, prompt="hi", template=template)
    assert reply.status_code == 500
    assert reply.json() == {"error": error}


def test_raw_mode_refuses_a_template(fake) -> None:
    reply = generate(fake, prompt="hi", template="{{ .Prompt }}", raw=True)
    assert reply.status_code == 400
    assert reply.json() == {"error": "raw mode does not support template, system, or context"}


# --- /api/create with a template -------------------------------------------------------------

CUSTOM = (
    "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
    "{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n"
)


def create(fake: BackgroundServer, **body: object) -> httpx.Response:
    return httpx.post(fake.url + "/api/create", json={"stream": False, **body}, timeout=30)


def test_a_created_models_template_decides_its_prompt_tokens(fake) -> None:
    made = create(fake, model="plain-llama", **{"from": "llama3.2:3b"}, template=CUSTOM)
    assert made.status_code == 200, made.text
    assert made.json() == {"status": "success"}
    messages = [{"role": "user", "content": "Why is the sky blue?"}]
    expected = (
        "<|start_header_id|>user<|end_header_id|>\n\nWhy is the sky blue?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    chat = httpx.post(
        fake.url + "/api/chat",
        timeout=30,
        json={"model": "plain-llama", "messages": messages, "stream": False},
    )
    assert chat.status_code == 200
    assert chat.json()["prompt_eval_count"] == LLAMA.count(expected)
    base = httpx.post(
        fake.url + "/api/chat",
        timeout=30,
        json={"model": "llama3.2:3b", "messages": messages, "stream": False},
    )
    assert base.json()["prompt_eval_count"] > chat.json()["prompt_eval_count"]  # no header
    shown = httpx.post(fake.url + "/api/show", json={"model": "plain-llama"})
    assert shown.json()["template"] == CUSTOM
    v1 = httpx.post(
        fake.url + "/v1/chat/completions",
        timeout=30,
        json={"model": "plain-llama", "messages": messages},
    )
    assert v1.json()["usage"]["prompt_tokens"] == LLAMA.count(expected)


def test_a_created_model_with_a_legacy_template(fake) -> None:
    legacy = "{{ if .System }}<<{{ .System }}>>{{ end }}Q: {{ .Prompt }}\nA: {{ .Response }}\n"
    assert (
        create(
            fake, model="legacy", **{"from": "llama3.2:3b"}, template=legacy, system="Be brief."
        ).status_code
        == 200
    )
    messages = [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "1"},
        {"role": "user", "content": "two"},
    ]
    shown = httpx.post(
        fake.url + "/api/chat",
        timeout=30,
        json={"model": "legacy", "messages": messages, "_debug_render_only": True},
    )
    # One execution per turn; the last one cut after .Response (its "\n" dropped).
    assert shown.json()["_debug_info"]["rendered_template"] == (
        "<<Be brief.>>Q: one\nA: 1\nQ: two\nA: "
    )


def test_create_refuses_a_template_that_does_not_parse(fake) -> None:
    reply = create(fake, model="broken", **{"from": "llama3.2:3b"}, template="{{ if .Prompt }}")
    assert reply.status_code == 400
    assert reply.json() == {"error": "template error: template: :1: unexpected EOF"}
    streamed = httpx.post(
        fake.url + "/api/create",
        json={"model": "broken", "from": "llama3.2:3b", "template": "{{ .Prompt"},
    )
    assert streamed.status_code == 400
    assert json.loads(streamed.text) == {"error": "template error: template: :1: unclosed action"}
    tags = httpx.get(fake.url + "/api/tags").json()["models"]
    assert "broken:latest" not in {m["name"] for m in tags}


# GenerateHandler gives a thinking model think=true when the request has none; for harmony
# (gpt-oss) "max" becomes "high". What a request template sees of it:
THINK = [
    (None, "true true medium|hi"),
    (False, "true false |hi"),
    ("low", "true true low|hi"),
    ("max", "true true high|hi"),
]


@pytest.mark.parametrize(("think", "rendered"), THINK)
def test_a_thinking_models_template_sees_ollamas_think_values(fake, think, rendered) -> None:
    body: dict[str, object] = {"model": "gpt-oss:20b", "prompt": "hi", "stream": False}
    if think is not None:
        body["think"] = think
    shown = httpx.post(
        fake.url + "/api/generate",
        timeout=30,
        json={
            **body,
            "template": "{{ .IsThinkSet }} {{ .Think }} {{ .ThinkLevel }}|{{ .Prompt }}",
            "_debug_render_only": True,
        },
    )
    assert shown.json()["_debug_info"]["rendered_template"] == rendered
