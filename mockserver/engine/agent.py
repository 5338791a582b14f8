"""Tool calls: the fake's model as a small, deterministic agent.

The rules, all of them (README "The fake's model"):

1. The request offers ``tools`` and its last message is the user's: the model calls the tool
   whose name and description share the most words with the user's message (a word of the
   name counts double; ties and no overlap at all: the earliest tool). Its arguments come
   from :mod:`mockserver.engine.structured` over the tool's ``parameters`` schema, filled
   from the conversation where a value is there (a city the user named, a number they wrote).
2. Parallel calls, only for the families whose model writes several calls in one turn
   (``PARALLEL_FAMILIES``; what decides it is below). The user's message is cut into clauses
   (at ``,``, ``;``, "and", "then", "also", "plus", "as well as"; a piece that fits no tool
   stays with the clause before it); when at least two clauses each fit an offered tool
   (share a word with its name or description) and not all the same one, the model
   makes one call per fitting clause, in the user's order, each with arguments from its own
   clause ("the weather in Paris and the time in Tokyo" -> get_weather(Paris), get_time(Tokyo)).
   Otherwise, when the chosen tool takes one required city-like parameter and the user names
   several cities, one call per city ("weather in Paris and in Tokyo" -> two calls). A clause
   that names several cities for such a tool gets one call per city too.
3. The last message is a tool result: if a tool offered names itself the final answer (its name
   or description says "final", as pydantic-ai's ``final_result`` does: "The final response
   which ends this conversation") and was not called since the user's message, the model
   calls it, its arguments drawn from the conversation and the results; otherwise it answers
   in text that uses the results of the calls since the last user message ("get_weather
   says: temperature 21, ..."). In rule 1, such a tool is only chosen when no other is
   offered.
4. Anything else (no tools, a model without the capability, an assistant prefill): no call.

``tool_choice`` is ignored, as Ollama ignores it on ``/v1/chat/completions``
(``openai/openai.go`` has no such field; ``ollama-wire-spec.md`` §5).

Which families write several calls in one turn. Ollama's generic parser (``tools/tools.go`` at
the emulated commit) keeps reading calls after the tag it takes from the template
(``tools/template.go``: ``<tool_call>`` for qwen2.5, ``[TOOL_CALLS] [`` for mistral, ``{`` for
llama3.x), so the parser is not the limit; the model's own format is:

- qwen2.5: yes. Its system prompt says "You may call one or more functions", and its own
  chat template writes one ``<tool_call>`` block per call (``qwen.emitted_tool_calls``).
- mistral: yes. ``[TOOL_CALLS]`` is followed by a JSON list of calls (mistral-common's
  ``_encode_tool_calls_in_assistant_message``; ``mistral.emitted_tool_calls``).
- llama3.1 / llama3.2: no. The JSON tool-calling format is one object per turn: Meta's own
  chat templates for Llama 3.1 and 3.2 Instruct refuse an assistant turn with more than one
  call ("This model only supports single tool-calls at once!"), so the model never saw two.
  (Ollama's template would print several, one per line, and its ``{`` parser would read them.)
- gpt-oss: no. A harmony call is one commentary message that ends with ``<|call|>``, a stop
  token: generation ends after one call (``harmony/harmonyparser.go``: "tool calls always
  happen one at a time, and always at the end of a message"; only one is drained per turn).
- gemma3: no tools at all.

In a stream Ollama's parser hands each call on in the chunk where its JSON closes, so several
calls stream as several chunks, one call each, ``function.index`` 0, 1, ... (the parser's
count), each with its own ``call_`` id (``server/routes.go`` ChatHandler); ``/v1`` turns each
chunk into one ``delta.tool_calls`` with that ``index`` (``middleware/openai.go``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from mockserver.engine.chat import Message, ToolCall
from mockserver.engine.structured import Context, SchemaError, value_for

PARALLEL_FAMILIES = frozenset({"qwen2.5", "mistral", "qwen3.5"})  # qwen3.5: llama-server twin
_CITY_WORDS = ("city", "location", "place", "town", "destination")


def wants_tool(messages: tuple[Message, ...], tools: tuple[dict[str, Any], ...]) -> bool:
    return bool(tools) and bool(messages) and messages[-1].role == "user"


def answers_tool_result(messages: tuple[Message, ...]) -> bool:
    return bool(messages) and messages[-1].role == "tool"


def final_tool(
    messages: tuple[Message, ...], tools: tuple[dict[str, Any], ...]
) -> dict[str, Any] | None:
    """Rule 3: an offered final-answer tool not yet called since the last user message."""
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    called = {c.name for m in messages[last_user + 1 :] for c in m.tool_calls}
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if (
            isinstance(function, dict)
            and _is_final(function)
            and function.get("name") not in called
        ):
            return function
    return None


def call(function: dict[str, Any], context: Context) -> tuple[ToolCall, ...]:
    """One call of ``function``, its arguments from the conversation."""
    return (
        ToolCall(
            name=str(function.get("name") or ""),
            arguments=_arguments(function.get("parameters"), context),
        ),
    )


_FINAL = re.compile(r"\bfinal\b|final_|ends this conversation", re.IGNORECASE)


def _is_final(function: dict[str, Any]) -> bool:
    return bool(
        _FINAL.search(str(function.get("name") or ""))
        or _FINAL.search(str(function.get("description") or ""))
    )


def tool_calls(
    messages: tuple[Message, ...],
    tools: tuple[dict[str, Any], ...],
    context: Context,
    *,
    family: str,
) -> tuple[ToolCall, ...]:
    """The calls the model makes for the user's last message (rules 1 and 2)."""
    if family in PARALLEL_FAMILIES:
        fitting = _clauses_with_tools(context.last_user, tools)
        if len(fitting) > 1 and len({id(function) for _, function in fitting}) > 1:
            return tuple(
                call
                for clause, function in fitting
                for call in _calls_of(function, _clause_context(clause), parallel=True)
            )
    return _calls_of(best_tool(context.last_user, tools), context, family in PARALLEL_FAMILIES)


def _calls_of(function: dict[str, Any], context: Context, parallel: bool) -> tuple[ToolCall, ...]:
    """One call of ``function``, or one per city (rule 2) where the family makes several."""
    name = str(function.get("name") or "")
    parameters = function.get("parameters")
    arguments = _arguments(parameters, context)
    cities = context.cities
    parameter = _single_city_parameter(parameters)
    if parallel and parameter and len(cities) > 1:
        return tuple(
            ToolCall(name=name, arguments={**arguments, parameter: city}) for city in cities
        )
    return (ToolCall(name=name, arguments=arguments),)


_CLAUSE_BREAK = re.compile(r"([,;]|\b(?:and|then|also|plus|as well as)\b)", re.IGNORECASE)
_CONNECTIVE = re.compile(r"^[\W_]*(?:(?:and|then|also|plus|as well as)\b)?\s*", re.IGNORECASE)


def _clauses_with_tools(
    text: str, tools: tuple[dict[str, Any], ...]
) -> list[tuple[str, dict[str, Any]]]:
    """Rule 2: the clauses of ``text`` that fit an offered tool, with that tool, in order. A
    piece that fits no tool belongs to the clause before it ("weather in Oslo, Rome and Lisbon"
    is one clause), or to the first one when it comes before any."""
    pieces = _CLAUSE_BREAK.split(text)
    fragments = [pieces[0]] + [pieces[i] + pieces[i + 1] for i in range(1, len(pieces) - 1, 2)]
    clauses: list[list[Any]] = []
    pending = ""
    for fragment in fragments:
        function, score = _best(fragment, tools)
        if score > 0:
            clauses.append([pending + fragment, function])
            pending = ""
        elif clauses:
            clauses[-1][0] += fragment
        else:
            pending += fragment
    return [(_CONNECTIVE.sub("", clause).strip(), function) for clause, function in clauses]


def _clause_context(clause: str) -> Context:
    """Arguments of a clause's call come from that clause alone (its city, its numbers)."""
    return Context(text=clause, last_user=clause, instructions=clause)


def best_tool(text: str, tools: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """The offered function that shares the most words with ``text`` (first on ties)."""
    return _best(text, tools)[0]


def _best(text: str, tools: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], int]:
    """:func:`best_tool` and its score (0: no word in common)."""
    wanted = _words(text)
    best: dict[str, Any] = {}
    best_score = -1
    working = [t for t in tools if isinstance(t, dict) and not _is_final(t.get("function") or {})]
    for tool in working or tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict):
            continue
        name_words = _words(re.sub(r"([a-z])([A-Z])", r"\1 \2", str(function.get("name") or "")))
        description = _words(str(function.get("description") or ""))
        score = 2 * len(wanted & name_words) + len(wanted & description)
        if score > best_score:
            best, best_score = function, score
    return best, max(best_score, 0)


def answer_from_results(messages: tuple[Message, ...]) -> str:
    """Rule 3: a text answer built from the tool results after the last user message."""
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    calls = [c for m in messages[last_user + 1 :] if m.role == "assistant" for c in m.tool_calls]
    results = [m for m in messages[last_user + 1 :] if m.role == "tool"]
    parts = []
    for index, result in enumerate(results):
        name = result.tool_name or (calls[index].name if index < len(calls) else "the tool")
        parts.append(f"{name} says: {_describe(result.content)}")
    question = messages[last_user].content.strip() if last_user >= 0 else ""
    lead = f'To answer "{_short(question)}": ' if question else ""
    return lead + "; ".join(parts) + "."


def _arguments(parameters: Any, context: Context) -> dict[str, Any]:
    """Schema-valid arguments; for a schema that is not valid JSON Schema (Ollama calls such a
    tool all the same), a value for each property that has a usable schema."""
    if not isinstance(parameters, dict):
        return {}
    properties = parameters.get("properties")
    if not isinstance(properties, dict) or not properties:
        return {}
    try:
        value = value_for(parameters, context)
    except SchemaError:
        value = {}
        for key, spec in properties.items():
            try:
                value[key] = value_for(spec if isinstance(spec, dict) else {}, context)
            except SchemaError:
                continue
    return value if isinstance(value, dict) else {}


def _single_city_parameter(parameters: Any) -> str | None:
    if not isinstance(parameters, dict):
        return None
    required = parameters.get("required") or []
    properties = parameters.get("properties") or {}
    if not isinstance(required, list) or not isinstance(properties, dict):
        return None
    cities = [
        key
        for key in required
        if isinstance(key, str)
        and any(w in key.casefold() for w in _CITY_WORDS)
        and isinstance(properties.get(key), dict)
        and properties[key].get("type", "string") == "string"
        and "enum" not in properties[key]
    ]
    return cities[0] if len(cities) == 1 else None


def _words(text: str) -> set[str]:
    words = re.findall(r"[a-z0-9]+", text.casefold().replace("_", " "))
    return {w.rstrip("s") for w in words if len(w) > 2 and w not in _IGNORED}


_IGNORED = frozenset({"the", "and", "for", "with", "what", "get", "this", "that", "from", "you"})


def _describe(content: str) -> str:
    try:
        value = json.loads(content)
    except ValueError:
        return _short(content.strip(), 300) or "nothing"
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {_scalar(v)}" for k, v in value.items()) or "{}"
    if isinstance(value, list):
        return ", ".join(_scalar(v) for v in value) or "nothing"
    return _scalar(value)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
