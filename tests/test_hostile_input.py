"""Hostile bodies answered as Ollama answers them: Go's decoder, never a traceback.

Found by an attack on the fake (issue 10): tool-call ``arguments`` with a 5,000-digit number,
arrays nested 1,000 deep or a lone surrogate gave 500s on ``/v1``; ``--replay`` turned 400s
into 500s. Each case below is what Go's ``encoding/json`` (and the ordered map Ollama decodes
arguments into) does with it.
"""

from __future__ import annotations

import asyncio
import json

import orjson
import pytest

from mockserver.app import create_app
from mockserver.config import Settings
from mockserver.wire.decode import GoSyntaxError, go_loads, tool_call_arguments
from mockserver.wire.gojson import format_float, marshal, sorted_maps
from tests.asgi_call import call

FAMILIES = ["gpt-oss:20b", "llama3.2:3b", "qwen2.5:3b", "mistral:7b", "gemma3:4b"]
APP = create_app(Settings(current_date="2026-03-23", seed=1))
LOOP = asyncio.new_event_loop()


def post(path: str, body: bytes, app=APP):
    reply = LOOP.run_until_complete(asyncio.wait_for(call(app, "POST", path, body), 120))
    assert reply.error is None, reply.error
    return reply


def assistant_called(model: str, arguments: str) -> bytes:
    call_ = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    messages = [
        {"role": "assistant", "content": "", "tool_calls": [call_]},
        {"role": "user", "content": "hi"},
    ]
    return json.dumps({"model": model, "messages": messages}).encode()


ARGUMENTS = [
    # (case, arguments string, status): Go decodes numbers in ``any`` as float64, nests 10,000
    # deep, turns lone surrogates into U+FFFD, and wk8/jsonparser refuse one in a key.
    ("5,000-digit integer", '{"a": 1' + "0" * 5000 + "}", 400),
    ("300-digit integer (fits float64)", '{"a": 1' + "0" * 300 + "}", 200),
    ("arrays 1,000 deep", '{"a": ' + "[" * 1000 + "]" * 1000 + "}", 200),
    ("arrays 9,999 deep", '{"a": ' + "[" * 9999 + "]" * 9999 + "}", 200),
    ("arrays 10,001 deep", '{"a": ' + "[" * 10001 + "]" * 10001 + "}", 400),
    ("lone surrogate in a value", '{"a": "\\ud800"}', 200),
    ("lone surrogate in a key", '{"\\ud800": 1}', 400),
    ("null", "null", 200),
    ("empty", "", 400),
    ("an array", "[1]", 400),
    ("data after the object", '{"a": 1} x', 400),
]


@pytest.mark.parametrize("model", FAMILIES)
@pytest.mark.parametrize(("case", "arguments", "status"), ARGUMENTS, ids=[a[0] for a in ARGUMENTS])
def test_tool_call_arguments_on_v1_are_decoded_as_ollama_does(model, case, arguments, status):
    reply = post("/v1/chat/completions", assistant_called(model, arguments))
    assert reply.status == status, reply.body[:300]
    if status == 400:
        assert orjson.loads(reply.body)["error"]["message"] == "invalid tool call arguments"


@pytest.mark.parametrize("model", FAMILIES)
@pytest.mark.parametrize(
    ("case", "arguments", "status", "message"),
    [
        ("5,000-digit integer", '{"a": 1' + "0" * 5000 + "}", 400,
         "json: cannot unmarshal number 1" + "0" * 5000 + " into Go value of type float64"),
        ("arrays 1,000 deep", '{"a": ' + "[" * 1000 + "]" * 1000 + "}", 200, None),
        ("lone surrogate", '{"a": "\\ud800"}', 200, None),
        ("a whole body 10,001 deep", "[" * 10001, 400, "invalid character '[' exceeded max depth"),
    ],
)  # fmt: skip
def test_native_tool_call_arguments_too(model, case, arguments, status, message):
    call_ = '{"function": {"name": "f", "arguments": ' + arguments + "}}"
    body = (
        '{"model": "' + model + '", "stream": false, "messages": [{"role": "assistant", '
        '"content": "", "tool_calls": [' + call_ + ']}, {"role": "user", "content": "hi"}]}'
    ).encode()
    reply = post("/api/chat", body)
    assert reply.status == status, reply.body[:300]
    if message:
        assert orjson.loads(reply.body)["error"] == message


def test_a_lone_surrogate_is_u_fffd_in_the_prompt():
    """Go's decoder replaces it; the prompt is the one with U+FFFD, counted as such."""
    body = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "a\ud800b"}]}
    body["_debug_render_only"] = True
    reply = post("/api/chat", json.dumps(body).encode())
    assert reply.status == 200
    assert "a\ufffdb" in orjson.loads(reply.body)["_debug_info"]["rendered_template"]


GO_SYNTAX = [
    # (body, Go's error text): encoding/json scanner.go contexts
    (b"[" * 10001, "invalid character '[' exceeded max depth"),
    (b'{"a":', "unexpected EOF"),
    (b'{"a" 1}', "invalid character '1' after object key"),
    (b'{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
    (b"[1 2]", "invalid character '2' after array element"),
    (b'{"a":1,}', "invalid character '}' looking for beginning of object key string"),
    (b"[1,]", "invalid character ']' looking for beginning of value"),
    (b"nope", "invalid character 'o' in literal null (expecting 'u')"),
    (b"-x", "invalid character 'x' in numeric literal"),
    (b"[1.]", "invalid character ']' after decimal point in numeric literal"),
    (b'"a\nb"', "invalid character '\\n' in string literal"),
    (b'"\\x"', "invalid character 'x' in string escape code"),
    (b"\xff", "invalid character 'ÿ' looking for beginning of value"),
]


@pytest.mark.parametrize(("body", "message"), GO_SYNTAX)
def test_syntax_errors_are_worded_as_go_words_them(body, message):
    with pytest.raises(GoSyntaxError) as raised:
        go_loads(body)
    assert str(raised.value) == message


def test_what_go_reads_that_orjson_refuses():
    assert go_loads(b'{"a":"\\ud800\\udc00\\ud800x"}') == {"a": "\U00010000\ufffdx"}
    assert go_loads(b'"\xe2\x82x"') == "\ufffd\ufffdx"  # one U+FFFD per invalid byte
    assert go_loads(b'{"model":"m"} trailing') == {"model": "m"}  # json.Decoder reads one value
    deep = go_loads(b"[" * 5000 + b"]" * 5000)
    for _ in range(4999):
        (deep,) = deep
    assert deep == []


def test_arguments_hold_float64s_printed_as_go_prints_them():
    arguments = tool_call_arguments('{"b": 1, "a": [1.0, 1e21, 1e-7, 0.000001, -0.0], "c": null}')
    assert arguments == {"b": 1.0, "a": [1.0, 1e21, 1e-7, 1e-6, -0.0], "c": None}
    assert marshal(sorted_maps(arguments)) == '{"a":[1,1e+21,1e-7,0.000001,-0],"b":1,"c":null}'
    assert format_float(12345678901234567890.0) == "12345678901234567000"
    assert marshal({"x": "<&>\u2028"}) == '{"x":"\\u003c\\u0026\\u003e\\u2028"}'


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/show", b'{"model":"\\ud800"}', None),
        ("/api/chat", b"[" * 100_000, 400),
        ("/v1/chat/completions", b"[" * 100_000, 400),
        (
            "/api/chat",
            b'{"model":"llama3.2:3b","messages":' + b"[" * 3000 + b"]" * 3000 + b"}",
            400,
        ),
    ],
)
def test_replay_answers_what_the_fake_answers(tmp_path, strict, path, body, status):
    """``--replay`` (even an empty directory) keys every body without parsing what the
    decoder rejects into a crash; unmatched, the fake's own 4xx (or strict's 404)."""
    app = create_app(Settings(replay_dir=str(tmp_path), replay_strict=strict))
    reply = post(path, body, app)
    without = post(path, body)
    assert reply.status == (404 if strict else without.status)
    assert status is None or without.status == status
    if strict:
        assert str(tmp_path) not in reply.body.decode()
