"""Tool calls on the llama-server twin: what the model emits and how ``--jinja`` parses it.

From ggml-org/llama.cpp (read in the llama.cpp tree the PyPI ``llama-cpp-python`` 0.3.36 sdist
vendors): ``tools/server/server-common.cpp`` ``oaicompat_chat_params_parse`` reads ``tools``,
``tool_choice`` (a string: ``auto``, ``none`` or ``required``, else 400 ``Invalid tool_choice``;
a non-string such as OpenAI's ``{"type": "function", ...}`` is not a string, so ``json_value``
falls back to ``auto``) and ``parallel_tool_calls`` (default: the template's
``supports_parallel_tool_calls`` capability, ``common/jinja/caps.cpp``: whether the template
renders a second call of one message). The model's output is then parsed per format:

- gpt-oss (``common/parsers/gpt-oss.cpp``): Harmony, one call per answer whatever
  ``parallel_tool_calls`` says, the recipient in the role header:
  ``<|start|>assistant to=functions.NAME<|channel|>commentary json<|message|>ARGS<|call|>``;
  ``ARGS`` is the call's JSON as the model wrote it (the template writes it with ``tojson``).
- Qwen3.5 (``common/parsers/qwen3-coder.cpp``, picked because its template has ``<tool_call>``,
  ``<function=`` and ``<parameter=``): XML calls
  ``<tool_call>\\n<function=NAME>\\n<parameter=K>\\nV\\n</parameter>\\n</function>\\n</tool_call>``,
  several only with ``parallel_tool_calls``; the arguments are rebuilt as compact JSON by
  ``common/chat-peg-parser.cpp`` (a string value quoted and escaped, any other value's JSON
  as written).

``tool_choice: none`` keeps the tools in the prompt (the template still lists them) but no
call is parsed; ``required`` makes the grammar force one, so the twin's model always calls.
The answer's message has ``content: ""`` and ``tool_calls`` of ``{"type": "function",
"function": {"name", "arguments"}, "id"}`` (``common_chat_msg::to_json_oaicompat``; ids are
``gen_tool_call_id``: 32 random [0-9A-Za-z]); ``finish_reason`` is ``tool_calls`` when the
model stopped by itself (``length`` when ``max_tokens`` cut it). A stream carries each call
as ``common_chat_msg_diff`` deltas: the call's ``index``, ``id``, ``type`` and ``name`` once
its header is parsed, then its ``arguments`` as they grow.
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass
from typing import Any

from mockserver.engine.chat import ToolCall

_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
CHOICES = ("auto", "none", "required")


class ToolChoiceError(ValueError):
    """``common_chat_tool_choice_parse_oaicompat``: an unknown string (400)."""


@dataclass(frozen=True, slots=True)
class ToolRequest:
    tools: tuple[dict[str, Any], ...]
    choice: str  # auto | none | required
    parallel: bool

    @property
    def parses_calls(self) -> bool:
        return bool(self.tools) and self.choice != "none"


def tool_request(body: dict[str, Any], *, template_parallel: bool) -> ToolRequest:
    tools = body.get("tools")
    listed = tuple(t for t in tools if isinstance(t, dict)) if isinstance(tools, list) else ()
    choice = body.get("tool_choice", "auto")
    if not isinstance(choice, str):
        choice = "auto"  # json_value: a value of another type is the default
    if choice not in CHOICES:
        raise ToolChoiceError(f"Invalid tool_choice: {choice}")
    parallel = body.get("parallel_tool_calls", template_parallel)
    if not isinstance(parallel, bool):
        parallel = template_parallel
    return ToolRequest(listed, choice, parallel)


def call_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(32))


def _tojson(value: Any) -> str:
    """The template's ``tojson`` (``", "`` and ``": "`` separators, no ASCII escaping)."""
    return json.dumps(value, ensure_ascii=False)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- what the model emits ---------------------------------------------------------------------


def harmony_call(call: ToolCall) -> tuple[str, str]:
    """The call's header and arguments as gpt-oss writes them (its template's own rendering)."""
    header = f"<|start|>assistant to=functions.{call.name}<|channel|>commentary json<|message|>"
    return header, _tojson(call.arguments)


def xml_arguments(call: ToolCall) -> str:
    """The arguments string llama.cpp rebuilds from the XML parameters (compact JSON)."""
    members = []
    for key, value in call.arguments.items():
        text = _compact(value) if isinstance(value, str) else _tojson(value)
        members.append(f"{_compact(key)}:{text}")
    return "{" + ",".join(members) + "}"


# --- the calls as a stream parses them -------------------------------------------------------


@dataclass(slots=True)
class Parsed:
    """A call as far as the parser has read it (``common_chat_tool_call``)."""

    name: str = ""
    arguments: str = ""


class CallText:
    """The tool-call text the model emits and what a parser has of each call after n of its
    characters: the name once the call's header is read, with ``{``, then the arguments as
    they grow (a string value character by character, any other value once complete), ``}``
    once the call closes. At the end, each call's arguments are the final arguments string."""

    def __init__(self, calls: tuple[ToolCall, ...], harmony: bool) -> None:
        self.calls = calls
        self._events: list[tuple[int, int, str, str]] = []  # (chars read, call, field, text)
        parts: list[str] = []
        self.arguments: list[str] = []
        for index, call in enumerate(calls):
            offset = sum(map(len, parts))
            if harmony:
                header, args = harmony_call(call)
                parts += [header, args]
                self._event(offset + len(header), index, "name", call.name)
                self._event(offset + len(header), index, "arguments", "{")
                for n, _ in enumerate(args[1:], start=2):
                    self._event(offset + len(header) + n, index, "arguments", args[n - 1])
                self.arguments.append(args)
            else:
                parts.append(self._xml(call, index, offset))
                self.arguments.append(xml_arguments(call))
        self.text = "".join(parts)

    def _event(self, at: int, index: int, field: str, text: str) -> None:
        self._events.append((at, index, field, text))

    def _xml(self, call: ToolCall, index: int, offset: int) -> str:
        text = "" if index == 0 else "\n"
        text += f"<tool_call>\n<function={call.name}>\n"
        self._event(offset + len(text), index, "name", call.name)
        self._event(offset + len(text), index, "arguments", "{")
        for count, (key, value) in enumerate(call.arguments.items()):
            text += f"<parameter={key}>\n"
            self._event(offset + len(text), index, "arguments",
                        ("," if count else "") + _compact(key) + ":")  # fmt: skip
            if isinstance(value, str):
                for n, char in enumerate(value):
                    piece = ('"' if n == 0 else "") + _compact(char)[1:-1]
                    self._event(offset + len(text) + n + 1, index, "arguments", piece)
                text += value + _XML_CLOSE
                self._event(offset + len(text), index, "arguments", '"' if value else '""')
            else:
                text += _tojson(value) + _XML_CLOSE
                self._event(offset + len(text), index, "arguments", _tojson(value))
        text += "</function>"
        self._event(offset + len(text), index, "arguments", "}")
        return text + "\n</tool_call>"

    def parsed(self, n_chars: int) -> list[Parsed]:
        calls: list[Parsed] = []
        for at, index, field, text in self._events:
            if at > n_chars:
                break
            while len(calls) <= index:
                calls.append(Parsed())
            setattr(calls[index], field, getattr(calls[index], field) + text)
        return calls


_XML_CLOSE = "\n</parameter>\n"
