"""Every way a target can be unready or fail, as the reader sees it: one paragraph, an exit code.

Ollama is mocked with respx at ``http://ollama.test:11434`` (``OLLAMA_HOST``); a generic
OpenAI-compatible server at ``http://vllm.test:8000/v1``.
"""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from lab import machine
from lab.cli import main

OLLAMA = "http://ollama.test:11434"
ENV = {"OLLAMA_HOST": "ollama.test:11434"}
OTHER = "http://vllm.test:8000"

COMPLETION = {
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


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (httpx.Response(200, html="<html>It works!</html>"), "something that is not JSON"),
        (httpx.Response(200, json={"choices": []}), "a chat completion without choices"),
    ],
    ids=["html", "no-choices"],
)
@respx.mock
def test_a_server_that_answers_nonsense_is_a_failure_not_a_crash(
    answer: httpx.Response, says: str, capsys
) -> None:
    respx.get(f"{OTHER}/api/version").respond(404)
    respx.get(f"{OTHER}/v1/models").respond(404)
    respx.post(f"{OTHER}/v1/chat/completions").mock(return_value=answer)

    assert main(["run", "--target", f"{OTHER}/v1"]) == 1

    _, err = output(capsys)
    assert f"The server at {OTHER}/v1 did not answer like an OpenAI-compatible server" in err
    assert says in err
