"""The command line: ``python -m lab run|models|list``.

``main(argv)`` returns the exit code instead of exiting, so tests call it directly:
``0`` success, ``2`` setup problem (target not ready, bad arguments), ``1`` an experiment failed
(the target failed mid-run, or answered against the contract), ``130`` interrupted.

Start-up is part of the interface: importing this module loads argparse and the experiment
registry, nothing else. rich is loaded to print, the ``openai`` SDK and the HTTP stack when a
command talks to a target, the fake (FastAPI, tokenizers) when ``--target mock`` starts it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lab import __version__
from lab.check import arguments as check_arguments
from lab.experiment import names as experiment_names
from lab.experiment import registered, select
from lab.modeltable import DEFAULT_MODEL
from lab.series import arguments as series_arguments
from mockserver.startup import collector_paused

if TYPE_CHECKING:
    from rich.console import Console

    from lab.errors import SetupError
    from lab.runner import RunOptions
    from lab.targets import Target

# lab.errors' exit codes, repeated here so that --help and --version need not import it
# (tests/test_lab_startup.py checks they agree).
EXIT_OK, EXIT_SETUP = 0, 2

DEFAULT_TIMEOUT = 600.0
DEFAULT_DEADLINE = 1800.0  # per experiment (lab/bounds.py)
DEFAULT_API_KEY = "ollama"
RECORD_HELP = (
    "save every HTTP exchange after the preflight as one JSON file in DIR (secrets scrubbed); "
    "python -m mockserver --replay DIR answers them offline"
)


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_program_name(),
        description="Run the OpenAI-compatible stateless contract experiments of Portway Post 1.",
    )
    parser.add_argument("--version", action="version", version=f"portway-lab {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    series_arguments.add_parser(commands)  # Posts 2 and 3 (lab/series/)
    check_arguments.add_parser(commands)  # a student's own client code (lab/check/)

    names = ", ".join(experiment_names())
    run_cmd = commands.add_parser(
        "run",
        parents=[_target_flags(env)],
        help="run experiments against a target",
        description=f"Run experiments (default: the Post 1 pair round_trip and stateless; "
        f"--all for every one). Known: {names}.",
    )
    run_cmd.add_argument(
        "experiments", nargs="*", metavar="EXPERIMENT", help=f"experiments to run ({names})"
    )
    run_cmd.add_argument(
        "--all",
        action="store_true",
        help="run every experiment; those the target cannot show say why (not applicable)",
    )
    run_cmd.add_argument(
        "--repeat",
        type=_count,
        default=3,
        metavar="N",
        help="how many identical requests determinism sends (default 3)",
    )
    run_cmd.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="PATH",
        help="draw history_growth's chart into PATH: .png, .svg or .pdf (needs the plot extra: "
        "pip install 'portway-lab[plot]')",
    )
    run_cmd.add_argument(
        "--json", action="store_true", help="print one JSON document instead of panels"
    )
    _add_deadline(run_cmd)  # lab/bounds.py

    models_cmd = commands.add_parser(
        "models", help="the Post 1 model table, marking what fits this machine's RAM"
    )
    models_cmd.add_argument("--json", action="store_true", help="print JSON instead of a table")

    list_cmd = commands.add_parser("list", help="list the experiments")
    list_cmd.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_report(commands, env)
    _add_fidelity(commands)
    return parser


def _program_name() -> str:
    """How the user started the lab, for usage lines: the console script or ``python -m lab``."""
    started_as = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else ""
    return "portway-lab" if started_as == "portway-lab" else "python -m lab"


def _target_flags(env: Mapping[str, str]) -> argparse.ArgumentParser:
    """The flags every command that talks to a target shares (``run``, ``report``)."""
    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument(
        "--target",
        default="mock",
        help="mock (the bundled fake, default), ollama (OLLAMA_HOST, default "
        "http://localhost:11434), or the base URL of any OpenAI-compatible server",
    )
    flags.add_argument(
        "--model",
        default=env.get("MODEL") or DEFAULT_MODEL,
        help=f"model name (default: $MODEL or {DEFAULT_MODEL})",
    )
    flags.add_argument(
        "--api-key",
        default=env.get("OPENAI_API_KEY") or DEFAULT_API_KEY,
        help=f"API key (default: $OPENAI_API_KEY or {DEFAULT_API_KEY!r}; Ollama ignores it)",
    )
    _add_timeout(flags)
    flags.add_argument("--record", type=Path, default=None, metavar="DIR", help=RECORD_HELP)
    return flags


def _add_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=None,
        help=f"seconds each answer may take, first byte to last (default: $LAB_TIMEOUT or "
        f"{DEFAULT_TIMEOUT:g}; a large model's first request loads it into memory)",
    )


def _add_deadline(parser: argparse.ArgumentParser, unit: str = "experiment") -> None:
    parser.add_argument(
        "--deadline",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help=f"seconds each {unit} may take in all, every call included (default: "
        f"$LAB_DEADLINE or {DEFAULT_DEADLINE:g})",
    )


def _deadline(args: argparse.Namespace, env: Mapping[str, str]) -> float:
    """``--deadline``, else ``LAB_DEADLINE``, else the default."""
    if args.deadline is not None:
        return float(args.deadline)
    try:
        return _seconds(env.get("LAB_DEADLINE") or str(DEFAULT_DEADLINE))
    except argparse.ArgumentTypeError as exc:
        raise _cannot_start(f"LAB_DEADLINE: {exc}") from None


def _count(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to 100")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("the timeout must be more than 0 seconds")
    return value


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    parser = build_parser(env)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (argparse exits with 2)
        return exc.code if isinstance(exc.code, int) else EXIT_SETUP
    from rich.console import Console

    out = Console(highlight=False, emoji=False)  # no :shortcodes: in the output; saves a load
    err = Console(stderr=True, highlight=False, emoji=False)
    if args.command == "models":
        return _models(out, as_json=args.json)
    if args.command == "list":
        return _list(out, as_json=args.json)
    if args.command == "report":
        return _report(args, env, out, err)
    if args.command == "fidelity":
        return _fidelity(args, env, out, err)
    if args.command == "post":
        from lab.series import command as series_command

        return series_command.run(args, out, err)
    if args.command == "check":
        from lab.check import command as check_command

        return check_command.run(args, out, err)
    return _run(args, env, out, err)


def _run(args: argparse.Namespace, env: Mapping[str, str], out: Console, err: Console) -> int:
    with collector_paused():  # the openai SDK's import (mockserver/startup.py)
        from lab import report
        from lab.errors import SetupError
        from lab.runner import run

    try:
        options = options_from(args, env)
    except SetupError as problem:
        report.error(err, problem)
        return EXIT_SETUP
    return run(options, out=out, err=err)


def options_from(args: argparse.Namespace, env: Mapping[str, str]) -> RunOptions:
    """The run's settings from flags, then environment, then defaults; ``SetupError`` if bad."""
    from lab import plot
    from lab.runner import RunOptions
    from lab.suggest import did_you_mean

    timeout = _timeout(args, env)
    if args.all and args.experiments:
        raise _cannot_start("name experiments or use --all, not both")
    try:
        experiments = registered() if args.all else select(list(args.experiments))
    except KeyError as exc:
        names = [e.name for e in registered()]
        raise _cannot_start(
            f"unknown experiment {exc.args[0]!r};{did_you_mean(exc.args[0], names)} "
            f"known: {', '.join(names)}"
        ) from None
    if args.plot is not None:
        if not any(e.name == "history_growth" for e in experiments):
            raise _cannot_start(
                "--plot draws history_growth's chart: run history_growth (or --all)"
            )
        try:
            plot.check(args.plot)
        except plot.PlotProblem as problem:
            raise _cannot_start(str(problem)) from None
    return RunOptions(
        experiments=experiments,
        target=_target(args, env),
        model=_model(args),
        api_key=args.api_key,
        timeout=timeout,
        as_json=args.json,
        repeat=args.repeat,
        plot=args.plot,
        record=args.record,
        deadline=_deadline(args, env),
    )


def _cannot_start(message: str) -> SetupError:
    from lab.errors import SetupError

    return SetupError("Cannot start", message)


def _models(out: Console, *, as_json: bool) -> int:
    from lab import machine, modeltable, report

    ram_gib = machine.total_ram_gib()
    if as_json:
        document = {
            "ram_gb": round(ram_gib, 1) if ram_gib is not None else None,
            "fit_rule": modeltable.FIT_RULE,
            "default": DEFAULT_MODEL,
            "models": [row.as_dict(ram_gib) for row in modeltable.table()],
        }
        out.file.write(json.dumps(document, indent=2) + "\n")
        return EXIT_OK
    out.print(report.models_table(ram_gib))
    return EXIT_OK


def _list(out: Console, *, as_json: bool) -> int:
    experiments = registered()
    if as_json:
        document = [
            {
                "name": e.name,
                "title": e.title,
                "summary": e.summary,
                "lesson": e.lesson,
                "lesson_file": str(e.lesson_file),
                "default": e.default,
            }
            for e in experiments
        ]
        out.file.write(json.dumps(document, indent=2) + "\n")
        return EXIT_OK
    from lab import report

    out.print(report.experiments_table(experiments))
    return EXIT_OK


# --- lab report: the conformance table (lab/conformance.py) ----------------------------------


def _add_report(commands: argparse._SubParsersAction, env: Mapping[str, str]) -> None:
    report_cmd = commands.add_parser(
        "report",
        parents=[_target_flags(env)],
        help="a conformance table of the OpenAI-compatible contract for a target",
        description="Check the contract points of the OpenAI-compatible API as they bite in "
        "practice (usage, streaming, errors, models): pass / fail / n.a., each with the "
        "evidence. Exit 0 when the report was produced (failed points included), 2 when the "
        "target is not usable.",
    )
    report_cmd.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="also write DIR/report.md and DIR/report.json",
    )
    _add_deadline(report_cmd, unit="check")  # lab/bounds.py


def _report(args: argparse.Namespace, env: Mapping[str, str], out: Console, err: Console) -> int:
    with collector_paused():
        from lab import report
        from lab.conformance import ReportOptions, run_report
        from lab.errors import SetupError

    try:
        options = ReportOptions(
            target=_target(args, env),
            model=_model(args),
            api_key=args.api_key,
            timeout=_timeout(args, env),
            out_dir=args.out,
            record=args.record,
            deadline=_deadline(args, env),
        )
    except SetupError as problem:
        report.error(err, problem)
        return EXIT_SETUP
    return run_report(options, out=out, err=err)


def _timeout(args: argparse.Namespace, env: Mapping[str, str]) -> float:
    """``--timeout``, else ``LAB_TIMEOUT``, else the default."""
    if args.timeout is not None:
        return args.timeout
    try:
        return _seconds(env.get("LAB_TIMEOUT") or str(DEFAULT_TIMEOUT))
    except argparse.ArgumentTypeError as exc:
        raise _cannot_start(f"LAB_TIMEOUT: {exc}") from None


def _target(args: argparse.Namespace, env: Mapping[str, str]) -> Target:
    from lab.targets import TargetError, resolve

    try:
        return resolve(args.target, ollama_host=env.get("OLLAMA_HOST"))
    except TargetError as exc:
        raise _cannot_start(str(exc)) from None


def _model(args: argparse.Namespace) -> str:
    model = args.model.strip()
    if not model:
        raise _cannot_start("--model (or MODEL) is empty")
    return model


# --- lab fidelity: the fake against a real Ollama (lab/fidelity.py) -------------------------


def _add_fidelity(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser(
        "fidelity",
        help="compare the bundled fake's rendered prompts and counts with a real Ollama",
        description="Send the fidelity corpus to a real Ollama (>= 0.12) and to the bundled "
        "fake with _debug_render_only (the rendered prompt) and num_predict 1 (the count), the "
        "embedding cases to /api/embed (prompt_eval_count), and print the drift. Exit 0 all "
        "match, 1 drift found, 2 the target is not usable.",
    )
    cmd.add_argument(
        "--target",
        default="ollama",
        help="ollama (OLLAMA_HOST, default http://localhost:11434, the default), the URL of "
        "an Ollama, or mock (the fake against itself)",
    )
    cmd.add_argument(
        "--models",
        default="",
        metavar="A,B",
        help="only the cases of these models (aliases included: llama3.2 is llama3.2:3b)",
    )
    cmd.add_argument(
        "--corpus",
        type=Path,
        default=None,
        metavar="FILE",
        help="a JSON list of cases instead of the bundled corpus (lab/data); items with "
        '"endpoint": "embed" are embedding cases',
    )
    _add_timeout(cmd)
    _add_deadline(cmd, unit="case, on both servers")  # lab/bounds.py
    cmd.add_argument("--json", action="store_true", help="print one JSON document")
    cmd.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="FILE",
        help="write a drift report to attach to an issue (Markdown; JSON if FILE ends .json)",
    )


def _fidelity(args: argparse.Namespace, env: Mapping[str, str], out: Console, err: Console) -> int:
    with collector_paused():
        from lab import report
        from lab.errors import SetupError
        from lab.fidelity import FidelityOptions, run_fidelity

    try:
        options = FidelityOptions(
            target=_target(args, env),
            timeout=_timeout(args, env),
            models=tuple(m.strip() for m in args.models.split(",") if m.strip()),
            corpus=args.corpus,
            as_json=args.json,
            out_file=args.out,
            deadline=_deadline(args, env),
        )
    except SetupError as problem:
        report.error(err, problem)
        return EXIT_SETUP
    return run_fidelity(options, out=out, err=err)


if __name__ == "__main__":
    sys.exit(main())
