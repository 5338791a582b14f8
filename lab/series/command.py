"""``python -m lab post 2|3 [--target mock | --backends URL,URL [--gateway URL]] [--json]``."""

from __future__ import annotations

import argparse
import contextlib

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
        with _stack(args, gateway=any(e.post == 3 for e in chosen)) as stack:
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
def _stack(args: argparse.Namespace, *, gateway: bool):
    if args.backends:
        stack = targets.given_stack(args.backends, args.gateway, args.timeout)
        stack.gateway_key = args.gateway_key
        yield stack
    elif args.target.startswith(("http://", "https://")) and set(args.posts) <= {6, 7}:
        from lab.series.url_target import url_stack

        yield url_stack(args.target, args.timeout, args.model)
    elif args.target == "mock":
        pace = None if args.pace == "none" else args.pace
        # Posts 6-7 need one twin (Post 6 starts its own pair with a small window).
        models = ("gpt-oss",) if set(args.posts) <= {6, 7} else ("gpt-oss", "qwen3.5")
        with targets.mock_stack(gateway=gateway, timeout=args.timeout, profile=pace,
                                models=models) as stack:  # fmt: skip
            yield stack
    else:
        raise SetupError(
            "Posts 2 and 3 need llama-server backends",
            f"--target {args.target} names one server; these posts talk to two llama-server "
            "processes (and a gateway). Pass --backends URL,URL (the series uses "
            f"{','.join(SERIES_BACKENDS)}) and --gateway URL, or --target mock.",
        )


def _later_posts(stack: targets.Stack, args: argparse.Namespace) -> None:
    """Posts 6-7's options: an Ollama beside the backends, the charts' folder, the sweep."""
    stack.ollama = args.ollama.rstrip("/") if args.ollama else stack.ollama
    if args.plot:
        from pathlib import Path

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
