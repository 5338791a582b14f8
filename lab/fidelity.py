"""``lab fidelity``: prove the bundled fake right against a real Ollama, or report the drift.

For every case of a corpus (by default the published reference counts
``lab/data/fidelity-cases.json`` and the rule-derived corpus ``lab/data/fidelity_corpus.json``,
copies of the test suite's files) the command asks two servers the same two questions on
Ollama's native ``/api/chat``:

1. ``"_debug_render_only": true`` (Ollama >= 0.12): the exact prompt string the chat template
   renders, from ``_debug_info.rendered_template`` (no generation; usage is zero in that mode);
2. the same request with ``options.num_predict: 1``: a real generation of one token, whose
   ``prompt_eval_count`` is the count ``usage.prompt_tokens`` reports on ``/v1``.

The two servers are the target (a real Ollama, usually on the reader's Mac) and the bundled fake,
started in-process. The corpus's recorded prompts and counts are *not* the reference here: the
target is. That matters for gpt-oss, whose prompt carries a ``Current date:`` line that Ollama
fills with its server-local date, so the fake is started with the target's date (read from the
target's own gpt-oss rendering; today's local date when there is no gpt-oss case), not the dates
the cases were recorded on.

The embedding models' cases (``lab/data/embedding-cases.json``, ``lab/fidelity_embed.py``) are
compared too: the same ``/api/embed`` request to both servers, the same ``prompt_eval_count``
(or the same refusal), shown in a table of their own.

The native API is used because the corpus is written in its shape (tool-call arguments as
objects, ``thinking``, ``tool_name``, ``think``); ``/v1`` renders and counts the same prompt.

Exit codes: 0 every compared case matches, 1 drift found, 2 the target is unusable (not
running, not Ollama, older than 0.12, nothing to compare).
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import httpx
from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from lab import __version__, command, report
from lab.bounds import bounded_client
from lab.errors import EXIT_FAILED, EXIT_OK, SetupError, start_ollama_advice
from lab.fidelity_embed import EmbedCase, embed_count, is_embedding_case, load_embed_cases
from lab.ollama import (
    RENDER_ONLY_SINCE,
    NotOllama,
    canonical_name,
    pulled_models,
    release_number,
    same_model,
    version,
)
from lab.targets import Target

BUNDLED = ("fidelity-cases.json", "fidelity_corpus.json")
DATE_LINE = re.compile(r"Current date: (\d{4}-\d{2}-\d{2})")
NEWLINE_MARK = "␊"


# --- the corpus ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    """One request: a model and native ``/api/chat`` messages (plus tools and think)."""

    id: str
    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    think: bool | str | None = None
    source: str = ""

    def body(self, model: str) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "messages": self.messages, "stream": False}
        if self.tools:
            body["tools"] = self.tools
        if self.think is not None:
            body["think"] = self.think
        return body


def bundled_cases() -> list[Case]:
    """The corpus shipped in the package (works from an installed wheel)."""
    data = resources.files("lab.data")
    cases: list[Case] = []
    for name in BUNDLED:
        cases += parse_cases(json.loads(data.joinpath(name).read_text("utf-8")), name)
    return cases


def load_cases(path: Path | None) -> list[Case]:
    """``path`` (a JSON list of cases in either bundled shape), or the bundled corpus."""
    if path is None:
        return bundled_cases()
    try:
        document = json.loads(path.read_text("utf-8"))
        return parse_cases(document, path.name)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SetupError(
            f"Cannot read the corpus {path}",
            f"{type(exc).__name__}: {exc}. A corpus is a JSON list of cases, each with an id, "
            'a model ("model" or "model_as_reported") and native /api/chat "messages" '
            '(optional "tools" and "think"), like lab/data/fidelity_corpus.json.',
        ) from None


def parse_cases(document: Any, source: str) -> list[Case]:
    if not isinstance(document, list):
        raise TypeError("the corpus is not a JSON list")
    cases = []
    for number, item in enumerate(document, 1):
        if is_embedding_case(item):
            continue  # an embedding case (lab/fidelity_embed.py)
        model = item.get("model") or item.get("model_as_reported")
        if not isinstance(model, str) or not isinstance(item.get("messages"), list):
            raise ValueError(f"case {number} has no model or no messages list")
        cases.append(
            Case(
                id=str(item.get("id", f"{source}#{number}")),
                model=model,
                messages=item["messages"],
                tools=item.get("tools") or None,
                think=item.get("think"),
                source=source,
            )
        )
    return cases


# --- asking a server -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Observation:
    """What one server said about one case: the rendered prompt and the count, or errors."""

    rendered: str | None = None
    count: int | None = None
    render_error: str | None = None
    count_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rendered_template": self.rendered,
            "prompt_eval_count": self.count,
            "render_error": self.render_error,
            "count_error": self.count_error,
        }


class TargetStopped(Exception):
    """The target stopped answering mid-run (connection or timeout)."""


def observe(http: httpx.Client, root: str, case: Case, model: str) -> Observation:
    """Ask ``root`` to render ``case`` (``_debug_render_only``) and to count it (num_predict 1)."""
    body = case.body(model)
    rendered, render_error = _ask(
        http, root, {**body, "_debug_render_only": True}, _rendered_template
    )
    count, count_error = _ask(http, root, {**body, "options": {"num_predict": 1}}, _count)
    return Observation(rendered, count, render_error, count_error)


def _ask(
    http: httpx.Client, root: str, body: dict[str, Any], read: Callable[[Any], Any]
) -> tuple[Any, str | None]:
    try:
        response = http.post(f"{root}/api/chat", json=body)
    except httpx.HTTPError as exc:
        raise TargetStopped(f"POST {root}/api/chat: {type(exc).__name__}: {exc}") from None
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code != 200:
        said = answer.get("error") if isinstance(answer, dict) else None
        return None, f"HTTP {response.status_code}: {said or response.text.strip()[:200]}"
    try:
        return read(answer), None
    except (KeyError, TypeError, ValueError) as exc:
        return None, str(exc) or type(exc).__name__


def _rendered_template(answer: Any) -> str:
    info = answer.get("_debug_info") if isinstance(answer, dict) else None
    rendered = info.get("rendered_template") if isinstance(info, dict) else None
    if not isinstance(rendered, str):
        raise ValueError("no _debug_info.rendered_template in the answer")
    return rendered


def _count(answer: Any) -> int:
    count = answer.get("prompt_eval_count") if isinstance(answer, dict) else None
    if not isinstance(count, int) or isinstance(count, bool):
        raise ValueError(f"no prompt_eval_count in the answer ({json.dumps(answer)[:120]})")
    return count


# --- comparing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comparison:
    case: Case | EmbedCase
    run_as: str  # the tag both servers were asked for (the case's, or a pulled alias of it)
    target: Observation
    fake: Observation

    @property
    def render_match(self) -> bool:
        if self.target.rendered is None or self.fake.rendered is None:
            return self.target.rendered is None and self.target.render_error == (
                self.fake.render_error
            )
        return self.target.rendered == self.fake.rendered

    @property
    def count_match(self) -> bool:
        if self.target.count is None or self.fake.count is None:
            return self.target.count is None and self.target.count_error == self.fake.count_error
        return self.target.count == self.fake.count

    @property
    def matches(self) -> bool:
        return self.render_match and self.count_match

    def diff(self) -> str:
        """A compact unified diff, fake → target, newlines shown as ␊."""
        if self.render_match:
            return ""
        return visible_diff(
            self.fake.rendered if self.fake.rendered is not None else f"({self.fake.render_error})",
            self.target.rendered
            if self.target.rendered is not None
            else f"({self.target.render_error})",
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.case.id,
            "source": self.case.source,
            "model": self.case.model,
            "run_as": self.run_as,
            "render_match": self.render_match,
            "count_match": self.count_match,
            "target": self.target.as_dict(),
            "fake": self.fake.as_dict(),
            "diff": self.diff(),
            "request": self.case.body(self.run_as),
        }


def visible_diff(fake: str, target: str, *, context: int = 1) -> str:
    """``difflib.unified_diff`` of two prompts, line by line, each newline drawn as ``␊``."""
    before = [line.replace("\n", NEWLINE_MARK) for line in fake.splitlines(keepends=True)]
    after = [line.replace("\n", NEWLINE_MARK) for line in target.splitlines(keepends=True)]
    lines = list(
        difflib.unified_diff(
            before, after, fromfile="fake", tofile="target", n=context, lineterm=""
        )
    )
    offset = next(
        (i for i, (a, b) in enumerate(zip(fake, target, strict=False)) if a != b),
        min(len(fake), len(target)),
    )
    if fake != target:
        lines.append(
            f"first difference at character {offset}: fake {_around(fake, offset)} "
            f"vs target {_around(target, offset)}"
        )
    return "\n".join(lines)


def _around(text: str, offset: int, width: int = 12) -> str:
    piece = text[max(0, offset - width) : offset + width].replace("\n", NEWLINE_MARK)
    return repr(piece)


# --- the command ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FidelityOptions:
    target: Target
    timeout: float
    models: tuple[str, ...] = ()  # --models: only these (and their aliases)
    corpus: Path | None = None
    as_json: bool = False
    out_file: Path | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    model: str
    reason: str
    pull: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"model": self.model, "reason": self.reason, "pull": self.pull}


@dataclass(slots=True)
class FidelityResult:
    target: Target
    ollama_version: str
    fake_version: str
    date: str
    date_source: str
    comparisons: list[Comparison] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    embeddings: list[Comparison] = field(default_factory=list)  # EmbedCase comparisons

    @property
    def drift(self) -> list[Comparison]:
        return [c for c in self.comparisons if not c.matches]

    @property
    def embedding_drift(self) -> list[Comparison]:
        return [c for c in self.embeddings if not c.count_match]

    def per_model(self) -> list[tuple[str, int, int, int]]:
        """``(model, cases, rendered matches, count matches)`` per tag asked for."""
        rows: dict[str, list[int]] = {}
        for c in self.comparisons:
            row = rows.setdefault(c.run_as, [0, 0, 0])
            row[0] += 1
            row[1] += c.render_match
            row[2] += c.count_match
        return [(model, n, r, k) for model, (n, r, k) in rows.items()]

    def per_embedding_model(self) -> list[tuple[str, int, int]]:
        """``(model, cases, count matches)`` per embedding model asked for."""
        rows: dict[str, list[int]] = {}
        for c in self.embeddings:
            row = rows.setdefault(c.run_as, [0, 0])
            row[0] += 1
            row[1] += c.count_match
        return [(model, n, k) for model, (n, k) in rows.items()]

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.drift or self.embedding_drift else EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "lab": {"name": "portway-lab", "version": __version__},
            "target": {**self.target.as_dict(), "ollama_version": self.ollama_version},
            "fake": {"name": "portway-fake", "version": self.fake_version},
            "date": self.date,
            "date_source": self.date_source,
            "models": [
                {"model": m, "cases": n, "rendered_matches": r, "count_matches": k}
                for m, n, r, k in self.per_model()
            ],
            "skipped": [s.as_dict() for s in self.skipped],
            "cases": len(self.comparisons),
            "drift": [c.as_dict() for c in self.drift],
            "embedding_models": [
                {"model": m, "cases": n, "count_matches": k}
                for m, n, k in self.per_embedding_model()
            ],
            "embedding_cases": len(self.embeddings),
            "embedding_drift": [_embedding_dict(c) for c in self.embedding_drift],
            "exit_code": self.exit_code,
        }


def _embedding_dict(c: Comparison) -> dict[str, Any]:
    return {
        "id": c.case.id,
        "source": c.case.source,
        "model": c.case.model,
        "run_as": c.run_as,
        "count_match": c.count_match,
        "target": {"prompt_eval_count": c.target.count, "error": c.target.count_error},
        "fake": {"prompt_eval_count": c.fake.count, "error": c.fake.count_error},
        "request": c.case.body(c.run_as),
    }


def run_fidelity(options: FidelityOptions, *, out: Console, err: Console) -> int:
    """The corpus and the target checked, every case asked of both, the result shown."""

    def check(target: Target) -> tuple[tuple[list[Case], list[EmbedCase]], str]:
        cases = selected_cases(options), selected_embed_cases(options)
        with bounded_client(options.timeout) as http:
            release = _check_target(http, target)
            if target.kind == "mock":  # the bundled fake: its embedding models, pulled
                _pull_into_the_fake(http, target.root, [c.model for c in cases[1]])
            return cases, release

    def comparing(
        target: Target, checked: tuple[tuple[list[Case], list[EmbedCase]], str]
    ) -> FidelityResult:
        (cases, embed_cases), release = checked
        try:
            return compare(
                target,
                cases,
                release,
                options,
                progress=out if out.is_terminal else None,
                embed_cases=embed_cases,
            )
        except TargetStopped as exc:
            raise SetupError(
                f"{target.label} stopped answering",
                f"{exc}. A large model's first request loads it into memory; raise "
                "--timeout (or LAB_TIMEOUT) if that is what happened.",
            ) from None

    def show(result: FidelityResult) -> int:
        if options.as_json:
            report.write_json(out, result.as_dict())
        else:
            print_result(out, result)
        if options.out_file is not None:
            try:
                write_drift_report(result, options.out_file)
            except OSError as exc:
                raise SetupError(f"Cannot write {options.out_file}", str(exc)) from None
            if not options.as_json:
                out.print(Text(f"Wrote {options.out_file}", style="dim"))
        return result.exit_code

    return command.execute(options.target, preflight=check, run=comparing, show=show, err=err)


def selected_cases(options: FidelityOptions) -> list[Case]:
    """The corpus's cases, only those of ``--models`` when given (an embedding model's
    cases count: ``--models all-minilm`` compares only those)."""
    cases = load_cases(options.corpus)
    if not options.models:
        return cases
    chosen = [c for c in cases if any(same_blob(c.model, m) for m in options.models)]
    if not chosen and not selected_embed_cases(options):
        embedding = [c.model for c in load_embed_cases(options.corpus)]
        raise SetupError(
            "No case for these models",
            f"The corpus has no case for {', '.join(options.models)}. Its models: "
            f"{', '.join(sorted({c.model for c in cases} | set(embedding)))}.",
        )
    return chosen


def selected_embed_cases(options: FidelityOptions) -> list[EmbedCase]:
    """The embedding cases (bundled, or the corpus's), only those of ``--models`` when given."""
    cases = load_embed_cases(options.corpus)
    if not options.models:
        return cases
    return [c for c in cases if any(same_blob(c.model, m) for m in options.models)]


def compare(
    target: Target,
    cases: list[Case],
    release: str,
    options: FidelityOptions,
    *,
    progress: Console | None,
    embed_cases: list[EmbedCase] | None = None,
) -> FidelityResult:
    """Pick the cases the target can run, start the fake at the target's date, ask both.

    ``release`` is the target's Ollama version, checked by the preflight.
    """
    from mockserver import __version__ as fake_version
    from mockserver.config import Settings
    from mockserver.server import serving

    with bounded_client(options.timeout) as http:
        pulled = pulled_models(http, target.root)
        plan, skipped = _plan(cases, pulled)
        embed_plan, embed_skipped = _plan(embed_cases or [], pulled)
        skipped += [s for s in embed_skipped if s.model not in {k.model for k in skipped}]
        if not plan and not embed_plan:
            raise SetupError(
                f"Nothing to compare on {target.label}",
                "None of the corpus's models is pulled there. "
                + _pull_advice(skipped)
                + " Then run python -m lab fidelity again (--models a,b picks some).",
            )
        day, day_source = _target_date(http, target.root, plan)
        models = tuple(dict.fromkeys(run_as for _, run_as in [*plan, *embed_plan]))
        result = FidelityResult(target, release, fake_version, day, day_source, skipped=skipped)
        settings = Settings(port=0, models=models, current_date=day, seed=7)
        with (
            serving(settings) as fake,
            bounded_client(options.timeout) as local,
            _status(progress) as say,
        ):
            for number, (case, run_as) in enumerate(plan, 1):
                say(f"[{number}/{len(plan)}] {case.id} on {run_as}")
                theirs = observe(http, target.root, case, run_as)
                ours = observe(local, fake.url, case, run_as)
                result.comparisons.append(Comparison(case, run_as, theirs, ours))
            for number, (embed_case, run_as) in enumerate(embed_plan, 1):
                say(f"[{number}/{len(embed_plan)}] {embed_case.id} on {run_as} (/api/embed)")
                theirs = Observation(None, *embed_count(http, target.root, embed_case, run_as))
                ours = Observation(None, *embed_count(local, fake.url, embed_case, run_as))
                result.embeddings.append(Comparison(embed_case, run_as, theirs, ours))
        return result


def _pull_into_the_fake(http: httpx.Client, root: str, models: list[str]) -> None:
    """``--target mock`` starts the fake with the Post 1 table pulled; the embedding cases'
    models are in its catalog, and ``/api/pull`` (as on Ollama) makes them available. Never
    done to any other target: the lab does not download models on the reader's machine."""
    for model in dict.fromkeys(models):
        response = http.post(f"{root}/api/pull", json={"model": model, "stream": False})
        if response.status_code != 200:
            raise SetupError(
                f"The bundled fake could not pull {model}",
                f"POST /api/pull answered HTTP {response.status_code}: {response.text[:200]}",
            )


def _check_target(http: httpx.Client, target: Target) -> str:
    where = target.root
    try:
        release = version(http, where)
    except httpx.ConnectError:
        raise SetupError(
            f"Ollama is not reachable at {where}",
            f"Nothing answered at {where}. {start_ollama_advice(target)}",
        ) from None
    except httpx.HTTPError as exc:
        raise SetupError(f"Ollama at {where} could not be checked", f"{exc}.") from None
    except NotOllama as exc:
        raise SetupError(
            f"The server at {where} is not Ollama",
            f"{exc.evidence}. lab fidelity compares the fake with a real Ollama through "
            "Ollama's native API (/api/chat with _debug_render_only); other servers cannot "
            "render their prompts that way.",
        ) from None
    parsed = release_number(release)
    if parsed is not None and parsed < RENDER_ONLY_SINCE:
        raise SetupError(
            f"Ollama {release} cannot show its rendered prompts",
            "_debug_render_only arrived in Ollama 0.12.0; older releases ignore it and "
            "generate instead. Update Ollama (https://ollama.com/download) and run again.",
        )
    return release


_AnyCase = TypeVar("_AnyCase", Case, EmbedCase)


def _plan(
    cases: list[_AnyCase], pulled: list[str]
) -> tuple[list[tuple[_AnyCase, str]], list[Skipped]]:
    """Each runnable case with the tag to ask for; the models that cannot run, and why."""
    plan: list[tuple[_AnyCase, str]] = []
    skipped: dict[str, Skipped] = {}
    for case in cases:
        if case.model in skipped:
            continue
        if not fake_knows(case.model):
            skipped[case.model] = Skipped(case.model, "the bundled fake has no such model")
            continue
        if any(same_model(name, case.model) for name in pulled):
            plan.append((case, case.model))
            continue
        alias = next((n for n in pulled if fake_knows(n) and same_blob(n, case.model)), None)
        if alias is not None:  # e.g. llama3.2 is llama3.2:3b: the same blob, pulled as :3b
            plan.append((case, alias))
            continue
        skipped[case.model] = Skipped(
            case.model, "not pulled on the target", f"ollama pull {case.model}"
        )
    return plan, list(skipped.values())


def _target_date(http: httpx.Client, root: str, plan: list[tuple[Case, str]]) -> tuple[str, str]:
    """The date the target renders into gpt-oss prompts; today's local date without gpt-oss."""
    today = date.today().isoformat()
    probe = next(((c, m) for c, m in plan if _is_gpt_oss(m)), None)
    if probe is None:
        return today, "today's local date; no gpt-oss case, so no prompt shows a date"
    rendered, _ = _ask(http, root, {**probe[0].body(probe[1]), "_debug_render_only": True},
                       _rendered_template)  # fmt: skip
    found = DATE_LINE.search(rendered or "")
    if found is None:
        return today, "today's local date; the target's gpt-oss prompt shows none"
    return found.group(
        1
    ), "read from the target's gpt-oss prompt, where Ollama renders its local date"


def same_blob(a: str, b: str) -> bool:
    """Two tags of one model (``llama3.2`` and ``llama3.2:3b``), as the fake's catalog knows."""
    return _blob(a) == _blob(b)


def fake_knows(name: str) -> bool:
    from mockserver.engine.catalog import KNOWN_MODELS

    wanted = canonical_name(name)
    return any(card.name.lower() == wanted for card in KNOWN_MODELS)


def _blob(name: str) -> str:
    from mockserver.engine.catalog import KNOWN_MODELS

    wanted = canonical_name(name)
    card = next((c for c in KNOWN_MODELS if c.name.lower() == wanted), None)
    return card.full_digest if card is not None else wanted


def _is_gpt_oss(name: str) -> bool:
    return canonical_name(name).startswith("gpt-oss")


def _pull_advice(skipped: list[Skipped]) -> str:
    pulls = [s.pull for s in skipped if s.pull]
    return "Pull one: " + "; ".join(f"`{p}`" for p in pulls) + "." if pulls else ""


@contextlib.contextmanager
def _status(console: Console | None) -> Iterator[Callable[[str], None]]:
    if console is None:
        yield lambda _text: None
        return
    with console.status("comparing…") as status:
        yield lambda text: status.update(f"comparing {text}")


# --- output ------------------------------------------------------------------------------------


def print_result(out: Console, result: FidelityResult) -> None:
    out.print(
        Panel(
            Text.assemble(
                ("target  ", "dim"),
                _target_name(result),
                ("\nfake    ", "dim"),
                f"Portway fake Ollama {result.fake_version}, started in-process",
                ("\ndate    ", "dim"),
                f"{result.date}: {result.date_source}; the fake renders the same date, not "
                "the dates the cases were recorded on",
            ),
            title="Portway Lab fidelity: the fake vs the target",
            title_align="left",
            box=box.ROUNDED,
            expand=False,
        )
    )
    grid = Table(box=box.SIMPLE_HEAD)
    grid.add_column("model", style="bold", no_wrap=True)
    grid.add_column("cases", justify="right")
    grid.add_column("rendered prompt matches", justify="right")
    grid.add_column("count matches", justify="right")
    for model, cases, rendered, counted in result.per_model():
        grid.add_row(
            model,
            str(cases),
            Text(f"{rendered}/{cases}", "green" if rendered == cases else "bold red"),
            Text(f"{counted}/{cases}", "green" if counted == cases else "bold red"),
        )
    if result.comparisons:
        out.print(grid)
    if result.embeddings:
        out.print(_embedding_grid(result))
    for skip in result.skipped:
        how = f": {skip.pull}" if skip.pull else ""
        out.print(Text(f"skipped {skip.model} ({skip.reason}{how})", style="yellow"))
    for c in result.drift:
        out.print(
            Panel(
                Group(Text(_counts_line(c)), Text(c.diff() or "rendered prompts identical")),
                title=escape(f"drift: {c.case.id} ({c.run_as})"),
                title_align="left",
                border_style="red",
            )
        )
    for c in result.embedding_drift:
        out.print(Text(f"drift: {c.case.id} ({c.run_as}, /api/embed): {_counts_line(c)}",
                       style="bold red"))  # fmt: skip
    failed = result.drift or result.embedding_drift
    out.print(Text(_verdict(result), style="bold red" if failed else "bold green"))


def _embedding_grid(result: FidelityResult) -> Table:
    grid = Table(box=box.SIMPLE_HEAD, title="embedding models (/api/embed)", title_justify="left")
    grid.add_column("model", style="bold", no_wrap=True)
    grid.add_column("cases", justify="right")
    grid.add_column("count matches", justify="right")
    for model, cases, counted in result.per_embedding_model():
        grid.add_row(
            model,
            str(cases),
            Text(f"{counted}/{cases}", "green" if counted == cases else "bold red"),
        )
    return grid


def _target_name(result: FidelityResult) -> str:
    if result.target.kind == "mock":
        return f"the bundled fake itself (emulating Ollama {result.ollama_version})"
    return f"Ollama {result.ollama_version} at {result.target.root}"


def _counts_line(c: Comparison) -> str:
    def show(o: Observation) -> str:
        return str(o.count) if o.count is not None else f"({o.count_error})"

    mark = "=" if c.count_match else "≠"
    return f"prompt_eval_count: target {show(c.target)} {mark} fake {show(c.fake)}"


def _verdict(result: FidelityResult) -> str:
    total = len(result.comparisons)
    drift = result.drift
    embedded = _embedding_verdict(result)
    if not drift:
        if not total:
            return embedded
        return f"All {total} cases match: rendered prompts and counts are the target's." + (
            f" {embedded}" if embedded else ""
        )
    prompts = sum(not c.render_match for c in drift)
    counts = sum(not c.count_match for c in drift)
    return (
        f"Drift in {len(drift)} of {total} cases ({prompts} rendered prompts, {counts} counts). "
        + (f"{embedded} " if embedded else "")
        + "Attach the report (--out drift.md) to an issue."
    )


def _embedding_verdict(result: FidelityResult) -> str:
    total = len(result.embeddings)
    if not total:
        return ""
    drift = len(result.embedding_drift)
    if not drift:
        return f"All {total} embedding cases match: prompt_eval_count is the target's."
    return f"Drift in {drift} of {total} embedding cases (prompt_eval_count)."


def write_drift_report(result: FidelityResult, path: Path) -> None:
    """JSON when ``path`` ends in ``.json``; otherwise Markdown for an issue."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(result.as_dict(), indent=2, ensure_ascii=False) + "\n", "utf-8")
        return
    path.write_text(drift_markdown(result), "utf-8")


def drift_markdown(result: FidelityResult) -> str:
    lines = [
        "# Portway fake fidelity report",
        "",
        f"- **target**: {_target_name(result)}",
        f"- **fake**: Portway fake Ollama {result.fake_version} (portway-lab {__version__})",
        f"- **date rendered**: {result.date} ({result.date_source})",
        f"- **result**: {_verdict(result)}",
        "",
        "| model | cases | rendered prompt matches | count matches |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| `{m}` | {n} | {r}/{n} | {k}/{n} |" for m, n, r, k in result.per_model()]
    if result.embeddings:
        lines += ["", "| embedding model (/api/embed) | cases | count matches |", "|---|---:|---:|"]
        lines += [f"| `{m}` | {n} | {k}/{n} |" for m, n, k in result.per_embedding_model()]
    if result.skipped:
        lines += ["", "Skipped:", ""]
        lines += [
            f"- `{s.model}`: {s.reason}" + (f" (`{s.pull}`)" if s.pull else "")
            for s in result.skipped
        ]
    for c in result.drift:
        lines += [
            "",
            f"## {c.case.id} (`{c.run_as}`)",
            "",
            _counts_line(c),
            "",
            "```diff",
            c.diff() or "rendered prompts identical",
            "```",
            "",
            "<details><summary>request (POST /api/chat)</summary>",
            "",
            "```json",
            json.dumps(c.case.body(c.run_as), indent=1, ensure_ascii=False),
            "```",
            "",
            "</details>",
        ]
    for c in result.embedding_drift:
        lines += [
            "",
            f"## {c.case.id} (`{c.run_as}`, /api/embed)",
            "",
            _counts_line(c),
            "",
            "```json",
            json.dumps(c.case.body(c.run_as), indent=1, ensure_ascii=False),
            "```",
        ]
    return "\n".join(lines) + "\n"
