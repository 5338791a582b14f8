"""The lab starts in a blink: commands that never talk to a target never load what talking needs.

Checked in a fresh interpreter (``sys.modules`` at exit), since the test process has imported
everything long ago. Times are measured, not asserted (``nox -s bench`` publishes them).
"""

from __future__ import annotations

import json
import subprocess
import sys

from lab import cli, errors

HEAVY = ("openai", "fastapi", "tokenizers", "uvicorn", "httpx", "tiktoken", "sentencepiece")


def modules_loaded_by(code: str) -> set[str]:
    """The top-level packages a fresh ``python -c CODE`` has imported when it ends."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    last = done.stdout.strip().splitlines()[-1]
    return {name.partition(".")[0] for name in json.loads(last)}


def test_importing_lab_cli_loads_neither_the_sdk_nor_the_fake_nor_a_tokenizer() -> None:
    loaded = modules_loaded_by("import lab.cli")
    assert not loaded & {"openai", "fastapi", "tokenizers"}
    assert not loaded & set(HEAVY)
    assert "rich" not in loaded  # printing loads it


OFFLINE_COMMANDS = [
    ["--version"],
    ["--help"],
    ["list"],
    ["list", "--json"],
    ["models"],
    ["models", "--json"],
    ["run", "--help"],
]


def test_commands_that_talk_to_no_target_load_no_sdk_http_or_fake() -> None:
    """All of them in one interpreter: if together they load none, none of them does."""
    code = (
        "import contextlib, io\nfrom lab.cli import main\n"
        f"for argv in {OFFLINE_COMMANDS!r}:\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        assert main(argv) == 0, argv"
    )
    assert not modules_loaded_by(code) & set(HEAVY)


def test_the_exit_codes_cli_repeats_are_lab_errors_own() -> None:
    assert (cli.EXIT_OK, cli.EXIT_SETUP) == (errors.EXIT_OK, errors.EXIT_SETUP)


def test_the_experiments_names_need_no_experiment_module() -> None:
    loaded = modules_loaded_by("import lab.cli\nlab.cli.build_parser({})")
    assert "lab" in loaded
    probe = "import lab.cli, sys\nlab.cli.build_parser({})\nprint([m for m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "lab.experiments.round_trip" not in done.stdout


def test_every_experiment_module_is_in_the_run_order_and_registers_its_own_name() -> None:
    from pathlib import Path

    import lab.experiments
    from lab.experiment import names, registered

    folder = Path(lab.experiments.__file__).parent
    modules = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
    assert set(names()) == modules
    assert [e.name for e in registered()] == list(names())
