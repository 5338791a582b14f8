"""Where the experiments run: the bundled fake, a local Ollama, or any OpenAI-compatible URL.

A :class:`Target` is resolved from ``--target`` without touching the network. It knows two
addresses: ``openai_url``, the base URL handed to the SDK (``.../v1``), and ``root``, where an
Ollama would answer its native ``/api`` routes. :func:`opened` starts the fake for
``--target mock`` and stops it afterwards; for the other kinds it just yields the target.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from lab.errors import SetupError
from lab.suggest import closest

OLLAMA_DEFAULT_PORT = 11434
OLLAMA_DEFAULT_URL = f"http://localhost:{OLLAMA_DEFAULT_PORT}"

TargetKind = Literal["mock", "ollama", "url"]
NAMED_TARGETS = ("mock", "ollama")


@dataclass(frozen=True, slots=True)
class Target:
    kind: TargetKind
    root: str  # scheme://host:port[/prefix], no trailing slash; "" until the fake is started
    openai_url: str  # root + "/v1" (or the path the user gave)
    origin: str = ""  # why this address: "OLLAMA_HOST=...", "--target", ...

    @property
    def label(self) -> str:
        """How the target is named in output: ``the bundled fake``, ``Ollama at ...``."""
        if self.kind == "mock":
            return f"the bundled fake Ollama at {self.root}"
        if self.kind == "ollama":
            return f"Ollama at {self.root}"
        return f"the server at {self.openai_url}"

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "root": self.root, "openai_url": self.openai_url}


class TargetError(ValueError):
    """``--target`` or ``OLLAMA_HOST`` cannot be understood."""


class FakeDidNotStart(SetupError):
    """The bundled fake could not be started (``--target mock``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            "The bundled fake did not start",
            f"{reason}. Check that a loopback port can be opened on this machine.",
        )


def resolve(spec: str, *, ollama_host: str | None = None) -> Target:
    """``mock``, ``ollama`` (uses ``OLLAMA_HOST``) or a base URL, as typed on the command line."""
    spec = spec.strip()
    if spec.lower() == "mock":
        return Target("mock", "", "", "--target mock")
    if spec.lower() == "ollama":
        root = ollama_root(ollama_host)
        origin = (
            f"OLLAMA_HOST={ollama_host.strip()}"
            if ollama_host and ollama_host.strip()
            else "OLLAMA_HOST is not set, so Ollama's default"
        )
        return Target("ollama", root, f"{root}/v1", origin)
    _refuse_misspelt_name(spec)
    return url_target(spec)


def _refuse_misspelt_name(spec: str) -> None:
    """``--target mokc`` is ``mock`` mistyped, not a host named mokc: say so.

    Only a bare word (no scheme, port, dot or path) close to a named target is refused; a real
    host name can always be given as a URL (``http://mocker:8000``).
    """
    if any(mark in spec for mark in ":/.[@"):
        return
    guess = closest(spec, NAMED_TARGETS)
    if guess:
        raise TargetError(
            f"--target {spec!r} is not a target. Did you mean {guess}? Use mock, ollama, or a "
            "base URL such as http://localhost:8000/v1"
        )


def ollama_root(host: str | None) -> str:
    """The Ollama server an ``OLLAMA_HOST`` value points at, read the way Ollama reads it.

    Empty means ``http://localhost:11434``. Without a scheme the value is ``host``, ``host:port``
    or ``:port`` and the scheme is http; with ``http://`` or ``https://`` and no port the port is
    80 or 443. A bind-all address (``0.0.0.0``, ``::``), which people set so that the *server*
    listens everywhere, is contacted on localhost.
    """
    value = (host or "").strip()
    if not value:
        return OLLAMA_DEFAULT_URL
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "http", value
        default_port = OLLAMA_DEFAULT_PORT
    elif scheme.lower() in ("http", "https"):
        scheme = scheme.lower()
        default_port = 80 if scheme == "http" else 443
    else:
        raise TargetError(f"OLLAMA_HOST={value!r}: the scheme must be http or https")
    hostport, _, path = rest.partition("/")
    host_part, port = _split_host_port(hostport, default_port, what=f"OLLAMA_HOST={value!r}")
    host_part = _contactable(host_part or "localhost")
    prefix = f"/{path.strip('/')}" if path.strip("/") else ""
    return f"{scheme}://{_join_host_port(host_part, port)}{prefix}"


def url_target(spec: str) -> Target:
    """Any OpenAI-compatible server: ``http://host:port/v1``, ``http://host:port``, ``host:port``.

    A URL without a path gets ``/v1`` (where Ollama, vLLM, llama.cpp and LM Studio serve the
    OpenAI API); a URL with a path is used as given, minus a trailing ``/chat/completions``.
    """
    if "://" not in spec:
        spec = f"http://{spec}"
    parts = urlsplit(spec)
    if parts.scheme.lower() not in ("http", "https"):
        raise TargetError(
            f"--target {spec!r}: use mock, ollama, or an http(s) base URL such as "
            "http://localhost:8000/v1"
        )
    if not parts.hostname:
        raise TargetError(f"--target {spec!r}: the URL has no host")
    try:
        _ = parts.port
    except ValueError as exc:
        raise TargetError(f"--target {spec!r}: {exc}") from None
    path = parts.path.rstrip("/")
    for suffix in ("/chat/completions", "/completions", "/models"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    if not path:
        path = "/v1"
    netloc = parts.netloc.rsplit("@", 1)[-1]  # credentials belong in --api-key, not in the URL
    base = f"{parts.scheme.lower()}://{netloc}"
    root = base + (path[: -len("/v1")] if path.endswith("/v1") else path)
    return Target("url", root, base + path, "--target")


@contextlib.contextmanager
def opened(target: Target) -> Iterator[Target]:
    """The target, reachable for the duration of the block (the fake is started for ``mock``)."""
    if target.kind != "mock":
        yield target
        return
    from mockserver.startup import collector_paused

    try:
        with collector_paused():  # the fake's imports and start (mockserver/startup.py)
            from mockserver.config import Settings
            from mockserver.server import BackgroundServer

            fake = BackgroundServer(Settings(port=0)).start()
    except (RuntimeError, OSError, ValueError) as exc:
        raise FakeDidNotStart(str(exc)) from exc
    try:
        yield dataclasses.replace(target, root=fake.url, openai_url=fake.openai_url)
    finally:
        fake.stop()


def _split_host_port(hostport: str, default_port: int, *, what: str) -> tuple[str, int]:
    if hostport.startswith("["):  # [::1]:11434
        host, _, after = hostport[1:].partition("]")
        port_text = after.removeprefix(":")
    elif hostport.count(":") == 1:
        host, _, port_text = hostport.partition(":")
    else:  # bare host, or a bare IPv6 address
        host, port_text = hostport, ""
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise TargetError(f"{what}: {port_text!r} is not a port number")
    return host, int(port_text)


def _contactable(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    return "localhost" if address.is_unspecified else host


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
