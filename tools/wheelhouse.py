"""A wheelhouse for a class: every wheel the lab needs, in one folder 30 machines install from.

Build it once, on a machine with the internet (``nox -s wheelhouse`` does both steps)::

    python tools/wheelhouse.py build wheelhouse/ --extras plot,teach --also jupyterlab
    python tools/wheelhouse.py verify wheelhouse/ --extras plot,teach

``build`` is ``pip wheel``: the lab's own wheel, built from this checkout, and a wheel of every
dependency (downloaded from PyPI, or built when PyPI has only a source archive), for this
machine's platform and Python. For other machines' platforms it downloads the published wheels
instead (``--platform macosx_11_0_arm64 --python-version 3.12``: ``pip download
--only-binary=:all:``), one folder per platform. ``verify`` proves the folder is enough: a fresh
virtual environment, ``pip install --no-index --find-links DIR``, then ``python -m lab run
round_trip --target mock``, both with the network refused (a network namespace with only
loopback, ``unshare -rn``, where the system allows it; else pip's ``--no-index`` and proxies
that lead nowhere), and the same with ``uv pip install --offline`` when uv is on PATH. Students
install with either::

    pip install --no-index --find-links wheelhouse/ 'portway-lab[plot,teach]'
    uv pip install --offline --no-index --find-links wheelhouse/ 'portway-lab[plot,teach]'
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "portway-lab"
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing answers there


def build(
    folder: Path, extras: str, also: list[str], platform: str | None, python_version: str | None
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    wanted = f".[{extras}]" if extras else "."
    if platform is None:
        _run([*pip, "wheel", "--wheel-dir", str(folder), wanted, *also], cwd=ROOT)
        return
    _run([*pip, "wheel", "--no-deps", "--wheel-dir", str(folder), "."], cwd=ROOT)
    (own,) = sorted(folder.glob("portway_lab-*.whl"))[-1:]
    requirement = f"{PROJECT}{f'[{extras}]' if extras else ''} @ {own.resolve().as_uri()}"
    target = ["--platform", platform, "--only-binary=:all:"]
    if python_version:
        target += ["--python-version", python_version]
    _run([*pip, "download", "--dest", str(folder), *target, requirement, *also], cwd=ROOT)


def verify(folder: Path, extras: str) -> None:
    folder = folder.resolve()
    wanted = f"{PROJECT}[{extras}]" if extras else PROJECT
    with tempfile.TemporaryDirectory(prefix="portway-wheelhouse-") as scratch:
        # no warm cache to hide a download: empty caches, as on a student's fresh machine
        for name in ("HF_HOME", "XDG_CACHE_HOME", "PIP_CACHE_DIR"):
            os.environ[name] = str(Path(scratch, "caches", name.lower()))
        venv = Path(scratch, "pip-venv")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
        _offline(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-index",
                "--find-links",
                str(folder),
                wanted,
            ]
        )
        _offline([str(python), "-m", "lab", "run", "round_trip", "--target", "mock"], cwd=scratch)
        uv = shutil.which("uv")
        if uv is None:
            print("uv is not on PATH: the uv install was not checked")
            return
        venv = Path(scratch, "uv-venv")
        _offline([uv, "venv", "--quiet", "--python", sys.executable, str(venv)])
        _offline(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                str(venv),
                "--offline",
                "--no-index",
                "--find-links",
                str(folder),
                wanted,
            ]
        )
        python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
        _offline(
            [str(python), "-m", "lab", "run", "round_trip", "--target", "mock", "--json"],
            cwd=scratch,
            quiet=True,
        )


def size(folder: Path) -> str:
    wheels = list(folder.glob("*.whl"))
    total = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    return f"{len(wheels)} wheels, {total / 1e6:.1f} MB"


def _offline(command: list[str], cwd: str | None = None, *, quiet: bool = False) -> None:
    """``command`` with the network refused: only loopback (for the fake) is reachable."""
    env = os.environ | {
        "PIP_NO_INDEX": "1",
        "UV_OFFLINE": "1",
        "UV_NO_CACHE": "1",
        "HTTP_PROXY": DEAD_PROXY,
        "HTTPS_PROXY": DEAD_PROXY,
        "http_proxy": DEAD_PROXY,
        "https_proxy": DEAD_PROXY,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "TIKTOKEN_CACHE_DIR": "",
    }
    if _can_unshare():
        command = ["unshare", "-rn", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *command]
    _run(command, cwd=cwd, env=env, quiet=quiet)


def _can_unshare() -> bool:
    if not (shutil.which("unshare") and shutil.which("ip")):
        return False
    probe = ["unshare", "-rn", "sh", "-c", "ip link set lo up"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def _run(
    command: list[str],
    *,
    cwd: str | Path | None = None,
    env: dict[str, str] | None = None,
    quiet: bool = False,
) -> None:
    print("$", " ".join(command), flush=True)
    done = subprocess.run(
        command, cwd=cwd, env=env, check=False, stdout=subprocess.DEVNULL if quiet else None
    )
    if done.returncode:
        raise SystemExit(f"failed with exit code {done.returncode}: {' '.join(command)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)
    for name in ("build", "verify"):
        step = steps.add_parser(name)
        step.add_argument("folder", type=Path)
        step.add_argument("--extras", default="plot,teach", help="the lab's extras (plot,teach)")
    steps.choices["build"].add_argument(
        "--also", action="append", default=[], help="another requirement, e.g. jupyterlab"
    )
    steps.choices["build"].add_argument("--platform", help="another platform's wheels")
    steps.choices["build"].add_argument("--python-version", help="with --platform: e.g. 3.12")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.step == "build":
        build(args.folder, args.extras, args.also, args.platform, args.python_version)
        print(f"wheelhouse {args.folder}: {size(args.folder)}")
    else:
        unshared = "a network namespace (unshare -rn)" if _can_unshare() else "no index, dead proxy"
        verify(args.folder, args.extras)
        print(
            f"installed from {args.folder} ({size(args.folder)}) and ran the lab offline, "
            f"network refused by {unshared}"
        )
    print(f"{args.step} took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
