"""The request journal: what the client sent, what the fake answered, and what it counted."""

from __future__ import annotations

import httpx
import openai
import pytest

from mockserver.__main__ import parse_args, settings_from
from mockserver.config import Settings
from mockserver.journal import MAX_BYTES
from mockserver.server import BackgroundServer, serving

MODEL = "llama3.2:3b"
CITIES = [{"role": "user", "content": "Name three Canadian cities."}]


@pytest.fixture(scope="module")
def kept() -> BackgroundServer:
    with serving(Settings(port=0, seed=3, journal=4)) as server:
        yield server


@pytest.fixture
def sdk(kept: BackgroundServer) -> openai.OpenAI:
    kept.journal.clear()
    return openai.OpenAI(base_url=kept.openai_url, api_key="x", max_retries=0)


def test_off_by_default_and_the_route_is_then_unknown(fake: BackgroundServer):
    assert fake.app.state.journal is None
    response = httpx.get(fake.url + "/_portway/journal")
    assert (response.status_code, response.text) == (404, "404 page not found")
    assert settings_from(parse_args([])).journal == 0
    assert settings_from(parse_args(["--journal", "50"])).journal == 50


def test_an_entry_has_the_request_the_answer_and_the_counts(sdk, kept: BackgroundServer):
    response = sdk.chat.completions.create(model=MODEL, messages=CITIES, temperature=0)
    entry = kept.journal.last
    assert (entry.method, entry.path, entry.status, entry.stream) == (
        "POST",
        "/v1/chat/completions",
        200,
        False,
    )
    assert entry.body == {"messages": CITIES, "model": MODEL, "temperature": 0}
    assert entry.messages == CITIES
    assert entry.response["choices"][0]["message"]["content"] == response.choices[0].message.content
    assert entry.prompt_tokens == response.usage.prompt_tokens
    assert entry.completion_tokens == response.usage.completion_tokens
    assert entry.answered_by == "script:three-canadian-cities"
    assert entry.duration_ms > 0 and entry.started_at > 0
    rendered = httpx.post(
        kept.url + "/api/chat",
        json={"model": MODEL, "messages": CITIES, "_debug_render_only": True},
    ).json()["_debug_info"]["rendered_template"]
    assert kept.journal[-2].prompt == rendered


def test_a_zstd_body_is_journaled_as_the_routes_read_it(kept: BackgroundServer):
    import json

    import zstandard

    body = json.dumps({"model": MODEL, "messages": CITIES}).encode()
    headers = {"Content-Type": "application/json", "Content-Encoding": "zstd"}
    compressed = zstandard.ZstdCompressor().compress(body)
    answer = httpx.post(kept.url + "/v1/chat/completions", content=compressed, headers=headers)
    assert answer.status_code == 200
    assert kept.journal.last.body == {"model": MODEL, "messages": CITIES}
    refused = httpx.post(kept.url + "/v1/chat/completions", content=b"{}", headers=headers)
    assert refused.status_code == 400
    assert (kept.journal.last.status, kept.journal.last.body) == (400, {})  # kept as it came


def test_a_memoized_answer_is_journaled_like_the_first(sdk, kept: BackgroundServer):
    for _ in range(3):  # the third from the memo (kept the second time)
        sdk.chat.completions.create(model=MODEL, messages=CITIES)
    first, *_, second = kept.journal.entries
    assert (first.prompt, first.prompt_tokens, first.completion_tokens) == (
        second.prompt,
        second.prompt_tokens,
        second.completion_tokens,
    )


def test_a_stream_is_kept_as_its_chunks(sdk, kept: BackgroundServer):
    list(
        sdk.chat.completions.create(
            model=MODEL, messages=CITIES, stream=True, stream_options={"include_usage": True}
        )
    )
    entry = kept.journal.last
    assert entry.stream and entry.response[-1] == "[DONE]"
    assert entry.response[-2]["usage"]["completion_tokens"] == entry.completion_tokens


def test_refusals_are_journaled_too(sdk, kept: BackgroundServer):
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="nope", messages=CITIES)
    entry = kept.journal.last
    assert entry.status == 404 and entry.prompt is None
    assert entry.response["error"]["message"] == "model 'nope' not found"


def test_memory_is_bounded(sdk, kept: BackgroundServer):
    for index in range(6):
        sdk.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"message {index}"}]
        )
    assert [e.body["messages"][0]["content"] for e in kept.journal] == [
        f"message {i}" for i in range(2, 6)
    ]
    big = "x" * (MAX_BYTES + 10)
    sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": big}])
    entry = kept.journal.last
    assert entry.truncated and isinstance(entry.body, str) and len(entry.body) == MAX_BYTES


def test_the_route_lists_and_clears(sdk, kept: BackgroundServer):
    sdk.chat.completions.create(model=MODEL, messages=CITIES)
    listing = httpx.get(kept.url + "/_portway/journal").json()
    assert listing["capacity"] == 4
    (entry,) = listing["entries"]
    assert entry["path"] == "/v1/chat/completions" and entry["prompt_tokens"] > 0
    assert httpx.delete(kept.url + "/_portway/journal").status_code == 204
    assert httpx.get(kept.url + "/_portway/journal").json()["entries"] == []
    assert len(kept.journal) == 0  # reading the journal is not journaled
