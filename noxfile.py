"""Portway Lab's jobs. `nox -s mock` is the main one; `nox -s tests` is what CI runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).resolve().parent))  # nox does not: for tools/
from tools import postgres
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
    later = [str(n) for n in posts if n in (2, 3, 4, 5, 6, 7)]
    if later:
        where = ["--target", "mock"]
        if 4 in posts:  # LiteLLM's window shortened from 60 s: a retried 429 waits it out
            where += ["--rate-window", "10"]
        if {"6", "7"} & set(later):  # their charts
            where += ["--plot", "lab-output/series"]
        if target != "mock":
            where = ["--backends", os.environ.get("LAB_BACKENDS", "http://127.0.0.1:8010,"
                                                  "http://127.0.0.1:8011")]  # fmt: skip
            if not set(later) <= {"6", "7"}:  # Posts 6-7 need no gateway
                where += ["--gateway", os.environ.get("LAB_GATEWAY", "http://127.0.0.1:4000")]
                where += _gateway_admin(posts)
        if target == "mock" and 5 in posts and postgres.binaries():  # Post 5 on a real Postgres
            with postgres.throwaway_postgres() as dsn:
                session.log(f"Post 5's metering table: a throwaway Postgres at {dsn}")
                _lab(session, "post", *later, *where, "--dsn", dsn)
        else:
            _lab(session, "post", *later, *where)


def _gateway_admin(posts: list[int]) -> list[str]:
    """Posts 4-5 on your gateway: LAB_GATEWAY_KEY (its master key), LAB_DSN (the meter's DB)."""
    env = os.environ
    extra = ["--gateway-key", env["LAB_GATEWAY_KEY"]] if "LAB_GATEWAY_KEY" in env else []
    return extra + (["--dsn", env["LAB_DSN"]] if 5 in posts and "LAB_DSN" in env else [])


@nox.session
def mock(session: nox.Session) -> None:
    """Run the lab against the bundled fakes: Post 1 on the fake Ollama, Posts 2-5 on the
    llama-server twins and a real LiteLLM proxy (``-- --post 3`` picks one); Post 5's meter
    writes to a throwaway Postgres when the system has one (tools/postgres.py); Posts 6-7 on
    a twin and the fake Ollama, their charts in lab-output/series."""
    session.install(".[gateway,plot]")  # plot: the charts of Posts 6-7
    posts, rest = _posts(session.posargs, [1, 2, 3, 4, 5, 6, 7])
    _series(session, "mock", posts, rest)
    if 3 in posts:  # the conformance report through the gateway (a ~30 s proxy start)
        session.run("python", "tools/conformance_reports.py", "--gateway",
                    "--out", "lab-output/conformance")  # fmt: skip


@nox.session
def real(session: nox.Session) -> None:
    """The same against your own servers: Post 1 on Ollama (MODEL, OLLAMA_HOST); Posts 2-5
    (``-- --post 2``) on LAB_BACKENDS (default :8010,:8011) and LAB_GATEWAY (:4000); Posts 4-5
    with LAB_GATEWAY_KEY (its master key) and, for 5, LAB_DSN (the metering table's DB)."""
    posts, rest = _posts(session.posargs, [1])
    session.install(".[gateway]" if {4, 5} & set(posts) else ".")  # Posts 4-5: litellm, psycopg
    _series(session, "ollama", posts, rest)


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite: unit tests, the fake over real sockets, fidelity cases."""
    session.install("-e", ".[test,plot]")  # plot: the --plot tests draw real PNG/SVG/PDF
    # One pytest worker per core (pytest-xdist): the suite is ~140 s on one core of the 2-core
    # machine, ~80 s on both. The slow session stays on one (file limits, worker processes).
    session.run(
        "python", "-m", "pytest", "-q", "-n", "auto", *session.posargs,
        env={"PYTHONHASHSEED": "0"},
    )  # fmt: skip


def _without_network() -> list[str]:
    """A command prefix that runs in a network namespace of its own with only loopback up (root
    on Linux: `unshare -n`), so a client that downloads at run time fails; [] where it cannot."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if not (unshare and ip) or subprocess.call([unshare, "-n", "true"], stderr=subprocess.DEVNULL):
        return []
    return [unshare, "-n", "sh", "-c", f'{ip} link set lo up && exec "$0" "$@"']


@nox.session
def clients(session: nox.Session) -> None:
    """The clients people use with Ollama, run against the fake: openai-node, ollama-js and the
    AI SDK (tests/js, pinned by its package-lock.json) and LlamaIndex (the `clients` extra).
    Installs with npm ci and pip (network); the tests then run without network where the
    machine allows it (a network namespace with only loopback)."""
    # nltk (under LlamaIndex) refuses to read its bundled data from a hard-linked file, which
    # is how uv installs from its cache: copy instead.
    session.install("-e", ".[test,clients]", env={"UV_LINK_MODE": "copy"})
    session.run("npm", "ci", "--prefix", "tests/js", "--no-audit", "--no-fund", external=True)
    offline = _without_network()
    if not offline:
        session.log("no network namespace here (needs root and unshare): tests run with network")
    tests = ["tests/test_clients_js.py", "tests/test_clients_llamaindex.py"]
    python = str(Path(session.bin) / "python")
    pytest = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:asyncio"]
    session.run(*offline, *pytest, *tests, *session.posargs, external=True)


@nox.session
def notebooks(session: nox.Session) -> None:
    """Run every notebooks/post*.ipynb top to bottom against the fakes (nbclient): any error
    fails. ``PORTWAY_TARGET=URL nox -s notebooks -- notebooks/post1.ipynb``: one against yours."""
    session.install(".[teach,gateway]")  # gateway: Post 3 starts a real LiteLLM proxy
    target = os.environ.get("PORTWAY_TARGET", "mock")
    session.run("python", "tools/run_notebooks.py", *session.posargs,
                env={"PORTWAY_TARGET": target})  # fmt: skip


@nox.session
def wheelhouse(session: nox.Session) -> None:
    """Build the class wheelhouse (tools/wheelhouse.py; default: wheelhouse/, the plot and
    teach extras and JupyterLab), then install it into fresh venvs with the network refused and
    run the lab there. ``-- DIR`` builds elsewhere; teacher/GUIDE.md says how to hand it out."""
    session.install("pip")
    folder = session.posargs[0] if session.posargs else "wheelhouse"
    session.run("python", "tools/wheelhouse.py", "build", folder, "--also", "jupyterlab")
    session.run("python", "tools/wheelhouse.py", "verify", folder)


@nox.session
def slow(session: nox.Session) -> None:
    """The tests marked slow (tests/conftest.py), kept out of the default suite's two minutes."""
    session.install("-e", ".[test,plot,gateway]")  # gateway: LiteLLM's custom_auth contract
    env = {"PORTWAY_SLOW": "1", "PYTHONHASHSEED": "0"}
    session.run("python", "-m", "pytest", "-q", "-m", "slow", *session.posargs, env=env)


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
    Origin and Host headers, zstd bodies (compressed, corrupted, cut); then the hostile-client
    regression tests (slow, hanging up, the open-file limit, per-key bounds, security)."""
    session.install("-e", ".[test,fuzz]")
    env = {"PORTWAY_FUZZ_EXAMPLES": "850", "PORTWAY_FUZZ_RANDOM": "1", "PYTHONHASHSEED": "0",
           "PORTWAY_SLOW": "1"}  # fmt: skip
    tests = [
        "tests/test_fuzz.py",
        "tests/test_schemathesis.py",
        "tests/test_fuzz_hostile.py",
        "tests/test_hostile_input.py",
        "tests/test_connections.py",
        "tests/test_bounds.py",
        "tests/test_security.py",
        "tests/test_fragments.py",  # prompt counts by fragments == whole-text counts
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
