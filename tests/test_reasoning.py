"""gpt-oss reasoning: reasoning_effort on /v1, think natively; prompt, output and counts."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from mockserver.server import BackgroundServer

GPT = "gpt-oss:20b"
HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def http(fake: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, timeout=30) as client:
        yield client


def _native_render(http: httpx.Client, think: object) -> str:
    body: dict = {"model": GPT, "messages": HI, "_debug_render_only": True}
    if think is not None:
        body["think"] = think
    return http.post("/api/chat", json=body).json()["_debug_info"]["rendered_template"]


def _v1_render(http: httpx.Client, effort: str | None) -> str:
    body: dict = {"model": GPT, "messages": HI, "_debug_render_only": True}
    if effort is not None:
        body["reasoning_effort"] = effort
    return http.post("/v1/chat/completions", json=body).json()["_debug_info"]["rendered_template"]


@pytest.mark.parametrize(
    ("think", "effort", "line"),
    [
        (None, None, "Reasoning: medium"),
        (True, "medium", "Reasoning: medium"),
        ("low", "low", "Reasoning: low"),
        ("high", "high", "Reasoning: high"),
        (False, "none", None),
    ],
)
def test_effort_changes_the_prompt(
    http: httpx.Client, think: object, effort: str | None, line: str | None
) -> None:
    native = _native_render(http, think)
    assert native == _v1_render(http, effort)
    if line is None:
        assert "Reasoning:" not in native
        assert "Current date: 2026-03-23\n\n# Valid channels" in native
    else:
        assert f"Current date: 2026-03-23\n\n{line}\n\n# Valid channels" in native


def test_v1_minimal_is_low(http: httpx.Client) -> None:
    assert _v1_render(http, "minimal") == _native_render(http, "low")


@pytest.mark.parametrize("effort", ["max", "xhigh", "ultra"])
def test_max_is_high_for_gpt_oss(http: httpx.Client, effort: str) -> None:
    """openai/openai.go maps xhigh/ultra to max (v0.32.12+); ChatHandler then maps max to high
    for harmony models (server/routes.go), whose Reasoning line knows only low/medium/high."""
    assert _v1_render(http, effort) == _native_render(http, "high")
    assert _native_render(http, "max") == _native_render(http, "high")


def test_thinking_is_on_by_default(http: httpx.Client) -> None:
    """ChatHandler (v0.12.4+): a thinking-capable model without think gets think=true."""
    assert _native_render(http, None) == _native_render(http, True)
    assert _native(http, None)["message"]["thinking"] == _native(http, True)["message"]["thinking"]


def test_reasoning_object_wins_over_reasoning_effort(http: httpx.Client) -> None:
    """FromChatRequest: a ``reasoning`` object, even one without an effort, is used instead of
    ``reasoning_effort``."""

    def render(body: dict) -> str:
        body = {"model": GPT, "messages": HI, "_debug_render_only": True, **body}
        response = http.post("/v1/chat/completions", json=body).json()
        return response["_debug_info"]["rendered_template"]

    both = render({"reasoning": {"effort": "low"}, "reasoning_effort": "high"})
    assert both == _native_render(http, "low")
    empty = render({"reasoning": {}, "reasoning_effort": "none"})
    assert empty == _native_render(http, None)  # the model's default, not "none"


def _native(http: httpx.Client, think: object, path: str = "/api/chat") -> dict:
    body: dict = {"model": GPT, "stream": False}
    if think is not None:
        body["think"] = think
    body.update({"messages": HI} if path == "/api/chat" else {"prompt": "Hi"})
    response = http.post(path, json=body)
    assert response.status_code == 200
    return response.json()


def test_reasoning_grows_with_effort_and_is_counted(http: httpx.Client) -> None:
    low, medium, high = (_native(http, level) for level in ("low", "medium", "high"))
    off = _native(http, False)
    lengths = [len(r["message"]["thinking"]) for r in (low, medium, high)]
    assert lengths[0] < lengths[1] < lengths[2]
    assert "thinking" not in off["message"]
    # reasoning tokens are generated tokens: eval_count grows with them
    assert off["eval_count"] < low["eval_count"] < medium["eval_count"] < high["eval_count"]
    # the Reasoning line costs prompt tokens; without it the prompt is shorter
    assert off["prompt_eval_count"] < low["prompt_eval_count"]
    assert low["prompt_eval_count"] == medium["prompt_eval_count"] == high["prompt_eval_count"]


def test_generate_puts_thinking_in_its_own_field(http: httpx.Client) -> None:
    body = _native(http, "high", "/api/generate")
    assert body["thinking"] and body["response"]
    assert "<|channel|>" not in body["response"]
    assert "thinking" not in _native(http, False, "/api/generate")


def test_v1_and_native_agree(http: httpx.Client, client: openai.OpenAI) -> None:
    for effort, think in (("low", "low"), ("high", "high"), ("none", False)):
        v1 = client.chat.completions.create(model=GPT, messages=HI, reasoning_effort=effort)
        native = _native(http, think)
        assert v1.usage.completion_tokens == native["eval_count"]
        assert v1.usage.prompt_tokens == native["prompt_eval_count"]
        reasoning = getattr(v1.choices[0].message, "reasoning", None)
        assert reasoning == native["message"].get("thinking")


def test_streamed_thinking_pieces(http: httpx.Client) -> None:
    import json

    response = http.post("/api/chat", json={"model": GPT, "messages": HI, "think": "high"})
    lines = [json.loads(line) for line in response.text.splitlines()]
    thinking = "".join(line["message"].get("thinking", "") for line in lines)
    assert thinking == _native(http, "high")["message"]["thinking"]


def test_non_thinking_model_refuses_think(http: httpx.Client) -> None:
    if "llama3.2:3b" not in {m["name"] for m in http.get("/api/tags").json()["models"]}:
        pytest.skip("needs a non-thinking model in the catalog")
    refused = http.post("/api/chat", json={"model": "llama3.2:3b", "messages": HI, "think": True})
    assert refused.status_code == 400
    assert refused.json() == {"error": '"llama3.2:3b" does not support thinking'}
    accepted = http.post(
        "/api/chat", json={"model": "llama3.2:3b", "messages": HI, "think": False, "stream": False}
    )
    assert accepted.status_code == 200 and "thinking" not in accepted.json()["message"]
    v1 = http.post(
        "/v1/chat/completions",
        json={"model": "llama3.2:3b", "messages": HI, "reasoning_effort": "high"},
    )
    assert v1.status_code == 400
    assert v1.json()["error"]["message"] == '"llama3.2:3b" does not support thinking'
