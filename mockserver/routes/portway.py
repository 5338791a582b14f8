"""``/_portway``: the fake's own routes, under a prefix Ollama does not use.

``GET /_portway/journal`` lists the journal (``--journal N``; :mod:`mockserver.journal`),
``DELETE`` empties it. With the journal off, the route is a 404 like any unknown path.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mockserver.journal import ROUTE, Journal, listing
from mockserver.routes.deferred import DeferredRouter
from mockserver.wire.responses import GinJSONResponse, GinTextResponse

router = DeferredRouter(tags=["portway"], include_in_schema=False)


def _journal(request: Request) -> Journal | None:
    return getattr(request.app.state, "journal", None)


@router.get(ROUTE)
async def read_journal(request: Request) -> Response:
    journal = _journal(request)
    if journal is None:
        return GinTextResponse("404 page not found", status_code=404)
    return GinJSONResponse(listing(journal))


@router.delete(ROUTE)
async def clear_journal(request: Request) -> Response:
    journal = _journal(request)
    if journal is None:
        return GinTextResponse("404 page not found", status_code=404)
    journal.clear()
    return Response(status_code=204)
