"""GGUF chat templates rendered as llama-server's ``--jinja`` renders them.

The ``.jinja`` files beside this module are the models' own chat templates, the text a GGUF
carries in ``tokenizer.chat_template`` (as llama.cpp keeps them in ``models/templates/``;
licences in ``NOTICE.md``). llama.cpp renders them with its own Jinja engine
(``common/jinja/``) in the configuration Hugging Face's ``apply_chat_template`` uses:
``trim_blocks`` and ``lstrip_blocks`` on (``common/jinja/lexer.cpp``), ``tojson`` with
``", "`` / ``": "`` separators and no ASCII escaping (``common/jinja/value.cpp``),
``strftime_now`` and ``raise_exception`` as globals. jinja2's sandbox does the same here.

The variables are those of ``common_chat_template_direct_apply_impl`` (``common/chat.cpp``):
``messages``, ``bos_token``, ``eos_token``, ``enable_thinking``, ``tools`` when given,
``add_generation_prompt`` when true, the request's ``chat_template_kwargs`` (and
``reasoning_effort``), plus ``datetime`` / ``date_string``. A leading BOS is cut from the
result when the vocabulary adds BOS itself.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from importlib.resources import files
from typing import Any

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment


class TemplateRaised(ValueError):
    """The template called ``raise_exception`` (llama-server: 400 ``Failed to format input``)."""


def _raise(message: str) -> None:
    raise TemplateRaised(message)


def _tojson(value: Any, indent: int | None = None, **_: Any) -> str:
    separators = (", ", ": ") if indent is None else (",", ": ")
    return json.dumps(value, ensure_ascii=False, indent=indent, separators=separators)


@functools.cache
def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise
    return env


def source(name: str) -> str:
    """The template text shipped as ``<name>.jinja`` (what ``/props`` shows)."""
    return files(__name__).joinpath(f"{name}.jinja").read_text("utf-8")


@functools.cache
def _compiled(name: str):
    return _environment().from_string(source(name))


def render(
    name: str,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None = None,
    add_generation_prompt: bool = True,
    enable_thinking: bool = True,
    bos_token: str = "",
    eos_token: str = "",
    strip_bos: bool = False,
    now: datetime | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """The prompt text llama-server feeds its tokenizer for these messages."""
    moment = now or datetime.now()
    variables: dict[str, Any] = {
        "messages": messages,
        "bos_token": bos_token,
        "eos_token": eos_token,
        "enable_thinking": enable_thinking,
        "datetime": moment.strftime("%b %d %Y"),
        "date_string": moment.strftime("%d %b %Y"),
        "strftime_now": moment.strftime,
    }
    if tools:
        variables["tools"] = tools
    variables.update(extra or {})
    if add_generation_prompt:
        variables["add_generation_prompt"] = True
    try:
        text = _compiled(name).render(**variables)
    except TemplateRaised:
        raise
    except (TemplateError, TypeError, AttributeError, KeyError, IndexError) as exc:
        raise TemplateRaised(str(exc) or type(exc).__name__) from None
    if strip_bos and bos_token and text.startswith(bos_token):
        text = text[len(bos_token) :]
    return text
