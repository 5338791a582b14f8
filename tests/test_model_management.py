"""Model management: pull, create, copy, delete, blobs, push and status, as Ollama answers them.

Each test module gets its own fake (the store is per process and these tests change it), over a
real loopback socket, driven with the official ``ollama`` client where it has a call.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import httpx
import ollama
import openai
import pytest

from mockserver.config import Settings
from mockserver.engine import store
from mockserver.engine.catalog import known_card
from mockserver.server import BackgroundServer, serving

DATE = "2026-03-23"


@pytest.fixture
def fake() -> Iterator[BackgroundServer]:
    with serving(Settings(port=0, seed=7, current_date=DATE)) as server:
        yield server


@pytest.fixture
def client(fake: BackgroundServer) -> ollama.Client:
    return ollama.Client(host=fake.url)


@pytest.fixture
def oai(fake: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.openai_url, api_key="ollama", max_retries=0)


def lines(reply: httpx.Response) -> list[dict]:
    return [json.loads(line) for line in reply.text.splitlines()]


def names(client: ollama.Client) -> set[str]:
    return {model.model for model in client.list().models}


# --- pull ----------------------------------------------------------------------------------


def test_pull_streams_ollamas_progress_and_the_model_becomes_usable(fake, client, oai) -> None:
    assert "llama3.2:1b" not in names(client)
    reply = httpx.post(fake.url + "/api/pull", json={"model": "llama3.2:1b"})
    assert reply.headers["content-type"] == "application/x-ndjson"
    progress = lines(reply)
    statuses = [line["status"] for line in progress]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    layers = store.layers(known_card("llama3.2:1b"))
    for layer in layers:  # each layer: a first tick without "completed", then the whole blob
        ticks = [line for line in progress if line.get("digest") == layer.digest]
        assert (
            ticks[0]
            == {
                "status": f"pulling {layer.short}",
                "digest": layer.digest,
                "total": layer.size,
            }
            or ticks[0]["completed"] == layer.size
        )  # shared with a model already held
        assert ticks[-1]["completed"] == layer.size
    assert "llama3.2:1b" in names(client)
    answer = oai.chat.completions.create(
        model="llama3.2:1b", messages=[{"role": "user", "content": "Hi"}]
    )
    assert answer.usage.prompt_tokens == 26  # the same vocabulary and template as llama3.2:3b


def test_layer_digests_are_the_registrys_where_the_bytes_are_known() -> None:
    """sha256 of the template and params texts: the digests ``ollama pull llama3.2`` and
    ``ollama pull nomic-embed-text`` print (966de95ca8a6, 56bb8bd477a5, ce4a164fc046)."""
    llama = {layer.media_type: layer.short for layer in store.layers(known_card("llama3.2:3b"))}
    assert llama[store.TEMPLATE] == "966de95ca8a6"
    assert llama[store.PARAMS] == "56bb8bd477a5"
    nomic = {layer.media_type: layer for layer in store.layers(known_card("nomic-embed-text"))}
    assert (nomic[store.PARAMS].short, nomic[store.PARAMS].size) == ("ce4a164fc046", 17)
    card = known_card("llama3.2:3b")
    assert sum(layer.size for layer in store.layers(card)) == card.size


def test_pulling_a_model_already_held_reports_every_layer_complete(fake) -> None:
    progress = lines(httpx.post(fake.url + "/api/pull", json={"model": "llama3.2:3b"}))
    ticks = [line for line in progress if "digest" in line]
    assert ticks and all(line["completed"] == line["total"] for line in ticks)
    assert len(ticks) == len(store.layers(known_card("llama3.2:3b")))


def test_pull_without_streaming_answers_the_last_progress(fake, client) -> None:
    reply = httpx.post(fake.url + "/api/pull", json={"model": "all-minilm", "stream": False})
    assert (reply.status_code, reply.json()) == (200, {"status": "success"})
    assert reply.headers["content-type"] == "application/json"
    assert client.pull("mxbai-embed-large").status == "success"
    assert {"all-minilm:latest", "mxbai-embed-large:latest"} <= names(client)


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({"model": "no-such-model"}, 200,
         '{"status":"pulling manifest"}\n{"error":"pull model manifest: file does not exist"}\n'),
        ({"model": "no-such-model", "stream": False}, 500,
         '{"error":"pull model manifest: file does not exist"}'),
        ({"model": ""}, 400, '{"error":"invalid model name"}'),
        ({"model": "bad name"}, 400, '{"error":"invalid model name"}'),
        ({}, 400, '{"error":"invalid model name"}'),
    ],
)  # fmt: skip
def test_pull_errors(fake, body, status, text) -> None:
    reply = httpx.post(fake.url + "/api/pull", json=body)
    assert (reply.status_code, reply.text) == (status, text)


def test_the_ollama_client_sees_a_failed_pull_as_an_error(client) -> None:
    with pytest.raises(ollama.ResponseError) as raised:
        client.pull("no-such-model")
    assert raised.value.error == "pull model manifest: file does not exist"


# --- create -----------------------------------------------------------------------------------

PIRATE = "You are a pirate. Answer every question in pirate speak."


@pytest.mark.parametrize("base", ["llama3.2:3b", "qwen2.5:7b", "gemma3:4b", "gpt-oss:20b"])
def test_a_created_system_costs_what_a_system_message_costs(client, oai, base) -> None:
    """ChatHandler prepends the model's SYSTEM as a system message: the same tokens, exactly."""
    assert client.create(model="pirate", from_=base, system=PIRATE).status == "success"
    user = {"role": "user", "content": "Where is the treasure?"}
    created = oai.chat.completions.create(model="pirate", messages=[user])
    explicit = oai.chat.completions.create(
        model=base, messages=[{"role": "system", "content": PIRATE}, user]
    )
    plain = oai.chat.completions.create(model=base, messages=[user])
    assert created.usage.prompt_tokens == explicit.usage.prompt_tokens
    assert created.usage.prompt_tokens != plain.usage.prompt_tokens
    # a request's own system message replaces the model's SYSTEM
    own = {"role": "system", "content": "Be brief."}
    assert (
        oai.chat.completions.create(model="pirate", messages=[own, user]).usage.prompt_tokens
        == oai.chat.completions.create(model=base, messages=[own, user]).usage.prompt_tokens
    )


def test_created_model_show_and_tags(fake, client) -> None:
    client.create(
        model="pirate",
        from_="llama3.2:3b",
        system=PIRATE,
        parameters={"num_ctx": 8192, "temperature": 0.2},
    )
    shown = client.show("pirate")
    assert httpx.post(fake.url + "/api/show", json={"model": "pirate"}).json()["system"] == PIRATE
    assert f"SYSTEM {PIRATE}" in shown.modelfile
    assert "num_ctx" in shown.parameters and "temperature" in shown.parameters
    assert shown.details.parent_model == "llama3.2:3b"
    listed = {m.model: m for m in client.list().models}
    assert listed["pirate:latest"].digest != listed["llama3.2:3b"].digest


def test_created_parameters_are_the_models_options(fake, client) -> None:
    client.create(model="wide", from_="llama3.2:3b", parameters={"num_ctx": 8192})
    client.chat(model="wide", messages=[{"role": "user", "content": "Hi"}])
    running = {m.model: m.context_length for m in client.ps().models}
    assert running["wide:latest"] == 8192


def test_create_streams_layer_statuses(fake) -> None:
    reply = httpx.post(
        fake.url + "/api/create", json={"model": "brief", "from": "qwen2.5:3b", "system": "Hi"}
    )
    statuses = [line["status"] for line in lines(reply)]
    system = store._layer(store.SYSTEM, b"Hi")
    assert f"creating new layer {system.digest}" in statuses
    assert all(
        s.startswith("using existing layer") for s in statuses[:-3] if system.digest not in s
    )
    assert statuses[-2:] == ["writing manifest", "success"]


def test_create_from_a_model_not_pulled_pulls_it_first(fake, client) -> None:
    reply = httpx.post(
        fake.url + "/api/create", json={"model": "tiny", "from": "llama3.2:1b", "stream": True}
    )
    statuses = [line["status"] for line in lines(reply)]
    assert statuses[0] == "pulling manifest" and "success" in statuses
    assert {"llama3.2:1b", "tiny:latest"} <= names(client)


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"model": "x"}, 400, "neither 'from' or 'files' was specified"),
        ({"model": "bad name", "from": "llama3.2:3b"}, 400, "invalid model name"),
        ({"model": "x", "from": "no-such-model", "stream": False}, 500,
         "pull model manifest: file does not exist"),
    ],
)  # fmt: skip
def test_create_errors(fake, body, status, error) -> None:
    reply = httpx.post(fake.url + "/api/create", json=body)
    assert (reply.status_code, reply.json()) == (status, {"error": error})


# --- copy / delete ---------------------------------------------------------------------------


def test_copy_and_delete_with_the_ollama_client(fake, client, oai) -> None:
    assert client.copy("llama3.2:3b", "my-llama").status == "success"
    assert "my-llama:latest" in names(client)
    copied = oai.chat.completions.create(
        model="my-llama", messages=[{"role": "user", "content": "Hi"}]
    )
    assert copied.usage.prompt_tokens == 26
    assert client.delete("my-llama").status == "success"
    assert "my-llama:latest" not in names(client)
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="my-llama", messages=[{"role": "user", "content": "Hi"}])
    with pytest.raises(ollama.ResponseError) as raised:
        client.delete("my-llama")
    assert (raised.value.status_code, raised.value.error) == (404, "model 'my-llama' not found")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("POST", "/api/copy", {"source": "nope", "destination": "x"}, 404,
         'model "nope" not found'),
        ("POST", "/api/copy", {"source": "", "destination": "x"}, 400, 'source "" is invalid'),
        ("POST", "/api/copy", {"source": "llama3.2:3b", "destination": "a b"}, 400,
         'destination "a b" is invalid'),
        ("DELETE", "/api/delete", {}, 400, "model is required"),
        ("DELETE", "/api/delete", {"model": "a b"}, 400, 'name "a b" is invalid'),
        ("DELETE", "/api/delete", {"model": "nope"}, 404, "model 'nope' not found"),
    ],
)  # fmt: skip
def test_copy_and_delete_errors(fake, method, path, body, status, error) -> None:
    reply = httpx.request(method, fake.url + path, json=body)
    assert (reply.status_code, reply.json()) == (status, {"error": error})


def test_copy_and_delete_answer_with_an_empty_body(fake) -> None:
    copied = httpx.post(fake.url + "/api/copy", json={"source": "gemma3:4b", "destination": "g"})
    deleted = httpx.request("DELETE", fake.url + "/api/delete", json={"model": "g"})
    assert (copied.status_code, copied.content, deleted.status_code, deleted.content) == (
        200, b"", 200, b"",
    )  # fmt: skip


# --- blobs, push, status -----------------------------------------------------------------------


def test_blobs_upload_and_check(fake) -> None:
    data = b"a GGUF, say"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert httpx.head(fake.url + f"/api/blobs/{digest}").status_code == 404
    wrong = httpx.post(fake.url + "/api/blobs/sha256:" + "0" * 64, content=data)
    assert wrong.status_code == 400
    assert wrong.json()["error"].startswith('digest mismatch, expected "sha256:000')
    assert httpx.post(fake.url + f"/api/blobs/{digest}", content=data).status_code == 201
    assert httpx.head(fake.url + f"/api/blobs/{digest}").status_code == 200
    assert httpx.post(fake.url + f"/api/blobs/{digest}", content=data).status_code == 200
    held = store.layers(known_card("llama3.2:3b"))[1].digest  # a layer of a pulled model
    assert httpx.head(fake.url + f"/api/blobs/{held}").status_code == 200
    bad = httpx.post(fake.url + "/api/blobs/md5:abc", content=data)
    assert (bad.status_code, bad.json()) == (400, {"error": "invalid digest format"})


def test_push_and_status(fake) -> None:
    missing = httpx.post(fake.url + "/api/push", json={"model": "nope", "stream": False})
    assert (missing.status_code, missing.json()) == (500, {"error": "file does not exist"})
    offline = lines(httpx.post(fake.url + "/api/push", json={"model": "llama3.2:3b"}))
    assert offline == [{"status": "retrieving manifest"}, {"error": "unauthorized: access denied"}]
    no_name = httpx.post(fake.url + "/api/push", json={})
    assert (no_name.status_code, no_name.json()) == (400, {"error": "model is required"})
    status = httpx.get(fake.url + "/api/status")
    assert status.json() == {"cloud": {"disabled": True, "source": "env"}}  # OLLAMA_NO_CLOUD=1


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/api/experimental/web_search", b'{"query": "ottawa"}', 403,
         "ollama cloud is disabled: web search is unavailable"),
        ("/api/experimental/web_fetch", b'{"url": "https://example.com"}', 403,
         "ollama cloud is disabled: web fetch is unavailable"),
        ("/api/experimental/web_search", b" \n ", 400, "missing request body"),
        ("/api/experimental/web_fetch", b"", 400, "missing request body"),
        ("/api/me", b"", 503, "account unavailable"),
    ],
)  # fmt: skip
def test_the_cloud_routes_answer_as_an_offline_ollama_with_cloud_off(
    fake, path: str, body: bytes, status: int, error: str
) -> None:
    reply = httpx.post(fake.url + path, content=body)
    assert (reply.status_code, reply.json()) == (status, {"error": error})


LESSON_SYSTEM = "You are a pirate. Answer every question in pirate speak, in two sentences at most."


@pytest.mark.parametrize(
    ("base", "without", "with_system"),
    [("llama3.2:3b", 30, 48), ("gpt-oss:20b", 72, 98), ("qwen2.5:7b", 34, 36)],
)
def test_the_lessons_table(client, oai, base, without, with_system) -> None:
    """lab/lessons/modelfile_system.md: the numbers it prints."""
    client.create(model="pirate", from_=base, system=LESSON_SYSTEM)
    question = [{"role": "user", "content": "Where is the treasure?"}]
    counts = [
        oai.chat.completions.create(model=model, messages=question).usage.prompt_tokens
        for model in (base, "pirate")
    ]
    assert counts == [without, with_system]


def test_a_paced_pull_takes_a_downloads_time() -> None:
    """With a profile, ticks every 60 ms at DOWNLOAD_BYTES_PER_S (the plan, not a clock)."""
    from mockserver.engine.catalog import Catalog
    from mockserver.routes.models import DOWNLOAD_BYTES_PER_S, pull_lines

    card = known_card("all-minilm")
    planned = pull_lines(Catalog(()), card, paced=True)
    waited = sum(delay for delay, _ in planned)
    size = sum(layer.size for layer in store.layers(card))
    assert waited == pytest.approx(size / DOWNLOAD_BYTES_PER_S, abs=0.06 * len(store.layers(card)))
    for layer in store.layers(card):
        ticks = [line for _, line in planned if line.get("digest") == layer.digest]
        assert "completed" not in ticks[0]  # the first tick: nothing downloaded yet
        done = [line["completed"] for line in ticks[1:]]
        assert done == sorted(done) and done[-1] == layer.size


def test_a_recreated_model_is_not_answered_from_the_old_one(client, oai) -> None:
    """The store is server state: re-creating or deleting a name changes what /v1 answers,
    even for a request body seen before."""
    question = [{"role": "user", "content": "Ahoy?"}]
    client.create(model="pirate", from_="llama3.2:3b", system="Short.")
    short = oai.chat.completions.create(model="pirate", messages=question).usage.prompt_tokens
    client.delete("pirate")
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="pirate", messages=question)
    client.create(model="pirate", from_="llama3.2:3b", system="A much longer system prompt.")
    longer = oai.chat.completions.create(model="pirate", messages=question).usage.prompt_tokens
    assert longer > short


def test_tags_lists_the_most_recently_modified_first() -> None:
    """``sortListModelResponses``; without ``--seed`` a pull's manifest is written now."""
    with serving(Settings(port=0)) as fake:
        client = ollama.Client(host=fake.url)
        client.pull("all-minilm")
        client.copy("llama3.2:3b", "copied")
        listed = [model.model for model in client.list().models]
        assert listed[:2] == ["copied:latest", "all-minilm:latest"]
        assert listed[2] == "llama3.2:3b"  # the rest keep the catalog's order
