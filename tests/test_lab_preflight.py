"""Every way a target can be unready or fail, as the reader sees it: one paragraph, an exit code.

Ollama is mocked with respx at ``http://ollama.test:11434`` (``OLLAMA_HOST``); a generic
OpenAI-compatible server at ``http://vllm.test:8000/v1``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from lab import machine
from lab.cli import main

OLLAMA = "http://ollama.test:11434"
ENV = {"OLLAMA_HOST": "ollama.test:11434"}
OTHER = "http://vllm.test:8000"

JSON = {"content-type": "application/json"}
COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-7",
    "object": "chat.completion",
    "created": 0,
    "model": "gpt-oss:20b",
    "system_fingerprint": "fp_ollama",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Ottawa."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 70, "completion_tokens": 5, "total_tokens": 75},
}


def run_ollama(*args: str) -> int:
    return main(["run", "round_trip", "--target", "ollama", *args], env=ENV)


def healthy_ollama(*pulled: str) -> None:
    respx.get(f"{OLLAMA}/api/version").respond(json={"version": "0.12.6"})
    respx.get(f"{OLLAMA}/api/tags").respond(
        json={"models": [{"name": name, "model": name} for name in pulled or ("gpt-oss:20b",)]}
    )


def output(capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return captured.out, captured.err


@pytest.fixture(autouse=True)
def sixteen_gb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine, "total_ram_gib", lambda: 16.0)


# --- before the first call ------------------------------------------------------------------


@respx.mock
def test_ollama_not_running_says_where_it_looked_and_how_to_start_it(capsys) -> None:
    respx.get(f"{OLLAMA}/api/version").mock(side_effect=httpx.ConnectError("refused"))

    assert run_ollama() == 2

    _, err = output(capsys)
    assert f"Ollama is not reachable at {OLLAMA}" in err
    assert "looked there because OLLAMA_HOST=ollama.test:11434" in err
    assert "`ollama serve`" in err
    assert "open the Ollama app" in err
    assert f"`curl -s {OLLAMA}/api/tags`" in err


@respx.mock
def test_ollama_that_hangs_is_a_setup_problem(capsys) -> None:
    respx.get(f"{OLLAMA}/api/version").mock(side_effect=httpx.ReadTimeout("slow"))

    assert run_ollama() == 2

    _, err = output(capsys)
    assert f"Ollama at {OLLAMA} did not answer" in err


@respx.mock
def test_model_not_pulled_gives_the_exact_pull_command_and_what_fits(capsys) -> None:
    healthy_ollama("llama3.2:3b", "qwen2.5:7b")

    assert run_ollama() == 2

    _, err = output(capsys)
    assert f"Model gpt-oss:20b is not pulled on Ollama at {OLLAMA}" in err
    assert "\n    ollama pull gpt-oss:20b\n" in err
    assert "~13.8 GB download and wants 24 GB of RAM" in err
    assert "This machine has 16.0 GB of RAM, so gpt-oss:20b does not fit" in err
    assert "at least 90% of its minimum RAM" in err  # the rule lab models states too
    assert "llama3.1:8b" in err  # fits in 16 GB
    assert "Already pulled: llama3.2:3b, qwen2.5:7b" in err


@pytest.mark.parametrize(
    ("pulled", "asked"),
    [
        ("llama3.1:latest", "llama3.1"),  # a bare name means :latest
        ("gpt-oss:20b", "GPT-OSS:20B"),  # names are case-insensitive
        ("qwen2.5:7b", "library/qwen2.5:7b"),
    ],
)
@respx.mock
def test_model_names_match_the_way_ollama_matches_them(pulled: str, asked: str, capsys) -> None:
    healthy_ollama(pulled)
    respx.post(f"{OLLAMA}/v1/chat/completions").respond(json=COMPLETION)

    assert run_ollama("--model", asked) == 0
    output(capsys)


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(404, text="404 page not found"),
        httpx.Response(200, html="<html>Welcome to nginx</html>"),
        httpx.Response(200, json={"status": "ok"}),
    ],
    ids=["404", "html", "json-without-version"],
)
@respx.mock
def test_something_that_is_not_ollama_is_named_as_such(answer: httpx.Response, capsys) -> None:
    respx.get(f"{OLLAMA}/api/version").mock(return_value=answer)

    assert run_ollama() == 2

    _, err = output(capsys)
    assert f"The server at {OLLAMA} is not Ollama" in err
    assert f"GET {OLLAMA}/api/version answered" in err
    assert f"--target {OLLAMA}/v1" in err


@respx.mock
def test_generic_server_not_running(capsys) -> None:
    respx.get(f"{OTHER}/api/version").mock(side_effect=httpx.ConnectError("refused"))

    assert main(["run", "--target", f"{OTHER}/v1"]) == 2

    _, err = output(capsys)
    assert f"Nothing answers at {OTHER}/v1" in err


@respx.mock
def test_generic_server_that_does_not_list_the_model(capsys) -> None:
    respx.get(f"{OTHER}/api/version").respond(404)
    respx.get(f"{OTHER}/v1/models").respond(
        json={"object": "list", "data": [{"id": "Qwen/Qwen2.5-7B"}]}
    )

    assert main(["run", "--target", f"{OTHER}/v1"]) == 2

    _, err = output(capsys)
    assert "does not serve gpt-oss:20b" in err
    assert "Qwen/Qwen2.5-7B" in err


@respx.mock
def test_generic_server_that_rejects_the_key(capsys) -> None:
    respx.get(f"{OTHER}/api/version").respond(404)
    respx.get(f"{OTHER}/v1/models").respond(401, json={"error": {"message": "bad key"}})

    assert main(["run", "--target", f"{OTHER}/v1", "--api-key", "wrong"]) == 2

    _, err = output(capsys)
    assert "rejected the API key" in err
    assert "--api-key or OPENAI_API_KEY" in err


def test_mock_target_with_a_model_the_fake_does_not_serve(capsys) -> None:
    assert main(["run", "--target", "mock", "--model", "phi3:mini"]) == 2

    _, err = output(capsys)
    assert "The bundled fake does not serve phi3:mini" in err
    assert "gpt-oss:20b" in err


# --- during an experiment -------------------------------------------------------------------


def _error(status: int, message: str, kind: str) -> httpx.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return httpx.Response(status, json=body)


@pytest.mark.parametrize(
    ("failure", "exit_code", "says"),
    [
        (
            httpx.ConnectError("Connection refused"),
            2,
            ["Cannot connect to Ollama at", "`ollama serve`"],
        ),
        (
            httpx.ReadTimeout("timed out"),
            1,
            ["No answer from Ollama at", "within 600 s", "--timeout 1200", "LAB_TIMEOUT"],
        ),
        (
            _error(404, "model 'gpt-oss:20b' not found", "not_found_error"),
            2,
            ["Model gpt-oss:20b is not pulled", "`ollama pull gpt-oss:20b`"],
        ),
        (
            _error(
                500,
                "model requires more system memory (13.1 GiB) than is available (9.8 GiB)",
                "api_error",
            ),
            1,
            [
                "failed while answering",
                "HTTP 500: model requires more system memory",
                "smaller model",
            ],
        ),
        (
            httpx.Response(502, text="Bad Gateway"),
            1,
            ["failed while answering", "HTTP 502: Bad Gateway"],
        ),
        (
            _error(400, "invalid message format", "invalid_request_error"),
            1,
            ["rejected the request", "HTTP 400: invalid message format"],
        ),
    ],
    ids=["refused", "timeout", "404-model", "500", "502", "400"],
)
@respx.mock
def test_a_failing_call_becomes_one_paragraph_and_an_exit_code(
    failure: Exception | httpx.Response, exit_code: int, says: list[str], capsys
) -> None:
    healthy_ollama()
    route = respx.post(f"{OLLAMA}/v1/chat/completions")
    if isinstance(failure, httpx.Response):
        route.mock(return_value=failure)
    else:
        route.mock(side_effect=failure)

    assert run_ollama() == exit_code

    _, err = output(capsys)
    for words in says:
        assert words in err, words
    assert route.call_count == 1  # no hidden retries


@respx.mock
def test_a_wrong_base_url_is_named(capsys) -> None:
    respx.get(f"{OTHER}/api/api/version").respond(404)  # root = the base URL minus /v1
    respx.get(f"{OTHER}/api/v1/models").respond(404)
    respx.post(f"{OTHER}/api/v1/chat/completions").respond(404, text="404 page not found")

    assert main(["run", "--target", f"{OTHER}/api/v1"]) == 2

    _, err = output(capsys)
    assert f"{OTHER}/api/v1 is not an OpenAI-compatible base URL" in err


@respx.mock
def test_the_timeout_in_the_paragraph_is_the_one_configured(capsys) -> None:
    healthy_ollama()
    respx.post(f"{OLLAMA}/v1/chat/completions").mock(side_effect=httpx.ReadTimeout("slow"))

    assert main(["run", "--target", "ollama"], env={**ENV, "LAB_TIMEOUT": "45"}) == 1

    _, err = output(capsys)
    assert "within 45 s" in err


@respx.mock
def test_json_mode_still_prints_one_document_when_the_target_fails(capsys) -> None:
    respx.get(f"{OLLAMA}/api/version").mock(side_effect=httpx.ConnectError("refused"))

    assert run_ollama("--json") == 2

    out, err = output(capsys)
    document = json.loads(out)
    assert document["error"]["kind"] == "setup"
    assert document["error"]["exit_code"] == 2
    assert "ollama serve" in document["error"]["message"]
    assert document["experiments"] == []
    assert "Ollama is not reachable" in err


def _probe_answers_like_an_api() -> None:
    """The preflight's empty-body POST gets the JSON 400 an OpenAI-compatible server sends."""
    respx.post(f"{OTHER}/v1/chat/completions", json={}).respond(
        400, json={"error": {"message": "model is required", "type": "invalid_request_error"}}
    )


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (
            httpx.Response(200, html="<!DOCTYPE html><html><title>It works!</title>"),
            'something that is not a JSON object (an HTML page titled "It works!")',
        ),
        (httpx.Response(200, json={"choices": []}), "a chat completion without choices"),
        (
            httpx.Response(200, json={**COMPLETION, "usage": "lots"}),
            'a "usage" that is not an object of token counts ("usage": "lots")',
        ),
        (
            httpx.Response(
                200, json={**COMPLETION, "usage": {**COMPLETION["usage"], "prompt_tokens": "seven"}}
            ),
            'a usage.prompt_tokens that is not a token count ("prompt_tokens": "seven")',
        ),
        (
            httpx.Response(200, content=b'{"id": "x", "choices": [', headers=JSON),
            "an answer the openai SDK could not read (JSONDecodeError",
        ),
        (httpx.Response(200, content=b"", headers=JSON), "an answer the openai SDK could not read"),
        (httpx.Response(200, json=[1, 2]), "something that is not a JSON object"),
        (
            httpx.Response(200, json={**COMPLETION, "choices": [{"message": "hi"}]}),
            "a choice without a message object",
        ),
    ],
    ids=["html", "no-choices", "usage-lots", "usage-string-count", "invalid-json", "empty",
         "array", "message-string"],
)  # fmt: skip
@respx.mock
def test_a_server_that_answers_nonsense_is_a_failure_not_a_crash(
    answer: httpx.Response, says: str, capsys
) -> None:
    respx.get(f"{OTHER}/api/version").respond(404)
    respx.get(f"{OTHER}/v1/models").respond(404)
    _probe_answers_like_an_api()
    respx.post(f"{OTHER}/v1/chat/completions").mock(return_value=answer)

    assert main(["run", "round_trip", "--target", f"{OTHER}/v1"]) == 1

    _, err = output(capsys)
    said = " ".join(err.split())
    assert f"The server at {OTHER}/v1 did not answer like an OpenAI-compatible server" in said
    assert says in said
    assert "<html" not in said.lower()


@pytest.mark.parametrize(
    ("page", "names"),
    [
        (
            httpx.Response(
                404,
                headers={"server": "SimpleHTTP/0.6 Python/3.12.3"},
                html="<!DOCTYPE HTML>\n<html lang='en'><head><title>Error response</title>",
            ),
            ['Server: SimpleHTTP/0.6 Python/3.12.3', 'an HTML page titled "Error response"'],
        ),
        (
            httpx.Response(502, headers={"server": "nginx/1.27.0"}, html=(
                "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad "
                "Gateway</h1></center><hr><center>nginx/1.27.0</center></body></html>"
            )),
            ["HTTP 502", "Server: nginx/1.27.0", 'titled "502 Bad Gateway"'],
        ),
        (httpx.Response(404, text="404 page not found"), ["text/plain", "404 page not found"]),
    ],
    ids=["python-http-server", "nginx-proxy-without-backend", "plain-404"],
)  # fmt: skip
@respx.mock
def test_a_server_that_is_not_an_llm_server_is_named_at_preflight(
    page: httpx.Response, names: list[str], capsys
) -> None:
    respx.get(f"{OTHER}/api/version").mock(return_value=page)
    respx.get(f"{OTHER}/v1/models").mock(return_value=page)
    chat = respx.post(f"{OTHER}/v1/chat/completions").mock(return_value=page)

    assert main(["run", "--target", f"{OTHER}/v1"]) == 2

    _, err = output(capsys)
    said = " ".join(err.split())
    assert f"{OTHER}/v1 is not an OpenAI-compatible base URL" in said
    assert f"Something answers HTTP at {OTHER}, but not as an OpenAI-compatible server" in said
    for words in names:
        assert words in said, words
    assert "<html" not in said.lower() and "<!doctype" not in said.lower()
    assert chat.call_count == 1, "only the empty-body probe, no chat request"
    assert json.loads(chat.calls[0].request.content) == {}


@pytest.mark.parametrize(
    ("entries", "says"),
    [
        ([{"id": 5, "object": "model"}], "model ids are 5"),
        ([{"id": None, "object": "model"}], "model ids are null"),
        ([{"object": "model"}], "model ids are null"),
        (["gpt-oss:20b"], 'model ids are "gpt-oss:20b"'),
    ],
    ids=["id-5", "id-null", "no-id", "bare-strings"],
)
@respx.mock
def test_a_model_list_whose_ids_are_not_names_is_a_setup_paragraph(
    entries: list[object], says: str, capsys
) -> None:
    respx.get(f"{OTHER}/api/version").respond(404)
    respx.get(f"{OTHER}/v1/models").respond(json={"object": "list", "data": entries})

    assert main(["run", "--target", f"{OTHER}/v1"]) == 2

    _, err = output(capsys)
    said = " ".join(err.split())
    assert "answered GET /v1/models with entries that are not models" in said
    assert says in said


@pytest.mark.parametrize(
    ("tags", "says"),
    [
        ({"models": [{"size": 1}]}, 'an entry that has no name ({"size": 1})'),
        ({"models": [{"name": 5}]}, "an entry that has no name"),
        ({"models": [{"name": ""}]}, "an entry that has no name"),
        ({"models": ["gpt-oss:20b"]}, "an entry that has no name"),
        ({"models": "gpt-oss:20b"}, "something that is not a model list"),
        ([], "something that is not a model list"),
    ],
    ids=["no-name", "name-5", "name-empty", "bare-string", "not-a-list", "array"],
)
@respx.mock
def test_a_model_list_ollama_would_not_send_is_a_setup_paragraph(
    tags: object, says: str, capsys
) -> None:
    respx.get(f"{OLLAMA}/api/version").respond(json={"version": "0.12.6"})
    respx.get(f"{OLLAMA}/api/tags").respond(json=tags)

    assert run_ollama() == 2

    _, err = output(capsys)
    said = " ".join(err.split())
    assert "answered GET /api/tags with something Ollama does not send" in said
    assert says in said
