"""Embeddings on both surfaces: ``/api/embed``, the legacy ``/api/embeddings``, ``/v1/embeddings``.

Handlers follow ``server/routes.go`` (EmbedHandler, EmbeddingsHandler) and, for ``/v1``,
``middleware/openai.go`` EmbeddingsMiddleware + ``openai/openai.go`` ToEmbeddingList at the
emulated version (ollama/ollama@fb3076099), step for step, so every error has Ollama's status and
words at the same point. The algorithm (budgets, truncation, the runner's refusals, vectors)
lives in ``engine/embeddings.py``; this module decodes, orders the checks and encodes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from mockserver.engine import embeddings, store
from mockserver.engine.catalog import ModelCard, family_of
from mockserver.engine.engine import Engine
from mockserver.errors import OllamaError
from mockserver.modelref import refuse_cloud, validated_ref
from mockserver.routes.deferred import DeferredRouter
from mockserver.wire import embed as wire
from mockserver.wire.decode import parse_json, validate
from mockserver.wire.ollama import go_quote, parse_keep_alive, parse_options
from mockserver.wire.responses import GinJSONResponse, GoJSONResponse

router = DeferredRouter(tags=["embeddings"])


async def _decode(request: Request, model: type[BaseModel], go_struct: str, *, openai: bool):
    body = await request.body()
    if not openai and not body.strip():
        raise OllamaError(400, "missing request body")
    data = parse_json(body, from_middleware=openai)
    return validate(model, data, go_struct=go_struct, from_middleware=openai)


def _not_pulled(model: str) -> OllamaError:
    """``handleScheduleError`` for a model with no manifest (``os.ErrNotExist``)."""
    return OllamaError(404, f"model {go_quote(model)} not found, try pulling it first")


def _inputs(value: Any) -> list[str]:
    """EmbedHandler's switch on ``req.Input``: a string (empty = nothing), a list of strings."""
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise OllamaError(400, "invalid input type")
        return list(value)
    if value is not None:
        raise OllamaError(400, "invalid input type")
    return []


@dataclass(frozen=True, slots=True)
class _Scheduled:
    card: ModelCard
    model: embeddings.EmbeddingModel | None  # None: a chat model
    limits: embeddings.RunnerLimits
    load_ns: int


async def _schedule(
    engine: Engine,
    name: str,
    options: dict[str, Any] | None,
    keep_alive: float | None,
    requested: str | None = None,
) -> _Scheduled:
    """``getModel`` then ``scheduleRunner`` with no capability required: load and keep.
    ``name`` is looked up; errors name the model as ``requested`` (``req.Model``)."""
    started = time.perf_counter_ns()
    card = engine.catalog.find(name)
    if card is None:
        raise _not_pulled(requested if requested is not None else name)
    parsed = parse_options(options)
    model = embeddings.embedding_model(card.family)
    family = family_of(card)
    params = dict(store.merged_parameters(card)) if model is not None else {}
    limits = embeddings.runner_limits(parsed, params, engine.num_ctx, card.context_length)
    if model is not None and not model.loaded:
        await run_in_threadpool(lambda: model.text)
    elif family is not None and not family.loaded:
        await run_in_threadpool(lambda: family.tokenizer)
    engine.hold(card, limits.runner_ctx, keep_alive)
    return _Scheduled(card, model, limits, max(time.perf_counter_ns() - started, 1))


async def _embed_all(
    scheduled: _Scheduled, inputs: list[str], truncate: bool | None, dimensions: int
) -> tuple[list[list[float]], int]:
    """Every input (the first failing one, in input order, answers for the request)."""
    model = scheduled.model
    if model is None:
        family = family_of(scheduled.card)
        assert family is not None
        raise embeddings.refuse_chat_model(
            family.tokenizer.encode, inputs[0], scheduled.limits, truncate=truncate
        )

    def run() -> tuple[list[list[float]], int]:
        vectors: list[list[float]] = []
        tokens = 0
        for text in inputs:
            done = embeddings.embed_one(
                model, text, scheduled.limits, truncate=truncate, dimensions=dimensions
            )
            vectors.append(done.vector)
            tokens += done.tokens
        return vectors, tokens

    if sum(len(text) for text in inputs) > 20_000:
        return await run_in_threadpool(run)
    return run()


def _check_embed_name(model: str) -> str:
    """``parseAndValidateModelRef``: any parse failure is "not found" except two source
    suffixes and an invalid name; a cloud name is refused. The name to look up (no
    ``:local``); the reply echoes the name as sent."""
    if not model.strip():
        raise OllamaError(404, f"model '{model}' not found")
    ref = validated_ref(model)
    refuse_cloud(ref)
    return ref.base


async def _embed_response(
    request: Request,
    *,
    model: str,
    raw_input: Any,
    truncate: bool | None,
    dimensions: int,
    options: dict[str, Any] | None,
    keep_alive: float | None,
) -> tuple[str, list[list[float]], int, int, int]:
    started = time.perf_counter_ns()
    engine: Engine = request.app.state.engine
    base = _check_embed_name(model)
    inputs = _inputs(raw_input)
    scheduled = await _schedule(engine, base, options, keep_alive, model)
    if not inputs:
        return model, [], 0, 0, 0
    vectors, tokens = await _embed_all(scheduled, inputs, truncate, dimensions)
    return model, vectors, tokens, time.perf_counter_ns() - started, scheduled.load_ns


@router.post("/api/embed")
async def embed(request: Request) -> Response:
    parsed = await _decode(request, wire.EmbedRequestIn, "api.EmbedRequest", openai=False)
    keep_alive = parse_keep_alive(parsed.keep_alive)
    model, vectors, tokens, total_ns, load_ns = await _embed_response(
        request,
        model=parsed.model or "",
        raw_input=parsed.input,
        truncate=parsed.truncate,
        dimensions=parsed.dimensions or 0,
        options=parsed.options,
        keep_alive=keep_alive,
    )
    return GinJSONResponse(
        wire.embed_body(model, vectors, total_ns=total_ns, load_ns=load_ns, tokens=tokens)
    )


@router.post("/api/embeddings")
async def embeddings_legacy(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    parsed = await _decode(request, wire.EmbeddingRequestIn, "api.EmbeddingRequest", openai=False)
    keep_alive = parse_keep_alive(parsed.keep_alive)
    model = parsed.model or ""
    if not model.strip():  # the fallback of writeModelRefParseError here
        raise OllamaError(400, "model is required")
    ref = validated_ref(model)
    refuse_cloud(ref)
    scheduled = await _schedule(engine, ref.base, parsed.options, keep_alive, model)
    prompt = parsed.prompt or ""
    if not prompt:  # an empty request loads the model
        return GinJSONResponse({"embedding": []})
    if scheduled.model is None:
        raise OllamaError(500, embeddings.NO_EMBEDDINGS)
    vector = embeddings.embed_legacy(scheduled.model, prompt, scheduled.limits)
    return GinJSONResponse({"embedding": wire.float64_array(vector)})


@router.post("/v1/embeddings")
async def openai_embeddings(request: Request) -> Response:
    parsed = await _decode(request, wire.OpenAIEmbedRequestIn, "openai.EmbedRequest", openai=True)
    encoding = parsed.encoding_format or ""
    if encoding and encoding.lower() not in ("float", "base64"):
        raise OllamaError(
            400,
            f"Invalid value for 'encoding_format' = {encoding}. "
            "Supported values: ['float', 'base64'].",
            from_middleware=True,
        )
    raw_input = parsed.input
    if raw_input == "":
        raw_input = [""]
    if raw_input is None or raw_input == []:
        raise OllamaError(400, "invalid input", from_middleware=True)
    model, vectors, tokens, _, _ = await _embed_response(
        request,
        model=parsed.model or "",
        raw_input=raw_input,
        truncate=None,
        dimensions=parsed.dimensions or 0,
        options=None,
        keep_alive=None,
    )
    return GoJSONResponse(wire.openai_embedding_list(model, vectors, tokens, encoding))


__all__ = ["router"]
