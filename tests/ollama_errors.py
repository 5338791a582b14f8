"""The 5xx answers Ollama itself gives for client input, which the fake copies.

- A wrongly typed option (``options.num_ctx: "big"``). ``api.Options.FromMap``
  (``api/types.go``) returns the error, ``scheduleRunner`` passes it on and
  ``handleScheduleError``'s default branch answers 500 with its text (``server/routes.go``).
- A ``context`` on ``/api/generate`` with an id outside the vocabulary (``[-1]``).
  GenerateHandler detokenizes it and answers any error with 500 and the error's text
  (``server/routes.go``); the runner's ``Detokenize`` (``llm/llama_server.go``) asks
  llama-server's ``/detokenize`` and words a failure ``detokenize error: <its body>``.
- ``POST /api/me`` on a machine that cannot reach ollama.com (the fake is offline):
  ``WhoamiHandler`` answers 503 ``account unavailable`` to any failure that is not a 401.
"""

from __future__ import annotations

import re

_FROM_MAP_ERROR = re.compile(
    rb'\{"error":"option \\"[a-z_]+\\" must be of (type [a-z0-9]+|an array of strings)"\}'
)


_DETOKENIZE_ERROR = re.compile(rb'\{"error":"detokenize error: [^"]+"\}')


_OFFLINE_ACCOUNT = b'{"error":"account unavailable"}'


def ollamas_own_500(status: int, body: bytes) -> bool:
    """Whether a 5xx is the one Ollama answers too (its exact body), not a fake's failure."""
    body = body.strip()
    if status == 503:
        return body == _OFFLINE_ACCOUNT
    return status == 500 and any(
        pattern.fullmatch(body) is not None for pattern in (_FROM_MAP_ERROR, _DETOKENIZE_ERROR)
    )
