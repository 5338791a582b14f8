"""The 5xx answers Ollama itself gives for client input, which the fake copies.

Only one: a wrongly typed option (``options.num_ctx: "big"``). ``api.Options.FromMap``
(``api/types.go``) returns the error, ``scheduleRunner`` passes it on and
``handleScheduleError``'s default branch answers 500 with its text (``server/routes.go``).
"""

from __future__ import annotations

import re

_FROM_MAP_ERROR = re.compile(
    rb'\{"error":"option \\"[a-z_]+\\" must be of (type [a-z0-9]+|an array of strings)"\}'
)


def ollamas_own_500(status: int, body: bytes) -> bool:
    """Whether a 500 is the one Ollama answers too (its exact body), not a fake's failure."""
    return status == 500 and _FROM_MAP_ERROR.fullmatch(body.strip()) is not None
