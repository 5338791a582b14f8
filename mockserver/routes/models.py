"""Model management as Ollama does it: pull, push, create, copy, delete, blobs, status.

Handlers follow ``server/routes.go`` (PullHandler, PushHandler, CopyHandler, DeleteHandler,
HeadBlobHandler, CreateBlobHandler, StatusHandler), ``server/create.go`` (CreateHandler,
createModel) and ``server/images.go`` (PullModel, PushModel) at the emulated version
(ollama/ollama@fb3076099). Progress is Ollama's NDJSON (``streamResponse``: one
``api.ProgressResponse`` a line, an error as a last ``{"error": ...}`` line) or, with
``stream: false``, the last progress object (``waitForStream``; an error there is a 500, or the
status the handler attached). The store itself is ``engine/store.py`` + the catalog.

Offline by design: "the registry" is the fake's catalog. A name it knows downloads (instantly,
or at ``DOWNLOAD_BYTES_PER_S`` with ticks every 60 ms like Ollama's when ``--profile`` is set);
a name it does not know is the registry's 404 (``pull model manifest: file does not exist``).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mockserver.engine import store
from mockserver.engine.catalog import Catalog, ModelCard, is_valid_name, known_card, parse_name
from mockserver.engine.engine import Engine
from mockserver.errors import OllamaError
from mockserver.modelref import cloud_disabled, local_base, parse_ref, pull_name
from mockserver.routes.deferred import DeferredRouter
from mockserver.wire.decode import parse_json, validate
from mockserver.wire.gojson import dumps
from mockserver.wire.ollama import go_quote
from mockserver.wire.responses import GinJSONResponse

router = DeferredRouter(tags=["models"])

# With a latency profile, a pull takes as long as a download on a 400 Mbit/s line would: an
# assumption (Ollama's own speed is the network's), not a measurement.
DOWNLOAD_BYTES_PER_S = 50_000_000
_TICK_S = 0.06  # blobDownload.Wait reports progress every 60 ms
_NOT_IN_REGISTRY = "pull model manifest: file does not exist"

_STRICT = ConfigDict(strict=True, extra="ignore", populate_by_name=True, defer_build=True)


def _go(go_type: str) -> dict[str, Any]:
    return {"x-go-type": go_type}


class PullRequestIn(BaseModel):
    model_config = _STRICT
    model: str | None = Field(None, json_schema_extra=_go("string"))
    name: str | None = Field(None, json_schema_extra=_go("string"))
    insecure: bool | None = Field(None, json_schema_extra=_go("bool"))
    username: str | None = Field(None, json_schema_extra=_go("string"))
    password: str | None = Field(None, json_schema_extra=_go("string"))
    stream: bool | None = Field(None, json_schema_extra=_go("bool"))


class CopyRequestIn(BaseModel):
    model_config = _STRICT
    source: str | None = Field(None, json_schema_extra=_go("string"))
    destination: str | None = Field(None, json_schema_extra=_go("string"))


class DeleteRequestIn(BaseModel):
    model_config = _STRICT
    model: str | None = Field(None, json_schema_extra=_go("string"))
    name: str | None = Field(None, json_schema_extra=_go("string"))


class CreateRequestIn(BaseModel):
    model_config = _STRICT
    model: str | None = Field(None, json_schema_extra=_go("string"))
    name: str | None = Field(None, json_schema_extra=_go("string"))
    stream: bool | None = Field(None, json_schema_extra=_go("bool"))
    quantize: str | None = Field(None, json_schema_extra=_go("string"))
    from_: str | None = Field(None, alias="from", json_schema_extra=_go("string"))
    files: dict[str, str] | None = Field(None, json_schema_extra=_go("map[string]string"))
    adapters: dict[str, str] | None = Field(None, json_schema_extra=_go("map[string]string"))
    template: str | None = Field(None, json_schema_extra=_go("string"))
    license: Any = None
    system: str | None = Field(None, json_schema_extra=_go("string"))
    parameters: dict[str, Any] | None = Field(
        None, json_schema_extra=_go("map[string]interface {}")
    )
    messages: list[dict[str, Any]] | None = Field(None, json_schema_extra=_go("[]api.Message"))


async def _decode(request: Request, model: type[BaseModel], go_struct: str) -> Any:
    body = await request.body()
    if not body.strip():
        raise OllamaError(400, "missing request body")
    return validate(
        model, parse_json(body, from_middleware=False), go_struct=go_struct, from_middleware=False
    )


def _changed(request: Request) -> None:
    """The store changed: answers the memo kept for the old store are forgotten."""
    request.app.state.fastpath.memo.clear()


def _progress(status: str, digest: str = "", total: int = 0, completed: int = 0) -> dict:
    """``api.ProgressResponse`` (digest, total and completed are omitempty)."""
    line: dict[str, Any] = {"status": status}
    if digest:
        line["digest"] = digest
    if total:
        line["total"] = total
    if completed:
        line["completed"] = completed
    return line


Line = tuple[float, dict[str, Any]]  # (delay before it, the object)


def _reply(lines: list[Line], error: tuple[int, str] | None, stream: bool | None) -> Response:
    """``streamResponse`` / ``waitForStream`` over the progress (and the error, if any)."""
    if stream is False:
        return _wait(lines, error)

    async def body() -> AsyncIterator[bytes]:
        for delay, line in lines:
            if delay:
                await asyncio.sleep(delay)
            yield dumps(line) + b"\n"
        if error is not None:
            yield dumps({"error": error[1]}) + b"\n"

    if not lines and error is not None:  # nothing written yet: a plain JSON error
        return _JSON({"error": error[1]}, status_code=error[0])
    return StreamingResponse(body(), media_type="application/x-ndjson")


class _JSON(Response):
    """``c.Header("Content-Type", "application/json")`` then ``c.JSON``: no charset."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


def _wait(lines: list[Line], error: tuple[int, str] | None) -> Response:
    delay = sum(d for d, _ in lines)

    async def later() -> Response:
        if delay:
            await asyncio.sleep(delay)
        if error is not None:
            return _JSON({"error": error[1]}, status_code=error[0])
        return _JSON(lines[-1][1] if lines else {})

    return _Deferred(later)


class _Deferred(Response):
    """A response decided after a wait (a paced pull answered with ``stream: false``)."""

    def __init__(self, make) -> None:
        super().__init__()
        self._make = make

    async def __call__(self, scope, receive, send) -> None:
        response = await self._make()
        await response(scope, receive, send)


def _download(layer: store.Layer, have: bool, paced: bool) -> list[Line]:
    """``downloadBlob``: a blob the store has is reported complete at once; otherwise the
    first tick has no ``completed`` yet, then ticks until the whole blob is there."""
    if have:
        return [(0.0, _progress(f"pulling {layer.short}", layer.digest, layer.size, layer.size))]
    lines: list[Line] = [(0.0, _progress(f"pulling {layer.short}", layer.digest, layer.size))]
    if paced:
        per_tick = max(int(DOWNLOAD_BYTES_PER_S * _TICK_S), 1)
        done = 0
        while done < layer.size:
            done = min(done + per_tick, layer.size)
            lines.append(
                (_TICK_S, _progress(f"pulling {layer.short}", layer.digest, layer.size, done))
            )
    else:
        lines.append(
            (0.0, _progress(f"pulling {layer.short}", layer.digest, layer.size, layer.size))
        )
    return lines


def pull_lines(catalog: Catalog, card: ModelCard, paced: bool) -> list[Line]:
    """PullModel's progress for ``card``; the caller adds it to the store after."""
    held = {layer.digest for held_card in catalog for layer in store.layers(held_card)}
    lines: list[Line] = [(0.0, _progress("pulling manifest"))]
    for layer in store.layers(card):
        lines += _download(layer, layer.digest in held, paced)
        held.add(layer.digest)
    lines += [
        (0.0, _progress("verifying sha256 digest")),
        (0.0, _progress("writing manifest")),
        (0.0, _progress("success")),
    ]
    return lines


def _pull_name(raw: str, invalid: str = "invalid model name") -> str:
    """``parseNormalizePullModelRef``: two source suffixes are their 400, any other failure
    ``invalid``; the name to pull or delete (``:local`` dropped, a cloud model's legacy stub
    name, which the fake's registry does not have: ``mockserver/modelref.py``)."""
    if not raw.strip():
        raise OllamaError(400, invalid)
    name = pull_name(parse_ref(raw))
    if not is_valid_name(name):
        raise OllamaError(400, invalid)
    return name


def _now(request: Request) -> datetime:
    """The manifest's ModTime: now, or under ``--seed`` the catalog's own date (repeatable)."""
    if request.app.state.settings.seed is not None:
        return request.app.state.engine.catalog.modified_at
    return datetime.now(UTC)


def _paced(request: Request) -> bool:
    return request.app.state.pacer is not None


# --- pull / push -----------------------------------------------------------------------------


@router.post("/api/pull")
async def pull(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    parsed = await _decode(request, PullRequestIn, "api.PullRequest")
    name = _pull_name(parsed.model or parsed.name or "")
    card = known_card(name)
    if card is None:
        return _reply(
            [(0.0, _progress("pulling manifest"))], (500, _NOT_IN_REGISTRY), parsed.stream
        )
    lines = pull_lines(engine.catalog, card, _paced(request))
    engine.catalog.put(replace(card, modified_at=_now(request)))
    _changed(request)
    return _reply(lines, None, parsed.stream)


@router.post("/api/push")
async def push(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    parsed = await _decode(request, PullRequestIn, "api.PushRequest")
    name = parsed.model or parsed.name or ""
    if not name:
        raise OllamaError(400, "model is required")
    lines: list[Line] = [(0.0, _progress("retrieving manifest"))]
    if engine.catalog.find(name) is None:
        # ParseNamedManifest fails; Ollama's os error names the manifest's path on disk, which
        # the fake does not reveal (DELIBERATE: no paths in errors).
        lines.append((0.0, _progress("couldn't retrieve manifest")))
        return _reply(lines, (500, "file does not exist"), parsed.stream)
    # Uploading needs the registry: the fake is offline, and an Ollama without credentials for
    # the namespace is refused (errUnauthorized after makeRequestWithRetry's two tries).
    return _reply(lines, (500, "unauthorized: access denied"), parsed.stream)


# --- create ----------------------------------------------------------------------------------


@router.post("/api/create")
async def create(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    parsed = await _decode(request, CreateRequestIn, "api.CreateRequest")
    for digest in (*(parsed.files or {}).values(), *(parsed.adapters or {}).values()):
        if not digest:
            raise OllamaError(400, "invalid digest format")
    name = (parsed.model or parsed.name or "").strip()
    if not is_valid_name(name):
        raise OllamaError(400, "invalid model name")
    name = _display(name)
    source = (parsed.from_ or "").strip()
    if not source:
        if parsed.files:
            # Building from uploaded GGUF files needs the file's contents, which the fake does
            # not parse (it holds digests only): answered as Ollama answers an unknown type.
            return _reply([], (400, "unknown type"), parsed.stream)
        return _reply([], (400, "neither 'from' or 'files' was specified"), parsed.stream)
    try:  # parseAndValidateModelRef; ":local" names the local model
        source = local_base(source)
    except OllamaError:
        source = ""  # two suffixes: worded as any invalid name here
    if not is_valid_name(source):
        return _reply([], (400, "invalid model name"), parsed.stream)
    lines: list[Line] = []
    base = engine.catalog.find(source)
    if base is None:  # parseFromModel pulls a base it does not have
        wanted = known_card(source)
        if wanted is None:
            return _reply(
                [(0.0, _progress("pulling manifest"))], (500, _NOT_IN_REGISTRY), parsed.stream
            )
        lines += pull_lines(engine.catalog, wanted, _paced(request))
        base = replace(wanted, modified_at=_now(request))
        engine.catalog.put(base)
    if parsed.template:  # setTemplate: template.Parse, else errBadTemplate (400)
        from mockserver.engine.templates.ollama_template import OllamaTemplate, TemplateError

        try:
            OllamaTemplate(parsed.template)
        except TemplateError as error:
            return _reply(lines, (400, f"template error: {error}"), parsed.stream)
    card = store.created(
        base,
        name,
        system=parsed.system or "",
        template=parsed.template or "",
        parameters=parsed.parameters or {},
    )
    base_layers = {layer.digest for layer in store.layers(base)}
    held = {layer.digest for held_card in engine.catalog for layer in store.layers(held_card)}
    for layer in store.layers(card)[:-1]:  # the config layer is written without a status
        verb = (
            "using existing layer" if layer.digest in held | base_layers else "creating new layer"
        )
        lines.append((0.0, _progress(f"{verb} {layer.digest}")))
    lines += [(0.0, _progress("writing manifest")), (0.0, _progress("success"))]
    engine.catalog.put(replace(card, modified_at=_now(request)))
    _changed(request)
    return _reply(lines, None, parsed.stream)


def _display(name: str) -> str:
    """The name as the store records it (``DisplayShortest``: default host and namespace
    dropped, the tag always present)."""
    host, namespace, model, tag = parse_name(name)
    if host != "registry.ollama.ai":
        return f"{host}/{namespace}/{model}:{tag}"
    if namespace != "library":
        return f"{namespace}/{model}:{tag}"
    return f"{model}:{tag}"


# --- copy / delete ---------------------------------------------------------------------------


@router.post("/api/copy")
async def copy(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    parsed = await _decode(request, CopyRequestIn, "api.CopyRequest")
    source, destination = parsed.source or "", parsed.destination or ""
    if not is_valid_name(source):
        raise OllamaError(400, f"source {go_quote(source)} is invalid")
    if not is_valid_name(destination):
        raise OllamaError(400, f"destination {go_quote(destination)} is invalid")
    card = engine.catalog.find(source)
    if card is None:
        raise OllamaError(404, f"model {go_quote(source)} not found")
    copied = replace(
        card, name=_display(destination), digest=card.full_digest, modified_at=_now(request)
    )
    engine.catalog.put(copied)
    _changed(request)
    return Response(status_code=200)


@router.delete("/api/delete")
async def delete(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    parsed = await _decode(request, DeleteRequestIn, "api.DeleteRequest")
    raw = parsed.model or parsed.name or ""
    if not raw.strip():
        raise OllamaError(400, "model is required")
    card = engine.catalog.remove(_pull_name(raw, invalid=f"name {go_quote(raw)} is invalid"))
    if card is None:
        raise OllamaError(404, f"model '{raw}' not found")
    engine.unload_card(card)
    _changed(request)
    return Response(status_code=200)


# --- blobs / status ----------------------------------------------------------------------------

_DIGEST_CHARS = frozenset("0123456789abcdefABCDEF")


def _check_digest(digest: str) -> None:
    """``manifest.BlobsPath``: ``sha256:`` (or ``sha256-``) and 64 hex digits."""
    head, body = digest[:7], digest[7:]
    if head not in ("sha256:", "sha256-") or len(body) != 64 or not set(body) <= _DIGEST_CHARS:
        raise OllamaError(400, "invalid digest format")


def _blobs(request: Request) -> store.Blobs:
    blobs = getattr(request.app.state, "blobs", None)
    if blobs is None:
        blobs = request.app.state.blobs = store.Blobs()
    return blobs


# The digest is read from the request and documented by hand (as /v1/models/{model} is): a
# typed path parameter makes FastAPI import pydantic.v1 at start-up (~15 ms).
_DIGEST_PARAMETER = {
    "name": "digest",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "title": "Digest"},
}


@router.head("/api/blobs/{digest}", openapi_extra={"parameters": [_DIGEST_PARAMETER]})
async def head_blob(request: Request) -> Response:
    digest: str = request.path_params["digest"]
    engine: Engine = request.app.state.engine
    _check_digest(digest)
    if not _blobs(request).has(digest, engine.catalog.cards):
        raise OllamaError(404, f"blob {go_quote(digest)} not found")
    return Response(status_code=200)


@router.post("/api/blobs/{digest}", openapi_extra={"parameters": [_DIGEST_PARAMETER]})
async def create_blob(request: Request) -> Response:
    digest: str = request.path_params["digest"]
    engine: Engine = request.app.state.engine
    _check_digest(digest)
    blobs = _blobs(request)
    if blobs.has(digest, engine.catalog.cards):
        return Response(status_code=200)
    sha = hashlib.sha256()
    size = 0
    async for chunk in request.stream():
        sha.update(chunk)
        size += len(chunk)
    got = "sha256:" + sha.hexdigest()
    if got != digest:
        raise OllamaError(400, f"digest mismatch, expected {go_quote(digest)}, got {go_quote(got)}")
    blobs.add(got, size)
    return Response(status_code=201)


# --- what an Ollama with its cloud off answers (``OLLAMA_NO_CLOUD=1``, mockserver/modelref.py) ---


@router.get("/api/status")
async def status() -> Response:
    """``StatusHandler``: ``internalcloud.Status()``, cloud disabled by the environment (the
    fake refuses cloud models as that Ollama does: ``modelref.cloud_disabled``)."""
    return GinJSONResponse({"cloud": {"disabled": True, "source": "env"}})


async def _web_experimental(request: Request, operation: str) -> Response:
    """``webExperimentalProxyHandler``: a body of only whitespace is a 400; any other goes to
    ``proxyCloudRequestWithPath``, which refuses it with cloud off (403)."""
    if not (await request.body()).strip():
        raise OllamaError(400, "missing request body")
    raise cloud_disabled(operation)


@router.post("/api/experimental/web_search")
async def web_search(request: Request) -> Response:
    return await _web_experimental(request, "web search is unavailable")


@router.post("/api/experimental/web_fetch")
async def web_fetch(request: Request) -> Response:
    return await _web_experimental(request, "web fetch is unavailable")


@router.post("/api/me")
async def whoami() -> Response:
    """``WhoamiHandler`` asks ollama.com, whatever the cloud setting; the fake is offline, and
    an offline Ollama answers 503 ``account unavailable`` (a failure that is not a 401)."""
    raise OllamaError(503, "account unavailable")


__all__ = ["pull_lines", "router"]
