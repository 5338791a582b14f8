"""``lab fidelity`` over the embedding cases: ``prompt_eval_count`` of ``/api/embed``, target
against fake, in a table of its own.

Two targets, as for the chat cases (``tests/test_lab_fidelity.py``): the bundled fake itself
(``--target mock``: every case must match), and an Ollama-shaped server mocked with respx that
answers ``/api/embed`` with the counts and refusals the cases record (constructed in Ollama's
shape, not captured), one count off by one: exactly that case is reported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import respx

from lab.cli import main
from lab.fidelity_embed import bundled_embed_cases

LAB_DATA = Path(__file__).parents[1] / "lab" / "data"
OLLAMA = "http://ollama.test:11434"
ENV = {"OLLAMA_HOST": "ollama.test:11434"}
CASES: list[dict[str, Any]] = json.loads((LAB_DATA / "embedding-cases.json").read_text("utf-8"))
DRIFT_ID = "E2"


def test_the_embedding_cases_load_as_package_data() -> None:
    cases = bundled_embed_cases()
    assert [c.id for c in cases] == [c["id"] for c in CASES]
    first = cases[0]
    assert first.body("all-minilm:latest") == {"model": "all-minilm:latest", "input": first.input}
    truncated = next(c for c in cases if c.truncate is False)
    assert truncated.body("m")["truncate"] is False


def test_the_bundled_fake_matches_itself_on_every_embedding_case(capsys) -> None:
    """--target mock serves the embedding models too; --models picks only them."""
    assert main(["fidelity", "--target", "mock", "--models", "all-minilm", "--json"], env={}) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["embedding_models"] == [
        {"model": "all-minilm", "cases": len(CASES), "count_matches": len(CASES)}
    ]
    assert (document["embedding_cases"], document["embedding_drift"]) == (len(CASES), [])
    assert (document["cases"], document["models"], document["skipped"]) == (0, [], [])


class RecordedEmbeddings:
    """``/api/embed`` as an Ollama would answer the cases: their counts, their refusals."""

    def __init__(self, drift_id: str) -> None:
        self.drift_id = drift_id

    def install(self, router: respx.MockRouter, pulled: list[str]) -> None:
        router.get(f"{OLLAMA}/api/version").respond(json={"version": "0.32.15"})
        router.get(f"{OLLAMA}/api/tags").respond(
            json={"models": [{"name": m, "model": m} for m in pulled]}
        )
        router.post(f"{OLLAMA}/api/embed").mock(side_effect=self)
        router.route(host="127.0.0.1").pass_through()  # the reference fake, in-process

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        case = next(
            c
            for c in CASES
            if c["input"] == body["input"] and c.get("truncate") == body.get("truncate")
        )
        if "error" in case:
            return httpx.Response(case["error"]["status"], json={"error": case["error"]["message"]})
        count = case["prompt_eval_count"] + (1 if case["id"] == self.drift_id else 0)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return httpx.Response(
            200,
            json={
                "model": body["model"],
                "embeddings": [[0.6, 0.8] for _ in inputs],
                "total_duration": 14000000,
                "load_duration": 1000000,
                "prompt_eval_count": count,
            },
        )


def test_a_drifting_count_is_reported_case_by_case(tmp_path: Path, capsys) -> None:
    report = tmp_path / "drift.md"
    with respx.mock(assert_all_called=False) as router:
        RecordedEmbeddings(DRIFT_ID).install(router, ["all-minilm:latest"])
        code = main(["fidelity", "--models", "all-minilm", "--json", "--out", str(report)], env=ENV)

    assert code == 1
    document = json.loads(capsys.readouterr().out)
    assert document["embedding_models"] == [
        {"model": "all-minilm", "cases": len(CASES), "count_matches": len(CASES) - 1}
    ]
    [drift] = document["embedding_drift"]
    recorded = next(c for c in CASES if c["id"] == DRIFT_ID)["prompt_eval_count"]
    assert (drift["id"], drift["count_match"]) == (DRIFT_ID, False)
    assert drift["target"] == {"prompt_eval_count": recorded + 1, "error": None}
    assert drift["fake"] == {"prompt_eval_count": recorded, "error": None}
    # the refusals (truncate: false past the context) match, status and words
    assert document["exit_code"] == 1

    markdown = report.read_text("utf-8")
    assert f"| `all-minilm` | {len(CASES)} | {len(CASES) - 1}/{len(CASES)} |" in markdown
    assert f"## {DRIFT_ID} (`all-minilm`, /api/embed)" in markdown
    assert f"prompt_eval_count: target {recorded + 1} ≠ fake {recorded}" in markdown


def test_the_terminal_shows_the_embedding_table(capsys) -> None:
    with respx.mock(assert_all_called=False) as router:
        RecordedEmbeddings(DRIFT_ID).install(router, ["all-minilm:latest"])
        code = main(["fidelity", "--models", "all-minilm"], env=ENV)

    assert code == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "embedding models (/api/embed)" in out
    assert f"all-minilm {len(CASES)} {len(CASES) - 1}/{len(CASES)}" in out
    assert f"Drift in 1 of {len(CASES)} embedding cases (prompt_eval_count)." in out


def test_embedding_cases_in_a_corpus_file_are_compared_too(tmp_path: Path, capsys) -> None:
    """A --corpus file may mix chat cases and embedding cases ("endpoint": "embed")."""
    corpus = tmp_path / "corpus.json"
    corpus.write_text(json.dumps(CASES[:2]), "utf-8")
    with respx.mock(assert_all_called=False) as router:
        RecordedEmbeddings("none").install(router, ["all-minilm"])
        code = main(["fidelity", "--corpus", str(corpus), "--json"], env=ENV)

    assert code == 0
    document = json.loads(capsys.readouterr().out)
    assert document["embedding_models"] == [{"model": "all-minilm", "cases": 2, "count_matches": 2}]


def test_an_embedding_model_not_pulled_is_skipped_with_its_pull(capsys) -> None:
    with respx.mock(assert_all_called=False) as router:
        RecordedEmbeddings("none").install(router, [])
        code = main(["fidelity", "--models", "all-minilm"], env=ENV)

    assert code == 2
    assert "`ollama pull all-minilm`" in " ".join(capsys.readouterr().err.split())
