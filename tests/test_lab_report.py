"""``lab report``: the conformance table against the fake (all pass or n.a.) and against "bad"
engines mocked with respx, each breaking one contract point, whose row must fail with evidence.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from lab.cli import main
from lab.conformance import FAIL, NA, PASS, POINTS, SSE
from lab.conformance.probe import MAX_STREAM_BYTES
from mockserver import OLLAMA_VERSION
from mockserver.server import BackgroundServer

POINT_IDS = [point.id for point in POINTS]
BAD = "http://bad.test:8000"
MODEL = "tiny-chat"


def report_json(directory: Path) -> dict[str, Any]:
    return json.loads((directory / "report.json").read_text("utf-8"))


def statuses(document: dict[str, Any]) -> dict[str, str]:
    return {point["id"]: point["status"] for point in document["points"]}


def evidence(document: dict[str, Any], point_id: str) -> str:
    return next(p["evidence"] for p in document["points"] if p["id"] == point_id)


# --- against the fake -----------------------------------------------------------------------


def test_the_fake_passes_every_point_and_the_files_say_so(tmp_path: Path, capsys) -> None:
    assert main(["report", "--target", "mock", "--out", str(tmp_path)], env={}) == 0

    out = capsys.readouterr().out
    assert "OpenAI-compatible conformance" in out
    assert "19 pass · 0 fail · 0 n/a" in " ".join(out.split())
    document = report_json(tmp_path)
    assert list(statuses(document)) == POINT_IDS
    assert set(statuses(document).values()) == {PASS}
    assert document["model"] == "gpt-oss:20b"
    assert document["engine"]["name"] == "portway-fake"
    assert document["summary"] == {PASS: 19, FAIL: 0, NA: 0}
    assert "message.reasoning" in evidence(document, "reasoning_field")
    assert evidence(document, "usage").startswith("prompt 72 + completion ")
    assert "prompt_tokens 72 = non-stream 72" in evidence(document, "stream_include_usage")

    markdown = (tmp_path / "report.md").read_text("utf-8")
    assert markdown.startswith("# OpenAI-compatible conformance report\n")
    for line in ("- **model**: `gpt-oss:20b`", "- **engine**: Portway fake Ollama", "- **date**: "):
        assert line in markdown
    assert "| # | Contract point | Result | Evidence |" in markdown
    assert "| 1 | usage has prompt/completion/total, total = sum | pass | prompt 72" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "pass" in line]
    assert len(rows) == len(POINTS)


def test_a_model_without_reasoning_makes_that_row_not_applicable(
    fake: BackgroundServer, tmp_path: Path
) -> None:
    argv = ["report", "--target", fake.openai_url, "--model", "llama3.2:3b", "--out", str(tmp_path)]
    assert main(argv, env={}) == 0

    document = report_json(tmp_path)
    found = statuses(document)
    assert found.pop("reasoning_field") == NA
    assert set(found.values()) == {PASS}
    assert "no reasoning channel" in evidence(document, "reasoning_field")
    assert document["engine"] == {"name": "ollama", "version": OLLAMA_VERSION}


# --- against bad engines -------------------------------------------------------------------


class Engine:
    """A small OpenAI-compatible server (not Ollama) that can break one point at a time."""

    def __init__(self, **breaks: bool | int) -> None:
        self.no_usage_chunk = bool(breaks.get("no_usage_chunk"))
        self.no_done = bool(breaks.get("no_done"))
        self.crlf = bool(breaks.get("crlf"))
        self.runaway = bool(breaks.get("runaway"))
        self.usage_everywhere = bool(breaks.get("usage_everywhere"))
        self.no_usage = bool(breaks.get("no_usage"))
        self.unknown_status = int(breaks.get("unknown_status", 404))
        self.malformed_status = int(breaks.get("malformed_status", 400))

    def install(self, router: respx.MockRouter) -> None:
        for path in ("/api/version", "/props", "/version"):  # not Ollama, not identifiable
            router.get(f"{BAD}{path}").respond(404, text="404 page not found")
        router.get(f"{BAD}/v1/models").respond(
            json={"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "x"}]}
        )
        router.post(f"{BAD}/v1/chat/completions").mock(side_effect=self)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if not isinstance(body.get("messages"), list):
            return error(self.malformed_status, "messages must be a list")
        if body.get("model") != MODEL:
            return error(self.unknown_status, f"The model `{body.get('model')}` does not exist.")
        prompt = 9 + sum(len(m["content"]) for m in body["messages"]) // 4
        limit = body.get("max_tokens") or 1000
        completion, finish = (limit, "length") if limit < 6 else (6, "stop")
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        head = {"id": "cmpl-abc", "created": 1, "model": MODEL}
        if not body.get("stream"):
            answer = {
                **head,
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "Toronto Montreal"},
                        "finish_reason": finish,
                    }
                ],
            }
            if not self.no_usage:
                answer["usage"] = usage
            return httpx.Response(200, json=answer)
        chunk = {**head, "object": "chat.completion.chunk"}
        events = [
            {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "To"}}]},
            {**chunk, "choices": [{"index": 0, "delta": {"content": "ronto"}}]},
            {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
        ]
        if self.usage_everywhere:
            events = [{**event, "usage": usage} for event in events]
        include = (body.get("stream_options") or {}).get("include_usage")
        if include and not self.no_usage_chunk:
            events.append({**chunk, "choices": [], "usage": usage})
        text = "".join(f"data: {json.dumps(event)}\n\n" for event in events)
        if not self.no_done:
            text += "data: [DONE]\n\n"
        if self.crlf:
            text = text.replace("\n", "\r\n")
        if self.runaway:  # the same events again and again, never an end
            endless = itertools.cycle([text.encode() * 200])
            return httpx.Response(
                200, content=endless, headers={"Content-Type": "text/event-stream"}
            )
        return httpx.Response(200, text=text, headers={"Content-Type": "text/event-stream"})


def error(status: int, message: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={"error": {"message": message, "type": "invalid_request_error", "code": None}},
    )


def run_bad(engine: Engine, tmp_path: Path) -> dict[str, Any]:
    with respx.mock(assert_all_called=False) as router:
        engine.install(router)
        code = main(
            ["report", "--target", f"{BAD}/v1", "--model", MODEL, "--out", str(tmp_path)],
            env={},
        )
    assert code == 0  # the report was produced, failed points and all
    return report_json(tmp_path)


OLLAMA_ONLY = {point.id for point in POINTS if point.ollama_only}


def test_a_good_engine_that_is_not_ollama_passes_with_ollama_points_not_applicable(
    tmp_path: Path,
) -> None:
    document = run_bad(Engine(), tmp_path)

    found = statuses(document)
    assert {k for k, v in found.items() if v == NA} == OLLAMA_ONLY | {"reasoning_field"}
    assert {k for k, v in found.items() if v == PASS} == set(POINT_IDS) - set(
        OLLAMA_ONLY | {"reasoning_field"}
    )
    assert "the target is not Ollama" in evidence(document, "ollama_fingerprint")
    assert document["engine"]["name"] == "unknown"


@pytest.mark.parametrize(
    ("breaks", "failing", "says"),
    [
        (
            {"no_usage_chunk": True},
            {"stream_include_usage"},
            "0 chunks with usage (of 3); expected exactly one",
        ),
        ({"no_done": True}, {"sse_framing"}, "does not end with `data: [DONE]`"),
        ({"crlf": True}, {"sse_framing"}, "CR line endings"),
        (
            {"unknown_status": 500},
            {"unknown_model"},
            "HTTP 500 InternalServerError, not 404 NotFoundError",
        ),
        ({"malformed_status": 422}, {"malformed_request"}, "HTTP 422"),
        (
            {"usage_everywhere": True},
            {"stream_no_usage", "stream_include_usage"},
            "usage in 3 of 3 chunks without include_usage",
        ),
        (
            {"no_usage": True},
            {
                "usage",
                "prompt_tokens_deterministic",
                "prompt_tokens_stateless",
                "max_tokens",
            },
            "no usage object",
        ),
    ],
    ids=[
        "no-usage-chunk",
        "no-done",
        "crlf",
        "unknown-model-500",
        "malformed-422",
        "usage-always",
        "none",
    ],
)
def test_a_bad_engine_fails_exactly_the_points_it_breaks_with_evidence(
    breaks: dict[str, Any], failing: set[str], says: str, tmp_path: Path
) -> None:
    document = run_bad(Engine(**breaks), tmp_path)

    found = statuses(document)
    assert {k for k, v in found.items() if v == FAIL} == failing
    first = next(p for p in POINT_IDS if p in failing)
    assert says in evidence(document, first)
    markdown = (tmp_path / "report.md").read_text("utf-8")
    assert f"| {POINT_IDS.index(first) + 1} | " in markdown
    assert f"- **result**: {19 - len(failing) - 4} pass, {len(failing)} fail" in markdown


def test_a_stream_that_never_ends_is_read_no_further_than_a_bound(tmp_path: Path) -> None:
    document = run_bad(Engine(runaway=True), tmp_path)

    assert statuses(document)["sse_framing"] == FAIL
    said = evidence(document, "sse_framing")
    assert said.startswith(f"the stream went on past {MAX_STREAM_BYTES} bytes")


@respx.mock
def test_an_unreachable_target_is_exit_2_and_no_report(tmp_path: Path, capsys) -> None:
    respx.get(f"{BAD}/api/version").mock(side_effect=httpx.ConnectError("refused"))

    code = main(["report", "--target", f"{BAD}/v1", "--out", str(tmp_path)], env={})

    assert code == 2
    assert f"Nothing answers at {BAD}/v1" in capsys.readouterr().err
    assert not (tmp_path / "report.json").exists()


# --- the SSE reader ------------------------------------------------------------------------


def test_sse_framing_problems_are_named() -> None:
    text = 'data: {"a": 1}\n\nevent: x\ndata: {}\n\ndata: [DONE]\n\ndata: {"late": 1}\n\n'
    sse = SSE.parse(200, "text/event-stream", text)

    assert sse.done is False
    assert sse.chunks == [{"a": 1}, {"late": 1}]
    assert any("event 2 is not one `data: ` line" in p for p in sse.problems)
    assert any("`data: [DONE]` is event 3 of 4" in p for p in sse.problems)


def test_keep_alive_comments_are_allowed() -> None:
    sse = SSE.parse(200, "text/event-stream", ': ping\n\ndata: {"a": 1}\n\ndata: [DONE]\n\n')
    assert (sse.done, sse.problems, sse.chunks) == (True, [], [{"a": 1}])
