"""Ollama's silent context-window truncation, as current Ollama does it (ollama/ollama@fb3076099,
v0.33.0-rc2 = v0.32.15 for this code): ``server/prompt.go`` chatPrompt drops whole messages,
then ``llm/llama_server.go`` completionPromptForRequest cuts tokens (context shift)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest

from mockserver.config import Settings
from mockserver.server import BackgroundServer, serving
from tests.conftest import REFERENCE_DATE

GPT = "gpt-oss:20b"
SYSTEM = {"role": "system", "content": "You are terse."}


def conversation(turns: int) -> list[dict[str, str]]:
    messages = [SYSTEM]
    for n in range(turns):
        messages.append({"role": "user", "content": f"Question {n}: " + "tell me more. " * 6})
        messages.append({"role": "assistant", "content": f"Answer {n}: " + "here is more. " * 6})
    messages.append({"role": "user", "content": "Final question: what did we discuss?"})
    return messages


def native(http: httpx.Client, messages: list, **extra: object) -> dict:
    body = {"model": GPT, "messages": messages, "stream": False, "options": {"num_ctx": 256}}
    body.update(extra)
    response = http.post("/api/chat", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def rendered(http: httpx.Client, messages: list, num_ctx: int = 256) -> str:
    body = {"model": GPT, "messages": messages, "options": {"num_ctx": num_ctx}}
    body["_debug_render_only"] = True
    return http.post("/api/chat", json=body).json()["_debug_info"]["rendered_template"]


@pytest.fixture
def http(fake: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, timeout=30) as client:
        yield client


def test_native_num_ctx_drops_oldest_turns(http: httpx.Client) -> None:
    counts = [native(http, conversation(turns))["prompt_eval_count"] for turns in range(8)]
    assert counts[0] < counts[1] < counts[2]  # grows while it fits
    assert all(count <= 256 for count in counts)
    assert max(counts) - min(counts[3:]) < 60  # then stops growing: old turns go
    long = conversation(10)
    text = rendered(http, long)
    assert "Question 0:" not in text and "Answer 0:" not in text  # the first turns dropped
    assert "Question 9:" in text  # recent history kept
    assert "# Instructions\n\nYou are terse.<|end|>" in text  # the system message kept
    assert text.endswith("Final question: what did we discuss?<|end|><|start|>assistant")
    # With a large window nothing is dropped.
    assert "Question 0:" in rendered(http, long, num_ctx=8192)


def test_truncation_is_silent_and_counts_match_render(http: httpx.Client) -> None:
    long = conversation(10)
    body = native(http, long)
    assert body["done_reason"] == "stop"
    assert body["prompt_eval_count"] <= 256
    # The reported count is the count of the truncated prompt, as rendered.
    from mockserver.engine.tokenizers import HarmonyTokenizer

    text = rendered(http, long)
    assert body["prompt_eval_count"] == len(HarmonyTokenizer().encode(text))


def test_system_messages_are_kept_wherever_they_are(http: httpx.Client) -> None:
    messages = conversation(6)
    messages.insert(3, {"role": "system", "content": "Mid-conversation rule."})
    text = rendered(http, messages)
    assert "Question 0:" not in text
    assert "You are terse.\n\nMid-conversation rule." in text


def test_a_system_message_where_the_kept_history_starts_is_kept(http: httpx.Client) -> None:
    """HEAD's forward search keeps the system messages before the start index and those in
    the kept suffix, so none is lost (v0.12.x's walk back could drop one at the boundary)."""
    for position in range(1, 20):
        messages = conversation(10)
        messages.insert(position, {"role": "system", "content": "Boundary rule."})
        assert "You are terse.\n\nBoundary rule." in rendered(http, messages)


HUGE = [SYSTEM, {"role": "user", "content": "word " * 600}]


def test_token_level_truncation_halves_the_window(http: httpx.Client) -> None:
    """contextShiftPromptLimit: keep num_keep (4; +1 if the tokenizer adds BOS, gpt-oss does
    not), then free half of the rest: 256 - (256 - 4) // 2 = 130 tokens are evaluated (v0.12.x
    runners kept exactly num_ctx)."""
    body = native(http, HUGE)
    assert body["prompt_eval_count"] == 130
    assert body["done_reason"] == "stop"
    assert native(http, HUGE, options={"num_ctx": 256, "num_keep": 100})["prompt_eval_count"] == (
        256 - (256 - 100) // 2
    )
    # num_keep < 0 keeps everything it can (num_ctx - 1), so one token is freed.
    assert native(http, HUGE, options={"num_ctx": 256, "num_keep": -1})["prompt_eval_count"] == 255


def test_bos_counts_in_the_kept_prefix(http: httpx.Client) -> None:
    if "llama3.2:3b" not in {m["name"] for m in http.get("/api/tags").json()["models"]}:
        pytest.skip("needs a family whose tokenizer adds BOS")
    body = {"model": "llama3.2:3b", "messages": HUGE, "stream": False, "options": {"num_ctx": 256}}
    count = http.post("/api/chat", json=body).json()["prompt_eval_count"]
    assert count == 256 - (256 - 5) // 2  # num_keep 4 + BOS


def test_prompt_over_the_window_with_shift_off_or_truncate_off_is_refused(
    http: httpx.Client,
) -> None:
    def post(**extra: object) -> httpx.Response:
        body = {"model": GPT, "messages": HUGE, "stream": False, "options": {"num_ctx": 256}}
        return http.post("/api/chat", json={**body, **extra})

    # Context shift off: completionPromptForRequest refuses (400, llm/llama_server.go).
    refused = post(shift=False)
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "the prompt is longer than the context length currently available to the "
        "model; shorten the prompt, adjust the context length in settings, or use a model "
        "with a longer context length"
    }
    # truncate:false skips Ollama's truncation; llama-server refuses the prompt and Ollama
    # passes its error body on as the message (the body's exact bytes are UNVERIFIED).
    refused = post(truncate=False)
    assert refused.status_code == 400
    error = json.loads(refused.json()["error"])["error"]
    assert error["type"] == "exceed_context_size_error" and error["n_ctx"] == 256
    assert error["message"].endswith("exceeds the available context size (256 tokens), try "
                                     "increasing it")  # fmt: skip
    # Render-only returns before the runner is asked: no error.
    assert post(truncate=False, _debug_render_only=True).status_code == 200
    # The same refusals reach /v1 only through server-side settings; a short prompt passes.
    assert post(shift=False, messages=[SYSTEM, {"role": "user", "content": "Hi"}]).is_success


def test_generate_truncates_too(http: httpx.Client) -> None:
    body = {"model": GPT, "prompt": "word " * 600, "stream": False, "options": {"num_ctx": 128}}
    assert http.post("/api/generate", json=body).json()["prompt_eval_count"] == 128 - 124 // 2


def test_num_ctx_is_capped_at_trained_context(http: httpx.Client) -> None:
    http.post("/api/chat", json={"model": GPT, "options": {"num_ctx": 10_000_000}})
    entry = next(m for m in http.get("/api/ps").json()["models"] if m["name"] == GPT)
    assert entry["context_length"] == 131072


@pytest.mark.parametrize("how", ["settings", "env"])
def test_v1_follows_server_context_length(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if how == "env":
        monkeypatch.setenv("OLLAMA_CONTEXT_LENGTH", "256")
        settings = Settings(port=0, current_date=REFERENCE_DATE, seed=7)
    else:
        settings = Settings(port=0, current_date=REFERENCE_DATE, seed=7, num_ctx=256)
    with serving(settings) as server:
        client = openai.OpenAI(base_url=server.openai_url, api_key="ollama", max_retries=0)
        counts = []
        for turns in range(8):
            reply = client.chat.completions.create(model=GPT, messages=conversation(turns))
            counts.append(reply.usage.prompt_tokens)
        assert counts[0] < counts[1]
        assert all(count <= 256 for count in counts)
        assert max(counts) - min(counts[3:]) < 60
        # /v1 has no way to set num_ctx: an "options" field is ignored.
        reply = client.chat.completions.create(
            model=GPT, messages=conversation(10), extra_body={"options": {"num_ctx": 8192}}
        )
        assert reply.usage.prompt_tokens <= 256
        debug = httpx.post(
            f"{server.openai_url}/chat/completions",
            json={"model": GPT, "messages": conversation(10), "_debug_render_only": True},
        ).json()["_debug_info"]["rendered_template"]
        assert "Question 0:" not in debug and "You are terse." in debug


def test_default_context_is_4096(fake: BackgroundServer) -> None:
    from mockserver.engine.tokenizers import HarmonyTokenizer

    with httpx.Client(base_url=fake.url) as http:
        text = http.post(
            "/api/chat",
            json={"model": GPT, "messages": conversation(120), "_debug_render_only": True},
        ).json()["_debug_info"]["rendered_template"]
    count = len(HarmonyTokenizer().encode(text))
    assert 3900 < count <= 4096
    assert "Question 0:" not in text and "Question 119:" in text


# --- the search for the first suffix that fits: Ollama's walk, without its cost --------------


def ollama_walk(engine, request, family, prompt_ctx):
    """chatPrompt as Ollama writes it (server/prompt.go): every suffix from the first,
    rendered and tokenized in turn. Quadratic; the reference the engine must agree with."""
    from mockserver.engine.chat import Message
    from mockserver.engine.engine import _prompt_tokens

    messages = request.messages
    if family.default_system and messages[0].role != "system":  # as Engine.prompt does
        messages = (Message(role="system", content=family.default_system), *messages)
    for i in range(len(messages)):
        system = tuple(m for m in messages[:i] if m.role == "system")
        text = engine._render(request, family, system + messages[i:])
        if _prompt_tokens(family, text) <= prompt_ctx or i == len(messages) - 1:
            return sum(1 for m in messages[:i] if m.role != "system"), text
    raise AssertionError("unreachable")


@pytest.mark.parametrize("model", ["gpt-oss:20b", "llama3.2:3b", "qwen2.5:3b", "gemma3:4b"])
def test_the_fitting_suffix_is_the_one_ollamas_walk_finds(model):
    """Random conversations (system messages anywhere, long and short turns, tools) at many
    window sizes: the engine's binary search keeps exactly the messages the walk keeps."""
    import random

    from mockserver.engine.catalog import Catalog, family_of
    from mockserver.engine.chat import ChatRequest, Message, Options
    from mockserver.engine.engine import Engine

    engine = Engine(Catalog((model,)), current_date=REFERENCE_DATE)
    card = engine.catalog.find(model)
    family = family_of(card)
    pick = random.Random(f"truncation-{model}")
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    for _ in range(12):
        messages = tuple(
            Message(
                role=pick.choice(["user", "assistant", "user", "system"]),
                content=" ".join(
                    pick.choice(["alpha", "beta", "γάμμα", "δ"])
                    for _ in range(pick.choice([1, 5, 40, 200]))
                ),
            )
            for _ in range(pick.randint(1, 24))
        )
        num_ctx = pick.choice([64, 128, 256, 512, 1024])
        request = ChatRequest(
            model=model,
            messages=messages,
            tools=(tool,) if pick.random() < 0.3 else (),
            options=Options(num_ctx=num_ctx),
        )
        prompt = engine.prompt(request, card, family)
        dropped, text = ollama_walk(
            engine, request, family, min(num_ctx, engine.context_length(request, card))
        )
        assert prompt.text == text, f"the walk dropped {dropped} messages"  # the same suffix


@pytest.mark.parametrize("model", ["llama3.2:3b", "gemma3:4b", "gpt-oss:20b"])
def test_a_prompt_too_long_to_fit_is_known_without_tokenizing_it(model, monkeypatch):
    """10 MB in a 4,096-token window: the text alone proves it does not fit (no token is
    longer than the vocabulary's longest), so context shift answers without a 10 MB encode;
    with ``truncate: false`` the exact count is needed and computed."""
    from mockserver.engine import engine as engine_module
    from mockserver.engine.catalog import Catalog, family_of
    from mockserver.engine.chat import ChatRequest, Message
    from mockserver.engine.engine import Engine

    engine = Engine(Catalog((model,)), current_date=REFERENCE_DATE)
    card = engine.catalog.find(model)
    family = family_of(card)
    text = "lorem ipsum dolor sit amet " * 400_000
    request = ChatRequest(model=model, messages=(Message(role="user", content=text),))
    encoded: list[int] = []
    real = engine_module._prompt_tokens
    monkeypatch.setattr(
        engine_module, "_prompt_tokens", lambda f, t: encoded.append(len(t)) or real(f, t)
    )
    prompt = engine.prompt(request, card, family)
    assert prompt.token_truncated and prompt.tokens == 4096 - max((4096 - 4 - family.bos) // 2, 1)
    assert encoded == []
    small = ChatRequest(model=model, messages=(Message(role="user", content=text[:200_000]),),
                        truncate=False)  # fmt: skip
    refused = engine.prompt(small, card, family)
    assert f"request ({len(family.tokenizer.encode(refused.text)) + family.bos} tokens)" in (
        refused.error
    )
