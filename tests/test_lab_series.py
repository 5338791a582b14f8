"""``python -m lab post 2|3``: Posts 2 and 3 on the llama-server twins, and their preflight."""

from __future__ import annotations

import json

import pytest

from lab.cli import main
from lab.series import targets
from mockserver.server import free_port


def run(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["post", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_post_2_runs_on_the_twins(capsys):
    code, document = run(capsys, "2", "--target", "mock", "--pace", "none")
    assert code == 0
    results = {r["experiment"]: r for r in document["results"]}
    assert [b["model"] for b in document["backends"]] == ["gpt-oss", "qwen3.5"]
    assert all(r["status"] == "ok" for r in results.values())
    voices = results["two_models"]["data"]["same_prompt"]
    assert voices[0]["usage"]["prompt_tokens"] != voices[1]["usage"]["prompt_tokens"]
    assert len(results["two_models"]["data"]["concurrent"]) == 6
    side_by_side = results["two_models"]["data"]["post1_vs_post2"]  # tests/test_lab_renderings.py
    assert [r["identical_text"] for r in side_by_side] == [True, True, False]
    first, again, grown = results["prefix_cache"]["data"]["calls"]
    assert first["answer"] == again["answer"]
    assert first["usage"]["prompt_tokens"] == again["usage"]["prompt_tokens"]
    cached = again["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert cached == again["usage"]["prompt_tokens"] - 1
    assert grown["usage"]["prompt_tokens"] > again["usage"]["prompt_tokens"]


@pytest.mark.parametrize(
    ("argv", "title"),
    [
        (["--backends", f"http://127.0.0.1:{free_port()}"], "No llama-server answers"),
        (["--target", "ollama"], "Posts 2 and 3 need llama-server backends"),
    ],
)
def test_a_missing_backend_is_one_paragraph_and_exit_2(capsys, argv, title):
    code, document = run(capsys, "2", *argv)
    assert code == 2
    assert document["error"]["title"].startswith(title)
    assert "\n" not in document["error"]["message"]


def test_config_yaml_has_the_series_shape():
    backends = [targets.Backend("gpt-oss", "http://127.0.0.1:8010"),
                targets.Backend("qwen3.5", "http://127.0.0.1:8011")]  # fmt: skip
    text = targets.config_yaml(backends)
    assert "  - model_name: qwen3.5\n    litellm_params:\n      model: openai/qwen3.5\n" in text
    assert "      api_base: http://127.0.0.1:8011/v1\n" in text
    assert "  drop_params: true\n" in text and "  master_key: sk-portway-local\n" in text


def test_post_2_prints_each_finding_and_its_lesson(capsys):
    """The terminal output (not --json): every experiment's findings and a lesson that exists."""
    from lab.series.experiments import EXPERIMENTS

    code = main(["post", "2", "--target", "mock", "--pace", "none"])
    printed = capsys.readouterr().out
    assert code == 0, printed[-2000:]
    for experiment in (e for e in EXPERIMENTS if e.post == 2):
        assert f"Lesson: {experiment.lesson}" in printed
        assert experiment.lesson_file.is_file()
