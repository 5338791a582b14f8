"""``python -m bench.serve NAME PORT``: serve one ceiling app with the fake's uvicorn settings."""

from __future__ import annotations

import sys

import uvicorn

from bench.ceilings import APPS
from mockserver.server import uvicorn_options


def main() -> None:
    name, port = sys.argv[1], int(sys.argv[2])
    uvicorn.run(APPS[name], host="127.0.0.1", port=port, **uvicorn_options())


if __name__ == "__main__":
    main()
