"""``lab run``: open the target, check it, run the experiments, report, pick the exit code.

The steps are :func:`lab.command.execute`'s; this module gives it the experiments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import openai
from rich.console import Console

from lab import command, preflight, report
from lab.context import Lab
from lab.errors import EXIT_FAILED, EXIT_OK, CallContext, LabError, from_api_error
from lab.experiment import Experiment, Finding
from lab.ollama import EngineInfo
from lab.targets import Target


@dataclass(frozen=True, slots=True)
class RunOptions:
    experiments: list[Experiment]
    target: Target
    model: str
    api_key: str
    timeout: float
    as_json: bool = False
    repeat: int = 3  # --repeat: how many identical requests `determinism` sends
    plot: Path | None = None  # --plot: where `history_growth` writes its SVG chart
    record: Path | None = None  # --record: save every exchange there (lab/recording.py)


def run(options: RunOptions, *, out: Console, err: Console) -> int:
    """Run ``options.experiments`` in order; stop at the first target failure."""
    done = _Done(options.target)  # what ran before a failure, for --json

    def check(target: Target) -> EngineInfo:
        done.target = target
        done.engine = preflight.check(target, options.model, api_key=options.api_key)
        return done.engine

    def experiments(target: Target, engine: EngineInfo) -> None:
        if not options.as_json:
            report.header(out, target, options.model, engine)
        with command.session(
            target, engine, api_key=options.api_key, timeout=options.timeout, record=options.record
        ) as (client, http):
            lab = Lab(
                client=client,
                model=options.model,
                console=out,
                target=target,
                engine=engine,
                timeout=options.timeout,
                progress=out.is_terminal and not options.as_json,
                api_key=options.api_key,
                repeat=options.repeat,
                plot=options.plot,
                _http=http,  # with --record, native and raw calls are recorded too
            )
            context = CallContext(target, options.model, options.timeout, engine.is_ollama)
            for experiment in options.experiments:
                if not options.as_json:
                    report.heading(out, experiment)
                try:
                    result = experiment.run(lab)
                except openai.APIError as exc:
                    raise from_api_error(exc, context) from None
                done.results.append((experiment, result))
                if not options.as_json:
                    report.finding(out, experiment, result)

    def show(_: None) -> int:
        unexpected = any(result.status == "unexpected" for _, result in done.results)
        return done.document(out, options, EXIT_FAILED if unexpected else EXIT_OK)

    def stopped(problem: LabError) -> None:
        done.document(out, options, problem.exit_code, problem)

    return command.execute(
        options.target, preflight=check, run=experiments, show=show, err=err, stopped=stopped
    )


@dataclass(slots=True)
class _Done:
    """What ``lab run`` did so far: the target as opened, the engine, each finding."""

    target: Target
    engine: EngineInfo | None = None
    results: list[tuple[Experiment, Finding]] = field(default_factory=list)

    def document(
        self, out: Console, options: RunOptions, exit_code: int, problem: LabError | None = None
    ) -> int:
        """With ``--json``, print the run's document; ``exit_code`` either way."""
        if options.as_json:
            report.write_json(
                out,
                report.run_document(
                    target=self.target,
                    model=options.model,
                    engine=self.engine,
                    results=self.results,
                    problem=problem,
                    exit_code=exit_code,
                ),
            )
        return exit_code
