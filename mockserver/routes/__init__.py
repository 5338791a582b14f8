"""One APIRouter per API surface; ``json_body`` documents a route that reads its body itself."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

# The operation key that names a route's request model until the OpenAPI document is built.
_BODY_MODEL = "x-portway-request-model"


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route that decodes its own body (Go's errors, not FastAPI's).

    The request body's JSON schema is written into the OpenAPI document (which schemathesis
    reads) when the document is first asked for (:func:`with_request_bodies`), not at import:
    building a schema builds the model's validators, which the wire models defer to their first
    use (``defer_build``), so the fake starts without building surfaces a run may never touch.
    """
    return {_BODY_MODEL: f"{model.__module__}:{model.__qualname__}"}


def with_request_bodies(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI ``document`` with each marked operation's request body schema filled in."""
    import importlib

    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or _BODY_MODEL not in operation:
                continue
            module, _, name = operation.pop(_BODY_MODEL).partition(":")
            model: type[BaseModel] = getattr(importlib.import_module(module), name)
            # The nested models go to the document's components, where OpenAPI tools resolve
            # a "$ref" (pydantic's own "#/$defs/..." would point at the document's root).
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components = document.setdefault("components", {}).setdefault("schemas", {})
            components.update(schema.pop("$defs", {}))
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema}},
            }
    return document
