"""The command line: arguments and their environment defaults, target addresses, ``lab models``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lab import machine
from lab.cli import build_parser, main, options_from
from lab.runner import RunOptions
from lab.targets import TargetError, ollama_root, resolve, url_target


def options(*argv: str, **env: str) -> RunOptions:
    """What ``python -m lab run ARGV`` would run, with ``env`` as the environment."""
    return options_from(build_parser(env).parse_args(["run", *argv]), env)


def plain(text: str) -> str:
    return " ".join(text.split())


# --- arguments ------------------------------------------------------------------------------


def test_defaults_run_everything_on_the_bundled_fake_with_the_series_model() -> None:
    run = options()
    assert [e.name for e in run.experiments] == ["round_trip", "stateless"]
    assert run.target.kind == "mock"
    assert run.model == "gpt-oss:20b"
    assert run.api_key == "ollama"
    assert run.timeout == 600
    assert run.as_json is False


def test_model_comes_from_MODEL_and_the_model_flag_wins() -> None:
    assert options(MODEL="llama3.1:8b").model == "llama3.1:8b"
    assert options("--model", "qwen2.5:7b", MODEL="llama3.1:8b").model == "qwen2.5:7b"


def test_api_key_and_timeout_come_from_the_environment_and_flags_win() -> None:
    run = options(OPENAI_API_KEY="sk-local", LAB_TIMEOUT="900")
    assert run.api_key == "sk-local"
    assert run.timeout == 900
    assert options("--timeout", "30", LAB_TIMEOUT="900").timeout == 30
    assert options("--api-key", "k", OPENAI_API_KEY="sk-local").api_key == "k"


def test_experiments_are_named_positionally_and_run_in_registry_order() -> None:
    run = options("stateless", "round_trip")
    assert [e.name for e in run.experiments] == ["round_trip", "stateless"]
    assert [e.name for e in options("stateless").experiments] == ["stateless"]


def test_target_ollama_reads_OLLAMA_HOST() -> None:
    run = options("--target", "ollama", OLLAMA_HOST="gpu-box:11500")
    assert run.target.openai_url == "http://gpu-box:11500/v1"


@pytest.mark.parametrize(
    ("argv", "env", "says"),
    [
        (["run", "telepathy"], {}, "unknown experiment 'telepathy'; known: round_trip, stateless,"),
        (["run"], {"LAB_TIMEOUT": "soon"}, "LAB_TIMEOUT: 'soon' is not a number of seconds"),
        (["run", "--target", "ftp://example.com"], {}, "use mock, ollama, or an http(s) base URL"),
        (["run", "--target", "ollama"], {"OLLAMA_HOST": "localhost:http"}, "is not a port number"),
        (["run", "--model", " "], {}, "--model (or MODEL) is empty"),
    ],
)
def test_bad_settings_are_a_setup_error_with_exit_code_2(
    argv: list[str], env: dict[str, str], says: str, capsys
) -> None:
    assert main(argv, env=env) == 2
    assert says in capsys.readouterr().err


def test_usage_errors_exit_2_and_help_exits_0(capsys) -> None:
    assert main([], env={}) == 2
    assert main(["run", "--timeout", "0"], env={}) == 2
    assert main(["run", "--help"], env={}) == 0
    assert "--target" in capsys.readouterr().out


# --- where --target ollama looks: OLLAMA_HOST, read the way Ollama reads it --------------


@pytest.mark.parametrize(
    ("ollama_host", "root"),
    [
        (None, "http://localhost:11434"),
        ("", "http://localhost:11434"),
        ("localhost:11434", "http://localhost:11434"),
        ("127.0.0.1", "http://127.0.0.1:11434"),
        ("gpu-box:11500", "http://gpu-box:11500"),
        (":11500", "http://localhost:11500"),
        ("0.0.0.0", "http://localhost:11434"),  # bind-all: the server listens, we dial localhost
        ("0.0.0.0:11434", "http://localhost:11434"),
        ("[::1]:11434", "http://[::1]:11434"),
        ("::", "http://localhost:11434"),
        ("http://gpu-box:11434", "http://gpu-box:11434"),
        ("http://gpu-box", "http://gpu-box:80"),
        ("https://ollama.example.com", "https://ollama.example.com:443"),
        ("http://gpu-box:11434/", "http://gpu-box:11434"),
        ("https://proxy.example.com/ollama", "https://proxy.example.com:443/ollama"),
    ],
)
def test_ollama_host_forms(ollama_host: str | None, root: str) -> None:
    assert ollama_root(ollama_host) == root
    target = resolve("ollama", ollama_host=ollama_host)
    assert (target.kind, target.root, target.openai_url) == ("ollama", root, f"{root}/v1")


def test_ollama_host_with_an_unknown_scheme_is_refused() -> None:
    with pytest.raises(TargetError):
        ollama_root("ftp://gpu-box")


# --- where --target URL points ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "root", "openai_url"),
    [
        ("http://localhost:8000/v1", "http://localhost:8000", "http://localhost:8000/v1"),
        ("http://localhost:8000/v1/", "http://localhost:8000", "http://localhost:8000/v1"),
        ("http://localhost:8000", "http://localhost:8000", "http://localhost:8000/v1"),
        ("localhost:8000", "http://localhost:8000", "http://localhost:8000/v1"),
        ("http://h:1/v1/chat/completions", "http://h:1", "http://h:1/v1"),
        (
            "https://api.example.com/openai/v1",
            "https://api.example.com/openai",
            "https://api.example.com/openai/v1",
        ),
        ("http://h:8080/api", "http://h:8080/api", "http://h:8080/api"),
        ("HTTP://user:secret@h:1/v1", "http://h:1", "http://h:1/v1"),
    ],
)
def test_base_url_forms(spec: str, root: str, openai_url: str) -> None:
    target = url_target(spec)
    assert (target.kind, target.root, target.openai_url) == ("url", root, openai_url)


def test_mock_is_resolved_when_the_fake_starts() -> None:
    target = resolve("MOCK")
    assert target.kind == "mock"


# --- lab models -------------------------------------------------------------------------------

TABLE_MODELS = [
    "llama3.2:3b",
    "gemma3:4b",
    "mistral:7b",
    "llama3.1:8b",
    "qwen2.5:7b",
    "qwen2.5:3b",
    "gpt-oss:20b",
]


def test_models_prints_the_post1_table_and_marks_what_fits(monkeypatch, capsys) -> None:
    monkeypatch.setattr(machine, "total_ram_gib", lambda: 9.0)

    assert main(["models"], env={}) == 0

    out = plain(capsys.readouterr().out)
    for model in TABLE_MODELS:
        assert model in out
    assert "Get one with: ollama pull MODEL" in out
    assert "~13.8 GB" in out
    assert "24 GB" in out
    assert "This machine has 9.0 GB of RAM" in out
    assert "The largest that fits: llama3.1:8b" in out
    assert "✓ llama3.1:8b" in out
    assert "✗ gpt-oss:20b" in out


def test_models_json_says_which_fit(monkeypatch, capsys) -> None:
    monkeypatch.setattr(machine, "total_ram_gib", lambda: 9.0)

    assert main(["models", "--json"], env={}) == 0

    document = json.loads(capsys.readouterr().out)
    assert document["ram_gb"] == 9.0
    fits = {row["model"]: row["fits"] for row in document["models"]}
    assert list(fits) == TABLE_MODELS
    assert fits["llama3.1:8b"] is True
    assert fits["gpt-oss:20b"] is False
    gpt_oss = document["models"][-1]
    assert gpt_oss["pull_command"] == "ollama pull gpt-oss:20b"
    assert gpt_oss["min_ram_gb"] == 24
    assert gpt_oss["notes"] == "The default"


def test_models_without_knowing_the_memory_marks_nothing(monkeypatch, capsys) -> None:
    monkeypatch.setattr(machine, "total_ram_gib", lambda: None)

    assert main(["models"], env={}) == 0
    assert "memory could not be read" in capsys.readouterr().out


def test_total_ram_is_read_from_proc_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16318480 kB\nMemFree:         1000 kB\n")
    assert machine._from_meminfo(meminfo) == 16318480 * 1024
    assert machine.total_ram_bytes() is None or machine.total_ram_bytes() > 0


def test_list_names_every_experiment_and_its_lesson(capsys) -> None:
    assert main(["list", "--json"], env={}) == 0
    names = {e["name"]: e["lesson"] for e in json.loads(capsys.readouterr().out)}
    assert names == {
        name: f"lab/lessons/{name}.md"
        for name in (
            "round_trip",
            "stateless",
            "streaming_usage",
            "determinism",
            "history_growth",
            "context_overflow",
            "reasoning",
            "models_and_errors",
        )
    }


def test_python_dash_m_lab_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lab", "list"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "round_trip" in done.stdout


# --- typos get a suggestion ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "choices", "suggested"),
    [
        ("llama3.2:3", ["llama3.2:3b", "llama3.2:1b", "qwen2.5:3b"], "llama3.2:3b"),
        ("mokc", ["mock", "ollama"], "mock"),
        ("OLAMA", ["mock", "ollama"], "ollama"),
        ("stateles", ["round_trip", "stateless"], "stateless"),
        ("gpt-oss:20b", ["llama3.2:3b"], None),
        ("localhost", ["mock", "ollama"], None),
    ],
)
def test_the_closest_name_is_suggested(word: str, choices: list[str], suggested: str | None):
    from lab.suggest import closest, did_you_mean

    assert closest(word, choices) == suggested
    assert did_you_mean(word, choices) == (f" Did you mean {suggested}?" if suggested else "")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["run", "--target", "mokc"], "--target 'mokc' is not a target. Did you mean mock?"),
        (["run", "--target", "olama"], "Did you mean ollama?"),
        (["run", "stateles"], "unknown experiment 'stateles'; Did you mean stateless?"),
    ],
)
def test_a_mistyped_target_or_experiment_gets_did_you_mean_and_exit_2(
    argv: list[str], says: str, capsys
) -> None:
    assert main(argv, env={}) == 2
    assert says in plain(capsys.readouterr().err)


def test_a_bare_host_name_that_resembles_no_target_is_still_a_url() -> None:
    assert resolve("gpu-box").openai_url == "http://gpu-box/v1"
    assert resolve("http://mokc:8000").openai_url == "http://mokc:8000/v1"


def test_a_mistyped_model_on_the_fake_gets_did_you_mean(capsys) -> None:
    assert main(["run", "round_trip", "--target", "mock"], env={"MODEL": "llama3.2:3"}) == 2
    err = plain(capsys.readouterr().err)
    assert "The bundled fake does not serve llama3.2:3" in err
    assert "Did you mean llama3.2:3b?" in err


def test_a_mistyped_model_on_ollama_gets_did_you_mean_in_the_missing_model_paragraph(
    fake, capsys
) -> None:
    """The fake answers as Ollama does at a URL: /api/tags lists what it has pulled."""
    assert main(["run", "--target", fake.url, "--model", "llama3.2:3"], env={}) == 2
    err = plain(capsys.readouterr().err)
    assert "Model llama3.2:3 is not pulled" in err
    assert "Did you mean llama3.2:3b?" in err


# --- one memory rule, stated where it is shown ---------------------------------------------


@pytest.mark.parametrize("ram_gib", [7.1, 7.2, 9.0, 21.5, 21.6, 23.5, 64.0])
def test_lab_models_and_the_missing_model_paragraph_agree_on_what_fits(
    ram_gib: float, monkeypatch, capsys
) -> None:
    from lab.modeltable import FIT_RULE, memory_advice, table

    monkeypatch.setattr(machine, "total_ram_gib", lambda: ram_gib)
    assert main(["models"], env={}) == 0
    out = plain(capsys.readouterr().out)
    assert f"This machine has {ram_gib:.1f} GB of RAM" in out
    assert plain(FIT_RULE) in out
    for row in table():
        fits = row.fits(ram_gib)
        assert f"{'✓' if fits else '✗'} {row.model}" in out
        advice = memory_advice(row.model, ram_gib)
        assert (
            f"This machine has {ram_gib:.1f} GB of RAM, so {row.model} "
            + ("fits" if fits else "does not fit")
            in advice
        )
        assert FIT_RULE in advice


def test_the_24_gb_machine_that_reads_23_5_runs_the_default_model() -> None:
    from lab.modeltable import row_for

    row = row_for("gpt-oss:20b")
    assert row is not None and row.min_ram_gb == 24
    assert row.fits(23.5) and not row.fits(21.5)


# --- the end of a run: one summary, and what --record saved --------------------------------


def test_run_all_ends_with_one_summary_and_says_what_it_recorded(fake, tmp_path, capsys) -> None:
    from lab.experiment import registered

    saved = tmp_path / "recording"
    argv = ["run", "--all", "--target", fake.openai_url, "--record", str(saved)]
    assert main(argv, env={}) == 0

    raw = capsys.readouterr().out
    out = plain(raw)
    assert out.count("Summary: 8 experiments") == 1
    summary = out[out.index("Summary: 8 experiments") :]
    for experiment in registered():
        assert f"{experiment.name} shown" in summary
    assert "8 shown, 0 not applicable, 0 unexpected" in summary
    files = sorted(saved.glob("*.json"))
    assert files
    # the folder on its own line (folded only where it is longer than the line)
    assert f"Recorded{len(files)}exchangesin:{saved}python-m" in "".join(raw.split())
    assert "python -m mockserver --replay" in summary


def test_one_experiment_needs_no_summary(fake, capsys) -> None:
    assert main(["run", "round_trip", "--target", fake.openai_url], env={}) == 0
    assert "Summary:" not in capsys.readouterr().out


def test_a_recording_path_that_fits_a_line_is_printed_whole_at_80_columns(tmp_path) -> None:
    """The folder --record names is on a line of its own: not cut by a line break inside it
    (copied whole), every line within 80 columns."""
    import io

    from rich.console import Console

    from lab.report import recorded

    long = tmp_path / ("x" * max(0, 76 - len(str(tmp_path)) - 2)) / "r"  # 78 columns with indent
    for directory in (tmp_path / "rec", Path("runs/post-1"), long):
        out = io.StringIO()
        recorded(Console(file=out, width=80, color_system=None), directory, 3)
        lines = out.getvalue().splitlines()
        assert f"  {directory}" in lines
        assert lines[lines.index(f"  {directory}") - 1] == "Recorded 3 exchanges in:"
        assert all(len(line) <= 80 for line in lines)
