"""A surface's routes, declared without importing FastAPI.

Every ``routes/<surface>.py`` declares its routes on a ``DeferredRouter``, with FastAPI's own
decorators (``@router.get``, ``.post``, ``.api_route``, ``.add_api_route``...). ``build()``
makes the surface's ``APIRouter`` when a FastAPI app is made (``mockserver/app.py``), and only
then is FastAPI imported. A route declared ``lean=True`` takes the ``Request`` and returns a
``Response`` (``mockserver/fastpath.py``, ``LeanRoute``): ``lean_endpoints()`` are what the
served app (``mockserver/served.py``) answers before FastAPI is imported at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from fastapi import APIRouter

    from mockserver.fastpath import Endpoint

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Declared:
    """One route as declared: what ``APIRouter.add_api_route`` is given."""

    path: str
    endpoint: Callable[..., Any]
    methods: tuple[str, ...]
    lean: bool
    options: dict[str, Any]


@dataclass
class DeferredRouter:
    """Routes kept as declared; an ``APIRouter`` of them made once, on demand."""

    prefix: str = ""
    tags: list[str] = field(default_factory=list)
    include_in_schema: bool = True
    declared: list[Declared] = field(default_factory=list)
    _built: APIRouter | None = None

    def add_api_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: list[str],
        lean: bool = False,
        **options: Any,
    ) -> None:
        self.declared.append(Declared(path, endpoint, tuple(methods), lean, options))

    def api_route(
        self, path: str, *, methods: list[str], lean: bool = False, **options: Any
    ) -> Callable[[F], F]:
        def declare(endpoint: F) -> F:
            self.add_api_route(path, endpoint, methods=methods, lean=lean, **options)
            return endpoint

        return declare

    def get(self, path: str, **options: Any) -> Callable[[F], F]:
        return self.api_route(path, methods=["GET"], **options)

    def post(self, path: str, **options: Any) -> Callable[[F], F]:
        return self.api_route(path, methods=["POST"], **options)

    def head(self, path: str, **options: Any) -> Callable[[F], F]:
        return self.api_route(path, methods=["HEAD"], **options)

    def delete(self, path: str, **options: Any) -> Callable[[F], F]:
        return self.api_route(path, methods=["DELETE"], **options)

    def lean_endpoints(self) -> dict[tuple[str, str], Endpoint]:
        """``(method, full path) -> endpoint`` of the lean routes (``DirectDispatch``'s table)."""
        return {
            (method, self.prefix + route.path): route.endpoint
            for route in self.declared
            if route.lean
            for method in route.methods
        }

    def build(self) -> APIRouter:
        """The ``APIRouter`` of these routes (made once: an app includes copies of its routes)."""
        if self._built is None:
            from fastapi import APIRouter

            from mockserver.routes.lean import LeanRoute

            router = APIRouter(
                prefix=self.prefix, tags=list(self.tags), include_in_schema=self.include_in_schema
            )
            # One APIRoute per method: FastAPI names every method of a route with the route's
            # one operation id, and warns of the duplicate (GET and HEAD) in the OpenAPI doc.
            for route in self.declared:
                for method in route.methods:
                    router.add_api_route(
                        route.path,
                        route.endpoint,
                        methods=[method],
                        route_class_override=LeanRoute if route.lean else None,
                        **route.options,
                    )
            self._built = router
        return self._built
