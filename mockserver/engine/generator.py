"""Deterministic replies: what the fake's model "says".

Replies are a pure function of the request, decided in this order:

1. A scenario rule that matched this request (``--scenario``, or a test's rules through the
   pytest plugin; :mod:`mockserver.scenarios`) says what the model emits.
2. Tools offered and a user turn: a tool call; a tool result last: an answer that uses it
   (:mod:`mockserver.engine.agent`).
3. A built-in script (``scripts.json``): natural answers to the lab's own conversations, each a
   rule that matches one whole conversation, so it never answers another one.
3b. A question about what the user said ("what is my X?"), or a request to summarise the
   conversation: answered from the prompt the server kept (:mod:`mockserver.engine.recall`).
4. Otherwise a reply that reports what the server received in *this* request, which is the
   stateless contract made visible, and is recognisably the fake's.

With a ``format`` (native) / ``response_format`` (``/v1``), the content is JSON instead
(:mod:`mockserver.engine.structured`), built from the same conversation and the reply above.
Reasoning text (for models that think) is likewise derived from the request, and grows with
the reasoning effort.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from mockserver.engine import agent, recall, structured
from mockserver.engine.chat import Message
from mockserver.engine.families import Output
from mockserver.scenarios import Scenario, current_answer, current_rule


@dataclass(frozen=True, slots=True)
class Situation:
    """What the reply may depend on: the request as the server saw it."""

    model: str
    messages: tuple[Message, ...]
    prompt_tokens: int
    thinking: str | None  # None = no reasoning; otherwise the effort level
    tools: tuple[dict[str, Any], ...] = ()
    format: Any = None  # the request's format: None, "json" or a JSON schema (parsed)
    family: str = ""
    seen: str = ""  # the rendered prompt the server kept (after truncation): what is "read"


@cache
def _scripts() -> Any:
    return Scenario.builtin()


@cache
def _longest_script_words() -> int:
    return max((len(script["prompt"].split()) for script in _scripts()), default=0)


def reply(situation: Situation) -> Output:
    last_user = next((m.content for m in reversed(situation.messages) if m.role == "user"), "")
    turns = sum(1 for m in situation.messages if m.role in ("user", "assistant"))
    reasoning = _reasoning(situation, last_user, turns) if situation.thinking else ""
    scripted = current_answer()
    if scripted is not None and scripted.emits_output:
        return replace(scripted.output(reasoning=reasoning), source=f"scenario:{current_rule()}")
    output = _model_output(situation, last_user, reasoning)
    if scripted is not None:  # a rule that only shapes the stream (chunking)
        output = replace(output, chunking=scripted.chunking, source=f"scenario:{current_rule()}")
    return output


def _model_output(situation: Situation, last_user: str, reasoning: str) -> Output:
    """The built-in model: the agent's rules, the scripts, the report; then the format."""
    messages, tools = situation.messages, situation.tools
    if agent.answers_tool_result(messages):
        content, source = agent.answer_from_results(messages), "agent:tool-result"
        final = agent.final_tool(messages, tools)
        if final is not None:
            calls = agent.call(final, _context(situation, last_user, content))
            return Output("", reasoning, calls, source="agent:final-tool-call")
    elif agent.wants_tool(messages, tools):
        context = _context(situation, last_user, "")
        calls = agent.tool_calls(messages, tools, context, family=situation.family)
        return Output("", reasoning, calls, source="agent:tool-call")
    else:
        script = _scripts().builtin_rule(messages)
        recalled = recall.answer(messages, situation.seen) if script is None else None
        if script is not None:
            content, source = script.answer.content or "", f"script:{script.name}"
        elif recalled is not None:
            content, source = recalled, "recall"
        else:
            content, source = _report(situation, last_user), "report"
    if situation.format is None:
        return Output(content, reasoning, source=source)
    value = structured.value_for(situation.format, _context(situation, last_user, content))
    return Output(structured.emitted_text(value), reasoning, source=f"{source}+format")


def _context(situation: Situation, last_user: str, plain_reply: str) -> structured.Context:
    messages = situation.messages
    return structured.Context(
        text="\n".join(m.content for m in messages if m.role in ("user", "tool")),
        last_user=last_user,
        plain_reply=plain_reply,
        instructions="\n".join(m.content for m in messages if m.role in ("system", "user")),
    )


def _report(situation: Situation, last_user: str) -> str:
    count = len(situation.messages)
    quoted = last_user if len(last_user) <= 200 else last_user[:197] + "..."
    return (
        f"This request reached me with {count} message{'s' if count != 1 else ''} for "
        f"{situation.model}, {situation.prompt_tokens} prompt tokens once rendered. "
        f'Your last message was: "{quoted}". '
        "I remember nothing between requests: whatever history you want me to use, send it again."
    )


_EFFORT_SENTENCES = {
    "low": 1,
    "medium": 2,
    "high": 4,
}


def _reasoning(situation: Situation, last_user: str, turns: int) -> str:
    topic = last_user.strip().partition("\n")[0][:80] or "an empty message"
    sentences = [
        f'The user asks: "{topic}".',
        f"The request carries {turns} conversation turn{'s' if turns != 1 else ''}; "
        "that is all the context I have.",
        "No earlier requests are visible to me, so I answer from this history alone.",
        "Keep the answer short and direct, and mention nothing that is not in the request.",
    ]
    return " ".join(sentences[: _EFFORT_SENTENCES.get(situation.thinking or "medium", 2)])
