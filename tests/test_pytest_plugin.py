"""The ``portway`` pytest plugin: a test suite that uses its fixtures, run with ``pytester``."""

from __future__ import annotations

import importlib
import json
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# Load the plugin by module whether or not the package's entry point is installed: blocking the
# entry point's name first avoids registering the module twice.
PLUGIN_ARGS = ("-p", "no:portway", "-p", "mockserver.pytest_plugin")

USES_THE_FIXTURES = """
import httpx

MODEL = "gpt-oss:20b"


def test_openai_client_talks_to_the_fake(openai_client, ollama_fake_url):
    assert str(openai_client.base_url).rstrip("/") == ollama_fake_url
    reply = openai_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.usage.prompt_tokens > 0
    assert reply.choices[0].message.content


def test_the_url_is_the_v1_base(ollama_fake_url, ollama_fake):
    assert ollama_fake_url == ollama_fake.openai_url
    assert ollama_fake_url.startswith("http://127.0.0.1:") and ollama_fake_url.endswith("/v1")
    models = httpx.get(ollama_fake_url + "/models").json()["data"]
    assert [m["id"] for m in models] == [MODEL]


def test_the_options_reach_the_settings(portway_settings):
    assert portway_settings.models == (MODEL,)
    assert portway_settings.seed == 11
    assert portway_settings.current_date == "2026-03-23"
"""


def test_a_suite_using_the_fixtures_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_app=USES_THE_FIXTURES)
    pytester.makeini("[pytest]\nportway_date = 2026-03-23\nportway_seed = 3\n")
    result = pytester.runpytest(
        *PLUGIN_ARGS, "--portway-models", "gpt-oss:20b", "--portway-seed", "11"
    )
    result.assert_outcomes(passed=3)


def test_settings_can_be_overridden_by_a_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
import dataclasses
import pytest


@pytest.fixture(scope="session")
def portway_settings(portway_settings):
    return dataclasses.replace(portway_settings, faults=("busy",))
"""
    )
    pytester.makepyfile(
        test_busy="""
import openai
import pytest


def test_the_fake_is_busy(openai_client):
    with pytest.raises(openai.InternalServerError) as raised:
        openai_client.chat.completions.create(
            model="gpt-oss:20b", messages=[{"role": "user", "content": "hi"}]
        )
    assert raised.value.status_code == 503
"""
    )
    result = pytester.runpytest(*PLUGIN_ARGS)
    result.assert_outcomes(passed=1)


def test_defaults_are_reproducible_and_options_are_listed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_defaults="""
def test_defaults(portway_settings):
    assert portway_settings.seed == 0
    assert portway_settings.current_date == "2026-01-01"
    assert portway_settings.replay_dir is None
"""
    )
    result = pytester.runpytest(*PLUGIN_ARGS)
    result.assert_outcomes(passed=1)
    help_text = pytester.runpytest(*PLUGIN_ARGS, "--help").stdout.str()
    for option in ("--portway-models", "--portway-seed", "--portway-date", "--portway-replay"):
        assert option in help_text


def test_a_bad_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x(ollama_fake_url):\n    pass\n")
    result = pytester.runpytest(*PLUGIN_ARGS, "--portway-seed", "many")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*portway:*invalid literal*"])


def test_the_fixtures_replay_recordings(pytester: pytest.Pytester) -> None:
    from mockserver.replay import FORMAT, match_key

    request = {"model": "gpt-oss:20b", "messages": [{"role": "user", "content": "hi"}]}
    reply = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-oss:20b",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "recorded hello"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 68, "completion_tokens": 2, "total_tokens": 70},
    }
    recordings = pytester.mkdir("recordings")
    key = match_key("POST", "/v1/chat/completions", request)
    (recordings / f"0001-{key[:12]}.json").write_text(
        json.dumps(
            {
                "format": FORMAT,
                "match_key": key,
                "request": {"method": "POST", "path": "/v1/chat/completions", "json": request},
                "response": {
                    "status": 200,
                    "headers": {"content-type": "application/json"},
                    "json": reply,
                },
            }
        )
    )
    pytester.makeini("[pytest]\nportway_replay = recordings\nportway_replay_strict = true\n")
    pytester.makepyfile(
        test_replayed="""
import openai
import pytest


def test_recorded(openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(
        model="gpt-oss:20b", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.parse().choices[0].message.content == "recorded hello"
    assert raw.headers["x-portway-replay"].startswith("0001-")
    assert "x-portway-replay-prompt-tokens-mismatch" not in raw.headers


def test_not_recorded(openai_client):
    with pytest.raises(openai.NotFoundError, match="no recording matches"):
        openai_client.chat.completions.create(
            model="gpt-oss:20b", messages=[{"role": "user", "content": "other"}]
        )
"""
    )
    result = pytester.runpytest(*PLUGIN_ARGS, "--portway-replay-speed", "0")
    result.assert_outcomes(passed=2)


@pytest.mark.skipif(
    not any(ep.name == "portway" for ep in entry_points(group="pytest11")),
    reason="the package's entry points are not installed (pip install -e .)",
)
def test_the_installed_entry_point_loads_the_plugin(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_auto="def test_auto(ollama_fake_url):\n    assert ollama_fake_url\n")
    pytester.runpytest().assert_outcomes(passed=1)


def test_the_entry_point_names_the_plugin_module() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    target = pyproject["project"]["entry-points"]["pytest11"]["portway"]
    module = importlib.import_module(target)
    for fixture in ("ollama_fake", "ollama_fake_url", "openai_client", "portway_settings"):
        assert callable(getattr(module, fixture))


# The README's examples ("In your own tests"), with a small app of the kind they assume.
README_EXAMPLES = """
import openai


class MyChat:
    def __init__(self, client):
        self.client = client
        self.history = []

    def say(self, text):
        self.history.append({"role": "user", "content": text})
        for attempt in range(2):
            try:
                reply = self.client.chat.completions.create(
                    model="llama3.2:3b", messages=self.history
                )
                break
            except openai.InternalServerError:
                if attempt:
                    raise
        answer = reply.choices[0].message.content
        self.history.append({"role": "assistant", "content": answer})
        return answer


class MyStreamer:
    def __init__(self, client):
        self.client = client

    def run(self, text):
        stream = self.client.chat.completions.create(
            model="llama3.2:3b",
            messages=[{"role": "user", "content": text}],
            stream=True,
            stream_options={"include_usage": True},
        )
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def test_my_summariser_stays_in_budget(openai_client):
    reply = openai_client.chat.completions.create(
        model="llama3.2:3b", messages=[{"role": "user", "content": "Hi"}]
    )
    assert reply.usage.prompt_tokens == 26  # what Ollama reports for llama3.2:3b


def test_my_chat_re_sends_the_whole_history(ollama_fake, openai_client):
    chat = MyChat(openai_client)  # your code
    chat.say("Hi, I'm Ada.")
    chat.say("What's my name?")
    first, second = ollama_fake.journal.entries
    assert second.messages[: len(first.messages)] == first.messages  # nothing forgotten
    assert len(second.messages) == len(first.messages) + 2  # + the answer, + the question


def test_my_streaming_asks_for_usage(ollama_fake, openai_client):
    MyStreamer(openai_client).run("Hi")  # your code
    assert ollama_fake.journal.last.body["stream_options"] == {"include_usage": True}


def test_what_a_turn_costs(ollama_fake, openai_client):
    MyChat(openai_client).say("Hi")  # your code
    turn = ollama_fake.journal.last
    assert (turn.prompt_tokens, turn.completion_tokens) == (26, 51)  # as the engine counts


def test_my_app_survives_a_busy_server(ollama_fake, openai_client):
    busy = {"error": {"status": 503, "message": "server busy, please try again."}}
    with ollama_fake.rules({"match": {"last_user": "Hi"}, "reply": busy, "times": 1}):
        assert MyChat(openai_client).say("Hi")  # your code retries once
    assert [e.status for e in ollama_fake.journal] == [503, 200]


def test_rules_from_the_fixture_last_one_test(ollama_rules, openai_client):
    ollama_rules.add({"match": {"last_user": "Hi"}, "reply": {"content": "Scripted hello."}})
    assert MyChat(openai_client).say("Hi") == "Scripted hello."


def test_and_are_gone_in_the_next(ollama_fake, openai_client):
    assert MyChat(openai_client).say("Hi") != "Scripted hello."
    assert len(ollama_fake.journal) == 1  # this test's request only
"""


def test_the_readme_examples_pass(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_readme=README_EXAMPLES)
    result = pytester.runpytest(*PLUGIN_ARGS, "-p", "no:randomly")
    result.assert_outcomes(passed=7)


def test_the_readme_shows_the_examples_that_run() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for name in (
        "test_my_chat_re_sends_the_whole_history",
        "test_my_streaming_asks_for_usage",
        "test_what_a_turn_costs",
        "test_my_app_survives_a_busy_server",
    ):
        start = README_EXAMPLES.index(f"def {name}")
        end = README_EXAMPLES.find("\n\n\n", start)
        assert README_EXAMPLES[start:end] in readme, name
