"""Settings of one fake server, from the command line, Ollama's environment or the fixtures.

The environment variables are Ollama's own, read as ``envconfig`` (ollama/ollama@fb3076099
``envconfig/config.go``) reads them: ``OLLAMA_HOST`` (bind address), ``OLLAMA_ORIGINS``
(browsers' origins), ``OLLAMA_CONTEXT_LENGTH``; plus ``PORTWAY_API_KEY`` (``--api-key`` without
putting the key on the command line, where other users can read it in ``/proc``).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field

from mockserver.engine.catalog import TABLE_MODELS
from mockserver.engine.engine import DEFAULT_NUM_CTX

API_KEY_ENV = "PORTWAY_API_KEY"


def _env_num_ctx() -> int:
    value = os.environ.get("OLLAMA_CONTEXT_LENGTH", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_NUM_CTX


def ollama_host(value: str | None = None) -> tuple[str, int]:
    """``envconfig.Host``: the bind address ``ollama serve`` takes from ``OLLAMA_HOST``.

    ``host[:port]``, ``[v6]:port`` or ``scheme://host[:port][/path]``; the port defaults to
    11434 without a scheme, 80 for ``http://`` and 443 for ``https://``; an address that does
    not split into host and port is the host (an IP, a name), else 127.0.0.1; an unusable port
    is the default port. ``:8080`` binds every interface, as Go's listener does.
    """
    text = (os.environ.get("OLLAMA_HOST", "") if value is None else value).strip()
    default_port = 11434
    scheme, sep, hostport = text.partition("://")
    if not sep:
        scheme, hostport = "http", text
        if text == "ollama.com":
            scheme, hostport = "https", "ollama.com:443"
    elif scheme == "http":
        default_port = 80
    elif scheme == "https":
        default_port = 443
    hostport = hostport.split("/", 1)[0]
    split = _split_host_port(hostport)
    if split is None:
        host, port_text = "127.0.0.1", str(default_port)
        stripped = hostport.strip("[]")
        if _is_ip(stripped):
            host = str(ipaddress.ip_address(stripped))
        elif hostport:
            host = hostport
    else:
        host, port_text = split
    port = int(port_text) if port_text.isdigit() and int(port_text) <= 65535 else default_port
    return host or "0.0.0.0", port


def _split_host_port(hostport: str) -> tuple[str, str] | None:
    """Go's ``net.SplitHostPort``; None where it fails (no port, too many colons)."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or not hostport[end + 1 :].startswith(":"):
            return None
        host, port = hostport[1:end], hostport[end + 2 :]
    else:
        if hostport.count(":") != 1:
            return None
        host, port = hostport.split(":")
    return host, port


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``: a bind address not reachable from elsewhere."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_origins(env: str | None = None) -> tuple[str, ...]:
    """``envconfig.AllowedOrigins``: the comma-separated ``OLLAMA_ORIGINS`` first, then the
    local defaults, every one of them."""
    value = os.environ.get("OLLAMA_ORIGINS", "") if env is None else env
    origins = value.split(",") if value else []
    for host in ("localhost", "127.0.0.1", "0.0.0.0"):
        origins += [f"http://{host}", f"https://{host}", f"http://{host}:*", f"https://{host}:*"]
    origins += ["app://*", "file://*", "tauri://*", "vscode-webview://*", "vscode-file://*"]
    return tuple(origins)


def _origins_from_env() -> tuple[str, ...]:
    return allowed_origins()


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 11434
    models: tuple[str, ...] = TABLE_MODELS
    seed: int | None = None
    num_ctx: int = 0  # 0: OLLAMA_CONTEXT_LENGTH, else Ollama's default
    current_date: str | None = None
    api_key: str | None = None
    max_body_bytes: int = 32 * 1024 * 1024
    faults: tuple[str, ...] = ()
    replay_dir: str | None = None  # answer recorded requests from this directory (--replay)
    replay_strict: bool = False  # unmatched POSTs get 404 instead of the fake's reply
    replay_speed: float = 1.0  # scale recorded timing; 0 = no delays
    profile: str | None = None  # latency profile (mockserver/pacing.py); None: no pacing
    scenario: str | None = None  # rules file, YAML or JSON (mockserver/scenarios.py)
    scenario_strict: bool = False  # a generation request no rule matches gets 404
    journal: int = 0  # keep the last N requests and answers (mockserver/journal.py); 0: off
    # Browsers' origins allowed (OLLAMA_ORIGINS and Ollama's defaults); others get 403.
    origins: tuple[str, ...] = field(default_factory=_origins_from_env)
    header_timeout: float = 10.0  # s to complete request headers (mockserver.guards)
    body_timeout: float = 30.0  # s a request body may go without data: 408
    # --flavor llama-server (mockserver/llama_app.py): one GGUF model, llama-server's flags
    flavor: str = "ollama"  # "ollama" | "llama-server"
    llama_model: str = "gpt-oss"  # --model: a key of engine/llama_models.GGUF_MODELS
    alias: str | None = None  # --alias: the name responses report (default: the file name)
    ctx_size: int = 0  # --ctx-size: 0 = the model's training context
    parallel: int = 4  # --parallel: slots
    kv_unified: bool = True  # llama-server's default with automatic slots
    metrics: bool = False  # --metrics: serve /metrics

    @property
    def effective_num_ctx(self) -> int:
        return self.num_ctx or _env_num_ctx()


__all__ = ["API_KEY_ENV", "Settings", "allowed_origins", "is_loopback", "ollama_host"]
