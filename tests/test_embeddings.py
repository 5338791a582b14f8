"""Embeddings: Ollama's three routes, counted and truncated as Ollama's runner does it.

Served by a fake with the embedding models pulled, over a real loopback socket, called with the
official ``ollama`` and ``openai`` clients. The published counts are in
``lab/data/embedding-cases.json`` (each with its source).
"""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import ollama
import openai
import pytest

from mockserver.config import Settings
from mockserver.engine import embeddings
from mockserver.engine.catalog import EMBEDDING_MODELS, TABLE_MODELS
from mockserver.engine.wordpiece import BERT_UNCASED, WordPieceTokenizer
from mockserver.server import BackgroundServer, serving
from mockserver.wire.embed import go_float32, go_float64

CASES = json.loads(
    (Path(__file__).parents[1] / "lab" / "data" / "embedding-cases.json").read_text("utf-8")
)
DIMENSIONS = {
    "nomic-embed-text": 768,
    "mxbai-embed-large": 1024,
    "all-minilm": 384,
    "embeddinggemma": 768,
}


@pytest.fixture(scope="module")
def fake() -> Iterator[BackgroundServer]:
    with serving(Settings(port=0, models=TABLE_MODELS + EMBEDDING_MODELS, seed=7)) as server:
        yield server


@pytest.fixture(scope="module")
def native(fake: BackgroundServer) -> ollama.Client:
    return ollama.Client(host=fake.url)


@pytest.fixture(scope="module")
def oai(fake: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.openai_url, api_key="ollama", max_retries=0)


def post(fake: BackgroundServer, path: str, body: object) -> httpx.Response:
    return httpx.post(fake.url + path, json=body, timeout=60)


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# --- the published counts -----------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_published_embedding_cases(fake: BackgroundServer, case: dict) -> None:
    body = {"model": case["model"], "input": case["input"]}
    if "truncate" in case:
        body["truncate"] = case["truncate"]
    reply = post(fake, "/api/embed", body)
    if "error" in case:
        assert (reply.status_code, reply.json()) == (
            case["error"]["status"],
            {"error": case["error"]["message"]},
        )
    else:
        assert reply.status_code == 200, reply.text
        assert reply.json()["prompt_eval_count"] == case["prompt_eval_count"]


# --- tokenization --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wordpiece() -> WordPieceTokenizer:
    return WordPieceTokenizer()


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("why is the sky blue?", ["[CLS]", "why", "is", "the", "sky", "blue", "?", "[SEP]"]),
        ("Café NAÏVE", ["[CLS]", "cafe", "naive", "[SEP]"]),  # accents stripped, lower-cased
        ("東京", ["[CLS]", "東", "京", "[SEP]"]),  # each CJK ideograph is a word
        ("", ["[CLS]", "[SEP]"]),
        ("a [SEP] b", ["[CLS]", "a", "[SEP]", "b", "[SEP]"]),  # special text is the special
    ],
)
def test_wordpiece_follows_llama_cpp(wordpiece: WordPieceTokenizer, text, pieces) -> None:
    ids = wordpiece.encode(text, add_special=True)
    assert [wordpiece.decode([token]).strip() for token in ids] == pieces


def test_wordpiece_agrees_with_the_reference_bert_tokenizer(wordpiece, tmp_path) -> None:
    """HF's BertWordPieceTokenizer on the same vocabulary: an independent implementation."""
    from tokenizers import BertWordPieceTokenizer

    vocab = tmp_path / "vocab.txt"
    vocab.write_bytes(BERT_UNCASED.read())
    reference = BertWordPieceTokenizer(str(vocab), lowercase=True)
    text = (Path(__file__).parents[1] / "README.md").read_text("utf-8")
    for line in text.splitlines():
        assert wordpiece.encode(line, add_special=True) == reference.encode(line).ids, line


# --- vectors --------------------------------------------------------------------------------

CORPUS = [
    "The cat sat on the warm windowsill all afternoon.",
    "Our cat sleeps on the sofa while the dog guards the door.",
    "Quarterly revenue grew by twelve percent in the third quarter.",
    "Stock markets fell sharply after the interest rate decision.",
    "Preheat the oven and bake the bread for forty minutes.",
    "Knead the dough, let it rise, then bake the loaf until golden.",
]
QUERIES = [
    ("where does the cat sleep", {0, 1}),
    ("how long to bake bread dough", {4, 5}),
    ("revenue and stock markets this quarter", {2, 3}),
]


@pytest.mark.parametrize("model", sorted(DIMENSIONS))
def test_cosine_ranking_puts_texts_that_share_words_first(native, model) -> None:
    vectors = native.embed(model=model, input=CORPUS).embeddings
    for query, expected in QUERIES:
        probe = native.embed(model=model, input=query).embeddings[0]
        ranked = sorted(range(len(CORPUS)), key=lambda i: -cosine(probe, vectors[i]))
        assert set(ranked[:2]) == expected, (query, ranked)


@pytest.mark.parametrize("model", sorted(DIMENSIONS))
def test_vectors_are_unit_length_deterministic_and_sized(native, model) -> None:
    first = native.embed(model=model, input="a sentence to embed").embeddings[0]
    again = native.embed(model=model, input="a sentence to embed").embeddings[0]
    assert first == again
    assert len(first) == DIMENSIONS[model]
    assert math.isclose(sum(x * x for x in first), 1.0, rel_tol=1e-5)


def test_models_project_differently() -> None:
    a = embeddings.raw_vector("nomic-embed-text", "same text", 768)
    b = embeddings.raw_vector("embeddinggemma", "same text", 768)
    assert a != b


def test_dimensions_cut_and_renormalise(native) -> None:
    full = native.embed(model="nomic-embed-text", input="matryoshka").embeddings[0]
    cut = native.embed(model="nomic-embed-text", input="matryoshka", dimensions=64).embeddings[0]
    assert len(cut) == 64
    assert math.isclose(sum(x * x for x in cut), 1.0, rel_tol=1e-5)
    norm = math.sqrt(sum(x * x for x in full[:64]))
    assert cut == pytest.approx([x / norm for x in full[:64]], abs=1e-6)


# --- truncation, as Ollama's integration tests pin it (integration/embed_test.go) ----------


def test_truncation_embeds_the_truncated_text(fake) -> None:
    """num_ctx 3 leaves one token for the text: "why is the sky blue?" embeds as "why"."""
    why = post(fake, "/api/embed", {"model": "all-minilm", "input": "why"}).json()
    cut = post(
        fake,
        "/api/embed",
        {"model": "all-minilm", "input": "why is the sky blue?", "options": {"num_ctx": 3}},
    ).json()
    assert cut["embeddings"] == why["embeddings"]
    assert cut["prompt_eval_count"] == why["prompt_eval_count"] == 3


@pytest.mark.parametrize(
    ("truncate", "num_ctx", "status", "error"),
    [
        (False, 3, 400, "the input length exceeds the context length"),
        (True, 1, 400, "input after truncation exceeds maximum context length"),
        # num_ctx 0: the handler's budget is the trained context, the runner's is 4 tokens;
        # the retry cut to num_batch (2048) cuts nothing
        (True, 0, 400, "input exceeds maximum context length and cannot be truncated further"),
        (None, 16, 200, None),  # 15 tokens cut to 14, plus [CLS] and [SEP]: exactly 16
    ],
)
def test_truncation_errors(fake, truncate, num_ctx, status, error) -> None:
    text = (
        "why is the sky blue?"
        if num_ctx != 16
        else "why is the sky blue? Why is the sky blue? hi there my"
    )
    body: dict = {"model": "all-minilm", "input": text, "options": {"num_ctx": num_ctx}}
    if truncate is not None:
        body["truncate"] = truncate
    reply = post(fake, "/api/embed", body)
    assert reply.status_code == status, reply.text
    if error:
        assert reply.json() == {"error": error}
    else:
        assert reply.json()["prompt_eval_count"] == 16


# --- shapes and errors ------------------------------------------------------------------------


def test_embed_response_shape(fake) -> None:
    reply = post(fake, "/api/embed", {"model": "All-MiniLM", "input": ["a", "b"]})
    body = reply.json()
    assert list(body) == [
        "model",
        "embeddings",
        "total_duration",
        "load_duration",
        "prompt_eval_count",
    ]
    assert body["model"] == "All-MiniLM"  # the client's spelling
    assert body["prompt_eval_count"] == 6
    assert 0 < body["load_duration"] <= body["total_duration"]
    assert reply.headers["content-type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/api/embed", {"model": "all-minilm"}, 200, None),  # nothing to embed: loads
        ("/api/embed", {"model": "nope", "input": "x"}, 404,
         'model "nope" not found, try pulling it first'),
        ("/api/embed", {"model": "", "input": "x"}, 404, "model '' not found"),
        ("/api/embed", {"model": "a b", "input": "x"}, 400, "invalid model name"),
        ("/api/embed", {"model": "all-minilm", "input": [1, 2]}, 400, "invalid input type"),
        ("/api/embed", {"model": "all-minilm", "input": {"a": 1}}, 400, "invalid input type"),
        ("/api/embed", {"model": "llama3.2:3b", "input": "hi"}, 501,
         "This server does not support embeddings. Start it with `--embeddings`"),
        ("/api/embeddings", {"prompt": "hi"}, 400, "model is required"),
        ("/api/embeddings", {"model": "gpt-oss:20b", "prompt": "hi"}, 500,
         "This server does not support embeddings. Start it with `--embeddings`"),
        ("/api/chat", {"model": "nomic-embed-text",
                       "messages": [{"role": "user", "content": "hi"}]},
         400, '"nomic-embed-text" does not support chat'),
        ("/api/chat", {"model": "nomic-embed-text", "think": True,
                       "messages": [{"role": "user", "content": "hi"}]},
         400, '"nomic-embed-text" does not support thinking'),
        ("/api/generate", {"model": "all-minilm", "prompt": "hi"}, 400,
         '"all-minilm" does not support generate'),
    ],
)  # fmt: skip
def test_errors_as_ollama_words_them(fake, path, body, status, error) -> None:
    reply = post(fake, path, body)
    assert reply.status_code == status, reply.text
    if error is None:
        assert reply.json() == {"model": "all-minilm", "embeddings": []}
    else:
        assert reply.json() == {"error": error}


def test_embedding_model_is_refused_by_v1_chat(oai) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        oai.chat.completions.create(
            model="mxbai-embed-large", messages=[{"role": "user", "content": "hi"}]
        )
    assert raised.value.message.endswith('"mxbai-embed-large" does not support chat')


# --- real clients -------------------------------------------------------------------------


def test_ollama_client_embed_and_legacy_embeddings(native) -> None:
    reply = native.embed(model="all-minilm", input="why is the sky blue?")
    assert reply.prompt_eval_count == 8
    assert len(reply.embeddings) == 1 and len(reply.embeddings[0]) == 384
    legacy = native.embeddings(model="all-minilm", prompt="why is the sky blue?")
    # bert: the runner normalises, so the legacy vector is the same direction at unit length
    assert legacy.embedding == pytest.approx(reply.embeddings[0], abs=1e-6)


def test_legacy_nomic_vectors_are_the_runners_raw_output(native) -> None:
    legacy = native.embeddings(model="nomic-embed-text", prompt="raw output").embedding
    unit = native.embed(model="nomic-embed-text", input="raw output").embeddings[0]
    norm = math.sqrt(sum(x * x for x in legacy))
    assert not math.isclose(norm, 1.0, rel_tol=1e-3)
    assert [x / norm for x in legacy] == pytest.approx(unit, abs=1e-6)


def test_openai_embeddings_float_and_base64(oai, native) -> None:
    texts = ["why is the sky blue?", "why is the grass green?"]
    as_float = oai.embeddings.create(model="all-minilm", input=texts, encoding_format="float")
    as_base64 = oai.embeddings.create(model="all-minilm", input=texts)  # the SDK's default
    expected = native.embed(model="all-minilm", input=texts).embeddings

    def as_float32(vectors: list[list[float]]) -> list[bytes]:
        return [struct.pack(f"<{len(v)}f", *v) for v in vectors]

    assert [d.embedding for d in as_float.data] == expected
    assert as_float32([d.embedding for d in as_base64.data]) == as_float32(expected)
    assert (as_float.usage.prompt_tokens, as_float.usage.total_tokens) == (16, 16)
    assert as_float.model == "all-minilm" and [d.index for d in as_float.data] == [0, 1]


def test_openai_embeddings_dimensions_and_errors(fake, oai) -> None:
    cut = oai.embeddings.create(model="nomic-embed-text", input="x", dimensions=32)
    assert len(cut.data[0].embedding) == 32
    wrong = httpx.post(
        fake.openai_url + "/embeddings",
        json={"model": "all-minilm", "input": "x", "encoding_format": "int8"},
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"]["message"] == (
        "Invalid value for 'encoding_format' = int8. Supported values: ['float', 'base64']."
    )
    for empty in ([], None):
        reply = httpx.post(fake.openai_url + "/embeddings", json={"model": "x", "input": empty})
        assert (reply.status_code, reply.json()["error"]["message"]) == (400, "invalid input")
    with pytest.raises(openai.NotFoundError):
        oai.embeddings.create(model="not-pulled", input="x")


def test_raw_base64_is_little_endian_float32(fake) -> None:
    reply = httpx.post(
        fake.openai_url + "/embeddings",
        json={"model": "all-minilm", "input": "x", "encoding_format": "base64"},
    ).json()
    floats = struct.unpack("<384f", base64.b64decode(reply["data"][0]["embedding"]))
    assert math.isclose(sum(x * x for x in floats), 1.0, rel_tol=1e-5)


def test_show_and_tags_describe_embedding_models(native) -> None:
    shown = native.show("nomic-embed-text")
    assert shown.capabilities == ["embedding"]
    assert shown.modelinfo["nomic-bert.embedding_length"] == 768
    assert shown.modelinfo["nomic-bert.context_length"] == 2048
    assert "PARAMETER num_ctx 8192" in shown.modelfile
    listed = {m.model: m for m in native.list().models}
    assert listed["mxbai-embed-large:latest"].details.family == "bert"


def test_embedding_keeps_the_model_resident(native) -> None:
    native.embed(model="embeddinggemma", input="hello")
    running = {m.model: m for m in native.ps().models}
    assert running["embeddinggemma:latest"].context_length == 2048


# --- Go's number formatting --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "as32", "as64"),
    [
        (0.010071031, "0.010071031", "0.01007103081792593"),
        (-1.430923e-8, "-1.430923e-8", "-1.430923024514641e-8"),
        (-0.000055299755, "-0.000055299755", "-0.000055299755331361666"),
        (1.0, "1", "1"),
        (0.0, "0", "0"),
    ],
)
def test_floats_as_go_writes_them(value, as32, as64) -> None:
    f32 = struct.unpack("<f", struct.pack("<f", value))[0]
    assert (go_float32(f32), go_float64(f32)) == (as32, as64)
