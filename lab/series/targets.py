"""What Posts 2 and 3 run against: two llama-server backends and, for Post 3, a gateway.

``--target mock`` starts the llama-server twins (``mockserver --flavor llama-server``) in this
process on free loopback ports and, for Post 3, a real LiteLLM proxy (``litellm[proxy]``, the
``gateway`` extra) as a subprocess with the series' ``config.yaml`` shape, offline
(``LITELLM_LOCAL_MODEL_COST_MAP=True``: no cost-map download at start). ``--backends URL,URL``
and ``--gateway URL`` point at the reader's own processes instead (the series: :8010, :8011,
:4000). Preflight turns whatever is missing into one paragraph (:class:`lab.errors.SetupError`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import openai

from lab.errors import SetupError
from lab.series.arguments import MASTER_KEY
from mockserver.config import Settings
from mockserver.server import BackgroundServer, free_port

if TYPE_CHECKING:
    from lab.series.gateway_features import Features

BACKEND_KEY = "llama"  # the series' key for llama-server (ignored locally)
GATEWAY_START_S = 120.0  # LiteLLM imports a lot; ~25 s on a busy 2-core machine


@dataclass(frozen=True, slots=True)
class Backend:
    name: str  # the model name the backend reports (its --alias)
    url: str  # root URL, e.g. http://127.0.0.1:8010

    def client(self, timeout: float) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{self.url}/v1", api_key=BACKEND_KEY, timeout=timeout, max_retries=0
        )


@dataclass(slots=True)
class Stack:
    backends: list[Backend]
    gateway: str | None = None
    gateway_key: str = MASTER_KEY
    timeout: float = 60.0
    label: str = "mock"
    features: Features | None = None  # Posts 4-5: keys and limits, metering
    _closers: list = field(default_factory=list)
    ollama: str | None = None  # Post 6: an Ollama root URL beside the llama-server backends
    plot_dir: str | None = None  # Posts 6-7: where their charts go (--plot DIR)
    load_levels: tuple[int, ...] = (1, 2, 4, 8)  # Post 7: clients per level (--clients)
    load_seconds: float = 2.0  # Post 7: seconds per level (--seconds)

    def gateway_client(self) -> openai.OpenAI:
        assert self.gateway
        return openai.OpenAI(
            base_url=f"{self.gateway}/v1",
            api_key=self.gateway_key,
            timeout=self.timeout,
            max_retries=0,
        )


def config_yaml(backends: list[Backend], features: Features | None = None) -> str:
    """Post 3's config.yaml: one ``openai/<name>`` route per backend, one master key (and
    Posts 4-5's lines: :meth:`lab.series.gateway_features.Features.config_lines`)."""
    litellm, general = features.config_lines() if features else ([], [])
    lines = ["model_list:"]
    for backend in backends:
        lines += [
            f"  - model_name: {backend.name}",
            "    litellm_params:",
            f"      model: openai/{backend.name}",
            f"      api_base: {backend.url}/v1",
            f"      api_key: {BACKEND_KEY}",
        ]
    lines += ["litellm_settings:", "  drop_params: true", *litellm, "general_settings:",
              f"  master_key: {MASTER_KEY}", *general]  # fmt: skip
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def mock_stack(
    *,
    gateway: bool,
    timeout: float,
    profile: str | None = "m2-max-gpt-oss-20b",
    features: Features | None = None,
    models: tuple[str, ...] = ("gpt-oss", "qwen3.5"),
) -> Iterator[Stack]:
    """The series' two backends as twins (and the gateway as a real LiteLLM proxy)."""
    servers: list[BackgroundServer] = []
    try:
        for model in models:
            settings = Settings(port=0, flavor="llama-server", llama_model=model, alias=model,
                                ctx_size=131072, metrics=True, profile=profile,
                                journal=1000)  # fmt: skip
            servers.append(BackgroundServer(settings).start())
        backends = [Backend(s.settings.alias or "", s.url) for s in servers]
        stack = Stack(backends, timeout=timeout, features=features)
        if gateway:
            with litellm_proxy(backends, features) as url:
                stack.gateway = url
                yield stack
        else:
            yield stack
    finally:
        for server in servers:
            server.stop()


@contextlib.contextmanager
def litellm_proxy(backends: list[Backend], features: Features | None = None) -> Iterator[str]:
    executable = shutil.which("litellm") or str(Path(sys.executable).with_name("litellm"))
    if not Path(executable).exists():
        raise SetupError(
            "LiteLLM is not installed",
            "Post 3 puts a LiteLLM proxy in front of the backends, and the `litellm` command "
            "is not on this machine. Install the gateway extra (`pip install -e '.[gateway]'`, "
            "which brings `litellm[proxy]`) and run again; nox -s mock installs it itself.",
        )
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="portway-gateway-") as folder:
        config = Path(folder, "config.yaml")
        config.write_text(config_yaml(backends, features), encoding="utf-8")
        env = os.environ | {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False",
                            "NO_DOCS": "True"}  # fmt: skip
        env |= features.environment(MASTER_KEY) if features else {}
        log = Path(folder, "litellm.log").open("w+b")  # noqa: SIM115 (closed in finally)
        process = subprocess.Popen(
            [executable, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_for(url, process, log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()


def _wait_for(url: str, process: subprocess.Popen, log) -> None:
    deadline = time.monotonic() + GATEWAY_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            tail = log.read().decode("utf-8", "replace").strip().splitlines()[-3:]
            raise SetupError(
                "The LiteLLM gateway did not start",
                "The lab started `litellm --config config.yaml` for Post 3 and it exited with "
                f"code {process.returncode}: {' / '.join(tail) or 'no output'}. Check that "
                "`litellm[proxy]` is fully installed (the proxy extra brings its server).",
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health/liveliness", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise SetupError(
        "The LiteLLM gateway did not start in time",
        f"The lab waited {GATEWAY_START_S:.0f} s for the LiteLLM proxy on {url} to answer "
        "/health/liveliness. The machine may be too busy; run again, or start the gateway "
        "yourself and pass --gateway URL.",
    )


def given_stack(
    backends: str, gateway: str | None, timeout: float, gateway_key: str = MASTER_KEY
) -> Stack:
    urls = [u.strip().rstrip("/") for u in backends.split(",") if u.strip()]
    urls = [u[:-3] if u.endswith("/v1") else u for u in urls]
    found = [Backend(_model_of(url, timeout), url) for url in urls]
    stack = Stack(found, gateway=gateway.rstrip("/") if gateway else None, timeout=timeout,
                  label="your backends", gateway_key=gateway_key)  # fmt: skip
    if stack.gateway:
        _check_gateway(stack)
    return stack


def _model_of(url: str, timeout: float) -> str:
    """Preflight of one backend: reachable, a llama-server, serving one model."""
    try:
        health = httpx.get(f"{url}/health", timeout=min(timeout, 10))
        models = httpx.get(f"{url}/v1/models", timeout=min(timeout, 10),
                           headers={"Authorization": f"Bearer {BACKEND_KEY}"})  # fmt: skip
    except httpx.HTTPError as exc:
        raise SetupError(
            f"No llama-server answers on {url}",
            f"Post 2 needs two llama-server processes, and {url} could not be reached "
            f"({type(exc).__name__}). Start it as the series does, e.g. `llama-server -m "
            "gpt-oss-20b-mxfp4.gguf --alias gpt-oss --port 8010 --ctx-size 131072 --jinja "
            "--reasoning-format auto`, or run the lab with --target mock.",
        ) from None
    if health.status_code == 503:
        raise SetupError(
            f"The llama-server on {url} is still loading its model",
            "It answered /health with 503 (loading model). Wait until it says "
            "'server is listening' and run again.",
        )
    data = models.json().get("data") if models.status_code == 200 else None
    if health.status_code != 200 or not data:
        raise SetupError(
            f"{url} does not look like llama-server",
            f"/health answered {health.status_code} and /v1/models {models.status_code}; "
            "Posts 2 and 3 talk to llama.cpp's llama-server (one model per process).",
        )
    return str(data[0]["id"])


def _check_gateway(stack: Stack) -> None:
    url = stack.gateway
    try:
        answer = httpx.get(f"{url}/v1/models", timeout=10,
                           headers={"Authorization": f"Bearer {stack.gateway_key}"})  # fmt: skip
    except httpx.HTTPError as exc:
        raise SetupError(
            f"No gateway answers on {url}",
            f"Post 3 needs the LiteLLM proxy, and {url} could not be reached "
            f"({type(exc).__name__}). Start it with `litellm --config config.yaml` "
            "(port 4000 in the series), or run the lab with --target mock.",
        ) from None
    if answer.status_code in (400, 401, 403):
        raise SetupError(
            f"The gateway on {url} refused the master key",
            f"It answered /v1/models with {answer.status_code}. The lab sends the series' "
            f"master key {MASTER_KEY!r}; set the same master_key in config.yaml, or pass "
            "yours with --gateway-key.",
        )
