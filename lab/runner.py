"""``lab run``: open the target, check it, run the experiments, report, pick the exit code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
from rich.console import Console

from lab import preflight, report, targets
from lab.bounds import experiment_deadline
from lab.context import Lab, http_timeout, sdk_client
from lab.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CallContext,
    LabError,
    SetupError,
    from_api_error,
    unreadable_answer,
)
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
    deadline: float | None = None  # --deadline: seconds each experiment may take in all


def run(options: RunOptions, *, out: Console, err: Console) -> int:
    """Run ``options.experiments`` in order; stop at the first target failure."""
    results: list[tuple[Experiment, Finding]] = []
    engine: EngineInfo | None = None
    target = options.target
    problem: LabError | None = None
    try:
        with targets.opened(options.target) as target:
            engine = preflight.check(
                target, options.model, api_key=options.api_key, timeout=options.timeout
            )
            if not options.as_json:
                report.header(out, target, options.model, engine)
            http = recording_http(
                options.record, target, engine, api_key=options.api_key, timeout=options.timeout
            )
            with sdk_client(
                target.openai_url, options.api_key, options.timeout, http_client=http
            ) as client:
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
                try:
                    for experiment in options.experiments:
                        if not options.as_json:
                            report.heading(out, experiment)
                        try:
                            with experiment_deadline(options.deadline):
                                result = experiment.run(lab)
                        except (openai.APIError, httpx.HTTPError) as exc:
                            raise from_api_error(exc, context) from None
                        except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
                            raise unreadable_answer(exc, context) from None  # a garbled answer
                        results.append((experiment, result))
                        if not options.as_json:
                            report.finding(out, experiment, result)
                finally:
                    lab.close()
    except LabError as exc:
        problem = exc
    except KeyboardInterrupt:
        err.print("\nInterrupted.")
        return EXIT_INTERRUPTED

    if problem is not None:
        exit_code = problem.exit_code
        report.error(err, problem)
    elif any(result.status == "unexpected" for _, result in results):
        exit_code = EXIT_FAILED
    else:
        exit_code = EXIT_OK
    if options.as_json:
        report.write_json(
            out,
            report.run_document(
                target=target,
                model=options.model,
                engine=engine,
                results=results,
                problem=problem,
                exit_code=exit_code,
            ),
        )
    return exit_code


def recording_http(
    directory: Path | None, target: Target, engine: EngineInfo, *, api_key: str, timeout: float
) -> httpx.Client | None:
    """With ``--record DIR``: one recording client for the SDK and the raw calls; else None.

    Every exchange after the preflight is saved as one file in ``DIR``
    (:mod:`lab.recording`); ``python -m mockserver --replay DIR`` answers them offline.
    """
    if directory is None:
        return None
    from lab.recording import recording_client

    try:
        http = recording_client(
            directory, timeout=timeout, base_url=target.openai_url, engine=engine.as_dict()
        )
    except OSError as exc:
        raise SetupError(
            f"Cannot record into {directory}",
            f"The directory could not be created ({exc}). Pass --record a writable directory.",
        ) from None
    http.timeout = http_timeout(timeout)
    http.headers["Authorization"] = f"Bearer {api_key}"  # what Lab.http sends
    return http
