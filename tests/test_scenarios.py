"""Scenario rules: what a user scripts, and the fake's own scripts (whole conversations)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from mockserver.config import Settings
from mockserver.engine.families import FAMILIES
from mockserver.scenarios import RequestView, Scenario, ScenarioError, parse_rules, read_rules
from mockserver.server import BackgroundServer, serving

MODEL = "llama3.2:3b"
FINAL_Q = "Driving. What's the capital of Canada?"
ROAD_TRIP = [
    {"role": "user", "content": "Hi, I'm planning a trip across Canada."},
    {"role": "assistant", "content": "Nice! Which provinces are you thinking of visiting?"},
    {"role": "user", "content": "Mainly Quebec and Ontario, with a stop in the Maritimes."},
    {"role": "assistant", "content": "Great picks. Are you flying in or driving?"},
    {"role": "user", "content": FINAL_Q},
]
SOUP = [
    {"role": "user", "content": "I'm making soup tonight."},
    {"role": "assistant", "content": "Lovely. What kind?"},
    {"role": "user", "content": FINAL_Q},
]


def _ask(client: openai.OpenAI, messages: list[Any], **kwargs: Any):
    return client.chat.completions.create(model=MODEL, messages=messages, **kwargs)


# --- the built-in scripts fire only for the conversation they were written for ---------------


def test_the_road_trip_answer_needs_the_road_trip_history(client: openai.OpenAI):
    assert "road trip" in _ask(client, ROAD_TRIP).choices[0].message.content


def test_a_soup_history_does_not_get_the_road_trip_answer(client: openai.OpenAI):
    content = _ask(client, SOUP).choices[0].message.content
    assert "road trip" not in content
    assert content.startswith("This request reached me with 3 messages")  # the fake's report


def test_the_question_alone_gets_its_own_script(client: openai.OpenAI):
    content = _ask(client, [{"role": "user", "content": FINAL_Q}]).choices[0].message.content
    assert content.startswith("Driving? If you're heading to the capital of Canada")


def test_a_trimmed_road_trip_history_is_another_conversation(client: openai.OpenAI):
    content = _ask(client, ROAD_TRIP[2:]).choices[0].message.content
    assert "road trip" not in content


def test_the_built_in_scripts_are_a_valid_scenario():
    from importlib.resources import files

    text = files("mockserver.engine").joinpath("scripts.json").read_text("utf-8")
    rules = parse_rules(json.loads(text), "scripts.json")  # checked against the schema
    assert [rule.match.messages is not None for rule in rules] == [True] * len(rules)


# --- matching ---------------------------------------------------------------------------------


def _view(body: dict[str, Any], endpoint: str = "/v1/chat/completions") -> RequestView:
    return RequestView.from_body(endpoint, body)


BODY = {
    "model": "Llama3.2:3B",
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "What is the weather in Oslo?"}]},
    ],
    "tools": [{"type": "function", "function": {"name": "w"}}],
    "stream": True,
    "stream_options": {"include_usage": True},
}


@pytest.mark.parametrize(
    ("match", "holds"),
    [
        ({}, True),
        ({"endpoint": "/v1/chat/completions"}, True),
        ({"endpoint": ["/api/chat", "/api/generate"]}, False),
        ({"model": "llama3.2:3b"}, True),
        ({"model": "llama3.2*"}, True),
        ({"model": "qwen2.5"}, False),
        ({"last_user": "weather"}, True),
        ({"last_user": {"regex": r"in \w+\?$"}}, True),
        ({"last_user": {"equals": "what is the weather in oslo?"}}, True),
        ({"last_user": {"contains": "rain"}}, False),
        ({"tools": True}, True),
        ({"tools": False}, False),
        ({"turns": 1}, True),
        ({"turns": {"min": 2}}, False),
        ({"json": {"stream_options.include_usage": True}}, True),
        ({"json": {"$.messages[0].role": "system"}}, True),
        ({"json": {"temperature": 0}}, False),
        ({"model": "llama3.2:3b", "tools": True, "last_user": "rain"}, False),
    ],
)
def test_every_condition_of_a_match_must_hold(match, holds):
    (rule,) = parse_rules({"rules": [{"match": match, "reply": {"content": "x"}}]}, "test")
    assert rule.match.holds(_view(BODY)) is holds


@pytest.mark.parametrize("endpoint", ["/api/generate", "/v1/completions"])
def test_prompt_requests_match_on_their_prompt(endpoint):
    view = _view({"model": MODEL, "prompt": "Why is the sky blue?"}, endpoint)
    (rule,) = parse_rules({"rules": [{"match": {"last_user": "sky"}, "reply": {}}]}, "test")
    assert rule.match.holds(view)


def test_a_rule_answers_v1_completions_too(client: openai.OpenAI, fake: BackgroundServer):
    with fake.rules({"match": {"endpoint": "/v1/completions"}, "reply": {"content": "Blue."}}):
        completion = client.completions.create(model=MODEL, prompt="Why is the sky blue?")
    assert completion.choices[0].text == "Blue."
    emitted = len(FAMILIES["llama3.2"].tokenizer.encode("Blue.")) + 1  # + <|eot_id|>
    assert completion.usage.completion_tokens == emitted


def test_first_match_wins_and_times_runs_out():
    scenario = Scenario(
        parse_rules(
            {
                "rules": [
                    {"name": "once", "match": {"last_user": "hi"}, "reply": {}, "times": 1},
                    {"name": "always", "reply": {}},
                ]
            },
            "test",
        )
    )
    view = _view({"messages": [{"role": "user", "content": "hi"}]})
    assert [scenario.match(view).name for _ in range(3)] == ["once", "always", "always"]


# --- bad files are refused at start, with the line and why ------------------------------------


@pytest.mark.parametrize(
    ("text", "suffix", "says"),
    [
        ("rules:\n  - match: {model: x}\n    reply:\n      content: 3\n", ".yaml", "line 4"),
        ("rules:\n  - reply: {}\n  - match: {turns: -1}\n    reply: {}\n", ".yaml", "line 3"),
        ("rules:\n  - reply: {}\n    when: always\n", ".yaml", "'when' was unexpected"),
        ("rules: [\n", ".yaml", "not YAML"),
        ('{"rules": [}', ".json", "line 1: not JSON"),
        ("rules:\n  - match:\n      last_user: {regex: '('}\n    reply: {}\n", ".yml", "line 3"),
        ("nothing: here\n", ".yaml", "'rules' is a required property"),
        ("rules:\n  - reply: {error: {status: 200, message: ok}}\n", ".yaml", "line 2"),
    ],
)
def test_a_bad_scenario_file_is_refused_with_its_line(tmp_path: Path, text, suffix, says):
    path = tmp_path / f"scenario{suffix}"
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        read_rules(path)
    assert str(caught.value).startswith(str(path))
    assert says in str(caught.value)


def test_the_command_line_refuses_a_bad_file_before_serving(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("rules:\n  - reply: {delay: soon}\n")
    done = subprocess.run(
        [sys.executable, "-m", "mockserver", "--port", "0", "--scenario", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"error: {path}, line 2:" in done.stderr and "Traceback" not in done.stderr


# --- answers, end to end, from a file ------------------------------------------------------------

SCENARIO = """
description: a weather app's happy path and its failures
rules:
  - name: weather-call
    match: {endpoint: /v1/chat/completions, tools: true, last_user: {regex: "weather in \\\\w+"}}
    reply:
      tool_calls: [{name: get_weather, arguments: {city: Oslo}}]
  - name: flaky
    match: {last_user: flaky}
    times: 1
    reply:
      error:
        status: 503
        message: "server busy, please try again.  maximum pending requests exceeded"
  - name: canned
    match: {last_user: canned}
    reply: {content: "Just what the rule says.", reasoning: "Rule-made thoughts."}
  - name: json
    match: {last_user: json please}
    reply: {json: {ok: true, items: [1, 2]}}
  - name: slow
    match: {last_user: slow}
    reply: {delay: 0.3, content: "late"}
  - name: cut
    match: {last_user: cut}
    reply: {content: "one two three four five six seven eight", cut_after: 2}
  - name: whole
    match: {last_user: whole}
    reply: {content: "all at once, please", chunking: whole}
  - name: by-four
    match: {last_user: by four}
    reply: {chunking: 4}
"""


@pytest.fixture(scope="module")
def scripted(tmp_path_factory) -> BackgroundServer:
    path = tmp_path_factory.mktemp("scenario") / "weather.yaml"
    path.write_text(SCENARIO)
    with serving(Settings(port=0, seed=1, scenario=str(path), journal=20)) as server:
        yield server


@pytest.fixture
def sdk(scripted: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=scripted.openai_url, api_key="x", max_retries=0)


def test_a_rule_makes_a_tool_call_counted_as_the_model_emits_it(sdk: openai.OpenAI):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    response = _ask(sdk, [{"role": "user", "content": "weather in Bergen?"}], tools=tools)
    (call,) = response.choices[0].message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_weather",
        {"city": "Oslo"},
    )
    emitted = '{"name": "get_weather", "parameters": {"city":"Oslo"}}'
    assert (
        response.usage.completion_tokens == len(FAMILIES["llama3.2"].tokenizer.encode(emitted)) + 1
    )


def test_a_rule_error_fires_times_then_the_model_answers(sdk: openai.OpenAI):
    with pytest.raises(openai.InternalServerError) as caught:
        _ask(sdk, [{"role": "user", "content": "flaky?"}])
    assert caught.value.status_code == 503
    assert "server busy" in caught.value.message
    assert _ask(sdk, [{"role": "user", "content": "flaky?"}]).choices[0].message.content


def test_a_native_rule_error_has_ollamas_body(scripted: BackgroundServer):
    scripted.scenario.rules[1].fired = 0
    body = {"model": MODEL, "messages": [{"role": "user", "content": "flaky"}], "stream": False}
    response = httpx.post(scripted.url + "/api/chat", json=body)
    assert response.status_code == 503
    assert response.json() == {
        "error": "server busy, please try again.  maximum pending requests exceeded"
    }


def test_canned_content_and_reasoning_are_counted(sdk: openai.OpenAI, scripted):
    response = sdk.chat.completions.create(
        model="gpt-oss:20b", messages=[{"role": "user", "content": "canned"}]
    )
    message = response.choices[0].message
    assert message.content == "Just what the rule says."
    assert message.model_extra["reasoning"] == "Rule-made thoughts."
    emitted = (
        "<|channel|>analysis<|message|>Rule-made thoughts.<|end|><|start|>assistant"
        "<|channel|>final<|message|>Just what the rule says.<|return|>"
    )
    assert response.usage.completion_tokens == len(FAMILIES["gptoss"].tokenizer.encode(emitted))
    assert scripted.journal.last.answered_by == "scenario:canned"


def test_a_json_reply_is_the_content(sdk: openai.OpenAI):
    content = _ask(sdk, [{"role": "user", "content": "json please"}]).choices[0].message.content
    assert json.loads(content) == {"ok": True, "items": [1, 2]}


def test_a_delay_holds_the_answer(sdk: openai.OpenAI):
    started = time.perf_counter()
    assert _ask(sdk, [{"role": "user", "content": "slow"}]).choices[0].message.content == "late"
    assert time.perf_counter() - started >= 0.3


def test_a_cut_drops_the_stream_after_n_chunks(scripted: BackgroundServer):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "cut"}], "stream": True}
    url = scripted.openai_url + "/chat/completions"
    with httpx.stream("POST", url, json=body) as response, pytest.raises(httpx.RemoteProtocolError):
        list(response.iter_lines())
    with httpx.stream("POST", scripted.url + "/api/chat", json=body) as response:
        lines = []
        with pytest.raises(httpx.RemoteProtocolError):
            lines.extend(response.iter_lines())
        assert len(lines) <= 2 and all(not json.loads(line)["done"] for line in lines if line)


@pytest.mark.parametrize(
    ("words", "pieces"), [("whole", ["all at once, please"]), ("by four", None)]
)
def test_chunking_shapes_the_stream_not_the_count(sdk: openai.OpenAI, words, pieces):
    messages = [{"role": "user", "content": words}]
    plain = _ask(sdk, messages)
    streamed = [
        c.choices[0].delta.content
        for c in _ask(sdk, messages, stream=True)
        if c.choices and c.choices[0].delta.content
    ]
    text = plain.choices[0].message.content
    assert "".join(streamed) == text
    assert streamed == (pieces or [text[i : i + 4] for i in range(0, len(text), 4)])


def test_an_unmatched_request_gets_the_built_in_model(sdk: openai.OpenAI):
    content = _ask(sdk, [{"role": "user", "content": "Name three Canadian cities."}])
    assert content.choices[0].message.content.startswith("Here are three Canadian cities")


def test_strict_mode_answers_an_unmatched_request_with_404(tmp_path: Path):
    path = tmp_path / "only.json"
    path.write_text(
        json.dumps(
            {"rules": [{"match": {"last_user": {"equals": "hi"}}, "reply": {"content": "hello"}}]}
        )
    )
    with serving(Settings(port=0, scenario=str(path), scenario_strict=True)) as server:
        sdk = openai.OpenAI(base_url=server.openai_url, api_key="x", max_retries=0)
        assert _ask(sdk, [{"role": "user", "content": "hi"}]).choices[0].message.content == "hello"
        with pytest.raises(openai.NotFoundError) as caught:
            _ask(sdk, [{"role": "user", "content": "something else"}])
        assert caught.value.body["message"] == "no scenario rule matches this request"
        native = httpx.post(
            server.url + "/api/generate", json={"model": MODEL, "prompt": "x", "stream": False}
        )
        assert native.status_code == 404
        assert native.json() == {"error": "no scenario rule matches this request"}
        assert httpx.get(server.url + "/api/tags").status_code == 200  # not a generation


def test_rules_added_from_python_come_first_and_go(client: openai.OpenAI, fake: BackgroundServer):
    rule = {
        "match": {"last_user": "Name three"},
        "reply": {"content": "Only two: Laval, Gatineau."},
    }
    cities = [{"role": "user", "content": "Name three Canadian cities."}]
    with fake.rules(rule):
        assert _ask(client, cities).choices[0].message.content == "Only two: Laval, Gatineau."
    assert _ask(client, cities).choices[0].message.content.startswith("Here are three")
