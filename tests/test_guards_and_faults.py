"""API keys, the body cap and the fault modes, as a client sees them."""

from __future__ import annotations

import socket
import time

import httpx
import openai
import pytest

from mockserver.config import Settings
from mockserver.faults import Faults
from mockserver.server import serving

MODEL = "gpt-oss:20b"
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def keyed():
    with serving(Settings(port=0, api_key="s3cret", max_body_bytes=2048)) as server:
        yield server


def test_a_keyed_fake_refuses_requests_without_the_key(keyed):
    client = openai.OpenAI(base_url=keyed.openai_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        client.chat.completions.create(model=MODEL, messages=HELLO)
    assert raised.value.status_code == 401
    assert raised.value.body["code"] == "invalid_api_key"
    assert "--api-key" in raised.value.body["message"]


def test_a_keyed_fake_answers_with_the_key(keyed):
    client = openai.OpenAI(base_url=keyed.openai_url, api_key="s3cret", max_retries=0)
    assert client.chat.completions.create(model=MODEL, messages=HELLO).usage.prompt_tokens > 0


def test_the_native_api_is_keyed_too_but_the_root_stays_open(keyed):
    assert httpx.get(f"{keyed.url}/api/tags").json() == {
        "error": "Missing API key: send "
        "`Authorization: Bearer <key>` (the server was started with --api-key)."
    }
    assert httpx.get(f"{keyed.url}/").text == "Ollama is running"


def test_a_body_over_the_limit_gets_a_clear_413(keyed):
    response = httpx.post(
        f"{keyed.openai_url}/chat/completions",
        headers={"Authorization": "Bearer s3cret"},
        json={"model": MODEL, "messages": [{"role": "user", "content": "x" * 5000}]},
    )
    assert response.status_code == 413
    assert "limit is 2048 bytes" in response.json()["error"]["message"]


def test_a_chunked_body_over_the_limit_gets_a_413_too(keyed):
    def chunks():
        yield b'{"model": "gpt-oss:20b", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'"}]}'

    response = httpx.post(
        f"{keyed.openai_url}/chat/completions",
        headers={"Authorization": "Bearer s3cret"},
        content=chunks(),
    )
    assert response.status_code == 413


def test_a_chunked_body_sent_whole_over_the_limit_gets_its_413_at_once(keyed):
    """The client writes its whole chunked body before reading (as many do): the 413 must not
    wait for body that will never come (the layers behind the limit were told the client
    left, and one of them asked for the rest of the body again: a hang until the deadline)."""
    chunks = [b'{"model": "gpt-oss:20b", "messages": [{"role": "user", "content": "']
    chunks += [b"x" * 500] * 10 + [b'"}]}']
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", keyed.settings.port), timeout=5) as sock:
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Authorization: Bearer s3cret\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks)
                + b"0\r\n\r\n"
            )
            answer = b""
            while b"the limit is 2048 bytes" not in answer:
                data = sock.recv(65536)  # socket.timeout (5 s) fails the test
                assert data, answer
                answer += data
        assert answer.startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (["busy"], Faults(busy=True)),
        (["error", "disconnect=3"], Faults(error=True, disconnect_after=3)),
        (["slow-load=0.5"], Faults(slow_load=0.5)),
    ],
)
def test_fault_specs_parse(spec, expected):
    assert Faults.parse(spec) == expected


def test_an_unknown_fault_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="busy, error, slow-load=SECONDS or disconnect=N"):
        Faults.parse(["explode"])


@pytest.mark.parametrize(
    ("fault", "status", "message", "sdk_error"),
    [
        (
            "busy",
            503,
            "server busy, please try again.  maximum pending requests exceeded",
            openai.InternalServerError,
        ),
        (
            "error",
            500,
            "llama runner process has terminated: exit status 2",
            openai.InternalServerError,
        ),
    ],
)
def test_failing_engines_answer_with_ollamas_status_and_words(fault, status, message, sdk_error):
    with serving(Settings(port=0, faults=(fault,))) as server:
        raw = httpx.post(
            f"{server.openai_url}/chat/completions", json={"model": MODEL, "messages": HELLO}
        )
        native = httpx.post(f"{server.url}/api/chat", json={"model": MODEL, "messages": HELLO})
        client = openai.OpenAI(base_url=server.openai_url, api_key="x", max_retries=0)
        with pytest.raises(sdk_error):
            client.chat.completions.create(model=MODEL, messages=HELLO)
        tags = httpx.get(f"{server.url}/api/tags")
    assert raw.status_code == status and raw.json()["error"]["message"] == message
    assert native.status_code == status and native.json() == {"error": message}
    assert tags.status_code == 200, "only generation requests fail"


def test_a_stream_cut_midway_has_no_finish_and_no_done():
    with serving(Settings(port=0, faults=("disconnect=3",))) as server:
        client = openai.OpenAI(base_url=server.openai_url, api_key="x", max_retries=0)
        received = []
        with pytest.raises(openai.APIError):
            for chunk in client.chat.completions.create(model=MODEL, messages=HELLO, stream=True):
                received.append(chunk)
        whole = client.chat.completions.create(model=MODEL, messages=HELLO)
    assert len(received) <= 3
    assert all(chunk.choices[0].finish_reason is None for chunk in received)
    assert whole.choices[0].finish_reason == "stop", "non-streamed answers are not cut"


def test_a_slow_load_delays_only_the_first_request_per_model():
    with serving(Settings(port=0, faults=("slow-load=0.4",))) as server:
        url = f"{server.openai_url}/chat/completions"
        body = {"model": MODEL, "messages": HELLO}
        started = time.perf_counter()
        httpx.post(url, json=body)
        first = time.perf_counter() - started
        started = time.perf_counter()
        httpx.post(url, json=body)
        second = time.perf_counter() - started
    assert first >= 0.4
    assert second < first
