"""``lab fidelity``: the fake against a target, case by case (rendered prompt and count).

Two targets: the fake itself (everything must match), and an Ollama-shaped server mocked with
respx whose answers are built from the corpus's recorded prompts and counts. No real Ollama is
reachable here, so those "recorded" answers are constructed in Ollama's shape (``/api/chat``
with ``_debug_info.rendered_template``, ``prompt_eval_count``), not captured from one; one case
carries an injected one-character drift and a count off by one, and exactly that is reported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from lab.cli import main
from lab.fidelity import bundled_cases, same_blob, visible_diff
from mockserver.server import BackgroundServer

TESTS = Path(__file__).parent
LAB_DATA = TESTS.parent / "lab" / "data"
OLLAMA = "http://ollama.test:11434"
ENV = {"OLLAMA_HOST": "ollama.test:11434"}
CORPUS: list[dict[str, Any]] = json.loads((LAB_DATA / "fidelity_corpus.json").read_text("utf-8"))
REFERENCE: list[dict[str, Any]] = json.loads((LAB_DATA / "fidelity-cases.json").read_text("utf-8"))


def test_the_bundled_corpus_loads_as_package_data() -> None:
    cases = bundled_cases()
    assert len(cases) == len(REFERENCE) + len(CORPUS)
    assert {c.source for c in cases} == {"fidelity-cases.json", "fidelity_corpus.json"}
    think = next(c for c in cases if c.think is not None)
    assert think.body("gpt-oss:20b")["think"] == think.think


# Families whose vocabularies load fast (gemma3's and qwen2.5's take seconds): every family is
# compared with the corpus's recorded prompts in test_templates.py; `python -m lab fidelity
# --target mock` compares them all through this command.
QUICK = ("llama3.2", "llama3.1", "mistral", "gpt-oss:20b")


def test_the_fake_against_itself_matches_everywhere(fake: BackgroundServer, capsys) -> None:
    argv = ["fidelity", "--target", fake.url, "--models", ",".join(QUICK), "--json"]
    assert main(argv, env={}) == 0

    document = json.loads(capsys.readouterr().out)
    assert document["drift"] == []
    assert document["exit_code"] == 0
    # The session fake renders 2026-03-23; the reference fake is started with the target's date.
    assert document["date"] == "2026-03-23"
    assert "read from the target's gpt-oss prompt" in document["date_source"]
    compared = {row["model"]: row for row in document["models"]}
    assert set(compared) == {"llama3.2:3b", "llama3.1:8b", "mistral:7b", "gpt-oss:20b"}
    for row in compared.values():
        assert row["cases"] == row["rendered_matches"] == row["count_matches"]
    # llama3.2, llama3.1 and mistral:7b-instruct run as the pulled tag of the same model.
    wanted = [c for c in bundled_cases() if any(same_blob(c.model, m) for m in QUICK)]
    assert document["cases"] == len(wanted) > 50
    assert document["skipped"] == []


# --- an Ollama that drifts (respx, answers built from the recorded corpus) ------------------

DRIFT_ID = "llama3.1/multi-turn"
PULLED = ("llama3.2:3b", "llama3.1:8b", "gpt-oss:20b")  # not mistral:7b
MODELS = (*PULLED, "mistral:7b")


def _subset() -> list[dict[str, Any]]:
    """Three cases per model, gpt-oss ones rendered on 2026-03-23 (the corpus's usual date)."""
    chosen: list[dict[str, Any]] = []
    for case in (c for c in CORPUS if c["model"] in MODELS):
        same = [c for c in chosen if c["model"] == case["model"]]
        if len(same) < 3 and case.get("current_date", "2026-03-23") == "2026-03-23":
            chosen.append(case)
    assert any(c["id"] == DRIFT_ID for c in chosen)
    return chosen


def _key(body: dict[str, Any]) -> str:
    keep = {k: body.get(k) for k in ("model", "messages", "tools", "think")}
    return json.dumps(keep, sort_keys=True)


class RecordedOllama:
    """Answers ``/api/chat`` as Ollama 0.12.6 would, from the cases' recorded values."""

    def __init__(self, cases: list[dict[str, Any]]) -> None:
        self.answers: dict[str, tuple[str, int]] = {}
        for case in cases:
            rendered, count = case["rendered"], case["prompt_tokens"]
            if case["id"] == DRIFT_ID:  # the injected drift: one character, one token
                rendered = rendered.replace("Ada", "Adа", 1)  # Cyrillic а
                count += 1
            body = {"model": case["model"], "messages": case["messages"]}
            body |= {k: case[k] for k in ("tools", "think") if k in case}
            self.answers[_key(body)] = (rendered, count)

    def install(self, router: respx.MockRouter) -> None:
        router.get(f"{OLLAMA}/api/version").respond(json={"version": "0.12.6"})
        router.get(f"{OLLAMA}/api/tags").respond(
            json={"models": [{"name": m, "model": m} for m in PULLED]}
        )
        router.post(f"{OLLAMA}/api/chat").mock(side_effect=self)
        router.route(host="127.0.0.1").pass_through()  # the reference fake, in-process

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        rendered, count = self.answers[_key(body)]
        created = "2026-03-23T10:00:00.000000000+01:00"
        if body.get("_debug_render_only"):
            return httpx.Response(
                200,
                json={
                    "model": body["model"],
                    "created_at": created,
                    "message": {"role": "", "content": ""},
                    "done": False,
                    "_debug_info": {"rendered_template": rendered},
                },
            )
        assert body["options"] == {"num_predict": 1}
        return httpx.Response(
            200,
            json={
                "model": body["model"],
                "created_at": created,
                "message": {"role": "assistant", "content": "The"},
                "done": True,
                "done_reason": "length",
                "total_duration": 412000000,
                "load_duration": 21000000,
                "prompt_eval_count": count,
                "prompt_eval_duration": 300000000,
                "eval_count": 1,
                "eval_duration": 9000000,
            },
        )


def test_a_drifting_ollama_is_reported_case_by_case(tmp_path: Path, capsys) -> None:
    cases = _subset()
    corpus = tmp_path / "corpus.json"
    corpus.write_text(json.dumps(cases), "utf-8")
    report = tmp_path / "drift.md"
    recorded = next(c for c in cases if c["id"] == DRIFT_ID)

    with respx.mock(assert_all_called=False) as router:
        RecordedOllama(cases).install(router)
        code = main(
            ["fidelity", "--target", "ollama", "--corpus", str(corpus), "--json", "--out",
             str(report)],
            env=ENV,
        )  # fmt: skip

    assert code == 1
    document = json.loads(capsys.readouterr().out)
    assert document["target"]["ollama_version"] == "0.12.6"
    assert document["date"] == "2026-03-23"
    assert [d["id"] for d in document["drift"]] == [DRIFT_ID]
    drift = document["drift"][0]
    assert (drift["render_match"], drift["count_match"]) == (False, False)
    assert drift["target"]["prompt_eval_count"] == recorded["prompt_tokens"] + 1
    assert drift["fake"]["prompt_eval_count"] == recorded["prompt_tokens"]
    assert drift["fake"]["rendered_template"] == recorded["rendered"]
    assert "-Hi! My name is Ada.<|eot_id|>" in drift["diff"]
    assert "+Hi! My name is Adа.<|eot_id|>" in drift["diff"]
    assert "first difference at character" in drift["diff"]
    drifted = next(row for row in document["models"] if row["model"] == "llama3.1:8b")
    assert drifted == {
        "model": "llama3.1:8b",
        "cases": 3,
        "rendered_matches": 2,
        "count_matches": 2,
    }
    others = [row for row in document["models"] if row["model"] != "llama3.1:8b"]
    assert all(row["cases"] == row["rendered_matches"] == row["count_matches"] for row in others)
    assert [(s["model"], s["pull"]) for s in document["skipped"]] == [
        ("mistral:7b", "ollama pull mistral:7b")
    ]

    markdown = report.read_text("utf-8")
    assert "- **target**: Ollama 0.12.6 at http://ollama.test:11434\n" in markdown
    assert f"## {DRIFT_ID} (`llama3.1:8b`)" in markdown
    assert (
        f"prompt_eval_count: target {recorded['prompt_tokens'] + 1} ≠ fake "
        f"{recorded['prompt_tokens']}"
    ) in markdown
    assert "```diff" in markdown
    assert "| `llama3.1:8b` | 3 | 2/3 | 2/3 |" in markdown
    assert "`mistral:7b`: not pulled on the target (`ollama pull mistral:7b`)" in markdown


def test_the_terminal_output_shows_the_diff_and_the_counts(tmp_path: Path, capsys) -> None:
    cases = [c for c in _subset() if c["model"] == "llama3.1:8b"]
    corpus = tmp_path / "corpus.json"
    corpus.write_text(json.dumps(cases), "utf-8")

    with respx.mock(assert_all_called=False) as router:
        RecordedOllama(cases).install(router)
        code = main(["fidelity", "--corpus", str(corpus), "--models", "llama3.1"], env=ENV)

    assert code == 1
    out = capsys.readouterr().out
    recorded = next(c for c in cases if c["id"] == DRIFT_ID)["prompt_tokens"]
    assert f"prompt_eval_count: target {recorded + 1} ≠ fake {recorded}" in out
    assert "+Hi! My name is Adа.<|eot_id|>" in out
    assert "Drift in 1 of 3 cases (1 rendered prompts, 1 counts)" in " ".join(out.split())


# --- an unusable target --------------------------------------------------------------------


@respx.mock
@pytest.mark.parametrize(
    ("version", "says"),
    [
        (httpx.ConnectError("refused"), "Ollama is not reachable at http://ollama.test:11434"),
        ({"version": "0.11.4"}, "Ollama 0.11.4 cannot show its rendered prompts"),
        (httpx.Response(404, text="404 page not found"), "is not Ollama"),
    ],
    ids=["not-running", "too-old", "not-ollama"],
)
def test_an_unusable_target_is_exit_2(version: Any, says: str, capsys) -> None:
    route = respx.get(f"{OLLAMA}/api/version")
    if isinstance(version, dict):
        route.respond(json=version)
    elif isinstance(version, httpx.Response):
        route.mock(return_value=version)
    else:
        route.mock(side_effect=version)

    assert main(["fidelity"], env=ENV) == 2
    assert says in " ".join(capsys.readouterr().err.split())


@respx.mock
def test_nothing_pulled_is_exit_2_with_the_pull_commands(capsys) -> None:
    respx.get(f"{OLLAMA}/api/version").respond(json={"version": "0.12.6"})
    respx.get(f"{OLLAMA}/api/tags").respond(json={"models": []})

    assert main(["fidelity", "--models", "gemma3:4b"], env=ENV) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "Nothing to compare on Ollama at http://ollama.test:11434" in err
    assert "`ollama pull gemma3:4b`" in err


def test_the_diff_draws_newlines() -> None:
    diff = visible_diff("a\nb\nc", "a\nB\nc")
    assert "-b␊" in diff and "+B␊" in diff
    assert diff.endswith("first difference at character 2: fake 'a␊b␊c' vs target 'a␊B␊c'")


@pytest.mark.parametrize(
    ("version", "number"),
    [("0.12.6", (0, 12, 6)), ("v0.32.15-rc2", (0, 32, 15)), ("0.9", None), ("dev", None)],
)
def test_a_release_number_is_read_from_what_api_version_says(
    version: str, number: tuple[int, ...] | None
) -> None:
    from lab.ollama import release_number

    assert release_number(version) == number
