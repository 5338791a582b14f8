"""Record exchanges through the lab's recording client, then replay them from a second fake."""

from __future__ import annotations

import copy
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from lab.recording import SCRUBBED, recording_client
from mockserver.__main__ import parse_args, settings_from
from mockserver.app import create_app
from mockserver.config import Settings
from mockserver.replay import (
    MATCH_HEADER,
    MISMATCH_HEADER,
    REPLAY_HEADER,
    UNCHECKED_HEADER,
    match_key,
)
from mockserver.server import BackgroundServer, serving

MODEL = "gpt-oss:20b"
DATE = "2026-03-23"
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello."}]
CITIES: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "Answer in one word."},
    {"role": "user", "content": "Capital of France?"},
    {"role": "assistant", "content": "Paris"},
    {"role": "user", "content": "And of Canada?"},
]
SECRET = "sk-portway-TEST-SECRET-1234"


@dataclass
class Recorded:
    directory: Path
    files: list[Path]
    non_stream: openai.types.chat.ChatCompletion
    stream_chunks: list[Any]
    error: openai.NotFoundError

    def load(self, index: int) -> dict[str, Any]:
        return json.loads(self.files[index].read_text())


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    """Three exchanges recorded from a fake: non-stream, stream with usage, and a 404."""
    directory = tmp_path_factory.mktemp("recordings")
    with serving(Settings(port=0, current_date=DATE, seed=7)) as fake:
        http = recording_client(directory, timeout=30.0, engine={"name": "portway-fake"})
        client = openai.OpenAI(
            base_url=fake.openai_url,
            api_key=SECRET,
            max_retries=0,
            http_client=http,
            default_headers={"x-api-key": SECRET, "cookie": f"session={SECRET}"},
        )
        non_stream = client.chat.completions.create(model=MODEL, messages=CITIES)
        stream = client.chat.completions.create(
            model=MODEL, messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
        with pytest.raises(openai.NotFoundError) as raised:
            client.chat.completions.create(model="nope:1b", messages=HELLO)
        http.close()
    files = sorted(directory.glob("*.json"))
    yield Recorded(directory, files, non_stream, chunks, raised.value)


def sse_events(body: bytes) -> list[str]:
    return [event.decode() + "\n\n" for event in body.split(b"\n\n") if event]


def replay_dir(recorded: Recorded, tmp_path: Path) -> Path:
    """A private copy of the recordings that a test may edit."""
    target = tmp_path / "replay"
    shutil.copytree(recorded.directory, target)
    return target


def add_variant(directory: Path, source: dict[str, Any], name: str, **changes: Any) -> Path:
    """A new recording, copied from ``source``, whose request says ``content`` (a new key)."""
    data = copy.deepcopy(source)
    data["request"]["json"]["messages"] = [{"role": "user", "content": changes.pop("content")}]
    for path, value in changes.items():
        target: Any = data
        *parents, last = path.split(".")
        for part in parents:
            target = target[int(part) if part.isdigit() else part]
        target[int(last) if last.isdigit() else last] = value
    file = directory / name
    file.write_text(json.dumps(data))
    return file


def replaying(directory: Path, **changes: Any) -> Settings:
    """A replaying fake's settings; no delays unless a test asks for the recorded timing."""
    values: dict[str, Any] = {"current_date": DATE, "replay_speed": 0.0, **changes}
    return Settings(port=0, replay_dir=str(directory), **values)


def post(server: BackgroundServer, body: dict[str, Any], path: str = "/chat/completions"):
    return httpx.post(f"{server.openai_url}{path}", json=body, timeout=30)


# --- recording -------------------------------------------------------------------------------


def test_one_file_per_exchange_named_by_sequence_and_match_key(recorded):
    assert len(recorded.files) == 3
    for seq, file in enumerate(recorded.files, start=1):
        data = json.loads(file.read_text())
        assert data["format"] == "portway-recording/1"
        assert file.name == f"{seq:04d}-{data['match_key'][:12]}.json"
        request = data["request"]
        assert data["match_key"] == match_key("POST", request["path"], request["json"])
        assert data["match"] == {"method": "POST", "path": "/chat/completions"}
        assert data["target"].endswith("/v1") and data["target"].startswith("http://127.0.0.1:")
        assert data["engine"] == {"name": "portway-fake"}
        assert data["recorded_at"].endswith("Z")


def test_the_full_request_body_is_recorded(recorded):
    request = recorded.load(0)["request"]
    assert request["method"] == "POST"
    assert request["path"] == "/v1/chat/completions"
    assert request["json"] == {"model": MODEL, "messages": CITIES}


def test_secrets_never_reach_the_files(recorded):
    for file in recorded.files:
        text = file.read_text()
        assert SECRET not in text
        headers = json.loads(text)["request"]["headers"]
        assert headers["authorization"] == SCRUBBED
        assert headers["x-api-key"] == SCRUBBED
        assert headers["cookie"] == SCRUBBED
        assert headers["content-type"] == "application/json"  # the rest is kept


def test_a_json_response_is_recorded_as_json(recorded):
    response = recorded.load(0)["response"]
    assert response["status"] == 200
    assert response["headers"]["content-type"] == "application/json"
    assert response["json"] == recorded.non_stream.model_dump(mode="json", exclude_unset=True)
    assert "frames" not in response


def test_a_stream_is_recorded_frame_by_frame_with_arrival_offsets(recorded):
    response = recorded.load(1)["response"]
    assert response["headers"]["content-type"] == "text/event-stream"
    assert "complete" not in response  # the SDK stops reading at [DONE]: not a cut stream
    frames = response["frames"]
    assert "json" not in response and "text" not in response
    # one frame per SSE event: every chunk the SDK saw, then [DONE]
    assert len(frames) == len(recorded.stream_chunks) + 1
    assert frames[-1]["data"] == "data: [DONE]\n\n"
    assert all(frame["data"].startswith("data: ") for frame in frames)
    assert all(frame["data"].endswith("\n\n") for frame in frames)
    offsets = [frame["at"] for frame in frames]
    assert offsets == sorted(offsets)
    assert offsets[0] >= response["headers_at"] >= 0
    ids = [json.loads(frame["data"][6:])["id"] for frame in frames[:-1]]
    assert ids == [chunk.id for chunk in recorded.stream_chunks]
    usage = json.loads(frames[-2]["data"][6:])["usage"]
    assert usage == recorded.stream_chunks[-1].usage.model_dump(exclude_none=True)


def test_recording_does_not_change_what_the_caller_sees(recorded):
    # The same request without the recorder gives the same chunks (the fake is seeded).
    with serving(Settings(port=0, current_date=DATE, seed=7)) as fake:
        client = openai.OpenAI(base_url=fake.openai_url, api_key="ollama", max_retries=0)
        plain = list(
            client.chat.completions.create(
                model=MODEL, messages=HELLO, stream=True, stream_options={"include_usage": True}
            )
        )
    assert [c.model_dump() for c in plain] == [c.model_dump() for c in recorded.stream_chunks]


def test_an_error_response_is_recorded(recorded):
    response = recorded.load(2)["response"]
    assert response["status"] == 404
    assert response["json"]["error"]["message"] == "model 'nope:1b' not found"
    assert recorded.error.status_code == 404


def test_numbering_continues_after_existing_files(recorded, tmp_path):
    directory = replay_dir(recorded, tmp_path)
    with (
        serving(Settings(port=0, current_date=DATE)) as fake,
        recording_client(directory, timeout=30.0) as http,
    ):
        http.get(f"{fake.openai_url}/models?key={SECRET}")
    newest = sorted(directory.glob("*.json"))[-1]
    assert newest.name.startswith("0004-")
    data = json.loads(newest.read_text())
    assert data["request"]["query"] == [["key", SCRUBBED]]
    assert data["match"] == {"method": "GET", "path": "/models"}


# --- the match key ---------------------------------------------------------------------------


def test_the_match_key_covers_model_and_the_whole_conversation():
    base = {"model": MODEL, "messages": CITIES}
    key = match_key("POST", "/v1/chat/completions", base)
    reordered = {"messages": CITIES, "model": MODEL}
    assert match_key("POST", "/v1/chat/completions", reordered) == key
    assert match_key("POST", "/ollama/v1/chat/completions", base) == key
    assert match_key("POST", "/v1/chat/completions", json.dumps(base).encode()) == key
    earlier = copy.deepcopy(CITIES)
    earlier[1]["content"] = "Capital of Spain?"  # same last message, different history
    assert match_key("POST", "/v1/chat/completions", {**base, "messages": earlier}) != key
    assert match_key("POST", "/v1/chat/completions", {**base, "model": "qwen2.5:7b"}) != key
    assert match_key("POST", "/v1/chat/completions", {**base, "temperature": 0}) != key
    assert match_key("POST", "/api/chat", base) != key


# --- replay ----------------------------------------------------------------------------------


def test_replay_answers_json_as_recorded(recorded, tmp_path):
    directory = replay_dir(recorded, tmp_path)
    # Unseeded: the fake's own answers would carry other ids, so equality proves the replay.
    with serving(replaying(directory)) as fake:
        client = openai.OpenAI(base_url=fake.openai_url, api_key="x", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=CITIES)
        again = client.chat.completions.create(model=MODEL, messages=CITIES)
    assert raw.headers[REPLAY_HEADER] == recorded.files[0].name
    assert MISMATCH_HEADER not in raw.headers
    assert raw.headers[MATCH_HEADER] == str(recorded.non_stream.usage.prompt_tokens)
    assert raw.parse() == recorded.non_stream
    assert again == recorded.non_stream  # stateless: the same request, the same recording


def test_replay_streams_the_same_frames(recorded, tmp_path):
    directory = replay_dir(recorded, tmp_path)
    again = tmp_path / "again"
    with serving(replaying(directory)) as fake:
        http = recording_client(again, timeout=30.0)
        client = openai.OpenAI(base_url=fake.openai_url, api_key="x", http_client=http)
        chunks = list(
            client.chat.completions.create(
                model=MODEL, messages=HELLO, stream=True, stream_options={"include_usage": True}
            )
        )
        http.close()
    assert [c.model_dump() for c in chunks] == [c.model_dump() for c in recorded.stream_chunks]
    original = recorded.load(1)["response"]
    (replayed_file,) = again.glob("*.json")
    replayed = json.loads(replayed_file.read_text())["response"]
    assert [f["data"] for f in replayed["frames"]] == [f["data"] for f in original["frames"]]
    assert replayed["headers"][REPLAY_HEADER] == recorded.files[1].name


def test_replay_keeps_the_recorded_timing(recorded, tmp_path):
    directory = replay_dir(recorded, tmp_path)
    source = recorded.load(1)
    slow = copy.deepcopy(source["response"]["frames"])
    for frame in slow[len(slow) // 2 :]:
        frame["at"] = 0.3  # the second half of the stream arrived after 300 ms
    add_variant(directory, source, "0100-slow.json", content="slow", **{"response.frames": slow})
    body = {**source["request"]["json"], "messages": [{"role": "user", "content": "slow"}]}
    with serving(replaying(directory, replay_speed=1.0)) as fake:
        started = time.monotonic()
        arrivals: list[float] = []
        with httpx.stream("POST", f"{fake.openai_url}/chat/completions", json=body) as response:
            assert response.headers[REPLAY_HEADER] == "0100-slow.json"
            for _ in response.iter_raw():
                arrivals.append(time.monotonic() - started)
    assert arrivals[-1] >= 0.3  # a lower bound only: the replay waited for the offsets


def test_the_command_line_sets_up_replay(recorded, tmp_path):
    directory = replay_dir(recorded, tmp_path)
    args = parse_args(["--replay", str(directory), "--replay-strict", "--replay-speed", "0"])
    settings = settings_from(args)
    assert (settings.replay_dir, settings.replay_strict, settings.replay_speed) == (
        str(directory),
        True,
        0.0,
    )
    assert len(create_app(settings).state.replay) == 3
    with pytest.raises(ValueError, match="replay-speed"):
        create_app(Settings(replay_dir=str(directory), replay_speed=-1))


def test_replay_of_an_error_keeps_status_and_body(recorded, tmp_path):
    directory = replay_dir(recorded, tmp_path)
    with serving(replaying(directory, models=())) as fake:
        response = post(fake, {"model": "nope:1b", "messages": HELLO})
    assert response.status_code == 404
    assert response.headers[REPLAY_HEADER] == recorded.files[2].name
    assert response.json() == recorded.load(2)["response"]["json"]


def test_a_prompt_tokens_mismatch_is_reported_loudly(recorded, tmp_path, capfd):
    directory = replay_dir(recorded, tmp_path)
    source = recorded.load(0)
    add_variant(
        directory,
        source,
        "0200-wrong-usage.json",
        content="Count me.",
        **{"response.json.usage.prompt_tokens": 3},
    )
    stream_source = recorded.load(1)
    frames = copy.deepcopy(stream_source["response"]["frames"])
    usage_chunk = json.loads(frames[-2]["data"][6:])
    usage_chunk["usage"]["prompt_tokens"] = 5
    frames[-2]["data"] = f"data: {json.dumps(usage_chunk)}\n\n"
    add_variant(
        directory,
        stream_source,
        "0201-wrong-stream-usage.json",
        content="Stream me.",
        **{"response.frames": frames},
    )
    with serving(Settings(port=0, current_date=DATE, seed=7)) as plain:
        truth = post(
            plain, {"model": MODEL, "messages": [{"role": "user", "content": "Count me."}]}
        )
        stream_truth = post(
            plain, {"model": MODEL, "messages": [{"role": "user", "content": "Stream me."}]}
        )
    fake_count = truth.json()["usage"]["prompt_tokens"]
    fake_stream_count = stream_truth.json()["usage"]["prompt_tokens"]
    with serving(replaying(directory)) as fake:
        response = post(
            fake, {"model": MODEL, "messages": [{"role": "user", "content": "Count me."}]}
        )
        body = {
            **stream_source["request"]["json"],
            "messages": [{"role": "user", "content": "Stream me."}],
        }
        with httpx.stream("POST", f"{fake.openai_url}/chat/completions", json=body) as streamed:
            streamed.read()
    assert response.headers[MISMATCH_HEADER] == f"fake={fake_count} recorded=3"
    assert response.json()["usage"]["prompt_tokens"] == 3  # the recording is still replayed
    assert streamed.headers[MISMATCH_HEADER] == f"fake={fake_stream_count} recorded=5"
    err = capfd.readouterr().err
    assert "0200-wrong-usage.json" in err
    assert f"the fake counts {fake_count}, the recording (from portway-fake at http" in err
    assert "says 3 " in err
    assert f"difference {fake_count - 3:+d}" in err
    assert "0201-wrong-stream-usage.json" in err


def test_replaying_a_render_only_exchange_compares_no_usage(tmp_path, capfd):
    """``_debug_render_only`` answers carry usage 0 by design: no count to compare, no warning."""
    directory = tmp_path / "render-only"
    body = {"model": MODEL, "messages": CITIES, "_debug_render_only": True}
    with (
        serving(Settings(port=0, current_date=DATE, seed=7)) as fake,
        recording_client(directory, timeout=30.0, engine={"name": "portway-fake"}) as http,
    ):
        recorded = http.post(f"{fake.openai_url}/chat/completions", json=body).json()
    assert recorded["usage"]["prompt_tokens"] == 0 and recorded["_debug_info"]
    capfd.readouterr()
    with serving(replaying(directory, replay_strict=True)) as fake:
        replayed = post(fake, body)
    assert replayed.json() == recorded
    assert MISMATCH_HEADER not in replayed.headers
    assert "_debug_render_only" in replayed.headers[UNCHECKED_HEADER]
    err = capfd.readouterr().err
    assert "mismatch" not in err and "prompt_tokens" not in err


def test_a_model_the_fake_does_not_serve_is_noted_once(recorded, tmp_path, capfd):
    directory = replay_dir(recorded, tmp_path)
    with serving(replaying(directory, models=("qwen2.5:7b",))) as fake:
        first = post(fake, {"model": MODEL, "messages": CITIES})
        second = post(fake, {"model": MODEL, "messages": CITIES})
    assert first.status_code == second.status_code == 200
    assert "not in the fake's catalog" in first.headers[UNCHECKED_HEADER]
    assert MISMATCH_HEADER not in first.headers
    err = capfd.readouterr().err
    assert err.count(f"model {MODEL} is not in the fake's catalog") == 1


def test_unmatched_requests_fall_through_to_the_fake(recorded, tmp_path):
    directory = replay_dir(recorded, tmp_path)
    with serving(replaying(directory)) as fake:
        response = post(fake, {"model": MODEL, "messages": [{"role": "user", "content": "new"}]})
        models = httpx.get(f"{fake.openai_url}/models")
    assert response.status_code == 200
    assert REPLAY_HEADER not in response.headers
    assert response.json()["usage"]["prompt_tokens"] > 0
    assert models.status_code == 200


def test_strict_replay_refuses_unmatched_requests_with_404(recorded, tmp_path):
    directory = replay_dir(recorded, tmp_path)
    settings = replaying(directory, replay_strict=True)
    unmatched = {"model": MODEL, "messages": [{"role": "user", "content": "new"}]}
    with serving(settings) as fake:
        matched = post(fake, {"model": MODEL, "messages": CITIES})
        response = post(fake, unmatched)
        native = httpx.post(f"{fake.url}/api/chat", json=unmatched)
        models = httpx.get(f"{fake.openai_url}/models")  # metadata GETs are still served
    assert matched.status_code == 200
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["type"] == "not_found_error"
    assert error["code"] == "no_recording"
    assert match_key("POST", "/v1/chat/completions", unmatched) in error["message"]
    assert str(directory) not in error["message"]  # the path on disk is nobody's business
    assert str(directory.parent) not in error["message"]
    assert native.status_code == 404
    assert isinstance(native.json()["error"], str)
    assert match_key("POST", "/api/chat", unmatched) in native.json()["error"]
    assert models.status_code == 200


def test_the_first_recording_of_a_key_wins(recorded, tmp_path):
    directory = replay_dir(recorded, tmp_path)
    later = recorded.load(0)
    later["response"]["json"]["choices"][0]["message"]["content"] = "shadowed"
    (directory / "9999-duplicate.json").write_text(json.dumps(later))
    with serving(replaying(directory)) as fake:
        response = post(fake, {"model": MODEL, "messages": CITIES})
    assert response.headers[REPLAY_HEADER] == recorded.files[0].name
    assert fake.app.state.replay.shadowed[0][0].file == "9999-duplicate.json"


def test_a_bad_replay_directory_fails_at_start(tmp_path):
    with pytest.raises(ValueError, match="no such directory"):
        create_app(Settings(replay_dir=str(tmp_path / "missing")))
    (tmp_path / "0001-broken.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"0001-broken\.json"):
        create_app(Settings(replay_dir=str(tmp_path)))


def test_a_native_ndjson_stream_is_recorded_line_by_line_and_replayed(tmp_path):
    directory = tmp_path / "native"
    body = {"model": MODEL, "messages": HELLO, "stream": True}
    with (
        serving(Settings(port=0, current_date=DATE, seed=7)) as fake,
        recording_client(directory, timeout=30.0) as http,
    ):
        original = http.post(f"{fake.url}/api/chat", json=body).content
    (file,) = directory.glob("*.json")
    data = json.loads(file.read_text())
    assert data["match"] == {"method": "POST", "path": "/api/chat"}
    assert data["target"] == fake.url
    frames = data["response"]["frames"]
    assert len(frames) == len(original.splitlines()) > 2
    assert all(frame["data"].endswith("\n") for frame in frames)
    assert "".join(frame["data"] for frame in frames).encode() == original
    with serving(replaying(directory, replay_strict=True)) as fake:
        replayed = httpx.post(f"{fake.url}/api/chat", json=body)
    assert replayed.headers["content-type"].startswith("application/x-ndjson")
    assert replayed.content == original


def test_a_cut_stream_is_recorded_as_incomplete_and_replayed_cut(tmp_path):
    directory = tmp_path / "cut"
    body = {"model": MODEL, "messages": HELLO, "stream": True}
    with serving(Settings(port=0, current_date=DATE, faults=("disconnect=3",))) as fake:
        http = recording_client(directory, timeout=30.0)
        client = openai.OpenAI(base_url=fake.openai_url, api_key="x", http_client=http)
        with pytest.raises(openai.APIError):  # the SDK sees the connection drop
            list(client.chat.completions.create(model=MODEL, messages=HELLO, stream=True))
        http.close()
    (file,) = directory.glob("*.json")
    response = json.loads(file.read_text())["response"]
    assert response["complete"] is False
    assert response["error"]
    assert len(response["frames"]) == 3
    with (
        serving(replaying(directory)) as fake,
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", f"{fake.openai_url}/chat/completions", json=body) as cut,
    ):
        cut.read()
