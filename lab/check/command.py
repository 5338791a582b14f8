"""Run a student's program against the journaled fake and print the contract points."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from lab import report
from lab.check.arguments import DEFAULT_TURNS
from lab.check.points import NAMES, Point, evaluate
from lab.errors import EXIT_FAILED, EXIT_OK, EXIT_SETUP, SetupError

JOURNAL_SIZE = 1000
OUTPUT_TAIL = 4000  # characters of the program's output kept in the report
_MARK = {"pass": ("PASS", "green"), "fail": ("FAIL", "bold red"), "n/a": ("n/a", "yellow")}


@dataclass(frozen=True, slots=True)
class Ran:
    exit_code: int | None  # None: stopped at the time limit
    stdout: str
    stderr: str


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    try:
        program, required, stdin = _arguments(args)
    except SetupError as problem:
        return _stopped(args, out, err, problem)
    from mockserver.config import Settings
    from mockserver.server import serving

    with serving(Settings(port=0, seed=0, journal=JOURNAL_SIZE)) as fake:
        env = _environment(fake.url, args.model)
        try:
            ran = _execute(program, stdin, env, args.timeout)
        except SetupError as problem:
            return _stopped(args, out, err, problem)
        entries = fake.journal.entries
    points = evaluate(entries, stdout=ran.stdout, exit_code=ran.exit_code)
    points = [_required(p) if p.name in required and p.status == "n/a" else p for p in points]
    failed = [p.name for p in points if p.status == "fail"]
    code = EXIT_FAILED if failed else EXIT_OK
    if args.json:
        report.write_json(
            out,
            {
                "command": program,
                "model": args.model,
                "exit_code": ran.exit_code,
                "requests": len(entries),
                "required": sorted(required),
                "points": [p.as_dict() for p in points],
                "failed": failed,
                "passed": not failed,
                "stdout": ran.stdout[-OUTPUT_TAIL:],
                "stderr": ran.stderr[-OUTPUT_TAIL:],
            },
        )
        return code
    _show(out, program, ran, points, len(entries))
    return code


def _arguments(args: argparse.Namespace) -> tuple[list[str], set[str], str]:
    program = list(args.program)
    if program[:1] == ["--"]:
        program = program[1:]
    if not program:
        raise SetupError(
            "No program to check",
            "Give the command that runs your program "
            "after --, e.g. python -m lab check -- python my_chat.py",
        )
    required = {n.strip() for n in args.require.split(",") if n.strip()}
    unknown = sorted(required - set(NAMES))
    if unknown:
        raise SetupError(
            "Unknown point", f"--require {', '.join(unknown)}: the points are {', '.join(NAMES)}."
        )
    if args.input is None:
        return program, required, "\n".join(DEFAULT_TURNS) + "\n"
    try:
        return program, required, Path(args.input).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SetupError(
            "Cannot read --input",
            f"{args.input}: {exc.__class__.__name__}. "
            "Give a UTF-8 text file, one user turn a line.",
        ) from None


def _environment(root: str, model: str) -> dict[str, str]:
    """The program's environment: the fake's addresses where the SDKs look for them."""
    env = dict(os.environ)
    no_proxy = ",".join(p for p in (env.get("NO_PROXY", ""), "127.0.0.1,localhost") if p)
    env.update(
        {
            "OPENAI_BASE_URL": f"{root}/v1",
            "OPENAI_API_KEY": "ollama",
            "OLLAMA_HOST": root,
            "MODEL": model,
            "NO_PROXY": no_proxy,
            "no_proxy": no_proxy,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _execute(program: list[str], stdin: str, env: dict[str, str], timeout: float) -> Ran:
    try:
        done = subprocess.run(
            program,
            input=stdin,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise SetupError(
            "The program could not be started",
            f"{program[0]!r} was not found. "
            "Give the command as you would type it, e.g. python my_chat.py.",
        ) from None
    except PermissionError:
        raise SetupError(
            "The program could not be started", f"{program[0]!r} is not executable."
        ) from None
    except subprocess.TimeoutExpired as stopped:
        return Ran(None, _text(stopped.stdout), _text(stopped.stderr))
    return Ran(done.returncode, done.stdout, done.stderr)


def _text(value: str | bytes | None) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value or ""


def _required(point: Point) -> Point:
    return Point(point.name, point.title, "fail", f"Required, but: {point.evidence}")


def _stopped(args: argparse.Namespace, out: Console, err: Console, problem: SetupError) -> int:
    if args.json:
        report.write_json(out, {"error": problem.as_dict(), "passed": False})
    else:
        report.error(err, problem)
    return EXIT_SETUP


def _show(out: Console, program: list[str], ran: Ran, points: list[Point], requests: int) -> None:
    shown = (ran.stdout + ran.stderr).strip()
    out.print(Text(f"$ {shlex.join(program)}", style="bold"))
    if shown:
        out.print(Text(shown[-OUTPUT_TAIL:]))
    table = Table(
        title=f"The contract, as the fake's journal saw it ({requests} requests)",
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("point", ratio=2)
    table.add_column("", no_wrap=True)
    table.add_column("evidence", ratio=3)
    for point in points:
        mark, style = _MARK[point.status]
        table.add_row(escape(point.title), Text(mark, style=style), escape(point.evidence))
    out.print(table)
    failed = sum(p.status == "fail" for p in points)
    passed = sum(p.status == "pass" for p in points)
    verdict = f"{passed} passed, {failed} failed, {len(points) - passed - failed} n/a."
    out.print(Text(verdict, style="bold red" if failed else "bold green"))
