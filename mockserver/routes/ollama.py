"""``/`` and ``/api``: Ollama's native surface."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from mockserver import OLLAMA_VERSION
from mockserver.engine.catalog import ModelCard
from mockserver.engine.engine import Engine
from mockserver.errors import OllamaError
from mockserver.wire.responses import GinJSONResponse, GinTextResponse

router = APIRouter(tags=["ollama"])


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
async def root() -> Response:
    return GinTextResponse("Ollama is running")


@router.api_route("/api/version", methods=["GET", "HEAD"])
async def version() -> Response:
    return GinJSONResponse({"version": OLLAMA_VERSION})


@router.api_route("/api/tags", methods=["GET", "HEAD"])
async def tags(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    modified = engine.catalog.modified_at.isoformat(timespec="microseconds")
    return GinJSONResponse({"models": [tag_entry(card, modified) for card in engine.catalog]})


def tag_entry(card: ModelCard, modified_at: str) -> dict:
    return {
        "name": card.name,
        "model": card.name,
        "modified_at": modified_at,
        "size": card.size,
        "digest": card.full_digest,
        "details": details(card),
    }


def details(card: ModelCard) -> dict:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": card.arch_family,
        "families": [card.arch_family],
        "parameter_size": card.parameter_size,
        "quantization_level": card.quantization_level,
    }


def native_error_response(error: OllamaError) -> Response:
    return GinJSONResponse({"error": error.message}, status_code=error.status)
