"""The experiments beyond Post 1's pair: against the fake, and against respx-mocked engines that
answer differently (a llama.cpp-like server: no reasoning field, 400 on over-long prompts)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from rich.console import Console

from lab import engines
from lab.cli import main
from lab.context import Lab, sdk_client
from lab.experiment import registered, select
from lab.experiments.context_overflow import CODE, context_overflow
from lab.experiments.determinism import determinism
from lab.experiments.history_growth import QUESTIONS, history_growth, linear_fit
from lab.experiments.models_and_errors import models_and_errors
from lab.experiments.reasoning import reasoning
from lab.experiments.streaming_usage import streaming_usage
from lab.ollama import EngineInfo
from lab.targets import resolve
from mockserver.config import Settings
from mockserver.server import BackgroundServer, serving

FAKE = EngineInfo(engines.FAKE, "0.1.0", "0.32.15")  # what preflight says of the bundled fake
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def lab_for(
    url: str,
    model: str = "gpt-oss:20b",
    engine: EngineInfo | None = None,
    **options: Any,
) -> Lab:
    return Lab(
        client=sdk_client(url, "ollama", 30),
        model=model,
        console=Console(file=io.StringIO()),
        target=resolve(url),
        engine=engine or EngineInfo("ollama", "0.12.6"),
        timeout=30,
        progress=False,
        **options,
    )


@pytest.fixture(scope="module")
def small_fake() -> Iterator[BackgroundServer]:
    """A fake with a 1024-token window, so that overflowing it takes few, small requests."""
    with serving(Settings(port=0, num_ctx=1024, current_date="2026-03-23", seed=7)) as server:
        yield server


# --- against the fake ------------------------------------------------------------------------


def test_streaming_without_include_usage_bills_zero(fake: BackgroundServer) -> None:
    finding = streaming_usage(lab_for(fake.openai_url))

    assert finding.status == "ok"
    bare, opted = finding.data["streamed"], finding.data["streamed_include_usage"]
    assert bare["chunks_with_usage"] == [] and bare["usage"] is None
    assert opted["chunks_with_usage"] == [opted["chunks"] - 1]  # one final usage chunk
    assert opted["chunks"] == bare["chunks"] + 1
    whole = finding.data["non_streamed"]["usage"]
    assert opted["usage"]["prompt_tokens"] == whole["prompt_tokens"]
    assert finding.data["metered_tokens"] == {
        "non_streamed": whole["total_tokens"],
        "streamed": 0,
        "streamed_include_usage": opted["usage"]["total_tokens"],
    }
    assert "bills this request as 0 tokens" in finding.explanation[0]
    completions = (whole["completion_tokens"], opted["usage"]["completion_tokens"])
    said = f"completion_tokens was {completions[0]} both ways here"
    assert completions[0] == completions[1]  # the fake's same text...
    assert any(said in line and "can differ" in line for line in finding.explanation)  # ...said


def test_determinism_repeats_the_request_and_prompt_tokens_never_change(
    fake: BackgroundServer,
) -> None:
    finding = determinism(lab_for(fake.openai_url, engine=FAKE, repeat=4))

    assert finding.status == "ok"
    assert len(finding.data["prompt_tokens"]) == 4
    assert len(set(finding.data["prompt_tokens"])) == 1
    assert len(finding.data["completion_tokens"]) == 4
    assert finding.data["distinct_texts"] == 1  # the fake is deterministic, and says so
    assert "all 4 times" in finding.explanation[0]
    assert "the bundled fake runs no model" in finding.explanation[2]
    assert finding.figure.startswith(f"prompt_tokens {finding.data['prompt_tokens'][0]} ×4")


def test_determinism_on_an_engine_that_repeats_itself_does_not_blame_the_fake(
    fake: BackgroundServer,
) -> None:
    """Identical answers from a real engine (temperature 0, say) are reported as observed."""
    finding = determinism(lab_for(fake.openai_url, engine=EngineInfo("ollama", "0.12.6")))

    assert finding.data["distinct_texts"] == 1
    assert "identical in these 3 runs" in finding.explanation[2]
    assert "fake" not in " ".join(finding.explanation)


def test_history_growth_is_linear_per_turn_quadratic_in_total_and_plots_png(
    fake: BackgroundServer, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")  # the plot extra; nox -s tests installs it
    plot = tmp_path / "charts" / "growth.png"
    finding = history_growth(lab_for(fake.openai_url, plot=plot))

    assert finding.status == "ok"
    turns = finding.data["turns"]
    assert [t["messages_sent"] for t in turns] == list(range(1, 2 * len(QUESTIONS), 2))
    per_turn = [t["prompt_tokens"] for t in turns]
    assert per_turn == sorted(per_turn) and per_turn[0] < per_turn[-1]
    running = 0
    for turn in turns:
        running += turn["prompt_tokens"]
        assert turn["cumulative_prompt_tokens"] == running
    fit = finding.data["fit"]["prompt_tokens_per_turn"]
    assert fit["slope"] > 0 and fit["r2"] > 0.95
    assert "grows quadratically" in finding.explanation[1]
    assert [type(s).__name__ for s in finding.show] == ["Facts", "Bars", "Bars"]

    assert plot.read_bytes().startswith(PNG_MAGIC)
    assert finding.data["plot"] == str(plot)
    assert f"Chart written to {plot} (PNG)." in finding.explanation


def test_context_overflow_plateaus_and_the_planted_fact_is_gone(
    small_fake: BackgroundServer,
) -> None:
    finding = context_overflow(lab_for(small_fake.openai_url))

    assert finding.status == "ok", finding.explanation
    data = finding.data
    assert data["window"] == {"tokens": 1024, "source": "GET /api/ps context_length"}
    rows = data["requests"]
    assert 8 <= len(rows) <= 16
    assert max(r["prompt_tokens"] for r in rows) <= 1024
    assert rows[-1]["estimated_tokens"] > 1024  # the client sent more than the window
    assert data["overflow_at_request"] is not None
    assert all(r["truncated"] for r in rows[data["overflow_at_request"] - 1 :])
    assert not any(r["truncated"] for r in rows[: data["overflow_at_request"] - 1])
    assert data["code_in_rendered_prompt"] is False
    assert data["earliest_part_in_rendered_prompt"] > 1
    assert data["code_in_answer"] is False
    text = " ".join(finding.explanation)
    assert "stopped tracking it" in text
    assert f"the locker code {CODE} is gone" in text


def test_context_overflow_on_the_default_window_stays_quick(fake: BackgroundServer) -> None:
    finding = context_overflow(lab_for(fake.openai_url))

    assert finding.status == "ok"
    assert finding.data["window"]["tokens"] == 4096
    assert len(finding.data["requests"]) <= 16


def test_reasoning_splits_content_from_reasoning_and_effort_costs_tokens(
    fake: BackgroundServer,
) -> None:
    finding = reasoning(lab_for(fake.openai_url))

    assert finding.status == "ok"
    runs = finding.data["efforts"]
    assert finding.data["default"]["field"] == "reasoning"
    tokens = [runs[e]["completion_tokens"] for e in ("low", "medium", "high")]
    chars = [runs[e]["reasoning_chars"] for e in ("low", "medium", "high")]
    assert tokens == sorted(tokens) and tokens[0] < tokens[-1]
    assert chars == sorted(chars)
    for run in runs.values():
        assert 0 < run["reasoning_tokens"] < run["completion_tokens"]
    assert "More effort, more reasoning" in finding.explanation[2]


def test_reasoning_is_not_applicable_to_a_model_without_the_channel(
    fake: BackgroundServer,
) -> None:
    finding = reasoning(lab_for(fake.openai_url, model="llama3.2:3b"))

    assert finding.status == "not_applicable"
    assert finding.reason == "llama3.2:3b has no reasoning channel"
    assert "does not support thinking" in finding.data["effort_probe"]
    assert finding.explanation[0].startswith("Not applicable, because llama3.2:3b has no")


def test_models_and_errors_on_the_fake(fake: BackgroundServer) -> None:
    finding = models_and_errors(lab_for(fake.openai_url))

    assert finding.status == "ok"
    assert finding.data["model_listed"] is True
    assert "gpt-oss:20b" in finding.data["models"]
    probes = finding.data["probes"]
    assert probes["unknown model"]["status"] == 404
    assert probes["unknown model"]["sdk_raised"] == "NotFoundError"
    assert probes["unknown model"]["body"]["error"]["type"] == "not_found_error"
    assert probes["empty messages"]["status"] == 400
    assert probes["wrong type"]["status"] == 400
    assert "cannot unmarshal string" in probes["wrong type"]["body"]["error"]["message"]
    assert "A client can branch on the status" in finding.explanation[-1]


# --- the command line ------------------------------------------------------------------------


def test_run_all_against_the_fake_exits_0_with_every_experiment(
    fake: BackgroundServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    plot = tmp_path / "growth.svg"
    code = main(["run", "--all", "--json", "--target", fake.openai_url, "--plot", str(plot)])

    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [e["name"] for e in document["experiments"]] == [e.name for e in registered()]
    assert {e["status"] for e in document["experiments"]} == {"ok"}
    assert all(e["figure"] for e in document["experiments"])
    assert plot.read_text().lstrip().startswith("<?xml")


def test_run_without_names_keeps_the_post1_pair() -> None:
    assert [e.name for e in select([])] == ["round_trip", "stateless"]
    assert len(registered()) == 8
    for experiment in registered():
        assert experiment.lesson_file.is_file(), experiment.lesson


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["run", "--all", "stateless"], "name experiments or use --all, not both"),
        (["run", "stateless", "--plot", "x.svg"], "--plot draws history_growth's chart"),
        (["run", "--repeat", "0"], "is not a whole number from 1 to 100"),
    ],
)
def test_bad_run_flags_exit_2(argv: list[str], says: str, capsys) -> None:
    assert main(argv, env={}) == 2
    assert says in capsys.readouterr().err


# --- a llama.cpp-like engine (respx) ----------------------------------------------------------

LLAMA = "http://llama.test:8080"
LLAMA_MODEL = "gemma-3-270m-q4_k_m"
LLAMA_WINDOW = 2048


def _llama_completion(request: httpx.Request) -> httpx.Response:
    """llama-cpp-python's server, as tools/LLAMACPP_NOTES.md records it: any model name is
    served, ``messages: []`` is answered, a wrong type is a 500, no reasoning field,
    ``include_usage`` is ignored, and a prompt over the window is refused with 400
    ``context_length_exceeded``."""
    try:
        body = json.loads(request.content)
    except ValueError:
        return httpx.Response(500, json={"error": {"message": "bad json"}})
    messages = body.get("messages")
    if not isinstance(messages, list):
        return httpx.Response(
            500,
            json={
                "error": {
                    "message": "1 validation error: Input should be a valid list",
                    "type": "internal_server_error",
                    "param": None,
                    "code": None,
                }
            },
        )
    prompt = 4 + sum(len(str(m.get("content", ""))) // 4 + 4 for m in messages)
    if prompt + (body.get("max_tokens") or 16) > LLAMA_WINDOW:
        return httpx.Response(
            400,
            json={
                "error": {
                    "message": f"This model's maximum context length is {LLAMA_WINDOW} tokens. "
                    f"However, you requested {prompt} tokens. Please reduce the length of the "
                    "messages or completion.",
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": "context_length_exceeded",
                }
            },
        )
    content = "Ottawa is the capital."
    usage = {"prompt_tokens": prompt, "completion_tokens": 6, "total_tokens": prompt + 6}
    if body.get("stream"):
        chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": body["model"]}
        events = [
            {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant"}}]},
            {**chunk, "choices": [{"index": 0, "delta": {"content": content}}]},
            {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        ]
        # stream_options.include_usage is ignored: no chunk carries usage (LLAMACPP_NOTES.md)
        text = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        },
    )


def _llama_routes() -> None:
    respx.get(f"{LLAMA}/api/version").respond(404, json={"detail": "Not Found"})
    respx.get(f"{LLAMA}/v1/models").respond(
        json={"object": "list", "data": [{"id": LLAMA_MODEL, "object": "model", "owned_by": "me"}]}
    )
    respx.get(f"{LLAMA}/props").respond(404)
    respx.post(f"{LLAMA}/v1/chat/completions").mock(side_effect=_llama_completion)


def llama_lab() -> Lab:
    return lab_for(f"{LLAMA}/v1", LLAMA_MODEL, EngineInfo(engines.LLAMA_CPP_PYTHON))


@respx.mock
def test_an_engine_that_refuses_long_prompts_makes_overflow_not_applicable() -> None:
    _llama_routes()

    finding = context_overflow(llama_lab())

    assert finding.status == "not_applicable"
    assert "refuses prompts longer than its context window (HTTP 400)" in finding.reason
    refused = finding.data["refused"]
    assert refused["status"] == 400
    assert refused["window_in_message"] == LLAMA_WINDOW
    assert "maximum context length is 2048" in refused["message"]
    assert "fails loudly" in finding.explanation[2]


@respx.mock
def test_a_model_without_reasoning_field_is_not_applicable_with_evidence() -> None:
    _llama_routes()

    finding = reasoning(llama_lab())

    assert finding.status == "not_applicable"
    assert finding.reason == f"{LLAMA_MODEL} has no reasoning channel"
    assert "without a reasoning field too" in finding.data["effort_probe"]


@respx.mock
def test_an_engine_that_serves_any_model_name_is_a_finding_not_a_failure() -> None:
    _llama_routes()

    finding = models_and_errors(llama_lab())

    assert finding.status == "ok"
    probes = finding.data["probes"]
    assert probes["unknown model"]["status"] == 200
    assert probes["empty messages"]["status"] == 200
    assert probes["wrong type"]["status"] == 500
    text = " ".join(finding.explanation)
    assert "answered 200 instead of 404" in text
    assert "departs from the OpenAI contract in 3 of 3 cases" in text


@respx.mock
def test_run_all_against_a_llama_cpp_like_server_exits_0_with_not_applicable(capsys) -> None:
    _llama_routes()

    code = main(["run", "--all", "--json", "--target", f"{LLAMA}/v1", "--model", LLAMA_MODEL])

    document = json.loads(capsys.readouterr().out)
    assert code == 0, document["error"]
    assert document["engine"] == {
        "name": "llama-cpp-python",
        "version": "",
        "evidence": "GET /v1/models: owned_by 'me'",
    }
    status = {e["name"]: e["status"] for e in document["experiments"]}
    assert status["context_overflow"] == status["reasoning"] == "not_applicable"
    assert status["streaming_usage"] == "not_applicable"  # include_usage is ignored
    assert status["models_and_errors"] == status["history_growth"] == "ok"
    uncapped = [
        c
        for c in respx.calls
        if c.request.method == "POST" and b"max_tokens" not in c.request.content
    ]
    # llama-cpp-python generates until its context is full: every chat call is capped,
    # Post 1's round_trip and stateless included.
    assert uncapped == []
    for entry in document["experiments"]:
        if entry["status"] == "not_applicable":
            assert entry["explanation"][0].startswith("Not applicable, because")


# --- engine detection (table-driven) ---------------------------------------------------------

OTHER = "http://engine.test:8000"


@pytest.mark.parametrize(
    ("models", "headers", "props", "version", "engine"),
    [
        ({"owned_by": "llamacpp"}, {}, None, None, engines.LLAMA_CPP),
        ({"owned_by": "vllm", "max_model_len": 8192}, {}, None, None, engines.VLLM),
        ({"owned_by": "organization_owner"}, {}, None, None, engines.LM_STUDIO),
        ({"owned_by": "me"}, {"server": "uvicorn"}, None, None, engines.LLAMA_CPP_PYTHON),
        ({"owned_by": "x"}, {"server": "llama.cpp"}, None, None, engines.LLAMA_CPP),
        (
            {"owned_by": "x"},
            {},
            {"default_generation_settings": {"n_ctx": 4096}},
            None,
            "llama.cpp",
        ),
        ({"owned_by": "x"}, {}, None, {"version": "0.6.3"}, engines.VLLM),
        ({"owned_by": "openai"}, {}, None, None, engines.UNKNOWN),
    ],
)
@respx.mock
def test_identify(
    models: dict[str, Any],
    headers: dict[str, str],
    props: dict[str, Any] | None,
    version: dict[str, Any] | None,
    engine: str,
) -> None:
    respx.get(f"{OTHER}/v1/models").respond(
        json={"object": "list", "data": [{"id": "m", "object": "model", **models}]},
        headers=headers,
    )
    for path, body in (("/props", props), ("/version", version)):
        route = respx.get(f"{OTHER}{path}")
        route.respond(json=body) if body is not None else route.respond(404)
    target = resolve(f"{OTHER}/v1")

    with httpx.Client() as http:
        found = engines.identify(http, target, http.get(f"{OTHER}/v1/models"))

    assert found.name == engine
    assert (found.evidence != "") == (engine != engines.UNKNOWN)


@pytest.mark.parametrize(
    ("engine", "route", "body", "window"),
    [
        (
            EngineInfo("ollama"),
            "/api/ps",
            {"models": [{"name": "m:latest", "model": "m:latest", "context_length": 8192}]},
            8192,
        ),
        (EngineInfo("ollama"), "/api/ps", {"models": []}, None),  # not loaded yet
        (
            EngineInfo(engines.LLAMA_CPP),
            "/props",
            {"default_generation_settings": {"n_ctx": 4096}},
            4096,
        ),
        (
            EngineInfo(engines.VLLM),
            "/v1/models",
            {"data": [{"id": "m", "max_model_len": 32768}]},
            32768,
        ),
        (EngineInfo(engines.LM_STUDIO), "/api/v0/models/m", {"loaded_context_length": 4096}, 4096),
        (EngineInfo(engines.LLAMA_CPP_PYTHON), "/nothing", {}, None),
    ],
)
@respx.mock
def test_context_window(engine: EngineInfo, route: str, body: dict, window: int | None) -> None:
    respx.get(f"{OTHER}{route}").respond(json=body)

    with httpx.Client() as http:
        found = engines.context_window(http, resolve(f"{OTHER}/v1"), "m", engine)

    assert (found.tokens if found else None) == window


@pytest.mark.parametrize(
    ("status", "message", "refuses", "window"),
    [
        (
            400,
            "This model's maximum context length is 4096 tokens. However, you requested",
            True,
            4096,
        ),
        (400, "the request exceeds the available context size, try increasing it", True, None),
        (400, "Requested tokens (5000) exceed context window of 2048", True, 2048),
        (400, "[] is too short - 'messages'", False, None),
        (500, "maximum context length is 4096", False, 4096),
    ],
)
def test_over_long_prompt_errors(
    status: int, message: str, refuses: bool, window: int | None
) -> None:
    assert engines.refuses_long_prompt(status, message) is refuses
    assert engines.window_in_error(message) == window


def test_fit() -> None:
    assert linear_fit([10, 20, 30, 40]) == (0.0, 10.0, 1.0)
