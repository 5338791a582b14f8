"""Post 4's virtual keys: minted on the reader's gateway, or handed to the mock's gateway.

On a real gateway the admin mints keys with ``POST /key/generate`` (``models``,
``rpm_limit``, ``tpm_limit``) and LiteLLM keeps them in its key store, the
``LiteLLM_VerificationToken`` table of the Postgres named by ``database_url``.

That key store cannot run on this machine's offline CI: LiteLLM reaches its database only
through Prisma (``prisma`` on PyPI, prisma-client-py 0.15), whose CLI installs from npm but
whose Rust query and schema engines are downloaded from Prisma's own binary host at
``prisma generate`` / ``migrate deploy``, and no PyPI, npm or Debian package ships them. A
proxy given a ``DATABASE_URL`` without them exits at start (``litellm/proxy/proxy_cli.py``).
So the mock gateway gets its keys through LiteLLM's documented ``custom_auth`` hook instead
(:func:`user_api_key_auth`): it reads the key's scope and limits from a file the lab writes
(:class:`KeyFile`) and returns the ``UserAPIKeyAuth`` that LiteLLM's key store would have built
from the table row. Everything after that is LiteLLM's own code, unchanged: the model-scope
check (``key_model_access_denied``, with ``custom_auth_run_common_checks``), ``/v1/models``
filtered by the key, and the RPM / TPM limiter (``parallel_request_limiter_v3``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lab.errors import SetupError

KEYS_ENV = "PORTWAY_KEYS_FILE"  # the mock gateway's keys (read by user_api_key_auth)
MASTER_ENV = "PORTWAY_MASTER_KEY"


@dataclass(frozen=True, slots=True)
class Scope:
    """What ``/key/generate`` is given: the models a key may call, and its limits."""

    alias: str
    models: tuple[str, ...] = ()  # empty: every model
    rpm_limit: int | None = None
    tpm_limit: int | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"key_alias": self.alias, "models": list(self.models)}
        if self.rpm_limit is not None:
            body["rpm_limit"] = self.rpm_limit
        if self.tpm_limit is not None:
            body["tpm_limit"] = self.tpm_limit
        return body


def token_hash(key: str) -> str:
    """LiteLLM stores and logs a key as its sha256 hex digest (``hash_token`` in proxy/_types)."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(slots=True)
class KeyFile:
    """The mock gateway's keys: a JSON file of key -> scope, written as keys are minted."""

    path: Path
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def mint(self, scope: Scope) -> str:
        with self._lock:
            self._count += 1
            key = f"sk-portway-{self._count:04d}-{os.urandom(6).hex()}"
            keys = json.loads(self.path.read_text()) if self.path.exists() else {}
            keys[key] = scope.body()
            self.path.write_text(json.dumps(keys))
        return key


def mint_on_gateway(gateway: str, admin_key: str, scope: Scope, timeout: float) -> str:
    """``POST /key/generate`` on the reader's LiteLLM: its key store must be connected."""
    try:
        answer = httpx.post(f"{gateway}/key/generate", json=scope.body(), timeout=timeout,
                            headers={"Authorization": f"Bearer {admin_key}"})  # fmt: skip
    except httpx.HTTPError as exc:
        raise SetupError(
            f"No gateway answers on {gateway}",
            f"Post 4 mints keys with POST /key/generate on the LiteLLM proxy, and {gateway} "
            f"could not be reached ({type(exc).__name__}). Start it with `litellm --config "
            "config.yaml` (port 4000 in the series), or run the lab with --target mock.",
        ) from None
    if answer.status_code in (401, 403):
        raise SetupError(
            f"The gateway on {gateway} refused the admin key",
            f"POST /key/generate answered {answer.status_code}: minting keys needs the "
            "master_key of config.yaml (the series' Post 4 uses sk-portway-admin); pass it "
            "with --gateway-key.",
        )
    key = answer.json().get("key") if answer.status_code == 200 else None
    if not key:
        raise SetupError(
            f"The gateway on {gateway} has no key store",
            f"POST /key/generate answered {answer.status_code}: LiteLLM keeps virtual keys in "
            "the database of general_settings.database_url (Post 4: a Postgres 16, and "
            "`prisma` installed next to litellm). Add it to config.yaml, restart the proxy, "
            "and run again.",
        )
    return str(key)


def delete_on_gateway(gateway: str, admin_key: str, keys: list[str], timeout: float) -> None:
    """``POST /key/delete``: the lab removes the keys it minted (best effort)."""
    if keys:
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"{gateway}/key/delete", json={"keys": keys}, timeout=timeout,
                       headers={"Authorization": f"Bearer {admin_key}"})  # fmt: skip


async def user_api_key_auth(request: Any, api_key: str) -> Any:
    """LiteLLM's ``custom_auth`` hook for the mock gateway: the key's scope from the key file.

    The master key is the proxy admin; a minted key gets its ``models``, ``rpm_limit`` and
    ``tpm_limit``; any other key is refused with LiteLLM's own 401 (``ProxyException``).
    """
    from litellm.proxy._types import LitellmUserRoles, ProxyException, UserAPIKeyAuth

    if api_key and api_key == os.environ.get(MASTER_ENV):
        return UserAPIKeyAuth(api_key=api_key, token=token_hash(api_key),
                              user_role=LitellmUserRoles.PROXY_ADMIN)  # fmt: skip
    path = os.environ.get(KEYS_ENV)
    keys = json.loads(Path(path).read_text()) if path and Path(path).exists() else {}
    scope = keys.get(api_key)
    if scope is None:
        raise ProxyException(message="Authentication Error, Invalid proxy server token passed.",
                             type="auth_error", param="api_key", code=401)  # fmt: skip
    return UserAPIKeyAuth(
        api_key=api_key,
        token=token_hash(api_key),
        key_alias=scope.get("key_alias"),
        models=scope.get("models") or [],
        rpm_limit=scope.get("rpm_limit"),
        tpm_limit=scope.get("tpm_limit"),
    )
