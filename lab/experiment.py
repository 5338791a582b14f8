"""What an experiment is, what it finds, and the registry that lists them.

An :class:`Experiment` is a name, a title, a lesson page and a function ``run(lab) -> Finding``.
The function makes one call pattern through :meth:`lab.context.Lab.chat` and returns a
:class:`Finding`: the measured ``data`` (what ``--json`` prints), what to ``show`` (answers and
small tables, rendered by :mod:`lab.report`) and the ``explanation`` in plain words.

New experiments register themselves with :func:`experiment` and are imported by
:func:`registered`; :data:`lab.experiments.ORDER` is the order they run in. Importing an experiment
module loads neither the SDK nor an HTTP stack (their imports are in the functions that call),
so ``lab list`` and ``--help`` start at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from lab.context import Lab

Status = Literal["ok", "not_applicable", "unexpected"]


@dataclass(frozen=True, slots=True)
class Answer:
    """A model's reply, shown in a panel."""

    label: str
    text: str


@dataclass(frozen=True, slots=True)
class Facts:
    """A small table: a title, column headings, and rows of already formatted cells."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Bars:
    """A horizontal bar chart: one labelled bar per value, drawn with block characters."""

    title: str
    labels: tuple[str, ...]
    values: tuple[float, ...]
    unit: str = ""  # after each value: "tokens"


Shown = Answer | Facts | Bars


@dataclass(slots=True)
class Finding:
    """The outcome of one experiment.

    ``status`` is ``ok`` when the experiment showed what it is about, ``not_applicable`` when the
    target cannot show it (``reason`` says why, e.g. "the server reports no usage"), and
    ``unexpected`` when the target answered but contradicted the contract the experiment checks.
    ``explanation`` says only what this run observed (or, marked as such, what the lesson
    teaches); on the bundled fake, whose answers are not a model's, it says so.
    """

    data: dict[str, Any]
    explanation: list[str]
    show: Sequence[Shown] = field(default_factory=list)
    status: Status = "ok"
    reason: str = ""
    figure: str = ""  # the key figure, one short line for the run's summary table

    @classmethod
    def not_applicable(cls, reason: str, data: dict[str, Any] | None = None) -> Finding:
        return cls(data or {}, [f"Not applicable, because {reason}."], [], "not_applicable", reason)


Run = Callable[["Lab"], Finding]


@dataclass(frozen=True, slots=True)
class Experiment:
    name: str
    title: str
    summary: str  # one sentence: the call pattern and what it shows
    run: Run
    default: bool = True  # run when no experiment is named

    @property
    def lesson(self) -> str:
        """The lesson page that explains this experiment at length, as named in the repository.

        The pages are package data (``lab/lessons/<name>.md``), so they are installed with the
        wheel; :attr:`lesson_file` is where this installation has it.
        """
        return f"lab/lessons/{self.name}.md"

    @property
    def lesson_file(self) -> Path:
        """The lesson page on this machine (in the checkout, or in the installed package): next
        to this module, where ``importlib.resources.files("lab")`` finds it for a package on
        disk, without importing its readers (~10 ms of ``lab list``)."""
        return _PACKAGE / "lessons" / f"{self.name}.md"


_PACKAGE = Path(__file__).parent
_REGISTRY: dict[str, Experiment] = {}


def experiment(
    name: str, title: str, summary: str, *, default: bool = True
) -> Callable[[Run], Run]:
    """Register ``run`` under ``name``: ``@experiment("round_trip", "Round trip", "...")``."""

    def register(run: Run) -> Run:
        if name in _REGISTRY:
            raise ValueError(f"experiment {name!r} is registered twice")
        _REGISTRY[name] = Experiment(name, title, summary, run, default)
        return run

    return register


def registered() -> list[Experiment]:
    """Every experiment, in the order they run (:data:`lab.experiments.ORDER`)."""
    import importlib

    from lab.experiments import ORDER

    for name in ORDER:
        if name not in _REGISTRY:
            importlib.import_module(f"lab.experiments.{name}")  # importing registers it
    return [_REGISTRY[name] for name in ORDER]


def names() -> tuple[str, ...]:
    """The experiments' names, in order, without importing them."""
    from lab.experiments import ORDER

    return ORDER


def select(names: list[str]) -> list[Experiment]:
    """The named experiments in registry order, or the default set when ``names`` is empty.

    Raises ``KeyError`` naming the first unknown experiment.
    """
    everything = registered()
    if not names:
        return [e for e in everything if e.default]
    known = {e.name: e for e in everything}
    for name in names:
        if name not in known:
            raise KeyError(name)
    wanted = set(names)
    return [e for e in everything if e.name in wanted]
