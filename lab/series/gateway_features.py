"""What Posts 4 and 5 add to the gateway: virtual keys and limits, and the metering callback.

On ``--target mock`` the lab writes these lines into the proxy's ``config.yaml`` and its
environment (:meth:`Features.config_lines`, :meth:`Features.environment`); on the reader's
gateway they are the reader's config (the lesson pages show them), and the lab only needs the
admin key and, for Post 5, the DSN of the table the callback writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from lab.series import meter
from lab.series.keys import KEYS_ENV, MASTER_ENV, KeyFile

RATE_WINDOW_S = 60  # LiteLLM's rate-limit window (LITELLM_RATE_LIMIT_WINDOW_SIZE), a minute


@dataclass(slots=True)
class Features:
    keys: KeyFile | None = None  # Post 4 on mock: the keys custom_auth reads
    meter_dsn: str | None = None  # Post 5: where the callback writes (mock) / reads (real)
    prices: dict[str, meter.Price] = field(default_factory=lambda: dict(meter.PRICES))
    rate_window: int = RATE_WINDOW_S

    @classmethod
    def for_mock(
        cls, folder: Path, *, keys: bool, metering: bool, dsn: str | None,
        prices: dict[str, meter.Price], rate_window: int,
    ) -> Features:  # fmt: skip
        return cls(
            keys=KeyFile(folder / "keys.json") if keys else None,
            meter_dsn=(dsn or str(folder / "metering.sqlite3")) if metering else None,
            prices=prices,
            rate_window=rate_window,
        )

    def config_lines(self) -> tuple[list[str], list[str]]:
        """(lines under litellm_settings, lines under general_settings)."""
        litellm: list[str] = []
        general: list[str] = []
        if self.keys is not None:
            litellm.append("  enable_post_custom_auth_checks: true")
            general += ["  custom_auth: lab.series.keys.user_api_key_auth",
                        "  custom_auth_run_common_checks: true"]  # fmt: skip
        if self.meter_dsn is not None:
            litellm.append("  callbacks: lab.series.meter_callback.handler")
        return litellm, general

    def environment(self, master_key: str) -> dict[str, str]:
        env = {"LITELLM_RATE_LIMIT_WINDOW_SIZE": str(self.rate_window), "PYTHONPATH": _lab_path()}
        if self.keys is not None:
            env |= {KEYS_ENV: str(self.keys.path), MASTER_ENV: master_key}
        if self.meter_dsn is not None:
            env |= {
                meter.DSN_ENV: self.meter_dsn,
                meter.PRICES_ENV: meter.prices_to_env(self.prices),
            }
        return env


def _lab_path() -> str:
    """The folder holding ``lab``: the proxy imports the hooks from it, whichever ``litellm``
    command runs (a venv's or one on PATH)."""
    import lab

    parent = str(Path(lab.__file__).resolve().parent.parent)
    return os.pathsep.join(p for p in (parent, os.environ.get("PYTHONPATH", "")) if p)
