"""One APIRouter per API surface; ``json_body`` documents a route that reads its body itself."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route that decodes its own body (Go's errors, not FastAPI's):
    the request body's JSON schema, so that the OpenAPI document (and schemathesis) sees it."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }
