"""``python -m lab post 2|3 [--target mock | --backends URL,URL [--gateway URL]] [--json]``."""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from pathlib import Path

import openai
from rich.console import Console

from lab import report
from lab.errors import LabError, RunFailure, SetupError
from lab.series import targets
from lab.series.arguments import SERIES_BACKENDS
from lab.series.experiments import EXPERIMENTS


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    chosen = [e for e in EXPERIMENTS if e.post in args.posts and (not args.only
              or e.name in args.only)]  # fmt: skip
    document: dict = {"posts": args.posts, "results": []}
    try:
        with _stack(args, gateway=any(e.post in (3, 4, 5) for e in chosen),
                    posts={e.post for e in chosen}) as stack:  # fmt: skip
            _later_posts(stack, args)
            document["backends"] = [{"model": b.name, "url": b.url} for b in stack.backends]
            document["gateway"] = stack.gateway
            for experiment in chosen:
                if not args.json:
                    report.heading(out, experiment)  # type: ignore[arg-type]
                try:
                    result = experiment.run(stack)
                except openai.APIError as exc:
                    raise RunFailure(f"{experiment.name} failed", str(exc)) from None
                document["results"].append({"experiment": experiment.name,
                                            "status": result.status, "data": result.data,
                                            "explanation": result.explanation})  # fmt: skip
                if not args.json:
                    report.finding(out, experiment, result)  # type: ignore[arg-type]
    except LabError as problem:
        document["error"] = problem.as_dict()
        if args.json:
            report.write_json(out, document)
        else:
            report.error(err, problem)
        return problem.exit_code
    if args.json:
        report.write_json(out, document)
    return 0


@contextlib.contextmanager
def _stack(args: argparse.Namespace, *, gateway: bool, posts: set[int] = frozenset()):  # type: ignore[assignment]
    from lab.series.gateway_features import Features

    prices = _prices(args)
    if 5 in posts and args.dsn:
        _check_dsn(args.dsn)
    if args.backends:
        if posts & {4, 5} and not args.gateway:
            raise SetupError(
                "Posts 4 and 5 need your gateway",
                "Keys, limits and metering live in the LiteLLM proxy: pass --gateway URL (the "
                "series uses http://127.0.0.1:4000) and its master key with --gateway-key "
                "(Post 4 mints keys with it), or run with --target mock.",
            )
        stack = targets.given_stack(args.backends, args.gateway, args.timeout, args.gateway_key)
        stack.features = Features(meter_dsn=args.dsn, prices=prices)
        yield stack
    elif args.target.startswith(("http://", "https://")) and set(args.posts) <= {6, 7}:
        from lab.series.url_target import url_stack

        yield url_stack(args.target, args.timeout, args.model)
    elif args.target == "mock":
        pace = None if args.pace == "none" else args.pace
        # Posts 6-7 need one twin (Post 6 starts its own pair with a small window).
        models = ("gpt-oss",) if set(args.posts) <= {6, 7} else ("gpt-oss", "qwen3.5")
        with tempfile.TemporaryDirectory(prefix="portway-posts-") as folder:
            features = Features.for_mock(Path(folder), keys=4 in posts, metering=5 in posts,
                                         dsn=args.dsn, prices=prices,
                                         rate_window=args.rate_window)  # fmt: skip
            with targets.mock_stack(gateway=gateway, timeout=args.timeout, profile=pace,
                                    features=features, models=models) as stack:  # fmt: skip
                yield stack
    else:
        raise SetupError(
            "Posts 2 and 3 need llama-server backends",
            f"--target {args.target} names one server; these posts talk to two llama-server "
            "processes (and a gateway). Pass --backends URL,URL (the series uses "
            f"{','.join(SERIES_BACKENDS)}) and --gateway URL, or --target mock.",
        )


def _prices(args: argparse.Namespace) -> dict:
    from lab.series import meter

    prices = dict(meter.PRICES)
    for text in getattr(args, "price", []) or []:
        try:
            model, price = meter.parse_price(text)
        except ValueError as exc:
            raise SetupError(
                "A --price is not MODEL=IN/CACHED/OUT",
                f"{exc}. Prices are dollars per million tokens, e.g. gpt-oss=0.10/0.025/0.50.",
            ) from None
        prices[model] = price
    return prices


def _check_dsn(dsn: str) -> None:
    """Post 5's database answers and takes the table (before anything is started)."""
    from lab.series import meter

    try:
        meter.create_table(dsn)
    except ImportError:
        raise SetupError(
            "psycopg is not installed",
            "A postgresql:// DSN is opened with psycopg 3: install the gateway extra "
            "(`pip install -e '.[gateway]'`) and run again, or leave out --dsn for SQLite.",
        ) from None
    except Exception as exc:  # sqlite3.Error, psycopg.Error: one paragraph, no traceback
        kind = "Postgres" if meter.is_postgres(dsn) else "SQLite"
        raise SetupError(
            f"The metering database cannot be opened ({kind})",
            f"Post 5 writes its rows to {meter.TABLE} at --dsn, and opening it failed "
            f"({type(exc).__name__}). Check that the server runs and the DSN is right (user, "
            "host, port, database), or leave out --dsn for a SQLite file.",
        ) from None


def _later_posts(stack: targets.Stack, args: argparse.Namespace) -> None:
    """Posts 6-7's options: an Ollama beside the backends, the charts' folder, the sweep."""
    stack.ollama = args.ollama.rstrip("/") if args.ollama else stack.ollama
    if args.plot:
        from lab import plot

        try:
            plot.check(Path(args.plot) / "chart.png")
        except plot.PlotProblem as problem:
            raise SetupError("The charts cannot be drawn", str(problem)) from None
    stack.plot_dir = args.plot
    levels = [int(n) for n in str(args.clients).split(",") if n.strip().isdigit()]
    if not levels or min(levels) < 1 or args.seconds <= 0:
        raise SetupError(
            "Post 7 needs a number of clients and a duration",
            f"--clients {args.clients!r} --seconds {args.seconds:g}: give positive clients "
            "per level, e.g. --clients 1,2,4,8, and a positive --seconds.",
        )
    stack.load_levels, stack.load_seconds = tuple(levels), args.seconds
