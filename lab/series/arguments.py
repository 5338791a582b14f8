"""``lab post``'s command line, kept apart from what runs it so that ``lab --help`` and
``lab --version`` import nothing heavy (``tests/test_lab_startup.py``)."""

from __future__ import annotations

import argparse

MASTER_KEY = "sk-portway-local"  # Post 3's config.yaml master_key
SERIES_BACKENDS = ("http://127.0.0.1:8010", "http://127.0.0.1:8011")
SERIES_GATEWAY = "http://127.0.0.1:4000"


def add_parser(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("post", help="run Posts 2-7 (llama-server backends, a gateway)")
    cmd.add_argument(
        "posts", nargs="*", type=int, default=[2, 3], help="2, 3, 4, 5, 6, 7 (default 2 3)"
    )
    cmd.add_argument("--target", default="mock", help="mock (default): start the twins")
    cmd.add_argument("--backends", help="your llama-server URLs, e.g. "
                     + ",".join(SERIES_BACKENDS))  # fmt: skip
    cmd.add_argument("--gateway", help=f"your LiteLLM proxy, e.g. {SERIES_GATEWAY}")
    cmd.add_argument("--gateway-key", default=MASTER_KEY, help="the gateway master key")
    cmd.add_argument("--only", action="append", default=[], help="run only this experiment")
    cmd.add_argument(
        "--pace",
        default="m2-max-gpt-oss-20b",
        metavar="PROFILE",
        help="with --target mock: the twins' latency profile ('none': unpaced)",
    )
    cmd.add_argument(
        "--dsn",
        help="Post 5: the metering table's database, a postgresql:// URL "
        "or a SQLite file (default with --target mock: SQLite in a temp folder)",
    )
    cmd.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="MODEL=IN/CACHED/OUT",
        help="Post 5: dollars per million tokens (fresh, cached, completion)",
    )
    cmd.add_argument(
        "--rate-window",
        type=int,
        default=60,
        metavar="SECONDS",
        help="Post 4 with --target mock: LiteLLM's rate-limit window (60)",
    )
    cmd.add_argument("--ollama", help="Post 6: your Ollama, e.g. http://127.0.0.1:11434")
    cmd.add_argument("--model", help="Posts 6-7 with --target URL: the model (default: first)")
    cmd.add_argument("--plot", metavar="DIR", help="Posts 6-7: write their charts (.png) here")
    cmd.add_argument("--clients", default="1,2,4,8", help="Post 7: clients per level (1,2,4,8)")
    cmd.add_argument("--seconds", type=float, default=2.0, help="Post 7: seconds per level")
    cmd.add_argument("--timeout", type=float, default=60.0)
    cmd.add_argument("--json", action="store_true", help="print one JSON document")
