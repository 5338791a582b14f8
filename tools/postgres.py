"""A throwaway Postgres for Post 5's metering table (``nox -s mock``, the slow tests).

``initdb`` a cluster in a temporary folder, start it on a free loopback port with its unix
socket in the same folder (trust authentication, nothing listens beyond 127.0.0.1), yield its
``postgresql://`` DSN, then stop it and delete the folder. The server is the system's
(Debian's ``postgresql`` package: ``.ci/run`` installs it); as root, the cluster runs as the
``postgres`` user the package creates, since Postgres refuses to run as root.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    """A free loopback port (this module runs in nox's own environment: no mockserver)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def binaries() -> Path | None:
    """The folder of initdb / pg_ctl: on PATH, or Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda f: int(f.split("/")[4]))
    return Path(folders[-1]) if folders and Path(folders[-1], "initdb").exists() else None


def _as_owner(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


@contextlib.contextmanager
def throwaway_postgres(*, start_timeout: float = 60.0) -> Iterator[str]:
    folder_bin = binaries()
    if folder_bin is None:
        raise RuntimeError("Postgres is not installed (apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="portway-pg-"))
    data, port = folder / "data", free_port()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    run = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    try:
        subprocess.run(_as_owner([str(folder_bin / "initdb"), "-D", str(data), "-U", "postgres",
                                  "--auth=trust", "--no-sync", "-E", "UTF8"]), **run)  # fmt: skip
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
        subprocess.run(_as_owner([str(folder_bin / "pg_ctl"), "-D", str(data), "-o", options,
                                  "-l", str(folder / "postgres.log"), "-w",
                                  "-t", str(int(start_timeout)), "start"]), **run)  # fmt: skip
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(_as_owner([str(folder_bin / "pg_ctl"), "-D", str(data), "-m", "fast",
                                      "-w", "stop"]), check=False, capture_output=True)  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":  # python -m tools.postgres: start one, print its DSN, wait for Ctrl-C
    with throwaway_postgres() as dsn:
        print(dsn, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
