"""The Post 1 experiments against the real fake: what they send, what they find, what they say."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import httpx
import pytest
import respx
from rich.console import Console

from lab.cli import main
from lab.context import Lab, sdk_client
from lab.experiment import Finding, registered, select
from lab.experiments.round_trip import MESSAGES, round_trip
from lab.experiments.stateless import FINAL_Q, FIVE_TURN, ONE_TURN, stateless
from lab.ollama import EngineInfo
from lab.targets import resolve
from mockserver import OLLAMA_VERSION
from mockserver.server import BackgroundServer


def plain(text: str) -> str:
    """Terminal output without box drawing and line wrapping, for substring checks."""
    return " ".join(re.sub(r"[│┃╭╮╰╯┏┓┗┛━─•]", " ", text).split())


def lab_for(url: str, model: str = "gpt-oss:20b") -> Lab:
    return Lab(
        client=sdk_client(url, "ollama", 30),
        model=model,
        console=Console(file=io.StringIO()),
        target=resolve(url),
        engine=EngineInfo("ollama", "0.12.6"),
        timeout=30,
        progress=False,
    )


# --- the messages are the brief's, word for word -------------------------------------------


def test_round_trip_sends_one_user_message() -> None:
    assert MESSAGES == [{"role": "user", "content": "Name three Canadian cities."}]


def test_stateless_sends_the_same_final_question_alone_and_after_four_turns() -> None:
    assert FINAL_Q == "Driving. What's the capital of Canada?"
    assert ONE_TURN == [{"role": "user", "content": FINAL_Q}]
    assert FIVE_TURN == [
        {"role": "user", "content": "Hi, I'm planning a trip across Canada."},
        {"role": "assistant", "content": "Nice! Which provinces are you thinking of visiting?"},
        {"role": "user", "content": "Mainly Quebec and Ontario, with a stop in the Maritimes."},
        {"role": "assistant", "content": "Great picks. Are you flying in or driving?"},
        {"role": "user", "content": FINAL_Q},
    ]


# --- what they find on the fake ------------------------------------------------------------


def test_round_trip_reports_the_stripped_answer_and_the_whole_usage(fake: BackgroundServer) -> None:
    finding = round_trip(lab_for(fake.openai_url))

    assert finding.status == "ok"
    assert finding.data["content"] == finding.data["content"].strip() != ""
    usage = finding.data["usage"]
    assert {"prompt_tokens", "completion_tokens", "total_tokens"} <= usage.keys()
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_stateless_five_turns_cost_more_prompt_tokens_only_because_of_history(
    fake: BackgroundServer,
) -> None:
    finding = stateless(lab_for(fake.openai_url))

    one, five = finding.data["one_turn"], finding.data["five_turn"]
    assert finding.status == "ok"
    assert five["prompt_tokens"] > one["prompt_tokens"]
    assert finding.data["prompt_tokens_delta"] == five["prompt_tokens"] - one["prompt_tokens"]
    assert (
        "the 4 messages of history the client put in the request body" in (finding.explanation[0])
    )


def test_prompt_tokens_for_the_same_input_reproduce_exactly(fake: BackgroundServer) -> None:
    lab = lab_for(fake.openai_url)
    first, second = stateless(lab), stateless(lab)

    for turns in ("one_turn", "five_turn"):
        assert first.data[turns]["prompt_tokens"] == second.data[turns]["prompt_tokens"]


def test_every_table_model_shows_the_same_shape(fake: BackgroundServer) -> None:
    """Different tokenizers give different numbers, but history always costs prompt tokens."""
    for model in ("llama3.1:8b", "qwen2.5:7b"):
        finding = stateless(lab_for(fake.openai_url, model))
        assert finding.data["prompt_tokens_delta"] > 0, model


# --- what `lab run` prints -----------------------------------------------------------------


def test_run_prints_the_demo_output_and_its_explanation(
    fake: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--target", fake.openai_url]) == 0

    out = plain(capsys.readouterr().out)
    for expected in (
        "Block 1 · Round trip",
        "Toronto",
        "usage (the whole object)",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "Block 2 · Stateless proof",
        "1-turn",
        "5-turn",
        "delta",
        "the 4 messages of history the client put in the request body",
        "the server keeps no conversation between requests",
        "keeping the history, and sending it, is the client's job",
        "the 5-turn one uses words that only the history carried",
        "Summary: 2 experiments",
    ):
        assert expected in out, expected


def test_run_names_one_experiment(fake: BackgroundServer, capsys) -> None:
    assert main(["run", "stateless", "--target", fake.openai_url]) == 0

    out = plain(capsys.readouterr().out)
    assert "Stateless proof" in out
    assert "Round trip" not in out


def test_json_output_is_one_document_with_target_model_engine_and_findings(
    fake: BackgroundServer, capsys
) -> None:
    assert main(["run", "--json", "--target", fake.openai_url]) == 0

    document = json.loads(capsys.readouterr().out)
    assert document["target"] == {
        "kind": "url",
        "root": fake.url,
        "openai_url": fake.openai_url,
    }
    assert document["model"] == "gpt-oss:20b"
    assert document["engine"] == {"name": "ollama", "version": OLLAMA_VERSION}
    assert document["error"] is None
    assert document["exit_code"] == 0
    trip, proof = document["experiments"]
    assert trip["name"] == "round_trip"
    assert trip["lesson"] == "lab/lessons/round_trip.md"
    assert Path(trip["lesson_file"]).is_file()
    assert trip["data"]["usage"]["prompt_tokens"] > 0
    assert proof["name"] == "stateless"
    assert proof["status"] == "ok"
    assert proof["data"]["prompt_tokens_delta"] > 0
    assert proof["data"]["five_turn"]["messages"] == FIVE_TURN


def test_mock_target_starts_the_bundled_fake_and_stops_it_afterwards(capsys) -> None:
    assert main(["run", "round_trip", "--target", "mock", "--json"]) == 0

    document = json.loads(capsys.readouterr().out)
    assert document["engine"]["name"] == "portway-fake"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{document['target']['root']}/api/version", timeout=2)


# --- servers that cannot show the contract -------------------------------------------------


def _completion(prompt_tokens: int | None) -> dict:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": " Ottawa. "},
                "finish_reason": "stop",
            }
        ],
    }
    if prompt_tokens is not None:
        body["usage"] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": 3,
            "total_tokens": prompt_tokens + 3,
        }
    return body


@respx.mock
def test_a_server_without_usage_makes_the_stateless_proof_not_applicable() -> None:
    respx.post("http://other.test/v1/chat/completions").respond(json=_completion(None))

    finding = stateless(lab_for("http://other.test/v1"))

    assert finding.status == "not_applicable"
    assert finding.explanation[0].startswith("Not applicable, because the server reports no usage")
    assert round_trip(lab_for("http://other.test/v1")).status == "unexpected"


@respx.mock
def test_a_server_that_does_not_count_history_is_unexpected_and_exits_1(capsys) -> None:
    respx.get("http://other.test/api/version").respond(404, text="404 page not found")
    respx.get("http://other.test/v1/models").respond(404)
    respx.post("http://other.test/v1/chat/completions").respond(json=_completion(12))

    assert main(["run", "stateless", "--target", "http://other.test/v1"]) == 1

    out = plain(capsys.readouterr().out)
    assert "Unexpected result" in out
    assert "prefix cache" in out


# --- the registry --------------------------------------------------------------------------


def test_the_registry_runs_post1_in_order_and_selects_by_name() -> None:
    assert [e.name for e in registered()][:2] == ["round_trip", "stateless"]
    assert [e.name for e in select([])] == ["round_trip", "stateless"]
    assert [e.name for e in select(["stateless", "round_trip"])] == ["round_trip", "stateless"]
    with pytest.raises(KeyError):
        select(["nope"])


def test_not_applicable_findings_say_why() -> None:
    finding = Finding.not_applicable("the server does not stream")
    assert finding.status == "not_applicable"
    assert finding.explanation == ["Not applicable, because the server does not stream."]
