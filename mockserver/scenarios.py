"""Scenarios: rules a user scripts, and the fake's own scripted replies.

``python -m mockserver --scenario FILE`` (YAML or JSON; schema:
``mockserver/scenario.schema.json``) loads ordered rules; for each generation request (``POST
/v1/chat/completions``, ``/v1/completions``, ``/api/chat``, ``/api/generate``) the first rule
whose ``match`` holds answers it, ``times: N`` rules only N times. What a rule's ``reply``
says the model emits (content, reasoning, tool calls, a JSON value) goes through the engine
like the built-in model's answer, so every count stays exact; an ``error``, a ``delay``, a
mid-stream ``cut_after`` and a ``chunking`` shape the delivery. A request no rule matches
falls back to the built-in model, or gets 404 with ``--scenario-strict``. The pytest plugin
adds rules per test (``ollama_fake.rules(...)``).

The built-in scripts (``engine/scripts.json``) are rules of the same kind, each matching one
whole conversation of the lab's, so a scripted reply fires only for the conversation it was
written for.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import re
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.asgi import read_body, replaying
from mockserver.engine.chat import Message as ChatMessage
from mockserver.engine.chat import ToolCall
from mockserver.engine.families import Output

GENERATION_PATHS = frozenset(
    {"/v1/chat/completions", "/v1/completions", "/api/chat", "/api/generate"}
)
NO_RULE = "no scenario rule matches this request"


class ScenarioError(ValueError):
    """A scenario file that cannot be used: where (file, line) and why."""


@cache
def schema() -> dict[str, Any]:
    """The JSON schema of a scenario file."""
    loaded: dict[str, Any] = json.loads(
        files("mockserver").joinpath("scenario.schema.json").read_text("utf-8")
    )
    return loaded


# --- what a rule looks at -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestView:
    """A generation request as rules see it."""

    endpoint: str
    model: str
    messages: tuple[tuple[str, str], ...]  # (role, text)
    tools: bool
    body: Any = None

    @classmethod
    def from_body(cls, endpoint: str, body: Any) -> RequestView:
        if not isinstance(body, dict):
            return cls(endpoint, "", (), False, body)
        messages: list[tuple[str, str]] = []
        if endpoint in ("/api/generate", "/v1/completions"):
            if isinstance(body.get("system"), str) and body["system"]:
                messages.append(("system", body["system"]))
            messages.append(("user", str(body.get("prompt") or "")))
        else:
            for message in body.get("messages") or []:
                if isinstance(message, dict):
                    role = str(message.get("role") or "").lower()
                    messages.append((role, _text(message.get("content"))))
        return cls(
            endpoint,
            str(body.get("model") or ""),
            tuple(messages),
            bool(body.get("tools")),
            body,
        )

    @classmethod
    def from_messages(cls, messages: tuple[ChatMessage, ...]) -> RequestView:
        return cls("", "", tuple((m.role, m.content) for m in messages), False)

    @property
    def last_user(self) -> str:
        return next((text for role, text in reversed(self.messages) if role == "user"), "")

    @property
    def turns(self) -> int:
        return sum(1 for role, _ in self.messages if role == "user")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text") or "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


# --- rules --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    endpoint: tuple[str, ...] = ()
    model: str | None = None
    last_user: dict[str, str] | None = None
    messages: tuple[tuple[str, str], ...] | None = None
    tools: bool | None = None
    turns: tuple[int | None, int | None] | None = None
    json: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Match:
        endpoint = raw.get("endpoint", ())
        last_user = raw.get("last_user")
        if isinstance(last_user, str):
            last_user = {"contains": last_user}
        if last_user and "regex" in last_user:
            re.compile(last_user["regex"])  # re.error: reported with the line
        turns = raw.get("turns")
        if isinstance(turns, int):
            turns = (turns, turns)
        elif isinstance(turns, dict):
            turns = (turns.get("min"), turns.get("max"))
        messages = raw.get("messages")
        return cls(
            endpoint=(endpoint,) if isinstance(endpoint, str) else tuple(endpoint),
            model=raw.get("model"),
            last_user=last_user,
            messages=tuple((m["role"], m["content"]) for m in messages) if messages else None,
            tools=raw.get("tools"),
            turns=turns,
            json=dict(raw.get("json") or {}),
        )

    def holds(self, view: RequestView) -> bool:
        if self.endpoint and view.endpoint not in self.endpoint:
            return False
        if self.model is not None and not _model_matches(self.model, view.model):
            return False
        if self.tools is not None and self.tools != view.tools:
            return False
        if self.turns is not None:
            low, high = self.turns
            if (low is not None and view.turns < low) or (high is not None and view.turns > high):
                return False
        if self.messages is not None and not _same_conversation(self.messages, view.messages):
            return False
        if self.last_user is not None and not _text_matches(self.last_user, view.last_user):
            return False
        return all(_at_path(view.body, path) == value for path, value in self.json.items())


def _model_matches(pattern: str, model: str) -> bool:
    def full(name: str) -> str:
        name = name.strip().casefold()
        return name if ":" in name else f"{name}:latest"

    return fnmatch.fnmatchcase(full(model), full(pattern)) or fnmatch.fnmatchcase(
        model.casefold(), pattern.casefold()
    )


def _same_conversation(
    expected: tuple[tuple[str, str], ...], actual: tuple[tuple[str, str], ...]
) -> bool:
    # Newest first: a conversation that differs from a script mostly differs at its end.
    return len(expected) == len(actual) and all(
        role.lower() == got_role and _normal(text) == _normal(got_text)
        for (role, text), (got_role, got_text) in zip(
            reversed(expected), reversed(actual), strict=True
        )
    )


def _text_matches(condition: dict[str, str], text: str) -> bool:
    if "equals" in condition and _normal(condition["equals"]) != _normal(text):
        return False
    if "contains" in condition and condition["contains"].casefold() not in text.casefold():
        return False
    return not ("regex" in condition and re.search(condition["regex"], text) is None)


_MISSING = object()
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _at_path(body: Any, path: str) -> Any:
    """``options.temperature``, ``messages[0].role`` (a leading ``$.`` is allowed)."""
    value = body
    for name, index in _PATH_PART.findall(path.removeprefix("$").lstrip(".")):
        if index:
            if not isinstance(value, list) or int(index) >= len(value):
                return _MISSING
            value = value[int(index)]
        else:
            if not isinstance(value, dict) or name not in value:
                return _MISSING
            value = value[name]
    return value


@dataclass(frozen=True)
class Answer:
    """What a rule makes the model emit, and how the answer is delivered."""

    content: str | None = None
    reasoning: str | None = None
    json: Any = _MISSING
    tool_calls: tuple[ToolCall, ...] = ()
    error: tuple[int, str] | None = None
    delay: float = 0.0
    cut_after: int | None = None
    chunking: str | int | None = None

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Answer:
        error = raw.get("error")
        chunking = raw.get("chunking")
        return cls(
            content=raw.get("content"),
            reasoning=raw.get("reasoning"),
            json=raw.get("json", _MISSING),
            tool_calls=tuple(
                ToolCall(name=c["name"], arguments=dict(c.get("arguments") or {}))
                for c in raw.get("tool_calls") or ()
            ),
            error=(error["status"], error["message"]) if error else None,
            delay=float(raw.get("delay") or 0),
            cut_after=raw.get("cut_after"),
            chunking=None if chunking == "token" else chunking,
        )

    @property
    def emits_output(self) -> bool:
        return (
            self.content is not None
            or self.json is not _MISSING
            or bool(self.tool_calls)
            or self.reasoning is not None
        )

    def output(self, *, reasoning: str = "") -> Output:
        """The model's output: the rule's parts; reasoning the model's own unless given."""
        from mockserver.engine.structured import emitted_text

        content = self.content or ""
        if self.json is not _MISSING:
            content = emitted_text(self.json)
        return Output(
            content=content,
            reasoning=self.reasoning if self.reasoning is not None else reasoning,
            tool_calls=self.tool_calls,
            chunking=self.chunking,
        )


@dataclass
class Rule:
    match: Match
    answer: Answer
    name: str = ""
    times: int | None = None  # None: every time
    fired: int = 0

    @classmethod
    def parse(cls, raw: dict[str, Any], index: int) -> Rule:
        return cls(
            match=Match.parse(raw.get("match") or {}),
            answer=Answer.parse(raw["reply"]),
            name=str(raw.get("name") or f"rule {index + 1}"),
            times=raw.get("times"),
        )


class Scenario:
    """Ordered rules (a test's own first, then the file's); first match wins, thread-safe."""

    def __init__(self, rules: list[Rule] | None = None, *, strict: bool = False) -> None:
        self.rules = list(rules or [])
        self.strict = strict
        self._added: list[Rule] = []
        self._lock = threading.Lock()

    @classmethod
    def builtin(cls) -> Scenario:
        text = files("mockserver.engine").joinpath("scripts.json").read_text("utf-8")
        # shipped and checked against the schema by the tests: no jsonschema on the first reply
        return cls(parse_rules(json.loads(text), "scripts.json", checked=False))

    @classmethod
    def load(cls, path: str | Path, *, strict: bool = False) -> Scenario:
        return cls(read_rules(Path(path)), strict=strict)

    @property
    def active(self) -> bool:
        return bool(self.rules or self._added or self.strict)

    def match(self, view: RequestView) -> Rule | None:
        with self._lock:
            for rule in [*self._added, *self.rules]:
                if rule.times is not None and rule.fired >= rule.times:
                    continue
                if rule.match.holds(view):
                    rule.fired += 1
                    return rule
        return None

    def builtin_rule(self, messages: tuple[ChatMessage, ...]) -> Rule | None:
        """The built-in script for this conversation (no ``times``, nothing consumed). A rule
        for a whole conversation of another length cannot hold: it is not tried (every reply
        asks, and nearly every conversation is one no script was written for)."""
        count = len(messages)
        rules = [
            rule
            for rule in self.rules
            if rule.match.messages is None or len(rule.match.messages) == count
        ]
        if not rules:
            return None
        view = RequestView.from_messages(messages)
        return next((r for r in rules if r.match.holds(view)), None)

    def add(self, rules: list[dict[str, Any]] | dict[str, Any]) -> list[Rule]:
        """Add rules (the scenario file's shape) in front of the others; checked as a file is."""
        document = {"rules": rules if isinstance(rules, list) else [rules]}
        parsed = parse_rules(document, "rules")
        with self._lock:
            self._added[:0] = parsed
        return parsed

    def clear_added(self) -> None:
        with self._lock:
            self._added.clear()

    @contextlib.contextmanager
    def rules_added(self, rules: list[dict[str, Any]] | dict[str, Any]) -> Iterator[list[Rule]]:
        parsed = self.add(rules)
        try:
            yield parsed
        finally:
            with self._lock:
                self._added = [rule for rule in self._added if rule not in parsed]


# --- reading files ------------------------------------------------------------------------------


def read_rules(path: Path) -> list[Rule]:
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file ({exc.strerror})") from None
    import yaml

    if path.suffix.lower() == ".json":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScenarioError(f"{path}, line {exc.lineno}: not JSON ({exc.msg})") from None
    else:
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f", line {mark.line + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise ScenarioError(f"{path}{line}: not YAML ({problem})") from None
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        node = None
    return parse_rules(document, str(path), node)


def parse_rules(document: Any, where: str, node: Any = None, *, checked: bool = True) -> list[Rule]:
    """Validate against the schema (the first problem, with its line) and build the rules."""
    if checked:
        import jsonschema

        validator = jsonschema.Draft202012Validator(schema())
        problem = jsonschema.exceptions.best_match(validator.iter_errors(document))
        if problem is not None:
            path = list(problem.absolute_path)
            raise ScenarioError(f"{where}{_line(node, path)}: {_say(path)}{problem.message}")
    rules = []
    for index, raw in enumerate(document["rules"]):
        try:
            rules.append(Rule.parse(raw, index))
        except re.error as exc:
            path = ["rules", index, "match", "last_user", "regex"]
            raise ScenarioError(f"{where}{_line(node, path)}: not a regex ({exc})") from None
    return rules


def _say(path: list[Any]) -> str:
    return ("at " + ".".join(str(p) for p in path) + ": ") if path else ""


def _line(node: Any, path: list[Any]) -> str:
    """The line of the YAML/JSON node at ``path`` (the deepest one found)."""
    import yaml

    found = node
    for part in path:
        if isinstance(found, yaml.MappingNode):
            found = next((v for k, v in found.value if k.value == part), found)
            if found is None:
                break
        elif isinstance(found, yaml.SequenceNode) and isinstance(part, int):
            found = found.value[part] if part < len(found.value) else found
        else:
            break
    return f", line {found.start_mark.line + 1}" if found is not None else ""


# --- serving ------------------------------------------------------------------------------------

_answer: ContextVar[Answer | None] = ContextVar("portway_answer", default=None)
_rule_name: ContextVar[str] = ContextVar("portway_rule", default="")


def current_answer() -> Answer | None:
    """The answer of the rule serving this request, if one does."""
    return _answer.get()


def current_rule() -> str:
    return _rule_name.get()


class _StreamCut(Exception):
    pass


class PlayScenario:
    """The ASGI layer that matches each generation request against the scenario's rules."""

    def __init__(self, app: ASGIApp, scenario: Scenario) -> None:
        self.app = app
        self.scenario = scenario

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            not self.scenario.active
            or scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] not in GENERATION_PATHS
        ):
            await self.app(scope, receive, send)
            return
        from mockserver.guards import send_error
        from mockserver.journal import note

        body, complete = await read_body(receive)
        if not complete:  # the client went away mid-body: the app sees its disconnect
            await self.app(scope, replaying(body, complete, receive), send)
            return
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        view = RequestView.from_body(scope["path"], parsed)
        rule = self.scenario.match(view)
        if rule is None:
            if self.scenario.strict:
                note("scenario:no rule (strict)")
                await send_error(send, scope["path"], 404, NO_RULE)
                return
            await self.app(scope, replaying(body, complete, receive), send)
            return
        answer = rule.answer
        note(f"scenario:{rule.name}")
        rule_token = _rule_name.set(rule.name)
        try:
            if answer.delay:
                await asyncio.sleep(answer.delay)
            if answer.error is not None:
                await send_error(send, scope["path"], *answer.error)
                return
            token = _answer.set(answer)
            try:
                if answer.cut_after is not None:
                    send = _cutting(send, answer.cut_after)
                await self.app(scope, replaying(body, complete, receive), send)
            except _StreamCut:
                return
            finally:
                _answer.reset(token)
        finally:
            _rule_name.reset(rule_token)


def _cutting(send: Send, after: int) -> Send:
    """Drop the connection after ``after`` streamed chunks (no finish chunk, no [DONE])."""
    frames = 0
    streaming = False

    async def cutting_send(message: Message) -> None:
        nonlocal frames, streaming
        if message["type"] == "http.response.start":
            kind = dict(message.get("headers", [])).get(b"content-type", b"")
            streaming = kind.startswith((b"text/event-stream", b"application/x-ndjson"))
        elif message["type"] == "http.response.body" and streaming and message.get("body"):
            if frames >= after:
                raise _StreamCut
            frames += 1
        await send(message)

    return cutting_send
