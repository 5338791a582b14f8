"""``lab check``'s command line, apart from what runs it (``lab --help`` imports nothing heavy)."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_TURNS = (  # Post 1's user turns: what a chat loop reads from stdin, one per line
    "Hi, I'm planning a trip across Canada.",
    "Mainly Quebec and Ontario, with a stop in the Maritimes.",
    "Driving. What's the capital of Canada?",
)


def add_parser(commands: argparse._SubParsersAction) -> None:
    from lab.modeltable import DEFAULT_MODEL

    cmd = commands.add_parser(
        "check",
        help="check that your own client program keeps the contract (against the fake)",
        description="Start the bundled fake with its request journal on, run COMMAND with "
        "OPENAI_BASE_URL, OPENAI_API_KEY, OLLAMA_HOST and MODEL pointing at it, then check "
        "what it sent: pass / fail / n/a per point. Exit 0 when no point failed, 1 when one "
        "did, 2 when the command could not be run. Example: python -m lab check -- python "
        "my_chat.py",
    )
    cmd.add_argument(
        "program",
        nargs=argparse.REMAINDER,
        metavar="-- COMMAND ...",
        help="the program to check, after --",
    )
    cmd.add_argument("--model", default=DEFAULT_MODEL, help="the MODEL the program is given")
    cmd.add_argument(
        "--input",
        type=Path,
        default=None,
        metavar="FILE",
        help="the program's standard input (default: three user turns of Post 1, one a line)",
    )
    cmd.add_argument(
        "--require",
        default="",
        metavar="A,B",
        help="points that must pass, not just not fail (n/a counts as failed): e.g. "
        "history,include_usage,meter",
    )
    cmd.add_argument("--timeout", type=float, default=120.0, help="seconds the program may run")
    cmd.add_argument("--json", action="store_true", help="print one JSON document")
