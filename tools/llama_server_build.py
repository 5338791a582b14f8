"""The real ``llama-server`` binary, built from the llama.cpp source PyPI ships, and a launcher.

No registry carries a llama-server binary this machine can use (Debian 12 "bookworm" has no
``llama.cpp`` package: ``apt-cache policy llama.cpp`` finds none; llama-cpp-python publishes
no Linux wheels). But the ``llama-cpp-python`` sdist on PyPI vendors the whole llama.cpp tree,
``tools/server/`` included, so the server is built from it:

1. ``pip download --no-deps --no-binary :all: llama-cpp-python==VERSION`` (the registry's own
   client; 76.6 MB) into the cache folder, unless it is there;
2. its ``vendor/llama.cpp`` extracted beside it;
3. ``cmake -G Ninja`` with :data:`CMAKE_FLAGS` (portable x86-64-v3 ``GGML_NATIVE=OFF``, static
   libraries, no tests/examples, no web UI: ``LLAMA_USE_PREBUILT_UI=OFF`` or the configure step
   would fetch the UI from Hugging Face; no OpenSSL), then ``cmake --build --target
   llama-server -j 2``;
4. a stamp (version + flags) beside the binary: the next call with the same inputs returns the
   cached binary at once (``nox -s llamacpp`` keeps the cache in ``.nox/llama-server/``).

``python tools/llama_server_build.py [CACHE_DIR]`` builds (or finds) it and prints its path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path

try:
    from .llamacpp_server import LlamaCppServer
except ImportError:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from llamacpp_server import LlamaCppServer  # type: ignore[no-redef]

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = REPO_ROOT / ".nox" / "llama-server"
#: The sdist whose vendored llama.cpp is built (the same pin as the Python engine's).
VERSION = "0.3.36"
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
)
JOBS = 2


class BuildError(RuntimeError):
    """The source could not be fetched or the build failed (the message says which step)."""


def _run(argv: Sequence[str], log: Path) -> None:
    with log.open("ab") as out:
        out.write(f"$ {' '.join(argv)}\n".encode())
        out.flush()
        code = subprocess.call(list(argv), stdout=out, stderr=subprocess.STDOUT)
    if code:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise BuildError(f"`{' '.join(argv[:3])} ...` exited {code}; log {log}:\n{tail}")


def source_dir(cache: Path, python: str = sys.executable) -> Path:
    """``vendor/llama.cpp`` of the sdist, downloaded and extracted once."""
    root = cache / f"llama_cpp_python-{VERSION}"
    src = root / "vendor" / "llama.cpp"
    if (src / "tools" / "server" / "server.cpp").is_file():
        return src
    cache.mkdir(parents=True, exist_ok=True)
    sdist = cache / f"llama_cpp_python-{VERSION}.tar.gz"
    if not sdist.is_file():
        _run(
            [python, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             f"llama-cpp-python=={VERSION}", "-d", str(cache)],
            cache / "download.log",
        )  # fmt: skip
    prefix = f"llama_cpp_python-{VERSION}/vendor/llama.cpp/"
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if m.name.startswith(prefix)]
        archive.extractall(cache, members=members, filter="data")
    if not (src / "tools" / "server" / "server.cpp").is_file():
        raise BuildError(f"{sdist.name} has no tools/server/server.cpp")
    return src


def ensure_binary(cache: Path = DEFAULT_CACHE, python: str = sys.executable) -> tuple[Path, float]:
    """The built ``llama-server`` and the seconds this call spent building it (0: cached)."""
    build = cache / "build"
    binary = build / "bin" / "llama-server"
    stamp = build / "portway-stamp.json"
    wanted = {"version": VERSION, "flags": list(CMAKE_FLAGS)}
    if binary.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        return binary, 0.0
    started = time.monotonic()
    src = source_dir(cache, python)
    log = cache / "build.log"
    _run(["cmake", "-S", str(src), "-B", str(build), "-G", "Ninja", *CMAKE_FLAGS], log)
    _run(["cmake", "--build", str(build), "--target", "llama-server", "-j", str(JOBS)], log)
    if not binary.is_file():
        raise BuildError(f"the build finished without {binary}")
    stamp.write_text(json.dumps(wanted))
    return binary, time.monotonic() - started


class LlamaServer(LlamaCppServer):
    """The real ``llama-server`` on loopback (same lifecycle as :class:`LlamaCppServer`):
    ``--jinja`` with a chat template file, ``--metrics``, a small ``--ctx-size``."""

    def __init__(
        self,
        binary: str | Path,
        model_path: str | Path,
        *,
        template_file: str | Path,
        alias: str,
        n_ctx: int = 2048,
        parallel: int = 1,
        **kwargs,
    ) -> None:
        super().__init__(model_path, model_alias=alias, n_ctx=n_ctx, chat_format=None, **kwargs)
        self.binary = str(binary)
        self.template_file = str(template_file)
        self.parallel = parallel

    def command(self, port: int) -> list[str]:
        return [
            self.binary, "-m", str(self.model_path), "--alias", self.model_alias,
            "--host", self.host, "--port", str(port), "--ctx-size", str(self.n_ctx),
            "--parallel", str(self.parallel), "--threads", str(self.n_threads),
            "--jinja", "--chat-template-file", self.template_file, "--metrics",
            "--no-webui", *self.extra_args,
        ]  # fmt: skip


def main(argv: list[str]) -> int:
    cache = Path(argv[1]) if len(argv) > 1 else DEFAULT_CACHE
    try:
        binary, seconds = ensure_binary(cache)
    except BuildError as exc:
        print(f"llama-server could not be built: {exc}", file=sys.stderr)
        return 1
    note = f"built in {seconds:.0f} s" if seconds else "cached"
    print(f"{binary} ({note})", file=sys.stderr)
    print(binary)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    sys.exit(main(sys.argv))
