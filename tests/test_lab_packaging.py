"""What a new user gets: the console scripts, the lessons inside the wheel, the README's commands.

The wheel is built offline (hatchling, the project's build backend, without isolation) and
opened as a zip: the lesson every experiment points at must be inside it.
"""

from __future__ import annotations

import configparser
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lab.cli import build_parser, main
from lab.experiment import registered

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
SCRIPTS = {"portway-lab": "lab.cli:main", "portway-fake": "mockserver.__main__:main"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    pytest.importorskip("hatchling")  # in the test extra
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("portway_lab-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_carries_every_experiments_lesson(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for experiment in registered():
        assert experiment.lesson in names, experiment.lesson  # lab/lessons/<name>.md
        assert wheel.read(experiment.lesson).startswith(b"# ")


def test_the_wheel_carries_no_answer_keys_nor_notebooks(wheel: zipfile.ZipFile) -> None:
    """The teacher's pack (teacher/, notebooks/) stays in the repository, out of what students
    install: the wheel, and so the class wheelhouse (teacher/GUIDE.md)."""
    assert not [n for n in wheel.namelist() if n.startswith(("teacher/", "notebooks/"))]
    assert not [n for n in wheel.namelist() if "answers" in n or n.endswith(".ipynb")]


def test_the_wheel_declares_both_console_scripts(wheel: zipfile.ZipFile) -> None:
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    parsed = configparser.ConfigParser()
    parsed.read_string(wheel.read(entry_points).decode())
    assert dict(parsed["console_scripts"]) == SCRIPTS


def test_lesson_files_exist_where_this_installation_has_them() -> None:
    for experiment in registered():
        assert experiment.lesson_file.is_file()
        assert experiment.lesson_file.as_posix().endswith(experiment.lesson)


@pytest.mark.parametrize(
    ("script", "says"), [("portway-lab", "COMMAND"), ("portway-fake", "--port")]
)
def test_the_console_scripts_are_installed_and_answer_help(script: str, says: str) -> None:
    path = BIN / script
    if not path.exists():
        pytest.skip(f"{script} is not installed next to {sys.executable} (pip install -e .)")
    done = subprocess.run([str(path), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert says in done.stdout
    if script == "portway-lab":
        assert done.stdout.startswith("usage: portway-lab ")  # named as it was started


# --- every command the README shows -------------------------------------------------------


def readme_commands() -> list[str]:
    """Each line of the README's ```bash blocks, without its comment."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.DOTALL)
    blocks = [block.replace("\\\n", " ") for block in blocks]  # a continued line, as sh joins it
    lines = (line.split("  #")[0].strip() for block in blocks for line in block.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def lab_argv(command: str) -> list[str] | None:
    """``python -m lab ARGS`` / ``portway-lab ARGS`` as argv for the lab; else ``None``."""
    words = shlex.split(command)
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):  # MODEL=... python -m lab ...
        words.pop(0)
    for prefix in (["python", "-m", "lab"], ["portway-lab"], ["uvx", "--from", ".", "portway-lab"]):
        if words[: len(prefix)] == prefix:
            return words[len(prefix) :]
    return None


def test_the_readme_shows_the_install_lines_and_the_script_names() -> None:
    commands = readme_commands()
    for line in ("uv tool install .", "pip install -e ."):
        assert line in commands
    assert any(c.startswith("uvx --from . portway-lab") for c in commands)
    text = README.read_text()
    for script in SCRIPTS:
        assert f"`{script}`" in text


@pytest.mark.parametrize("command", [c for c in readme_commands() if lab_argv(c) is not None])
def test_every_lab_command_in_the_readme_parses(command: str) -> None:
    argv = lab_argv(command)
    assert argv is not None
    # "[EXPERIMENT ...]", "mock|ollama|<base URL>", "[--model M]" are the synopsis line
    if any(mark in command for mark in ("[", "|", "<")):
        pytest.skip("the synopsis line, not a command")
    build_parser({}).parse_args(argv)  # argparse exits on anything it does not understand


@pytest.mark.parametrize(
    "command",
    [
        c
        for c in readme_commands()
        if (argv := lab_argv(c)) is not None
        and (argv[:1] in (["models"], ["list"]) or "mock" in argv)
    ],
)
def test_the_readme_commands_that_need_no_ollama_work_as_written(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """In this process (the start-up is tested elsewhere): the arguments exactly as written."""
    argv = lab_argv(command)
    assert argv is not None
    code = main(argv, env={})
    printed = capsys.readouterr()
    assert code == 0, printed.out[-2000:] + printed.err[-2000:]


@pytest.mark.parametrize(
    "command",
    [c for c in readme_commands() if c.startswith(("python -m mockserver", "portway-fake"))],
)
def test_every_fake_command_in_the_readme_parses(command: str) -> None:
    from mockserver.__main__ import parse_args, settings_from

    words = shlex.split(command)
    argv = words[3:] if words[0] == "python" else words[1:]
    settings_from(parse_args(argv))  # raises, or argparse exits, on a bad flag or value


def test_every_nox_session_the_readme_names_exists() -> None:
    named = {m for c in readme_commands() for m in re.findall(r"nox -s (\w+)", c)}
    noxfile = (ROOT / "noxfile.py").read_text()
    defined = set(re.findall(r"@nox\.session(?:\(name=\"(\w+)\"\))?\ndef (\w+)", noxfile))
    sessions = {name or function for name, function in defined}
    assert named and named <= sessions, named - sessions
