"""Portway Lab's jobs. `nox -s mock` is the main one; `nox -s tests` is what CI runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).resolve().parent))  # nox does not: for tools/
from tools.nox_llamacpp import llamacpp as _llamacpp

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["mock", "tests"]
nox.options.reuse_existing_virtualenvs = True


def _lab(session: nox.Session, *args: str) -> None:
    """``python -m lab ARGS`` in the session's venv; nox then exits with the lab's own code.

    nox turns every failure into exit code 1; the lab's codes say more (2: the target is not
    usable, e.g. Ollama is not running; 1: an experiment failed), so they are passed on.
    """
    session.log(f"python -m lab {' '.join(args)}")
    env = {**os.environ, "PATH": os.pathsep.join([session.bin, os.environ.get("PATH", "")])}
    code = subprocess.call([str(Path(session.bin) / "python"), "-m", "lab", *args], env=env)
    if code:
        session.log(f"the lab exited with code {code}")
        raise SystemExit(code)


def _posts(posargs: list[str], default: list[int]) -> tuple[list[int], list[str]]:
    """``--post N`` (repeatable, or ``--post 2,3``) out of the session's arguments."""
    posts: list[int] = []
    rest: list[str] = []
    args = iter(posargs)
    for arg in args:
        if arg == "--post" or arg.startswith("--post="):
            value = arg.partition("=")[2] or next(args, "")
            posts += [int(n) for n in value.split(",") if n.strip().isdigit()]
        else:
            rest.append(arg)
    return posts or default, rest


def _series(session: nox.Session, target: str, posts: list[int], rest: list[str]) -> None:
    """Post 1 with ``lab run``; Posts 2 and 3 with ``lab post`` (llama-server backends)."""
    if 1 in posts:
        _lab(session, "run", "--target", target, *(rest or ["--all"]))
    later = [str(n) for n in posts if n in (2, 3, 6, 7)]
    if later:
        where = ["--target", "mock"]
        if {"6", "7"} & set(later):  # their charts
            where += ["--plot", "lab-output/series"]
        if target != "mock":
            where = ["--backends", os.environ.get("LAB_BACKENDS", "http://127.0.0.1:8010,"
                                                  "http://127.0.0.1:8011")]  # fmt: skip
            if not set(later) <= {"6", "7"}:  # Posts 6-7 need no gateway
                where += ["--gateway", os.environ.get("LAB_GATEWAY", "http://127.0.0.1:4000")]
        _lab(session, "post", *later, *where)


@nox.session
def mock(session: nox.Session) -> None:
    """Run the lab against the bundled fakes: Post 1 on the fake Ollama, Posts 2-3 on the
    llama-server twins and a real LiteLLM proxy, Posts 6-7 on a twin and the fake Ollama
    (``-- --post 3`` picks one)."""
    session.install(".[gateway,plot]")  # plot: the charts of Posts 6-7
    posts, rest = _posts(session.posargs, [1, 2, 3, 6, 7])
    _series(session, "mock", posts, rest)


@nox.session
def real(session: nox.Session) -> None:
    """The same against your own servers: Post 1 on Ollama (MODEL, OLLAMA_HOST); Posts 2-3
    (``-- --post 2``) on LAB_BACKENDS (default :8010,:8011) and LAB_GATEWAY (:4000)."""
    session.install(".")
    posts, rest = _posts(session.posargs, [1])
    _series(session, "ollama", posts, rest)


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite: unit tests, the fake over real sockets, fidelity cases."""
    session.install("-e", ".[test,plot]")  # plot: the --plot tests draw real PNG/SVG/PDF
    session.run("python", "-m", "pytest", "-q", *session.posargs, env={"PYTHONHASHSEED": "0"})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format) and mypy (types of lab/ and mockserver/), as the project is kept."""
    session.install("ruff>=0.17,<0.18")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # The type checker sees the code with its dependencies, as it runs (pyproject [tool.mypy]).
    session.install("-e", ".[test,plot]", "mypy>=2.4,<3", "types-jsonschema", "types-PyYAML")
    session.run("mypy")


@nox.session
def fake(session: nox.Session) -> None:
    """Serve the fake Ollama in the foreground on 127.0.0.1:11434 (Ctrl-C to stop)."""
    session.install(".")
    session.run("python", "-m", "mockserver", *session.posargs, env=dict(os.environ))


@nox.session
def bench(session: nox.Session) -> None:
    """Loopback benchmark of the fake against bare ASGI ceilings; writes docs/benchmarks.md."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "bench.run", *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """The property-based fuzz tests at full size (over 10,000 requests, new examples each run),
    with the attack families of issue 10: hostile tool-call arguments (numbers beyond float64,
    nesting to Go's 10,000 limit, lone surrogates), bodies under ``--replay``, browsers'
    Origin and Host headers; then the hostile-client regression tests (slow, hanging up,
    the open-file limit, per-key bounds, security)."""
    session.install("-e", ".[test,fuzz]")
    env = {"PORTWAY_FUZZ_EXAMPLES": "850", "PORTWAY_FUZZ_RANDOM": "1", "PYTHONHASHSEED": "0"}
    tests = [
        "tests/test_fuzz.py",
        "tests/test_schemathesis.py",
        "tests/test_fuzz_hostile.py",
        "tests/test_hostile_input.py",
        "tests/test_connections.py",
        "tests/test_bounds.py",
        "tests/test_security.py",
    ]
    session.run("python", "-m", "pytest", "-q", *tests, *session.posargs, env=env)


@nox.session
def loadtool(session: nox.Session) -> None:
    """NVIDIA AIPerf (``aiperf profile``) against the llama-server twin: the lab's Post 7
    statistics, computed from AIPerf's per-request records, must equal AIPerf's summary.
    Not in the default run: aiperf brings ~140 packages (transformers, no torch)."""
    session.install("-e", ".", "aiperf==0.13.0")
    session.run("python", "tools/aiperf_check.py", *session.posargs)


@nox.session(name="llamacpp")
def llamacpp(session: nox.Session) -> None:
    """The lab, its report and record/replay against llama.cpp's server with Gemma 3 270M.

    A real engine without a GPU. Not in the default run: it compiles llama.cpp (~5 min on 2
    cores the first time; reused venvs skip it).
    """
    _llamacpp(session)
