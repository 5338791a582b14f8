"""Property-based fuzzing of every POST endpoint, in-process (ASGI): zero 5xx, zero crashes.

Bodies come from hypothesis: structurally plausible requests with wrong types, missing and
unknown fields, huge strings, deep nesting, lone surrogates, invalid UTF-8, odd content types,
and bodies over the size limit. Every rejection must be Ollama's status with the surface's
error shape: ``{"error": {"message", "type", ...}}`` on ``/v1``, ``{"error": "..."}`` natively.

The default run is small (``PORTWAY_FUZZ_EXAMPLES``, 30 per test); ``nox -s fuzz`` sets it so
that the whole file sends over 10,000 requests.
"""

from __future__ import annotations

import asyncio
import json
import os

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.app import create_app
from mockserver.config import Settings
from tests.asgi_call import call
from tests.ollama_errors import ollamas_own_500

pytest.importorskip("hypothesis")

EXAMPLES = int(os.environ.get("PORTWAY_FUZZ_EXAMPLES", "30"))
LIMIT = 64 * 1024  # a small body cap, so that huge strings also exercise the 413 path
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("PORTWAY_FUZZ_RANDOM") is None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
ENDPOINTS = ["/v1/chat/completions", "/api/chat", "/api/generate", "/api/show"]
# Models: served ones of every family (cheap ones first), unknown and invalid names.
MODELS = st.sampled_from(
    ["gpt-oss:20b", "llama3.2:3b", "qwen2.5:3b", "mistral:7b", "gemma3:4b", "GPT-OSS:20B",
     "nope:1b", "", " ", "a/b/c/d:e", "gpt-oss", "::", "x" * 300]
)  # fmt: skip

APP = create_app(Settings(current_date="2026-03-23", seed=1, max_body_bytes=LIMIT))
LOOP = asyncio.new_event_loop()

text = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8", categories=["Cs", "Co", "Cc", "Zs", "L"]), max_size=20),
    st.sampled_from(["<|start|>", "<|end|>", "<|im_end|>", "[INST]", "<start_of_turn>", "\ud800"]),
)
huge = st.just("y" * (LIMIT + 10))  # over the body limit: 413
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def build(wrong_types: bool):
    """Request bodies: fields absent or plausible, and with ``wrong_types`` any JSON value too
    (Go's decoder errors), plus an occasional string over the body limit."""

    def maybe(strategy):
        return st.one_of(strategy, json_values) if wrong_types else strategy

    some_text = st.one_of(text, huge) if wrong_types else text

    role = maybe(st.sampled_from(["user", "assistant", "system", "tool", "USER", "developer", ""]))
    content = maybe(
        st.one_of(
            text,
            st.lists(
                st.fixed_dictionaries(
                    {"type": st.sampled_from(["text", "image_url", "audio"])},
                    optional={
                        "text": maybe(some_text),
                        "image_url": maybe(
                            st.sampled_from(["data:image/png;base64,AAAA", "http://x/y.png", "x"])
                        ),
                    },
                ),
                max_size=3,
            ),
        )
    )
    tool_call = st.fixed_dictionaries(
        {},
        optional={
            "id": maybe(some_text),
            "type": maybe(st.just("function")),
            "function": maybe(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "name": maybe(some_text),
                        "arguments": maybe(
                            st.one_of(st.sampled_from(['{"a": 1}', "{", "[]", ""]), json_values)
                        ),
                    },
                )
            ),
        },
    )
    # Well typed: every message has a role and a content, so that most requests get through
    # to the engine (templates, tokenizers, generation) instead of stopping at validation.
    message = st.fixed_dictionaries(
        {} if wrong_types else {"role": role, "content": st.one_of(text, content)},
        optional={
            **({"role": role, "content": content} if wrong_types else {}),
            "tool_calls": maybe(st.lists(tool_call, max_size=2)),
            "thinking": maybe(some_text),
            "reasoning": maybe(some_text),
            "name": maybe(some_text),
            "tool_call_id": maybe(some_text),
            "images": maybe(st.lists(st.sampled_from(["AAAA", "!!"]), max_size=2)),
        },
    )
    tool = maybe(
        st.fixed_dictionaries(
            {"type": st.just("function")},
            optional={
                "function": st.fixed_dictionaries(
                    {"name": maybe(some_text)}, optional={"parameters": json_values}
                )
            },
        )
    )
    options = maybe(
        st.dictionaries(
            st.sampled_from(["num_ctx", "num_predict", "num_keep", "stop", "seed", "temperature",
                             "top_p", "shift", "bogus"]),
            st.one_of(st.integers(-5, 70000), st.floats(allow_nan=False), text, json_values),
            max_size=4,
        )
    )  # fmt: skip
    request = st.fixed_dictionaries(
        {},
        optional={
            "model": maybe(MODELS),
            "name": maybe(MODELS),
            "messages": maybe(st.lists(message, max_size=4)),
            "prompt": maybe(some_text),
            "system": maybe(some_text),
            "template": maybe(some_text),
            "suffix": maybe(some_text),
            "raw": maybe(st.booleans()),
            "context": maybe(st.lists(st.integers(-1, 300000), max_size=4)),
            "stream": maybe(st.booleans()),
            "stream_options": maybe(
                st.fixed_dictionaries({}, optional={"include_usage": maybe(st.booleans())})
            ),
            "max_tokens": maybe(st.integers(-2, 50)),
            "stop": maybe(st.one_of(text, st.lists(text, max_size=3))),
            "tools": maybe(st.lists(tool, max_size=2)),
            "think": maybe(st.sampled_from([True, False, "low", "medium", "high", "max", "bogus"])),
            "reasoning_effort": maybe(st.sampled_from(["low", "high", "none", "bogus"])),
            "keep_alive": maybe(st.sampled_from(["5m", "0", 0, -1, "1h", "bogus", 3.5])),
            "format": maybe(st.sampled_from(["json", "", {"type": "object"}])),
            "options": options,
            "images": maybe(st.lists(st.sampled_from(["AAAA", "!!"]), max_size=2)),
            "_debug_render_only": maybe(st.booleans()),
            "unknown_field": json_values,
        },
    )
    return request


def encode(value) -> bytes:
    """JSON as a client would send it; lone surrogates become ``\\udXXX`` escapes."""
    return json.dumps(value, ensure_ascii=True).encode()


def deep(depth: int) -> bytes:
    return b'{"model":"gpt-oss:20b","messages":' + b"[" * depth + b"]" * depth + b"}"


raw_bodies = st.one_of(
    st.binary(max_size=64),  # anything, invalid UTF-8 included
    st.sampled_from([b"", b" ", b"null", b"[]", b"{", b'{"model":', b"\xff\xfe{}", b'"x"',
                     b'{"model":"gpt-oss:20b","messages":[{"role":"user","content":"\xff"}]}',
                     b'{"model":"gpt-oss:20b","messages":[{"role":"user","content":"\\ud800"}]}',
                     deep(100), deep(5000)]),
    build(wrong_types=True).map(encode).map(lambda body: body[: len(body) // 2]),  # truncated
)  # fmt: skip
content_types = st.sampled_from(
    [b"application/json", b"text/plain", b"", b"multipart/form-data; boundary=x",
     b"application/x-www-form-urlencoded", b"application/json; charset=latin-1"]
)  # fmt: skip


SENT = {"requests": 0, "by_status": {}}


@pytest.fixture(scope="module", autouse=True)
def report_count():
    """How many requests the file sent, by status (``PORTWAY_FUZZ_REPORT``: a JSON file)."""
    yield
    target = os.environ.get("PORTWAY_FUZZ_REPORT")
    if target:
        with open(target, "w") as handle:
            json.dump(SENT, handle, indent=1, sort_keys=True)


def check(path: str, body: bytes, content_type: bytes = b"application/json") -> None:
    SENT["requests"] += 1
    reply = LOOP.run_until_complete(
        asyncio.wait_for(
            call(APP, "POST", path, body, [(b"content-type", content_type)], chunk=4096), 120
        )
    )
    key = f"{path} {reply.status}"
    SENT["by_status"][key] = SENT["by_status"].get(key, 0) + 1
    assert reply.error is None, f"crash: {reply.error!r} for {body[:300]!r}"
    assert reply.status < 500 or ollamas_own_500(reply.status, reply.body), (
        f"{reply.status} {reply.body[:300]!r} for {body[:300]!r}"
    )
    if reply.status < 400:
        return
    parsed = orjson.loads(reply.body)
    if path.startswith("/v1/"):
        error = parsed["error"]
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["type"], str)
    else:
        assert isinstance(parsed["error"], str) and parsed["error"]
    if reply.status == 413:
        assert len(body) > LIMIT


@pytest.mark.parametrize("path", ENDPOINTS)
@FUZZ
@given(body=build(wrong_types=True))
def test_structured_bodies(path: str, body: dict) -> None:
    check(path, encode(body))


@pytest.mark.parametrize("path", ENDPOINTS)
@FUZZ
@given(body=build(wrong_types=False))
def test_well_typed_bodies(path: str, body: dict) -> None:
    check(path, encode(body))


@pytest.mark.parametrize("path", ENDPOINTS)
@FUZZ
@given(body=raw_bodies, content_type=content_types)
def test_raw_bodies(path: str, body: bytes, content_type: bytes) -> None:
    check(path, body, content_type)


@pytest.mark.parametrize("path", ENDPOINTS[:2])
@pytest.mark.parametrize(
    ("function", "field", "go_type"),
    [
        ({"name": "f", "parameters": [None]}, "function.parameters", "api.ToolFunctionParameters"),
        ({"name": "f", "parameters": "x"}, "function.parameters", "api.ToolFunctionParameters"),
        ({"name": 1}, "function.name", "string"),
        ("f", "function", "api.ToolFunction"),
    ],
)
def test_mistyped_tools_are_go_decoding_errors(path, function, field, go_type) -> None:
    """Found by this fuzzer: a non-object ``parameters`` crashed the Harmony template (500)."""
    body = {
        "model": "gpt-oss:20b",
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": function}],
    }
    reply = LOOP.run_until_complete(call(APP, "POST", path, encode(body)))
    assert reply.error is None and reply.status == 400
    struct = "ChatCompletionRequest" if path.startswith("/v1") else "ChatRequest"
    message = orjson.loads(reply.body)["error"]
    message = message["message"] if path.startswith("/v1") else message
    assert message.endswith(f"Go struct field {struct}.tools.{field} of type {go_type}")


# --- attack families of issue 10: hostile tool-call arguments, --replay, browsers -------------


def _nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


hostile_json_text = st.one_of(
    st.integers(1, 6000).map(lambda n: "1" + "0" * n),  # beyond float64 from 309 digits
    st.one_of(st.integers(1, 300), st.sampled_from([1_000, 9_990, 10_001])).map(_nested),
    st.sampled_from(['"\\ud800"', '"\\udc00x"', '"\\ud83d\\ude00"', '"\\ud800\\ud800"',
                     "-0", "1e308", "1e309", "-1e-400", "0.1e-7", "true", "null", '"<&>"']),
    json_values.map(lambda value: json.dumps(value, ensure_ascii=True)),
)  # fmt: skip
# Go's decoder stops at 10,000 levels; a deep case costs ~0.2 s: fewer of them by default.
HOSTILE = settings(FUZZ, max_examples=max(EXAMPLES // 3, 5))
hostile_arguments = st.one_of(
    st.builds(lambda key, value: '{"' + key + '": ' + value + "}",
              st.sampled_from(["a", "\\ud800", "k\\udfff", "", "<tag>"]), hostile_json_text),
    hostile_json_text,
    st.text(max_size=30),
)  # fmt: skip
REPLAY_APP = None


def _replay_app():
    global REPLAY_APP
    if REPLAY_APP is None:
        import tempfile

        directory = tempfile.mkdtemp(prefix="portway-fuzz-replay-")
        REPLAY_APP = create_app(
            Settings(current_date="2026-03-23", seed=1, max_body_bytes=LIMIT, replay_dir=directory)
        )
    return REPLAY_APP


@HOSTILE
@given(model=MODELS, arguments=hostile_arguments)
def test_hostile_tool_call_arguments_on_v1(model: str, arguments: str) -> None:
    """Go decodes these as float64s, 10,000 levels deep, U+FFFD: 200 or Ollama's 400."""
    call_ = {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}
    messages = [{"role": "assistant", "content": "", "tool_calls": [call_]},
                {"role": "user", "content": "hi"}]  # fmt: skip
    check("/v1/chat/completions", encode({"model": model, "messages": messages}))


@HOSTILE
@given(model=MODELS, value=hostile_json_text)
def test_hostile_native_tool_call_arguments(model: str, value: str) -> None:
    body = (
        '{"model": ' + json.dumps(model) + ', "stream": false, "messages": [{"role": '
        '"assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": '
        '{"a": ' + value + '}}}]}, {"role": "user", "content": "hi"}]}'
    )
    check("/api/chat", body.encode())


@pytest.mark.parametrize("path", ENDPOINTS)
@FUZZ
@given(body=raw_bodies, content_type=content_types)
def test_raw_bodies_with_replay_on(path: str, body: bytes, content_type: bytes) -> None:
    """``--replay`` (an empty directory) answers exactly what the fake answers."""
    global APP
    saved, APP = APP, _replay_app()
    try:
        check(path, body, content_type)
    finally:
        APP = saved


@FUZZ
@given(
    origin=st.one_of(st.none(), st.sampled_from(["http://evil.example", "null", "http://localhost",
                     "app://x", "file://", "http://127.0.0.1:1"]), st.text(max_size=20)),
    host=st.one_of(st.sampled_from(["127.0.0.1:11434", "localhost", "evil.example", "[::1]",
                   "", "a.local", "10.1.2.3"]), st.text(max_size=20)),
    method=st.sampled_from(["GET", "POST", "OPTIONS"]),
)  # fmt: skip
def test_browser_headers_never_break_the_fake(origin, host, method) -> None:
    headers = [(b"content-type", b"application/json")]
    for name, value in ((b"origin", origin), (b"host", host)):
        if value is not None:
            headers.append((name, value.encode("utf-8", "surrogatepass")))
    body = encode({"model": "gpt-oss:20b", "prompt": "hi", "stream": False})
    reply = LOOP.run_until_complete(call(APP, method, "/api/generate", body, headers))
    assert reply.error is None and reply.status < 500


ZSTD_HEADERS = [(b"content-type", b"application/json"), (b"content-encoding", b"zstd")]


@FUZZ
@given(
    body=st.one_of(build(wrong_types=True).map(encode), raw_bodies),
    checksum=st.booleans(),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=3),
    cut=st.integers(0, 40),
)
def test_zstd_bodies_compressed_corrupted_or_cut(body, checksum, flips, cut) -> None:
    """``Content-Encoding: zstd`` on ``/v1`` (``wire/zstd_body.py``): whatever the frames hold,
    a plain answer or a 400 (the Go decoder's words, Ollama's native shape), never a 5xx."""
    import zstandard

    data = bytearray(zstandard.ZstdCompressor(write_checksum=checksum).compress(body))
    for at, mask in flips:
        data[at % len(data)] ^= mask
    data = data[: max(len(data) - cut, 0)]
    SENT["requests"] += 1
    reply = LOOP.run_until_complete(
        asyncio.wait_for(call(APP, "POST", "/v1/chat/completions", bytes(data), ZSTD_HEADERS), 120)
    )
    assert reply.error is None, f"crash: {reply.error!r} for {bytes(data)[:300]!r}"
    assert reply.status < 500 or ollamas_own_500(reply.status, reply.body), reply.body[:300]
    if reply.status >= 400:
        error = orjson.loads(reply.body)["error"]
        assert error if isinstance(error, str) else error["message"], reply.body[:300]
