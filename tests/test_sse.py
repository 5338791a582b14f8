"""The one stream reader (mockserver/wire/sse.py): frames as they arrive, events by the WHATWG
rules, and, in strict mode, every way a body leaves the framing OpenAI clients rely on."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mockserver.server import BackgroundServer
from mockserver.wire.sse import DONE, Framer, Segment, frames, parse, payloads, read_event

A = 'data: {"a": 1}\n\n'
B = 'data: {"b": 2}\n\n'
END = "data: [DONE]\n\n"


def segments_of(reads: list[bytes], kind: Any = "sse", limit: int = 1 << 20) -> list[Segment]:
    framer = Framer(kind, limit=limit)
    found = [segment for data in reads for segment in framer.feed(data)]
    return found + framer.finish()


# --- framing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (A + END, [A, END]),
        (
            'data: {"a": 1}\r\n\r\ndata: [DONE]\r\n\r\n',
            ['data: {"a": 1}\r\n\r\n', "data: [DONE]\r\n\r\n"],
        ),
        ("data: x\r\rdata: y\r\r", ["data: x\r\r", "data: y\r\r"]),
        ("data: x\r\n\ndata: y\n\r\n", ["data: x\r\n\n", "data: y\n\r\n"]),
        (": ping\n\n" + A, [": ping\n\n", A]),
        ("event: e\ndata: x\nid: 1\n\n", ["event: e\ndata: x\nid: 1\n\n"]),
    ],
    ids=["lf", "crlf", "cr", "mixed", "comment", "several-fields"],
)
def test_a_frame_ends_at_a_blank_line_of_any_line_ending(body: str, expected: list[str]) -> None:
    found = frames(body.encode())
    assert [segment.data.decode() for segment in found] == expected
    assert all(segment.ended and not segment.oversized for segment in found)


@pytest.mark.parametrize(
    "body",
    [A + B + END, A.replace("\n", "\r\n") + END.replace("\n", "\r\n"), "data: x\r\rdata: y\r\r"],
)
def test_frames_split_across_reads_come_out_the_same(body: str) -> None:
    raw = body.encode()
    whole = frames(raw)
    byte_by_byte = segments_of([raw[i : i + 1] for i in range(len(raw))])
    assert byte_by_byte == whole
    assert b"".join(segment.data for segment in whole) == raw


def test_a_crlf_is_one_line_ending_not_two() -> None:
    assert frames(b"data: a\r\nid: 1\r\n\r\n") == [Segment(b"data: a\r\nid: 1\r\n\r\n")]


def test_a_cr_at_the_end_of_a_read_waits_for_its_lf() -> None:
    framer = Framer()
    assert framer.feed(b"data: x\r\n\r") == []  # the next byte may make it \r\n\r\n
    assert framer.feed(b"\ndata: y") == [Segment(b"data: x\r\n\r\n")]
    assert framer.finish() == [Segment(b"data: y", ended=False)]


def test_a_partial_frame_at_the_end_of_the_body_is_kept_and_marked() -> None:
    found = frames((A + 'data: {"cut').encode())
    assert found == [Segment(A.encode()), Segment(b'data: {"cut', ended=False)]


def test_a_huge_frame_is_cut_at_the_limit_and_the_buffer_stays_bounded() -> None:
    limit = 16
    huge = b"data: " + b"x" * 50 + b"\n\n"
    framer = Framer(limit=limit)
    found: list[Segment] = []
    for start in range(0, len(huge + A.encode()), 5):
        found += framer.feed((huge + A.encode())[start : start + 5])
        assert framer.pending <= limit + 3
    found += framer.finish()
    assert b"".join(segment.data for segment in found) == huge + A.encode()
    assert [len(s.data) for s in found if s.oversized] == [16, 16, 16, 10]
    assert [s.ended for s in found] == [False, False, False, True, True]
    assert found[-1] == Segment(A.encode())


def test_ndjson_is_one_frame_per_line() -> None:
    body = b'{"a":1}\n{"b":2}\n{"c"'
    assert segments_of([body[:3], body[3:]], "ndjson") == [
        Segment(b'{"a":1}\n'),
        Segment(b'{"b":2}\n'),
        Segment(b'{"c"', ended=False),
    ]
    assert list(payloads([s.data for s in frames(body, "ndjson")], "ndjson")) == [
        {"a": 1},
        {"b": 2},
    ]


# --- one event -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "data", "event", "comments"),
    [
        ("data: x\n\n", "x", "", ()),
        ("data:x\n\n", "x", "", ()),  # the space after the colon is optional
        ("data:  x\n\n", " x", "", ()),  # only one space is dropped
        ("data\n\n", "", "", ()),  # a field without a colon has an empty value
        ("data: a\ndata: b\n\n", "a\nb", "", ()),  # data lines join with \n
        ("event: delta\ndata: x\n\n", "x", "delta", ()),
        (": keep-alive\n\n", None, "", ("keep-alive",)),
        ("id: 7\n\n", None, "", ()),  # no data: nothing to dispatch
    ],
)
def test_an_event_is_read_by_the_whatwg_rules(
    frame: str, data: str | None, event: str, comments: tuple[str, ...]
) -> None:
    read = read_event(frame)
    assert (read.data, read.event, read.comments) == (data, event, comments)


# --- a whole body, strict and lenient --------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "chunks", "done", "problems"),
    [
        (A + B + END, [{"a": 1}, {"b": 2}], True, []),
        (": ping\n\n" + A + END, [{"a": 1}], True, []),
        (
            A.replace("\n", "\r\n") + END.replace("\n", "\r\n"),
            [{"a": 1}],
            True,
            ["CR line endings"],
        ),
        (A + B, [{"a": 1}, {"b": 2}], False, ["does not end with `data: [DONE]`"]),
        (A + "data: [DONE]", [{"a": 1}], True, ["the body does not end with a blank line"]),
        (
            A + 'data: {"b"',
            [{"a": 1}],
            False,
            ["does not end with a blank line", "not JSON", "does not end with"],
        ),
        (END + A, [{"a": 1}], False, ["`data: [DONE]` is event 1 of 2", "does not end with"]),
        ("event: x\ndata: {}\n\n" + END, [], True, ["event 1 is not one `data: ` line"]),
        ("data: {\ndata: }\n\n" + END, [], True, ["event 1 is not one `data: ` line"]),
        ('data:{"a": 1}\n\n' + END, [], True, ["event 1 is not one `data: ` line"]),
        ("data: hello\n\n" + END, [], True, ["event 1 is not JSON: hello"]),
        ("data: [1, 2]\n\n" + END, [], True, ["event 1 is JSON but not an object"]),
        ("", [], False, ["does not end with `data: [DONE]` (last event: (no events))"]),
        ("data: " + "x" * 100 + "\n\n" + A + END, [{"a": 1}], True, ["event 1 is larger than 64"]),
    ],
    ids=[
        "good",
        "comment",
        "crlf",
        "no-done",
        "partial-done",
        "cut-mid-json",
        "done-first",
        "event-field",
        "multi-line-data",
        "no-space",
        "not-json",
        "not-object",
        "empty",
        "huge",
    ],
)
def test_strict_parsing_names_every_framing_problem(
    body: str, chunks: list[dict[str, Any]], done: bool, problems: list[str]
) -> None:
    stream = parse(body, strict=True, limit=64)
    assert (stream.chunks, stream.done) == (chunks, done)
    assert len(stream.problems) == len(problems), stream.problems
    for found, expected in zip(stream.problems, problems, strict=True):
        assert expected in found


@pytest.mark.parametrize(
    ("body", "chunks", "done"),
    [
        ("event: x\ndata: {}\n\n" + END, [{}], True),
        ('data: {"a":\ndata: 1}\n\n' + END, [{"a": 1}], True),
        ('data:{"a": 1}\r\n\r\n' + END, [{"a": 1}], True),
        (A, [{"a": 1}], False),
    ],
    ids=["event-field", "multi-line-data", "no-space-crlf", "no-done"],
)
def test_lenient_parsing_reads_what_an_sdk_reads_and_says_nothing(
    body: str, chunks: list[dict[str, Any]], done: bool
) -> None:
    stream = parse(body)
    assert (stream.chunks, stream.done, stream.problems) == (chunks, done, [])


def test_payloads_are_the_json_of_each_event_without_done_or_comments() -> None:
    usage = {"choices": [], "usage": {"prompt_tokens": 3}}
    body = (": ping\n\n" + A + f"data: {json.dumps(usage)}\n\n" + END).encode()
    assert list(payloads(s.data for s in frames(body))) == [{"a": 1}, usage]
    assert DONE == "[DONE]"


# --- the readers that use it -----------------------------------------------------------------


def test_the_llamacpp_probe_reads_a_live_stream_event_by_event(fake: BackgroundServer) -> None:
    from tools.llamacpp_server import _sse

    body = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "Hi"}], "stream": True}
    status, headers, events, first = _sse(f"{fake.openai_url}/chat/completions", body)

    assert (status, headers["content-type"]) == (200, "text/event-stream")
    assert events[-1] == DONE and first >= 0
    chunks = [json.loads(event) for event in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_verify_replay_cuts_a_body_into_the_frames_the_recorder_keeps() -> None:
    import httpx

    from tools.verify_replay import frames_of

    body = (A + "data: x\r\n\r\n" + END).encode()
    response = httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
    assert frames_of(response, "text/event-stream") == [
        A.encode(),
        b"data: x\r\n\r\n",
        END.encode(),
    ]
