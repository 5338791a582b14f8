"""``/`` and ``/api``: Ollama's native surface, a thin translation onto the engine.

Handlers follow ``server/routes.go`` of current Ollama (ollama/ollama@fb3076099, tag
v0.33.0-rc2; the same code as release v0.32.15) step for step (decode, top_logprobs, name check,
unload, thinking check, capability checks, options, load, prompt, render-only, generation), so
that every error comes out with the status and words Ollama uses at the same point.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mockserver import OLLAMA_VERSION
from mockserver.engine import gguf_vocab, modelfiles, store
from mockserver.engine.catalog import ModelCard, family_of
from mockserver.engine.chat import ChatRequest, Options
from mockserver.engine.embeddings import EmbeddingModel, embedding_model
from mockserver.engine.embeddings import show_fields as embedding_show_fields
from mockserver.engine.engine import ChatResult, CompletionUnsupported, Engine, is_heavy
from mockserver.errors import OllamaError
from mockserver.fastpath import Action, Answer, Bound, FastPath
from mockserver.modelref import REMOTE_DETAILS, REMOTE_INFERENCE, refuse_cloud, validated_ref
from mockserver.pacing import Pacer, Plan, paced, plan_for
from mockserver.routes.deferred import DeferredRouter
from mockserver.wire import ollama as wire
from mockserver.wire.decode import Model, parse_json, validate
from mockserver.wire.gojson import dumps
from mockserver.wire.responses import GinJSONResponse, GinTextResponse

router = DeferredRouter(tags=["ollama"])

NDJSON = "application/x-ndjson"


@router.api_route("/", methods=["GET", "HEAD"], lean=True, include_in_schema=False)
async def root(request: Request) -> Response:
    return GinTextResponse("Ollama is running")


@router.api_route("/api/version", methods=["GET", "HEAD"], lean=True)
async def version(request: Request) -> Response:
    return GinJSONResponse({"version": OLLAMA_VERSION})


@router.api_route("/api/tags", methods=["GET", "HEAD"], lean=True)
async def tags(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    release = engine.catalog.modified_at  # the manifest file's ModTime
    # sortListModelResponses: most recently modified first (stable).
    cards = sorted(engine.catalog, key=lambda card: card.modified_at or release, reverse=True)
    return GinJSONResponse(
        {
            "models": [
                tag_entry(card, wire.go_local_time(card.modified_at or release)) for card in cards
            ]
        }
    )


def tag_entry(card: ModelCard, modified_at: str) -> dict:
    """``api.ListModelResponse`` as ``server/model_list_cache.go`` fills it: the details add
    the GGUF's context and embedding lengths, and the model's capabilities follow (both
    omitempty; ``remote_model`` / ``remote_host`` are for cloud models only)."""
    entry_details = details(card)
    modelfile = modelfiles.modelfile_for(card)
    if card.context_length:
        entry_details["context_length"] = card.context_length
    if modelfile is not None:
        entry_details["embedding_length"] = modelfiles.arch_for(card, modelfile).embedding
    elif (embedder := embedding_model(card.family)) is not None:
        entry_details["embedding_length"] = embedder.dimensions
    entry = {
        "name": card.name,
        "model": card.name,
        "modified_at": modified_at,
        "size": card.size,
        "digest": card.full_digest,
        "details": entry_details,
    }
    if card.capabilities:
        entry["capabilities"] = list(card.capabilities)
    return entry


def details(card: ModelCard) -> dict:
    return {
        "parent_model": card.parent,
        "format": "gguf",
        "family": card.arch_family,
        "families": [card.arch_family],
        "parameter_size": card.parameter_size,
        "quantization_level": card.quantization_level,
    }


async def _reply(
    stream: bool,
    plan: Plan | None,
    final: Callable[[bool], dict[str, Any]],
    chunks: Callable[[], list[dict[str, Any]]],
) -> Response:
    """One JSON object (after the paced time), or the NDJSON partials and the final object."""
    if not stream:
        if plan is not None:
            await asyncio.sleep(plan.total_s)
        return GinJSONResponse(final(False))
    partials = chunks()
    partials.append(final(True))
    return _ndjson(partials, plan)


def _unload(request: Request, model: str) -> None:
    """``keep_alive: 0``: the model leaves memory; with pacing, its next request loads again."""
    request.app.state.engine.unload(model)
    pacer: Pacer | None = request.app.state.pacer
    if pacer is not None:
        pacer.unload(model)


# --- shared steps ----------------------------------------------------------------------------


async def _decode(
    request: Request, model: type[wire.BaseModel], go_struct: str
) -> tuple[Any, bytes]:
    body = await request.body()
    return _decode_body(body, model, go_struct), body


def _decode_body(body: bytes, model: type[Model], go_struct: str) -> Model:
    """gin ``ShouldBindJSON``: an empty body is io.EOF, which the handlers word as below."""
    if not body.strip():
        raise OllamaError(400, "missing request body")
    data = parse_json(body, from_middleware=False)
    return validate(model, data, go_struct=go_struct, from_middleware=False)


def _check_name(model: str, *, empty_status: int, cloud_operation: str = REMOTE_INFERENCE) -> str:
    """``parseAndValidateModelRef``: an empty (or blank) name, two source suffixes, then an
    invalid name; a cloud name is refused (``mockserver/modelref.py``). Returns the name
    without its ``:local`` suffix (``modelref.ParseRef``)."""
    if not model.strip():
        if empty_status == 404:  # GenerateHandler words every parse failure as not found
            raise OllamaError(404, f"model '{model}' not found")
        raise OllamaError(400, "model is required")
    ref = validated_ref(model)
    refuse_cloud(ref, cloud_operation)
    return ref.base


class _Clock:
    """``time.Now().UTC()`` per response, or the frozen clock under ``--seed``."""

    def __init__(self, now: float, seeded: bool) -> None:
        self._frozen = int(now * 1_000_000_000) if seeded else None

    def __call__(self) -> str:
        return wire.go_time(self._frozen if self._frozen is not None else time.time_ns())


async def _load(engine: Engine, chat: ChatRequest, keep_alive: float | None) -> None:
    await engine.run(engine.load, chat, keep_alive=keep_alive)


def _ndjson(objects: list[dict[str, Any]], plan: Plan | None = None) -> StreamingResponse:
    lines = [dumps(obj) + b"\n" for obj in objects]
    delays = plan.chunk_delays(len(lines)) if plan else []
    return StreamingResponse(paced(lines, delays), media_type=NDJSON)


def _pace(
    request: Request, result: ChatResult, model: str, body: bytes
) -> tuple[ChatResult, Plan | None]:
    """With a latency profile (``--profile``): the plan, and durations that report it."""
    plan = plan_for(request.app.state.pacer, model, result, body)
    if plan is None:
        return result, None
    paced_result = replace(
        result,
        load_ns=max(int(plan.load_s * 1e9), 1),
        prompt_eval_ns=max(int(plan.prefill_s * 1e9), 1),
        eval_ns=max(int(plan.decode_s * 1e9), 1),
    )
    return paced_result, plan


def _paced_ns(plan: Plan | None, streamed: bool) -> int:
    """A stream's final line is built before the paced chunks are sent: add their time."""
    return int(plan.total_s * 1e9) if plan is not None and streamed else 0


def _schedule(engine: Engine, chat: ChatRequest, raw_options: dict | None) -> ChatRequest:
    """Capability checks (think, then tools), then ``modelOptions`` (``scheduleRunner``)."""
    engine.check(chat)
    return replace(chat, options=wire.engine_options(wire.parse_options(raw_options)))


# --- /api/chat -------------------------------------------------------------------------------

CHAT_PATH = "/api/chat"
GENERATE_PATH = "/api/generate"


def bind_chat(engine: Engine, body: bytes) -> Bound:
    """``ChatHandler`` up to the engine: decode, think, keep_alive, top_logprobs, the name and
    its lookup, then (with messages) the capability checks and options."""
    parsed = _decode_body(body, wire.ChatRequestIn, "api.ChatRequest")
    images = [wire.decode_images(message.images) for message in parsed.messages or ()]
    think = wire.parse_think(parsed.think)
    keep_alive = wire.parse_keep_alive(parsed.keep_alive)
    wire.check_top_logprobs(parsed.top_logprobs)
    model = parsed.model or ""
    base = _check_name(model, empty_status=400)
    if engine.catalog.find(base) is None:
        raise OllamaError(404, f"model '{model}' not found")
    if not parsed.messages and keep_alive == 0:
        return Bound(parsed, None, Action.UNLOAD, keep_alive)
    as_served = parsed.model_copy(update={"model": base})  # the engine's name; replies keep model
    chat_request = _schedule(
        engine, wire.to_chat_request(as_served, think, Options(), images), parsed.options
    )
    action = Action.GENERATE if parsed.messages else Action.LOAD
    return Bound(parsed, chat_request, action, keep_alive)


async def chat(request: Request) -> Response:
    """``POST /api/chat``."""
    started = time.perf_counter_ns()
    body = await request.body()
    fast: FastPath = request.app.state.fastpath
    answer = fast.recall(CHAT_PATH, body) or await fast.compute(CHAT_PATH, body, bind_chat)
    bound = answer.bound
    parsed: wire.ChatRequestIn = bound.request
    model = parsed.model or ""
    seeded = fast.seed is not None
    if bound.action is not Action.GENERATE:
        clock = _Clock(fast.ids(answer, body, 0, completion_id=False).now, seeded)
        return await _load_or_unload(request, bound, clock(), chat=True)
    result = _served(answer, started)
    if result.completion is None:
        clock = _Clock(fast.ids(answer, body, 0, completion_id=False).now, seeded)
        images = result.prompt.images  # those of the messages kept by truncation
        return GinJSONResponse(
            wire.render_only_body(result, model=model, created_at=clock(), chat=True, images=images)
        )
    stream = parsed.stream is not False
    ids = fast.ids(answer, body, len(result.completion.tool_calls), completion_id=False)
    clock = _Clock(ids.now, seeded)
    call_ids = list(ids.call_ids)
    result, plan = _pace(request, result, model, body)

    def final(streamed: bool) -> dict[str, Any]:
        return wire.chat_final(
            result,
            model=model,
            created_at=clock(),
            total_ns=_since(started) + _paced_ns(plan, streamed),
            stream=streamed,
            call_ids=call_ids,
        )

    return await _reply(
        stream,
        plan,
        final,
        lambda: wire.chat_chunks(result, model=model, clock=clock, call_ids=call_ids),
    )


# --- /api/generate ---------------------------------------------------------------------------


def bind_generate(engine: Engine, body: bytes) -> Bound:
    """``GenerateHandler`` up to the engine (the same steps as ``bind_chat``, then raw mode
    and suffix checks)."""
    parsed = _decode_body(body, wire.GenerateRequestIn, "api.GenerateRequest")
    images = wire.decode_images(parsed.images)
    think = wire.parse_think(parsed.think)
    keep_alive = wire.parse_keep_alive(parsed.keep_alive)
    wire.check_top_logprobs(parsed.top_logprobs)
    model = parsed.model or ""
    base = _check_name(model, empty_status=404)
    card = engine.catalog.find(base)
    if card is None:
        raise OllamaError(404, f"model '{model}' not found")
    prompt = parsed.prompt or ""
    if not prompt and keep_alive == 0:
        return Bound(parsed, None, Action.UNLOAD, keep_alive)
    as_served = parsed.model_copy(update={"model": base})  # the engine's name; replies keep model
    if parsed.raw and (parsed.template or parsed.system or parsed.context):
        raise OllamaError(400, "raw mode does not support template, system, or context")
    # Any think level on a model without thinking is the capability error (engine.check); the
    # v0.12.x "think value ... is not supported for this model" check is gone at HEAD.
    try:
        if parsed.suffix and not card.supports("insert"):
            engine.check(ChatRequest(model=base, messages=(), think=think))
            raise OllamaError(400, f"{card.full_name} does not support insert")
        chat_request = _schedule(
            engine,
            wire.generate_to_chat_request(as_served, think, Options(), images),
            parsed.options,
        )
        if parsed.context is not None and not parsed.raw:  # `[]` too: Go's slice is non-nil
            chat_request = replace(chat_request, prefix=engine.detokenize(card, parsed.context))
    except CompletionUnsupported as error:  # an embedding model: GenerateHandler's words
        raise error.for_generate() from None
    return Bound(parsed, chat_request, Action.GENERATE if prompt else Action.LOAD, keep_alive)


async def generate(request: Request) -> Response:
    """``POST /api/generate``."""
    started = time.perf_counter_ns()
    body = await request.body()
    fast: FastPath = request.app.state.fastpath
    answer = fast.recall(GENERATE_PATH, body) or await fast.compute(
        GENERATE_PATH, body, bind_generate
    )
    bound = answer.bound
    parsed: wire.GenerateRequestIn = bound.request
    model = parsed.model or ""
    clock = _Clock(fast.ids(answer, body, 0, completion_id=False).now, fast.seed is not None)
    if bound.action is not Action.GENERATE:
        return await _load_or_unload(request, bound, clock(), chat=False)
    result = _served(answer, started)
    if result.completion is None:
        return GinJSONResponse(
            wire.render_only_body(
                result, model=model, created_at=clock(), chat=False, images=result.prompt.images
            )
        )
    raw = bool(parsed.raw)
    if not raw and answer.context is None:
        engine: Engine = request.app.state.engine
        assert bound.chat is not None
        heavy = is_heavy(bound.chat)  # re-tokenizing a long prompt: off the loop
        answer.keep_context(await engine.run_heavy(lambda: engine.context_tokens(result), heavy))
    context = None if raw else answer.context
    stream = parsed.stream is not False
    result, plan = _pace(request, result, model, body)

    def final(streamed: bool) -> dict[str, Any]:
        return wire.generate_final(
            result,
            model=model,
            created_at=clock(),
            total_ns=_since(started) + _paced_ns(plan, streamed),
            stream=streamed,
            raw=raw,
            context=context,
        )

    return await _reply(
        stream, plan, final, lambda: wire.generate_chunks(result, model=model, raw=raw, clock=clock)
    )


for _path, _endpoint in ((CHAT_PATH, chat), (GENERATE_PATH, generate)):
    router.add_api_route(_path, _endpoint, methods=["POST"], lean=True)


def _served(answer: Answer, started: int) -> ChatResult:
    """The engine's result as this request saw it: served from the memo, the model was already
    loaded, so the load took what this lookup took."""
    assert answer.result is not None
    if not answer.hits:
        return answer.result
    return replace(answer.result, load_ns=max(_since(started), 1))


async def _load_or_unload(
    request: Request, bound: Bound, created_at: str, *, chat: bool
) -> Response:
    """A request without messages (prompt): load the model, or with ``keep_alive: 0`` unload it."""
    model = bound.request.model or ""
    if bound.action is Action.UNLOAD:
        _unload(request, wire.local_model_ref(model))
        return GinJSONResponse(wire.load_body(model, created_at, "unload", chat=chat))
    assert bound.chat is not None
    await _load(request.app.state.engine, bound.chat, bound.keep_alive)
    return GinJSONResponse(wire.load_body(model, created_at, "load", chat=chat))


# --- /api/show -------------------------------------------------------------------------------


@router.post("/api/show")
async def show(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    parsed, _ = await _decode(request, wire.ShowRequestIn, "api.ShowRequest")
    model = parsed.model or parsed.name or ""
    model = _check_name(model, empty_status=400, cloud_operation=REMOTE_DETAILS)
    card = engine.catalog.find(model)
    family = family_of(card) if card else None
    if card is None or (family is None and embedding_model(card.family) is None):
        # ShowHandler re-spells the name (getExistingName, DisplayShortest) before looking it
        # up, so an unknown "nope" is reported as "nope:latest".
        raise OllamaError(404, f"model '{engine.catalog.display_name(model)}' not found")
    default_system = card.system or (family.default_system if family is not None else "")
    body = show_body(card, parsed.system or default_system, engine)
    info = body.get("model_info")
    if parsed.verbose and family is not None and isinstance(info, dict):
        # getModelData with maxArraySize -1: the GGUF's arrays whole (built once, off the loop)
        name = family.name
        whole = await engine.run_heavy(lambda: gguf_vocab.arrays(name), heavy=True)
        for key, values in whole.items():
            if f"tokenizer.ggml.{key}" in info:
                info[f"tokenizer.ggml.{key}"] = values
    if request.headers.get("user-agent", "").startswith(COPILOT_CHAT_USER_AGENT):
        # ShowHandler: Copilot Chat prefers general.basename; Ollama echoes the name asked for
        info = {**(info or {}), "general.basename": model}
        body["model_info"] = dict(sorted(info.items()))  # a Go map: keys sorted
    return GinJSONResponse(body)


COPILOT_CHAT_USER_AGENT = "GitHubCopilotChat/"  # server/routes.go copilotChatUserAgentPrefix


def _embedding_show(card: ModelCard, embedder: EmbeddingModel, engine: Engine) -> dict[str, Any]:
    body = embedding_show_fields(
        embedder,
        name=card.name,
        digest=card.full_digest,
        architecture=card.arch_family,
        parameter_size=card.parameter_size,
        quantization=card.quantization_level,
        context_length=card.context_length,
    )
    model_info = body.pop("model_info")
    body["details"] = details(card)
    body["model_info"] = model_info
    body["capabilities"] = list(card.capabilities)
    body["modified_at"] = wire.go_local_time(card.modified_at or engine.catalog.modified_at)
    return body


def show_body(card: ModelCard, system: str, engine: Engine) -> dict[str, Any]:
    """``api.ShowResponse`` in field order; omitempty fields dropped when empty."""
    embedder = embedding_model(card.family) if card.supports("embedding") else None
    if embedder is not None:
        return _embedding_show(card, embedder, engine)
    modelfile = modelfiles.modelfile_for(card)
    body: dict[str, Any] = {}
    if modelfile is not None:
        if card.template or card.parameters:  # a created model: its own layers over the base's
            modelfile = replace(
                modelfile,
                template=card.template or modelfile.template,
                parameters=store.merged_parameters(card),
            )
        body["license"] = modelfile.license
        body["modelfile"] = modelfiles.modelfile_text(card, modelfile, system)
        parameters = modelfiles.parameters_text(modelfile)
        if parameters:
            body["parameters"] = parameters
        body["template"] = modelfile.template
    if system:
        body["system"] = system
    body["details"] = details(card)
    if modelfile is not None:
        body["model_info"] = modelfiles.model_info(card, modelfile)
        body["tensors"] = modelfiles.tensors(card, modelfile)
    body["capabilities"] = list(card.capabilities)
    body["modified_at"] = wire.go_local_time(card.modified_at or engine.catalog.modified_at)
    return body


# --- /api/ps ---------------------------------------------------------------------------------


@router.get("/api/ps")
async def ps(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    models = [
        {
            "name": resident.card.name,
            "model": resident.card.name,
            "size": resident.card.size,
            "digest": resident.card.full_digest,
            "details": details(resident.card),
            "expires_at": wire.go_local_time(resident.expires_at),
            "size_vram": 0,  # the fake is a CPU-only machine
            "context_length": resident.num_ctx,
        }
        for resident in engine.resident()
    ]
    return GinJSONResponse({"models": models})


def _since(started: int) -> int:
    return time.perf_counter_ns() - started


__all__: list[str] = ["details", "router", "tag_entry"]
