"""Behaviours Ollama's own tests pin, over a real socket.

Each row cites the Go code that gives the answer (ollama/ollama@fb3076099).
"""

from __future__ import annotations

import json

import httpx
import pytest

from mockserver.server import BackgroundServer


@pytest.fixture
def http(fake: BackgroundServer) -> httpx.Client:
    with httpx.Client(base_url=fake.url, timeout=30) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        # encoding/json: null into a struct "has no effect", so a null body is the zero
        # request: ChatHandler's "model is required", GenerateHandler's not-found wording.
        ("/api/chat", b"null", 400, "model is required"),
        ("/api/generate", b"null", 404, "model '' not found"),
        ("/api/show", b"null", 400, "model is required"),
        ("/api/chat", b" null\n", 400, "model is required"),
    ],
)
def test_a_null_body_is_the_empty_request(
    http: httpx.Client, path: str, body: bytes, status: int, error: str
) -> None:
    reply = http.post(path, content=body, headers={"content-type": "application/json"})
    assert (reply.status_code, reply.json()) == (status, {"error": error})


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"num_ctx": "big"}, 'option "num_ctx" must be of type integer'),
        ({"temperature": "hot"}, 'option "temperature" must be of type float32'),
        ({"use_mmap": 1}, 'option "use_mmap" must be of type boolean'),
        ({"stop": "x"}, 'option "stop" must be of type array'),
        ({"stop": ["x", 2]}, 'option "stop" must be of an array of strings'),
    ],
)
@pytest.mark.parametrize("path", ["/api/chat", "/api/generate"])
def test_a_wrongly_typed_option_is_ollamas_500(
    http: httpx.Client, path: str, options: dict, error: str
) -> None:
    """api.Options.FromMap's error reaches handleScheduleError's default branch: 500."""
    body = {"model": "gpt-oss:20b", "options": options, "stream": False}
    body |= (
        {"messages": [{"role": "user", "content": "hi"}]}
        if path == "/api/chat"
        else {"prompt": "hi"}
    )
    reply = http.post(path, json=body)
    assert (reply.status_code, reply.json()) == (500, {"error": error})


def test_null_and_unknown_options_are_ignored(http: httpx.Client) -> None:
    body = {"model": "gpt-oss:20b", "prompt": "hi", "stream": False}
    plain = http.post("/api/generate", json=body).json()
    loose = http.post(
        "/api/generate", json=body | {"options": {"num_ctx": None, "not_an_option": "x"}}
    ).json()
    assert loose["prompt_eval_count"] == plain["prompt_eval_count"]


@pytest.mark.parametrize("model", ["gpt-oss:20b", "mistral:7b"])
def test_context_is_detokenized_before_the_prompt(http: httpx.Client, model: str) -> None:
    """GenerateHandler: ``Detokenize(req.Context)`` is written first, then the rendered prompt,
    so a follow-up that sends the context back is counted with the whole earlier exchange."""
    first = http.post(
        "/api/generate", json={"model": model, "prompt": "Name a colour.", "stream": False}
    ).json()
    follow_up = {"model": model, "prompt": "And another?", "stream": False}
    plain = http.post("/api/generate", json=follow_up).json()
    chained = http.post("/api/generate", json=follow_up | {"context": first["context"]}).json()
    assert chained["prompt_eval_count"] > plain["prompt_eval_count"] + first["eval_count"]

    render = follow_up | {"_debug_render_only": True}
    alone = http.post("/api/generate", json=render).json()["_debug_info"]["rendered_template"]
    both = http.post("/api/generate", json=render | {"context": first["context"]}).json()
    rendered = both["_debug_info"]["rendered_template"]
    assert rendered.endswith(alone)
    assert first["response"] in rendered[: -len(alone)]


@pytest.mark.parametrize(
    ("context", "status", "error"),
    [
        ([10**9], 500, "detokenize error: invalid token id 1000000000"),
        ([-1], 500, "detokenize error: invalid token id -1"),
    ],
)
def test_a_context_outside_the_vocabulary_is_a_detokenize_error(
    http: httpx.Client, context: list[int], status: int, error: str
) -> None:
    body = {"model": "mistral:7b", "prompt": "hi", "stream": False, "context": context}
    reply = http.post("/api/generate", json=body)
    assert (reply.status_code, reply.json()) == (status, {"error": error})


def test_an_empty_context_is_an_empty_prefix(http: httpx.Client) -> None:
    body = {"model": "mistral:7b", "prompt": "hi", "stream": False}
    plain = http.post("/api/generate", json=body).json()
    empty = http.post("/api/generate", json=body | {"context": []}).json()
    assert empty["prompt_eval_count"] == plain["prompt_eval_count"]


@pytest.mark.parametrize("path", ["/api/chat", "/api/generate"])
@pytest.mark.parametrize(
    ("model", "status", "error"),
    [
        # internal/modelref: ":local" (any case) names the local model; replies keep the name
        ("gpt-oss:20b:local", 200, None),
        ("gpt-oss:20b:LOCAL", 200, None),
        ("nope:1b:local", 404, "model 'nope:1b:local' not found"),
        # two source suffixes: ErrConflictingSourceSuffix, 400 (writeModelRefParseError)
        ("gpt-oss:20b:local:cloud", 400,
         'use either :local or :cloud, not both: "gpt-oss:20b:local:cloud"'),
        ("gpt-oss:20b-cloud:local", 400,
         'use either :local or :cloud, not both: "gpt-oss:20b-cloud:local"'),
    ],
)  # fmt: skip
def test_source_suffixes(
    http: httpx.Client, path: str, model: str, status: int, error: str | None
) -> None:
    body = {"model": model, "stream": False}
    body |= (
        {"messages": [{"role": "user", "content": "hi"}]}
        if path == "/api/chat"
        else {"prompt": "hi"}
    )
    reply = http.post(path, json=body)
    assert reply.status_code == status
    if error is None:
        plain = http.post(path, json=body | {"model": "gpt-oss:20b"}).json()
        assert reply.json()["model"] == model
        assert reply.json()["prompt_eval_count"] == plain["prompt_eval_count"]
    else:
        assert reply.json() == {"error": error}


def test_a_streamed_v1_render_only_request_is_framed_as_the_chat_writer_frames_it(
    http: httpx.Client,
) -> None:
    """ChatHandler writes one not-done ChatResponse; middleware/openai.go's ChatWriter turns it
    into one ``toChunk`` chunk (role, empty content, no ``_debug_info`` field in a chunk) and,
    the response not being done, writes no finish chunk and no ``[DONE]``."""
    reply = http.post(
        "/v1/chat/completions",
        json={
            "model": "llama3.2:3b",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "hi"}],
            "_debug_render_only": True,
        },
    )
    assert reply.headers["content-type"] == "text/event-stream"
    frames = reply.text.split("\n\n")
    assert frames[-1] == "" and len(frames) == 2, frames
    chunk = json.loads(frames[0].removeprefix("data: "))
    assert chunk["object"] == "chat.completion.chunk"
    assert chunk["choices"] == [
        {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
    ]
    assert "_debug_info" not in chunk and "usage" not in chunk
