"""Build the Go helper programs under ``tests/`` with the ``go`` on PATH, offline.

The tests that compare the fake with Go itself (``test_gojson.py``, ``test_template_texts.py``,
``test_template_tools.py``) skip without Go; ``.ci/run`` installs it so CI runs them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).parent


def go_version() -> tuple[int, int] | None:
    """The (major, minor) of the ``go`` on PATH, or None without one."""
    go = shutil.which("go")
    if go is None:
        return None
    out = subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"go(\d+)\.(\d+)", out)
    return (int(found[1]), int(found[2])) if found else None


_BUILT: dict[str, Path] = {}


def build(program: str, into: Path) -> Path:
    """``go build`` of ``tests/<program>`` into ``into`` (standard library only: nothing is
    downloaded), once per test session; skips the calling test without Go."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("no `go` on PATH: this comparison with Go itself needs it (CI installs it)")
    if program in _BUILT:
        return _BUILT[program]
    binary = into / program
    # Offline and local: no module proxy, no toolchain download, no workspace.
    env = {**os.environ, "GOPROXY": "off", "GOTOOLCHAIN": "local", "GOWORK": "off"}
    if not any(env.get(name) for name in ("GOCACHE", "HOME", "XDG_CACHE_HOME")):
        env["GOCACHE"] = str(into / "gocache")  # Go needs a build cache somewhere
    subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=TESTS / program,
        env=env,
        check=True,
        timeout=300,
        capture_output=True,
    )
    _BUILT[program] = binary
    return binary


def run(binary: Path, payload: Any) -> Any:
    """Run a built helper on a JSON payload; its JSON answer."""
    done = subprocess.run(
        [str(binary)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout)
