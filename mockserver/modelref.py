"""Model names with a source suffix: ``:local`` and ``:cloud`` (ollama/ollama@fb3076099).

``internal/modelref/modelref.go`` ``ParseRef``: the name is trimmed; a last ``:`` part that is
``local`` or ``cloud`` (any case, spaces around it ignored), or a tag ending in ``-cloud``
(``gpt-oss:20b-cloud``), is the source; two suffixes are a 400 (``use either :local or :cloud,
not both: "<name>"``). ``server/model_resolver.go`` ``parseAndValidateModelRef`` then checks
the rest as a model name (``invalid model name``, 400), and each handler words the other
failures its own way (``writeModelRefParseError``'s fallback).

``:local`` names the local model: the suffix is dropped for the lookup, the reply echoes the
name as sent. ``:cloud`` sends the request to ollama.com (``server/cloud_proxy.go``
``proxyCloudRequestWithPath``). The fake is offline, so it answers as an Ollama whose cloud is
turned off (``OLLAMA_NO_CLOUD=1``, ``internal/cloud/policy.go``): 403 ``ollama cloud is
disabled: <operation>``, in the native shape on every route, ``/v1`` included (the refusal is
written before the OpenAI layer, by ``cloudPassthroughMiddleware``). An Ollama with cloud on
answers from the network instead (a 401 with a sign-in URL when signed out, a 502 when
offline, or the cloud model's answer): not emulated.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.asgi import read_body, replaying
from mockserver.engine.catalog import is_valid_name
from mockserver.errors import OllamaError

LOCAL = "local"
CLOUD = "cloud"
# server/routes.go: the operations named in the cloud-disabled refusal.
REMOTE_INFERENCE = "remote model is unavailable"
REMOTE_DETAILS = "remote model details are unavailable"


@dataclass(frozen=True, slots=True)
class ModelRef:
    original: str  # trimmed, as sent
    base: str  # without the source suffix
    source: str  # "", LOCAL or CLOUD


def _source_suffix(raw: str) -> tuple[str, str]:
    """``parseSourceSuffix``: ``(base, source)``."""
    index = raw.rfind(":")
    if index >= 0:
        suffix_raw = raw[index + 1 :].strip()
        suffix = suffix_raw.lower()
        if suffix in (LOCAL, CLOUD):
            return raw[:index], suffix
        if "/" not in suffix_raw and suffix.endswith("-cloud"):
            return raw[: index + 1] + suffix_raw[: -len("-cloud")], CLOUD
    return raw, ""


def parse_ref(raw: str) -> ModelRef:
    """``ParseRef`` of a non-blank name (each handler words a blank one itself)."""
    from mockserver.wire.ollama import go_quote

    raw = raw.strip()
    base, source = _source_suffix(raw)
    if source and _source_suffix(base)[1]:
        raise OllamaError(400, f"use either :local or :cloud, not both: {go_quote(raw)}")
    return ModelRef(raw, base, source)


def validated_ref(raw: str) -> ModelRef:
    """``parseAndValidateModelRef``: the parsed name, its base a valid model name."""
    ref = parse_ref(raw)
    if not is_valid_name(ref.base):
        raise OllamaError(400, "invalid model name")  # errtypes.InvalidModelNameErrMsg
    return ref


def pull_name(ref: ModelRef) -> str:
    """``modelref.NormalizePullName``: a cloud model's legacy stub name (``gpt-oss:20b-cloud``,
    ``gpt-oss:cloud``), the base otherwise (``server/model_resolver.go``
    ``parseNormalizePullModelRef``, behind ``/api/pull`` and ``/api/delete``)."""
    if ref.source != CLOUD:
        return ref.base
    tagged = ref.base.rfind(":") > ref.base.rfind("/")
    return ref.base + ("-cloud" if tagged else ":cloud")


def local_base(raw: str) -> str:
    """The name to look up: without a ``:local`` suffix (two suffixes: the 400). Every
    generation request asks it two or three times of the same few names: those up to
    ``_CACHED_NAME`` characters are parsed once (a bounded cache: 512 short names)."""
    if len(raw) <= _CACHED_NAME:
        return _cached_local_base(raw)
    return _local_base(raw)


def _local_base(raw: str) -> str:
    ref = parse_ref(raw)
    return ref.base if ref.source == LOCAL else ref.original


_CACHED_NAME = 128
_cached_local_base = functools.lru_cache(maxsize=512)(_local_base)  # errors are not cached


def cloud_disabled(operation: str) -> OllamaError:
    """``internalcloud.DisabledError``: 403 (always rendered natively)."""
    return OllamaError(403, f"ollama cloud is disabled: {operation}")


def refuse_cloud(ref: ModelRef, operation: str = REMOTE_INFERENCE) -> None:
    if ref.source == CLOUD:
        raise cloud_disabled(operation)


def is_cloud(raw: object) -> bool:
    """A ``model`` field that ``cloudPassthroughMiddleware`` sends to the cloud: a string
    that parses, whose base is a valid name, with the cloud suffix."""
    if not isinstance(raw, str) or not raw.strip():
        return False
    try:
        return validated_ref(raw).source == CLOUD
    except OllamaError:
        return False


# server/routes.go: the /v1 routes behind cloudPassthroughMiddleware (a JSON body's "model")
# and cloudModelPathPassthroughMiddleware (GET /v1/models/:model).
PASSTHROUGH_POSTS = frozenset(
    {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses", "/v1/messages"}
)
_MODEL_PATH = "/v1/models/"


class RefuseCloudModels:
    """The ASGI layer for ``/v1``'s cloud passthrough: a cloud model is refused before the
    request is decoded, with Ollama's native 403 (``mockserver/modelref.py``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if method == "GET" and path.startswith(_MODEL_PATH):
            if is_cloud(path[len(_MODEL_PATH) :]):
                await _refuse(scope, receive, send, REMOTE_DETAILS)
                return
        elif method == "POST" and path in PASSTHROUGH_POSTS:
            body, complete = await read_body(receive)
            if complete and is_cloud(_model_field(body)):
                await _refuse(scope, receive, send, REMOTE_INFERENCE)
                return
            receive = replaying(body, complete, receive)
        await self.app(scope, receive, send)


def _model_field(body: bytes) -> object:
    """``extractModelField``: the body's ``model`` when the body is a JSON object (a body that
    cannot name a cloud model is not parsed: this layer is on every ``/v1`` request)."""
    if b"cloud" not in body.lower():  # every cloud suffix spells it, in any case
        return None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return payload.get("model") if isinstance(payload, dict) else None


async def _refuse(scope: Scope, receive: Receive, send: Send, operation: str) -> None:
    from mockserver.wire.errors import Surface, render

    await render(cloud_disabled(operation), Surface.NATIVE)(scope, receive, send)
