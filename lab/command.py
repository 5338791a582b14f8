"""The one shape of a lab command that talks to a target (``lab run``, ``report``, ``fidelity``).

::

    resolve the target   the bundled fake is started for ``--target mock`` (targets.opened)
    -> preflight         is it usable? (lab.preflight; fidelity: is it Ollama >= 0.12)
    -> session           the SDK and the raw calls on one httpx client, recording with --record
    -> run               the experiments, the contract points, the corpus
    -> show              the panels or tables, or the --json document; files with --out
    -> exit code         the command's own (0, or 1 for a failed result); 2 when the target is
                         unusable; 130 on Ctrl-C

:func:`execute` is that skeleton; each command gives it its three steps. Every target failure
reaches it as a :class:`~lab.errors.LabError` and is printed as one paragraph
(:func:`lab.report.error`), then its exit code is returned; nothing else is caught, so a bug
still shows its traceback. :func:`session` is the SDK-and-raw-client step that ``run`` and
``report`` share.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from rich.console import Console

from lab import report, targets
from lab.errors import EXIT_INTERRUPTED, LabError, SetupError
from lab.ollama import EngineInfo
from lab.targets import Target

if TYPE_CHECKING:
    import httpx
    import openai

Checked = TypeVar("Checked")
Result = TypeVar("Result")


def execute(
    target: Target,
    *,
    preflight: Callable[[Target], Checked],
    run: Callable[[Target, Checked], Result],
    show: Callable[[Result], int],
    err: Console,
    stopped: Callable[[LabError], None] | None = None,
) -> int:
    """Open ``target``, check it, run on it, close it, show the result; the exit code.

    ``preflight`` and ``run`` are called while the target is open (the fake running), ``run``
    with what ``preflight`` returned; ``show`` after it is closed, with what ``run`` returned.
    A :class:`LabError` from any step is printed as its paragraph; ``stopped`` is then told
    (``lab run --json`` writes its document of what was done before), and the error's exit
    code is returned.
    """
    try:
        try:
            with targets.opened(target) as reachable:
                result = run(reachable, preflight(reachable))
        except LabError as problem:
            report.error(err, problem)
            if stopped is not None:
                stopped(problem)
            return problem.exit_code
        return show(result)
    except LabError as problem:  # showing failed (e.g. --out is not writable)
        report.error(err, problem)
        return problem.exit_code
    except KeyboardInterrupt:
        err.print("\nInterrupted.")
        return EXIT_INTERRUPTED


@contextlib.contextmanager
def session(
    target: Target, engine: EngineInfo, *, api_key: str, timeout: float, record: Path | None
) -> Iterator[tuple[openai.OpenAI, httpx.Client]]:
    """The SDK and a raw client on one ``httpx.Client`` (recording with ``--record``).

    The raw client sends ``Authorization: Bearer <api_key>`` as the SDK does. It is closed when
    the block ends; with ``--record`` the last exchange is written by then.
    """
    import httpx

    from lab.context import http_timeout, sdk_client

    http = recording_http(record, target, engine, api_key=api_key, timeout=timeout)
    if http is None:
        http = httpx.Client(
            timeout=http_timeout(timeout), headers={"Authorization": f"Bearer {api_key}"}
        )
    try:
        yield sdk_client(target.openai_url, api_key, timeout, http_client=http), http
    finally:
        http.close()


def recording_http(
    directory: Path | None, target: Target, engine: EngineInfo, *, api_key: str, timeout: float
) -> httpx.Client | None:
    """With ``--record DIR``: one recording client for the SDK and the raw calls; else None.

    Every exchange after the preflight is saved as one file in ``DIR``
    (:mod:`lab.recording`); ``python -m mockserver --replay DIR`` answers them offline.
    """
    if directory is None:
        return None
    from lab.context import http_timeout
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
