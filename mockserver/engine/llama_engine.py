"""The llama-server twin's engine: one GGUF model, its slots, its template, its counts.

What ``llama-server -m MODEL --jinja --reasoning-format auto`` does with a chat request, read
from ggml-org/llama.cpp (``tools/server/server-common.cpp`` ``oaicompat_chat_params_parse``,
``common/chat.cpp`` ``common_chat_templates_apply_jinja``, ``common/parsers/gpt-oss.cpp``,
``tools/server/server-context.cpp``): the messages are rendered with the model's own Jinja
template (for gpt-oss, ``reasoning_content`` of earlier turns is passed as ``thinking``), the
prompt is tokenized with ``add_special`` and ``parse_special``, a prompt of at least the slot's
context is refused (400 ``exceed_context_size_error``: no truncation, unlike Ollama), the task
takes a slot (``prefix_cache.SlotPool``) and the model's output is split into
``reasoning_content`` and ``content`` as ``--reasoning-format auto`` does.

The request's ``model`` is never looked at: one process, one model (``meta->model_name`` is
what responses report). The answer is ``generator.reply`` of the request's messages, the same
deterministic "model" the Ollama flavor speaks with.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from mockserver.batching import Batcher, Schedule
from mockserver.engine import agent, generator, jinja_templates, llama_tools, structured
from mockserver.engine.chat import Message, ToolCall
from mockserver.engine.llama_models import GgufModel
from mockserver.engine.prefix_cache import SlotPool
from mockserver.engine.tokenizers import _pieces_from_bytes


class LlamaError(Exception):
    """An error llama-server answers with ``format_error_response`` (status from the type)."""

    STATUS: ClassVar[dict[str, int]] = {
        "invalid_request_error": 400,
        "authentication_error": 401,
        "not_found_error": 404,
        "server_error": 500,
        "not_supported_error": 501,
        "unavailable_error": 503,
        "exceed_context_size_error": 400,
    }

    def __init__(self, message: str, kind: str = "invalid_request_error", **extra: int) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.extra = extra

    @property
    def status(self) -> int:
        return self.STATUS[self.kind]


@dataclass(frozen=True, slots=True)
class Piece:
    """One streamed token's share of the reply (either may be empty: a control token)."""

    reasoning: str = ""
    content: str = ""
    tool: int = 0  # characters of tool-call text in this token


@dataclass(slots=True)
class Generation:
    prompt: str
    prompt_ids: list[int]
    generated_ids: list[int]
    pieces: list[Piece]
    reasoning: str
    content: str
    finish_reason: str
    calls: llama_tools.CallText | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # the message's, with ids
    cached: int = 0
    slot_id: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def completion_tokens(self) -> int:
        return len(self.generated_ids)


def _text(content: Any) -> str:
    """Message content as the template receives it: text parts joined by newlines
    (``common_chat_msg::to_json_oaicompat`` with concatenated typed text)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    raise LlamaError("Invalid 'content' type")


class LlamaEngine:
    def __init__(
        self,
        model: GgufModel,
        *,
        alias: str,
        n_ctx: int = 0,
        n_parallel: int = 4,
        kv_unified: bool = True,
        current_date: str | None = None,
        prefill_tps: float | None = None,
        decode_tps: float | None = None,
    ) -> None:
        self.model = model
        self.alias = alias
        self.n_ctx = n_ctx or model.n_ctx_train
        self.n_parallel = n_parallel
        per_slot = self.n_ctx if kv_unified else self.n_ctx // n_parallel
        self.slot_n_ctx = min(per_slot, model.n_ctx_train)  # ``n_ctx_slot()``
        self.pool = SlotPool(n_parallel, self.slot_n_ctx, model.memory())
        self.now = datetime.fromisoformat(current_date) if current_date else None
        self.prefill_tps = prefill_tps
        self.decode_tps = decode_tps
        # With a latency profile: continuous batching over the slots (mockserver/batching.py).
        self.batcher = (
            Batcher(Schedule(prefill_tps, decode_tps, n_parallel))
            if prefill_tps and decode_tps
            else None
        )
        self.started = time.time()
        self.totals = {
            "prompt": 0,
            "cached": 0,
            "prompt_s": 0.0,
            "predicted": 0,
            "predicted_s": 0.0,
        }
        self.n_decode = 0
        self.n_tokens_max = 0

    # --- the prompt ------------------------------------------------------------------------

    def template_messages(self, messages: Any) -> list[dict[str, Any]]:
        if messages is None:
            raise LlamaError("'messages' is required")
        if not isinstance(messages, list):
            raise LlamaError("Expected 'messages' to be an array")
        rendered: list[dict[str, Any]] = []
        for message in messages:
            if not isinstance(message, dict):
                raise LlamaError("Expected 'messages' to be an array of objects")
            role = str(message.get("role", ""))
            if role != "assistant" and "content" not in message:
                raise LlamaError("All non-assistant messages must contain 'content'")
            content = message.get("content")
            item: dict[str, Any] = {"role": role, "content": _text(content)}
            if self.model.typed_content and isinstance(content, list):
                # a template that reads typed parts gets them as parts (render_message_to_json)
                item["content"] = [{"type": "text", "text": str(part.get("text", ""))}
                                   for part in content if isinstance(part, dict)]  # fmt: skip
            reasoning = message.get("reasoning_content")
            if isinstance(reasoning, str):
                item["reasoning_content"] = reasoning
                if self.model.thinking == "harmony":
                    item["thinking"] = reasoning  # common/parsers/gpt-oss.cpp
            for key in ("tool_call_id", "name"):
                if key in message and message[key] is not None:
                    item[key] = message[key]
            calls = message.get("tool_calls")
            if isinstance(calls, list) and calls:
                item["tool_calls"] = [_template_call(call) for call in calls]
                if self.model.thinking == "harmony" and "reasoning_content" in item:
                    item.pop("content")  # gpt-oss.cpp: thinking and a call, no content
            rendered.append(item)
        return rendered

    def apply_template(self, body: dict[str, Any]) -> tuple[str, bool]:
        """The rendered prompt and whether the model thinks for this request."""
        messages = self.template_messages(body.get("messages"))
        self.tool_request(body)  # tool_choice is parsed after the messages, before rendering
        kwargs = body.get("chat_template_kwargs") or {}
        if not isinstance(kwargs, dict):
            kwargs = {}
        extra = dict(kwargs)
        thinking = extra.get("enable_thinking", True) is not False
        effort = body.get("reasoning_effort")
        if effort == "none":
            thinking = False
            extra.pop("reasoning_effort", None)
        elif isinstance(effort, str) and effort:
            extra["reasoning_effort"] = effort
        if "reasoning_effort" in extra:
            extra["reasoning_strength"] = extra["reasoning_effort"]
        tools = body.get("tools") if isinstance(body.get("tools"), list) else None
        try:
            prompt = jinja_templates.render(
                self.model.template,
                messages,
                tools=tools,
                add_generation_prompt=True,
                enable_thinking=thinking,
                bos_token=self.model.bos_token,
                eos_token=self.model.eos_token,
                strip_bos=self.model.add_bos,
                now=self.now,
                extra=extra,
            )
        except jinja_templates.TemplateRaised as exc:
            raise LlamaError(str(exc)) from None
        if self.model.thinking == "harmony":
            thinking = True  # gpt-oss always reasons; effort sets how much
        elif self.model.thinking == "none":
            thinking = False  # a template without a reasoning format
        return prompt, thinking

    def tokenize(self, text: str, *, add_special: bool) -> list[int]:
        return self.model.tokenize(text, add_special=add_special)

    def detokenize(self, ids: list[int]) -> str:
        return b"".join(self.model.token_bytes(i) for i in ids).decode("utf-8", "replace")

    def piece(self, token_id: int) -> bytes:
        return self.model.token_bytes(token_id)

    # --- a completion ----------------------------------------------------------------------

    def tool_request(self, body: dict[str, Any]) -> llama_tools.ToolRequest:
        try:
            return llama_tools.tool_request(body, template_parallel=self.model.parallel_tool_calls)
        except llama_tools.ToolChoiceError as exc:
            raise LlamaError(str(exc)) from None

    def prepare(self, body: dict[str, Any]) -> tuple[str, list[int], bool]:
        prompt, thinking = self.apply_template(body)
        ids = self.tokenize(prompt, add_special=True)
        if len(ids) >= self.slot_n_ctx:
            raise LlamaError(
                f"request ({len(ids)} tokens) exceeds the available context size "
                f"({self.slot_n_ctx} tokens), try increasing it",
                "exceed_context_size_error",
                n_prompt_tokens=len(ids),
                n_ctx=self.slot_n_ctx,
            )
        return prompt, ids, thinking

    def generate(
        self, body: dict[str, Any], prompt: str, prompt_ids: list[int], thinking: bool
    ) -> Generation:
        """The model's reply: a function of the request alone (never of the slot's cache)."""
        messages = tuple(_message(m) for m in body.get("messages") or [] if isinstance(m, dict))
        effort = body.get("reasoning_effort")
        level = effort if effort in ("low", "medium", "high") else "medium"
        request = self.tool_request(body)
        offered = request.tools if request.parses_calls and self.model.tool_format else ()
        situation = generator.Situation(
            model=self.alias,
            messages=messages,
            prompt_tokens=len(prompt_ids),
            thinking=level if thinking else None,
            tools=offered,
            family=self.model.key,
            seen=prompt,
        )
        output = generator.reply(situation)
        calls = output.tool_calls
        if offered and request.choice == "required" and not calls:
            calls = agent.tool_calls(messages, offered, _context(messages), family=self.model.key)
        if not request.parallel or self.model.tool_format == "harmony":
            calls = calls[:1]  # gpt-oss.cpp parses one call; qwen3-coder.cpp one unless parallel
        harmony = self.model.tool_format == "harmony"
        call_text = llama_tools.CallText(calls, harmony) if calls else None
        regions = self._frame(output.reasoning, output.content, thinking, call_text)
        raw = "".join(text for _, text in regions)
        ids = self.model.tokenizer.encode(raw)
        end = self.model.call_end if call_text else self.model.end_of_generation
        ids.append(self.model.tokenizer.encode(end)[0])
        finish = "tool_calls" if call_text else "stop"
        limit = _max_tokens(body)
        if limit is not None and limit < len(ids):
            ids, finish = ids[:limit], "length"
        pieces, reasoning, content = self._split(ids, regions)
        generation = Generation(
            prompt, prompt_ids, ids, pieces, reasoning, content, finish_reason=finish
        )
        if call_text is not None:
            generation.calls = call_text
            parsed = call_text.parsed(sum(piece.tool for piece in pieces))
            generation.tool_calls = [
                {"type": "function",
                 "function": {"name": call.name, "arguments": call.arguments},
                 "id": llama_tools.call_id()}
                for call in parsed if call.name
            ]  # fmt: skip
        return generation

    def _frame(
        self,
        reasoning: str,
        content: str,
        thinking: bool,
        calls: llama_tools.CallText | None = None,
    ) -> list[tuple[str, str]]:
        """The text the model emits, cut into labelled regions."""
        if self.model.thinking == "harmony":
            regions = [
                ("control", "<|channel|>analysis<|message|>"),
                ("reasoning", reasoning),
            ]
            if calls is not None:
                return [*regions, ("control", "<|end|>"), ("tool", calls.text)]
            regions.append(("control", "<|end|><|start|>assistant<|channel|>final<|message|>"))
            return [*regions, ("content", content)]
        answer = ("tool", calls.text) if calls is not None else ("content", content)
        if thinking and self.model.thinking == "think":  # the generation prompt opened <think>
            return [("reasoning", reasoning), ("control", "\n</think>\n\n"), answer]
        return [answer]

    def _split(
        self, ids: list[int], regions: list[tuple[str, str]]
    ) -> tuple[list[Piece], str, str]:
        bounds: list[tuple[int, int, str]] = []
        offset = 0
        for label, text in regions:
            bounds.append((offset, offset + len(text), label))
            offset += len(text)
        pieces: list[Piece] = []
        position = 0
        for text in _pieces_from_bytes(self.model.token_bytes(i) for i in ids):
            if text in (self.model.end_of_generation, self.model.call_end):
                continue
            start, end = position, position + len(text)
            position = end
            shares = {"reasoning": "", "content": "", "tool": ""}
            for low, high, label in bounds:
                if label in shares and low < end and start < high:
                    shares[label] += text[max(low, start) - start : min(high, end) - start]
            pieces.append(Piece(shares["reasoning"], shares["content"], len(shares["tool"])))
        reasoning = "".join(piece.reasoning for piece in pieces)
        content = "".join(piece.content for piece in pieces)
        return pieces, reasoning, content

    def timings(self, generation: Generation, prompt_s: float, predicted_s: float) -> dict:
        """``server_slot_stats::to_json`` (milliseconds, per-token and per-second rates)."""
        n_prompt = len(generation.prompt_ids) - generation.cached
        n_gen = generation.completion_tokens
        prompt_ms, predicted_ms = prompt_s * 1e3, predicted_s * 1e3
        return {
            "cache_n": generation.cached,
            "prompt_n": n_prompt,
            "prompt_ms": prompt_ms,
            "prompt_per_token_ms": prompt_ms / n_prompt if n_prompt else 0.0,
            "prompt_per_second": 1e3 / prompt_ms * n_prompt if prompt_ms else 0.0,
            "predicted_n": n_gen,
            "predicted_ms": predicted_ms,
            "predicted_per_token_ms": predicted_ms / n_gen if n_gen else 0.0,
            "predicted_per_second": 1e3 / predicted_ms * n_gen if predicted_ms else 0.0,
        }

    def record(self, generation: Generation, prompt_s: float, predicted_s: float) -> None:
        self.totals["prompt"] += len(generation.prompt_ids) - generation.cached
        self.totals["cached"] += generation.cached
        self.totals["prompt_s"] += prompt_s
        self.totals["predicted"] += generation.completion_tokens
        self.totals["predicted_s"] += predicted_s
        self.n_decode += 1 + generation.completion_tokens
        self.n_tokens_max = max(
            self.n_tokens_max, len(generation.prompt_ids) + generation.completion_tokens
        )


def _template_call(call: Any) -> Any:
    """A call as the template gets it: arguments parsed to an object
    (``workaround::func_args_not_string``, for templates that take object arguments)."""
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        return call
    function = dict(call["function"])
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            function["arguments"] = json.loads(arguments)
        except ValueError:
            message = "Failed to parse tool call arguments as JSON"
            raise LlamaError(message, "server_error") from None
    return {**call, "function": function}


def _context(messages: tuple[Message, ...]) -> structured.Context:
    """What the model draws arguments from (as ``generator`` builds it for a call)."""
    last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
    return structured.Context(
        text="\n".join(m.content for m in messages if m.role in ("user", "tool")),
        last_user=last_user,
        instructions="\n".join(m.content for m in messages if m.role in ("system", "user")),
    )


def _message(m: dict[str, Any]) -> Message:
    """A request message as the fake's model reads it (its calls and results included)."""
    calls = []
    for call in m.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except ValueError:
                arguments = {}
        calls.append(ToolCall(str(function.get("name") or ""),
                              arguments if isinstance(arguments, dict) else {}))  # fmt: skip
    return Message(
        role=str(m.get("role", "")),
        content=_text(m.get("content")),
        tool_calls=tuple(calls),
        tool_name=str(m.get("name") or ""),
    )


def _max_tokens(body: dict[str, Any]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens", "n_predict"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None
