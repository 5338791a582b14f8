"""Settings of one fake server, from the command line or the test fixtures."""

from __future__ import annotations

import os
from dataclasses import dataclass

from mockserver.engine.catalog import TABLE_MODELS
from mockserver.engine.engine import DEFAULT_NUM_CTX


def _env_num_ctx() -> int:
    value = os.environ.get("OLLAMA_CONTEXT_LENGTH", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_NUM_CTX


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
