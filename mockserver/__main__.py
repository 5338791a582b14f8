"""``python -m mockserver``: serve the fake Ollama (127.0.0.1:11434 by default)."""

from __future__ import annotations

import argparse
import os
import sys

from mockserver.config import API_KEY_ENV, Settings, is_loopback, ollama_host
from mockserver.engine.catalog import KNOWN_MODELS, TABLE_MODELS, unavailable_models


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m mockserver",
        description="A fake Ollama with engine-exact token counts (OpenAI /v1 and native /api).",
    )
    host, port = ollama_host()
    parser.add_argument(
        "--host", default=host, help="bind address (default: from OLLAMA_HOST, else 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=port, help="port (default: from OLLAMA_HOST, else 11434)"
    )
    parser.add_argument(
        "--models",
        default=",".join(TABLE_MODELS),
        help="comma-separated models the fake 'has pulled' (default: the Post 1 table); "
        f"known: {', '.join(card.name for card in KNOWN_MODELS)}",
    )
    parser.add_argument("--seed", type=int, help="make ids and timestamps repeatable")
    parser.add_argument(
        "--num-ctx",
        type=int,
        default=0,
        help="context window (default OLLAMA_CONTEXT_LENGTH or 4096)",
    )
    parser.add_argument("--date", dest="current_date", help="the server's date, YYYY-MM-DD")
    parser.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV) or None,
        help="require `Authorization: Bearer KEY` (401 otherwise), as vLLM does; default "
        f"${API_KEY_ENV} (keeps the key out of the process list)",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=32 * 1024 * 1024,
        help="refuse larger request bodies with 413 (default 32 MiB)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="MODE",
        help="inject a failure: busy (503), error (500), slow-load=SECONDS, disconnect=N "
        "(cut streams after N frames); repeatable",
    )
    parser.add_argument(
        "--replay",
        metavar="DIR",
        help="answer requests recorded in DIR (python -m lab run --record DIR) from the "
        "recordings, streams frame by frame with their timing; others get the fake's reply",
    )
    parser.add_argument(
        "--replay-strict",
        action="store_true",
        help="with --replay: a POST with no recording fails with 404 instead",
    )
    parser.add_argument(
        "--replay-speed",
        type=float,
        default=1.0,
        metavar="X",
        help="with --replay: play recorded timing X times faster (default 1, 0 = no delays)",
    )
    parser.add_argument(
        "--profile",
        metavar="NAME",
        help="pace answers like a real machine (time to first token, tokens/s, model load): "
        "m2-max-gpt-oss-20b, cpu-qwen2.5-0.5b, instant-load; default none "
        "(docs/latency-profiles.md)",
    )
    parser.add_argument(
        "--scenario",
        metavar="FILE",
        help="answer by the rules in FILE (YAML or JSON, mockserver/scenario.schema.json): "
        "first match wins; unmatched requests get the built-in model's answer",
    )
    parser.add_argument(
        "--scenario-strict",
        action="store_true",
        help="with --scenario: a generation request no rule matches gets 404",
    )
    parser.add_argument(
        "--journal",
        type=int,
        default=0,
        metavar="N",
        help="keep the last N requests and answers, readable at GET /_portway/journal "
        "(default 0: off)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes on the one port (default 1); the fake is stateless, so workers "
        "scale it; each has its own engine, memo and latency-profile state",
    )
    llama = parser.add_argument_group(
        "llama-server flavor", "--flavor llama-server: a twin of llama.cpp's llama-server"
    )
    llama.add_argument(
        "--flavor",
        choices=("ollama", "llama-server"),
        default="ollama",
        help="which server to be (default ollama)",
    )
    llama.add_argument("--model", dest="llama_model", default="gpt-oss",
                       help="the GGUF model served: gpt-oss, qwen3.5 or gemma3-270m")  # fmt: skip
    llama.add_argument("--alias", help="model name reported in responses")
    llama.add_argument("--ctx-size", "-c", type=int, default=0,
                       help="context size (default: the model's training context)")  # fmt: skip
    llama.add_argument("--parallel", "-np", type=int, default=0,
                       help="slots (default 4, automatic, unified KV)")  # fmt: skip
    llama.add_argument("--metrics", action="store_true", help="serve /metrics")
    llama.add_argument("--jinja", action="store_true", help="accepted: the twin always renders "
                       "the model's Jinja template")  # fmt: skip
    llama.add_argument("--reasoning-format", default="auto", choices=("auto",),
                       help="accepted: reasoning is split as 'auto' does")  # fmt: skip
    parser.add_argument("--log-level", default="warning", help="uvicorn log level")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    models = tuple(name.strip() for name in args.models.split(",") if name.strip())
    return Settings(
        host=args.host,
        port=args.port,
        models=models,
        seed=args.seed,
        num_ctx=args.num_ctx,
        current_date=args.current_date,
        api_key=args.api_key,
        max_body_bytes=args.max_body_bytes,
        faults=tuple(args.fault),
        replay_dir=args.replay,
        replay_strict=args.replay_strict,
        replay_speed=args.replay_speed,
        profile=args.profile,
        scenario=args.scenario,
        scenario_strict=args.scenario_strict,
        journal=max(args.journal, 0),
        flavor=args.flavor,
        llama_model=args.llama_model,
        alias=args.alias,
        ctx_size=args.ctx_size,
        parallel=args.parallel or 4,
        kv_unified=args.parallel == 0,  # explicit --parallel: each slot gets ctx/parallel
        metrics=args.metrics,
    )


def main(argv: list[str] | None = None) -> int:
    from mockserver.startup import collector_paused

    with collector_paused():  # imports and the app: long-lived objects only (startup.py)
        import uvicorn

        from mockserver.served import SETTINGS_ENV, serving_app, settings_json
        from mockserver.server import uvicorn_options

        args = parse_args(argv)
        if args.workers < 1:
            print("error: --workers must be 1 or more", file=sys.stderr)
            return 2
        try:
            settings = settings_from(args)
            app = serving_app(settings)  # lean routes answer before FastAPI is imported
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if settings.flavor == "llama-server":
        engine = app.state.llama
        print(
            f"Portway llama-server twin on http://{settings.host}:{settings.port} "
            f"({engine.alias}: {engine.model.file}, n_ctx {engine.n_ctx}, "
            f"{engine.n_parallel} slots)",
            file=sys.stderr,
        )
        uvicorn.run(app, host=settings.host, port=settings.port, **uvicorn_options(args.log_level))
        return 0
    skipped = unavailable_models(settings.models)
    if skipped:
        print(
            f"note: not serving {', '.join(skipped)}: exact token counting for that family "
            "is not implemented yet",
            file=sys.stderr,
        )
    if settings.replay_dir:
        print(
            f"replaying {len(app.state.replay)} recordings from {settings.replay_dir}"
            + (" (strict)" if settings.replay_strict else ""),
            file=sys.stderr,
        )
    if settings.scenario:
        count = len(app.state.scenario.rules)
        print(
            f"answering by {count} scenario rule{'s' if count != 1 else ''} from "
            f"{settings.scenario}" + (" (strict)" if settings.scenario_strict else ""),
            file=sys.stderr,
        )
    if settings.journal:
        print(
            f"journal: the last {settings.journal} requests at /_portway/journal", file=sys.stderr
        )
    if not is_loopback(settings.host):
        print(
            f"warning: binding to {settings.host} exposes the fake beyond this machine",
            file=sys.stderr,
        )
    served = ", ".join(card.name for card in app.state.engine.catalog) or "no models"
    print(
        f"Portway fake Ollama on http://{settings.host}:{settings.port} ({served})", file=sys.stderr
    )
    options = uvicorn_options(args.log_level, header_timeout=settings.header_timeout)
    if args.workers > 1:
        # Each worker process builds the same app from the same settings (app.py).
        os.environ[SETTINGS_ENV] = settings_json(settings)
        uvicorn.run(
            "mockserver.startup:worker_app",
            factory=True,
            workers=args.workers,
            host=settings.host,
            port=settings.port,
            **options,
        )
        return 0
    uvicorn.run(app, host=settings.host, port=settings.port, **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
