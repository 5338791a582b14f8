"""Structured outputs: a JSON value that satisfies the request's ``format``.

Ollama hands ``format`` to the runner: ``"json"`` becomes llama.cpp's JSON grammar, a schema
object is passed on as llama-server's ``json_schema`` (``llm/llama_server.go``; anything else is
``invalid format: %q; expected "json" or a valid JSON Schema object``). The model then emits
only JSON that the grammar allows. ``/v1``'s ``response_format`` maps onto the same field
(``openai/openai.go``: ``json_object`` -> ``"json"``, ``json_schema`` -> its ``schema``).

The fake's model does the same deterministically: :func:`value_for` walks the schema and builds
a value that validates (checked with the ``jsonschema`` library before it is emitted), picking
each leaf from the field's name and the conversation: a ``city`` is a city the messages name
when there is one, a ``name`` a name the user gave, an ``age`` a number in range, an ``answer``
the fake's plain reply. Every choice is a function of sha256(conversation, JSON path), never of
Python's salted ``hash()``. A schema it cannot satisfy is refused with a 400 that says which
part and why (:class:`SchemaError`), never a 500.

Supported: ``type`` (and type lists), ``properties`` / ``required`` / ``additionalProperties`` /
``minProperties``, ``items`` / ``prefixItems`` / ``minItems`` / ``maxItems`` / ``uniqueItems``,
``enum``, ``const``, ``anyOf`` / ``oneOf`` / ``allOf``, ``$ref`` into ``$defs`` / ``definitions``
(resolved with ``referencing``, recursion bounded), ``nullable``, string ``format`` (date,
date-time, time, email, uri, uuid, hostname, ipv4, ipv6), ``pattern`` (via ``rstr``),
``minLength`` / ``maxLength``, numeric bounds (exclusive too) and ``multipleOf``.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache, cached_property
from typing import Any

from mockserver.errors import OllamaError

MAX_LOOPS = 2  # a recursive schema ($ref to an enclosing one) stops growing optional parts
MAX_DEPTH = 6
# A schema that asks for more than this is refused (400) instead of built: no model writes a
# 64 K-character string or 4 K items inside one answer, and a hostile ``minLength: 1e9`` must
# not hang the server (or fill its memory) while the fake tries.
MAX_STRING = 65_536
MAX_ITEMS = 4_096
MAX_VALUES = 20_000  # values in one answer, nested ones included (4,096 arrays of 4,096 ...)


class SchemaError(OllamaError):
    """The fake cannot produce a value for this schema (HTTP 400, with the reason)."""

    def __init__(self, reason: str) -> None:
        super().__init__(400, f"the fake's model cannot satisfy this JSON schema: {reason}")


def invalid_format(raw: str) -> OllamaError:
    """``llm/llama_server.go``'s words for a ``format`` that is neither "json" nor an object.

    DELIBERATE DEVIATION: Ollama reports it from the runner (HTTP 500 on a non-streamed
    request); the fake answers client input with a 400, in the same words.
    """
    quoted = json.dumps(raw, ensure_ascii=False)
    return OllamaError(
        400, f'invalid format: {quoted}; expected "json" or a valid JSON Schema object'
    )


def parse_format(value: Any) -> str | dict[str, Any] | None:
    """The request's ``format`` as the runner reads it: None (unset), "json", or a schema."""
    if value is None or value == "":
        return None
    if value == "json":
        return "json"
    if isinstance(value, dict):
        return value
    # %q of the raw JSON bytes: a string arrives with its quotes
    raise invalid_format(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def emitted_text(value: Any) -> str:
    """The JSON as the model writes it under the grammar: one line, ``", "`` and ``": "``
    separators, keys in the schema's order, non-ASCII as is."""
    return json.dumps(value, ensure_ascii=False)


# --- what the conversation offers ---------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What values may be drawn from: the conversation's text and a stable seed."""

    text: str  # user and tool messages, newest last
    last_user: str = ""
    plain_reply: str = ""  # what the model would have said without a format
    instructions: str = ""  # system and user messages: where a JSON shape may be described

    @cached_property
    def seed(self) -> bytes:
        return hashlib.sha256(self.text.encode()).digest()

    def rng(self, path: str) -> random.Random:
        digest = hashlib.sha256(self.seed + path.encode()).digest()
        return random.Random(int.from_bytes(digest[:16], "big"))

    @cached_property
    def cities(self) -> list[str]:
        return _mentioned(self.text, CITIES)

    @cached_property
    def countries(self) -> list[str]:
        return _mentioned(self.text, COUNTRIES)

    @cached_property
    def person(self) -> str | None:
        match = _NAME_GIVEN.search(self.text)
        return match.group(1) if match else None

    @cached_property
    def words(self) -> list[str]:
        """Content words of the last user message, in order, without repeats."""
        seen: list[str] = []
        for word in re.findall(r"[A-Za-z][A-Za-z'-]+", self.last_user):
            if word.casefold() not in _STOPWORDS and word not in seen:
                seen.append(word)
        return seen


def _mentioned(text: str, names: tuple[str, ...]) -> list[str]:
    found = [(m.start(), n) for n in names for m in [re.search(rf"\b{re.escape(n)}\b", text)] if m]
    return [name for _, name in sorted(found)]


_NAME_GIVEN = re.compile(
    r"\b(?:my name is|I am|I'm|call me|name:)\s+([A-Z][a-z]+(?: [A-Z][a-z]+)?)"
)

CITIES = (
    "Toronto", "Montreal", "Vancouver", "Ottawa", "Calgary", "Quebec City", "Halifax", "Paris",
    "London", "Berlin", "Madrid", "Rome", "Lisbon", "Amsterdam", "Vienna", "Prague", "Dublin",
    "Oslo", "Stockholm", "Copenhagen", "Helsinki", "Warsaw", "Athens", "Istanbul", "Cairo",
    "Nairobi", "Lagos", "Tokyo", "Kyoto", "Osaka", "Seoul", "Beijing", "Shanghai", "Singapore",
    "Bangkok", "Mumbai", "Delhi", "Sydney", "Melbourne", "Auckland", "New York", "Boston",
    "Chicago", "San Francisco", "Los Angeles", "Seattle", "Austin", "Miami", "Mexico City",
    "Buenos Aires", "Lima", "Santiago", "Bogota", "Rio de Janeiro", "Sao Paulo",
)  # fmt: skip
COUNTRIES = (
    "Canada", "France", "Germany", "Spain", "Italy", "Portugal", "Japan", "Brazil", "Mexico",
    "Kenya", "India", "Australia", "Norway", "Chile", "Egypt", "Ireland", "Peru", "Argentina",
)  # fmt: skip
FIRST_NAMES = ("Ada", "Grace", "Alan", "Katherine", "Linus", "Margaret", "Edsger", "Barbara")
LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Johnson", "Torvalds", "Hamilton", "Dijkstra")
COLORS = ("blue", "green", "red", "yellow", "purple", "orange")
_STOPWORDS = frozenset((
    "a", "an", "the", "and", "or", "but", "of", "to", "in", "on", "at", "for", "with", "from",
    "by", "is", "are", "was", "were", "be", "been", "what", "which", "who", "whom", "whose",
    "how", "why", "when", "where", "give", "me", "my", "i", "you", "your", "we", "our", "it",
    "its", "this", "that", "these", "those", "please", "can", "could", "would", "should", "do",
    "does", "did", "name", "tell", "list", "about", "as", "into", "than", "then", "there",
    "their", "them", "they", "he", "she", "his", "her", "up", "down", "out", "over", "just",
    "also", "some", "any", "each", "all", "am", "hi", "hello", "im", "live", "want",
))  # fmt: skip


# --- the generator ------------------------------------------------------------------------------


def value_for(schema: Any, context: Context) -> Any:
    """A value valid against ``schema`` (checked), or :class:`SchemaError`."""
    if schema == "json":
        described = described_shape(context.instructions)
        if described is not None:
            try:
                return value_for(described, context)
            except SchemaError:
                pass
        return {"answer": context.plain_reply or context.last_user}
    import jsonschema  # imported on first use: a fake that is never asked for JSON starts faster

    validator_class = jsonschema.validators.validator_for(
        schema, default=jsonschema.Draft202012Validator
    )
    try:
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the root"
        raise SchemaError(f"it is not a valid JSON schema ({exc.message}, at {where})") from None
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    builder = _Builder(schema, context, validator_class)
    value = builder.build(schema, "", (), builder.root)
    problem = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if problem is not None:
        where = "/".join(str(p) for p in problem.absolute_schema_path) or "the root"
        raise SchemaError(f"no value found that meets {where} ({problem.message})")
    return value


def described_shape(text: str) -> dict[str, Any] | None:
    """``format: "json"`` leaves the shape to the prompt, and apps describe it there: the last
    JSON object in the system and user messages that is a schema is followed as one, else the
    last one is taken as an example, its keys and value types kept."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    position = text.find("{")
    while position >= 0:
        try:
            value, end = decoder.raw_decode(text, position)
        except ValueError:
            position = text.find("{", position + 1)
            continue
        if isinstance(value, dict) and value:
            found.append(value)
        position = text.find("{", end)
    schemas = [
        v for v in found if isinstance(v.get("properties"), dict) or v.get("type") == "object"
    ]
    if schemas:
        return schemas[-1]
    return _schema_of_example(found[-1]) if found else None


def _schema_of_example(example: Any) -> dict[str, Any]:
    if isinstance(example, dict):
        return {
            "type": "object",
            "properties": {str(k): _schema_of_example(v) for k, v in example.items()},
            "required": [str(k) for k in example],
        }
    if isinstance(example, list):
        return {"type": "array", "items": _schema_of_example(example[0]) if example else {}}
    if isinstance(example, bool):
        return {"type": "boolean"}
    if isinstance(example, int):
        return {"type": "integer"}
    if isinstance(example, float):
        return {"type": "number"}
    if example is None:
        return {"type": "null"}
    return {"type": "string"}


@cache
def _xeger_class() -> Any:
    """``rstr``'s regex-to-string with short repeats (``+`` and ``*`` add at most 6)."""
    import rstr

    class Xeger(rstr.Rstr):
        def _handle_repeat(self, start_range: int, end_range: int, value: str) -> str:
            return str(super()._handle_repeat(start_range, min(end_range, start_range + 6), value))

    return Xeger


class _Builder:
    def __init__(self, schema: Any, context: Context, validator_class: Any) -> None:
        self.context = context
        self.validator_class = validator_class
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        resource = Resource.from_contents(schema, default_specification=DRAFT202012)
        registry: Registry = Registry().with_resource("urn:portway:format", resource)
        self.root = registry.resolver(base_uri="urn:portway:format")
        self.values = 0  # built so far: MAX_VALUES bounds the whole answer

    # Each step gets the schema, the JSON path of the value (for naming and seeding), the
    # nesting chain through references and the resolver for relative references.

    def build(self, schema: Any, path: str, chain: tuple[str, ...], resolver: Any) -> Any:
        self.values += 1
        if self.values > MAX_VALUES:
            raise SchemaError(f"it asks for more values than the fake writes ({MAX_VALUES})")
        if schema is True or schema == {}:
            return self.string({}, path)
        if schema is False:
            raise SchemaError(f"{path or 'the root'} allows no value (schema false)")
        if not isinstance(schema, dict):
            raise SchemaError(f"{path or 'the root'} is not a schema")
        schema, resolver, chain = self.flatten(schema, path, chain, resolver)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self.choose_enum(schema["enum"], path)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self.branch(schema, key, path, chain, resolver)
        kind = self.kind(schema)
        if kind == "null":
            return None
        if kind == "boolean":
            return self.context.rng(path).random() < 0.5
        if kind in ("integer", "number"):
            return self.number(schema, path, integer=kind == "integer")
        if kind == "array":
            return self.array(schema, path, chain, resolver)
        if kind == "object":
            return self.object(schema, path, chain, resolver)
        return self.string(schema, path)

    def flatten(
        self, schema: dict[str, Any], path: str, chain: tuple[str, ...], resolver: Any
    ) -> tuple[dict[str, Any], Any, tuple[str, ...]]:
        """Inline ``$ref`` and merge ``allOf`` into one schema."""
        while "$ref" in schema:
            try:
                resolved = resolver.lookup(schema["$ref"])
            except _unresolvable():
                raise SchemaError(
                    f"cannot resolve $ref {schema['$ref']!r} (only local ones)"
                ) from None
            if len(chain) > MAX_DEPTH * 8:
                raise SchemaError(f"$ref {schema['$ref']!r} recurses without end")
            resolver, chain = resolved.resolver, (*chain, schema["$ref"])
            target = resolved.contents
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **siblings} if isinstance(target, dict) else target
            if not isinstance(schema, dict):
                return ({} if schema is True else {"not": {}}), resolver, chain
        if "allOf" in schema:
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                if isinstance(part, dict):
                    part, resolver, chain = self.flatten(part, path, chain, resolver)
                    merged = _merge(merged, part)
            return (
                self.flatten(merged, path, chain, resolver)
                if "allOf" in merged
                else (
                    merged,
                    resolver,
                    chain,
                )
            )
        return schema, resolver, chain

    @staticmethod
    def kind(schema: dict[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"] or ["null"]
            kind = kinds[0]
        if isinstance(kind, str):
            return kind
        if "properties" in schema or "required" in schema or "additionalProperties" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema or "minItems" in schema:
            return "array"
        if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "multipleOf")):
            return "number"
        return "string"

    def branch(
        self, schema: dict[str, Any], key: str, path: str, chain: tuple[str, ...], resolver: Any
    ) -> Any:
        """The first branch (not-null ones first) whose value validates against the whole."""
        rest = {k: v for k, v in schema.items() if k != key}
        branches = list(schema[key])
        ordered = [b for b in branches if not _is_null(b)] + [b for b in branches if _is_null(b)]
        if _loops(chain) >= 1 and any(_is_null(b) for b in branches):  # recursing: stop
            ordered = [b for b in branches if _is_null(b)] + [b for b in ordered if not _is_null(b)]
        if _loops(chain) >= MAX_LOOPS:  # deep in a recursion: the plainest branch first
            ordered.sort(key=lambda b: "$ref" in json.dumps(b))
        whole = self.validator_class(schema, format_checker=self.validator_class.FORMAT_CHECKER)
        for branch in ordered:
            candidate = _merge(rest, branch) if isinstance(branch, dict) else branch
            try:
                value = self.build(candidate, path, chain, resolver)
            except SchemaError:
                continue
            if self.fits(whole, value, resolver):
                return value
        raise SchemaError(f"no branch of {key} at {path or 'the root'} can be satisfied")

    def fits(self, validator: Any, value: Any, resolver: Any) -> bool:
        try:
            return bool(validator.evolve(_resolver=resolver).is_valid(value))
        except Exception:  # a sub-schema whose references only resolve from the root
            return True

    def choose_enum(self, options: list[Any], path: str) -> Any:
        """A value the conversation names first, then the schema's order from a seeded start;
        the n-th item of an array (or a retry) moves on, so unique items can be found."""
        if not options:
            raise SchemaError(f"the enum at {path or 'the root'} is empty")
        text = self.context.text
        named = [
            o
            for o in options
            if isinstance(o, str) and o and re.search(rf"\b{re.escape(o)}\b", text, re.I)
        ]
        rest = [o for o in options if o not in named]
        start = self.context.rng(path.split("~")[0]).randrange(len(rest)) if rest else 0
        ordered = named + rest[start:] + rest[:start]
        attempt = int(path.rsplit("~", 1)[1]) if "~" in path.rsplit("/", 1)[-1] else 0
        return ordered[(_index_in(path) + attempt) % len(ordered)]

    # --- leaves -------------------------------------------------------------------------------

    def number(self, schema: dict[str, Any], path: str, *, integer: bool) -> int | float:
        low, high = _bounds(schema, integer)
        step = schema.get("multipleOf")
        wanted = self.wanted_number(path, low, high, integer)
        if step:
            k_low = math.ceil(low / step) if low is not None else None
            k_high = math.floor(high / step) if high is not None else None
            k = round(wanted / step)
            if k_low is not None:
                k = max(k, k_low)
            if k_high is not None:
                k = min(k, k_high)
            if k_low is not None and k_high is not None and k_low > k_high:
                raise SchemaError(f"no multiple of {step} lies within the bounds at {path}")
            value: float = k * step
            return (
                int(value)
                if integer or (float(value).is_integer() and isinstance(step, int))
                else value
            )
        if low is not None and high is not None and low > high:
            raise SchemaError(f"the bounds at {path or 'the root'} leave no number")
        if low is not None:
            wanted = max(wanted, low)
        if high is not None:
            wanted = min(wanted, high)
        if integer:
            return int(wanted)
        return wanted if isinstance(wanted, float) else float(wanted)

    def wanted_number(
        self, path: str, low: float | None, high: float | None, integer: bool
    ) -> float:
        name = _leaf_name(path)
        rng = self.context.rng(path)
        near = _number_near(self.context.last_user, name)
        if near is None:  # else the latest mention anywhere (a tool's result, an earlier turn)
            near = _number_near(self.context.text, name, latest=True)
        if near is not None and (low is None or near >= low) and (high is None or near <= high):
            return int(near) if integer else near
        lo, hi = _NUMBER_RANGES.get(_number_kind(name), (1, 100))
        if low is not None and high is not None:
            lo, hi = low, high
        elif low is not None:
            lo, hi = low, max(hi, low + 10)
        elif high is not None:
            lo, hi = min(lo, high - 10), high
        if integer:
            return rng.randint(math.ceil(lo), max(math.ceil(lo), math.floor(hi)))
        return round(rng.uniform(lo, hi), 2)

    def string(self, schema: dict[str, Any], path: str) -> str:
        rng = self.context.rng(path)
        fmt = schema.get("format")
        text = _FORMATS[fmt](self, path, rng) if fmt in _FORMATS else self.named_string(path, rng)
        pattern = schema.get("pattern")
        if pattern is not None:
            try:
                compiled = re.compile(pattern)
            except re.error:
                raise SchemaError(
                    f"the pattern {pattern!r} at {path} is not a regex the fake reads"
                ) from None
            if not compiled.search(text):
                text = _pattern_string(pattern, rng, schema, path)
        low = _count(schema, "minLength", 0)
        high = _count(schema, "maxLength", None)
        if low > MAX_STRING:
            raise SchemaError(
                f"the string at {path or 'the root'} must be at least {low} characters long "
                f"(the fake writes at most {MAX_STRING})"
            )
        if len(text) < low:
            filler = " ".join(self.context.words) or "value"
            while len(text) < low:
                text = (text + " " + filler).strip() if text else filler
        if high is not None and len(text) > high:
            text = text[:high].rstrip() if high else ""
            text = text if len(text) >= low else text.ljust(low, "x")
        return text

    def named_string(self, path: str, rng: random.Random) -> str:
        name = _leaf_name(path).casefold()
        index = _index_in(path)
        context = self.context
        if name in ("name", "title", "label"):  # the name of a thing: what the thing is
            owner = _owner_name(path).casefold()
            if any(w in owner for w in ("cit", "town", "place", "location", "destination")):
                return _pick(context.cities, CITIES, index, rng)
            if "countr" in owner:
                return _pick(context.countries, COUNTRIES, index, rng)
        if any(w in name for w in ("email", "mail")):
            person = (context.person or FIRST_NAMES[rng.randrange(len(FIRST_NAMES))]).casefold()
            return f"{person.replace(' ', '.')}@example.com"
        if any(
            w in name
            for w in ("city", "cities", "town", "location", "place", "destination", "capital")
        ):
            return _pick(context.cities, CITIES, index, rng)
        if "country" in name or "nation" in name:
            return _pick(context.countries, COUNTRIES, index, rng)
        if name in ("first_name", "firstname", "given_name"):
            return (context.person or FIRST_NAMES[rng.randrange(len(FIRST_NAMES))]).split()[0]
        if name in ("last_name", "lastname", "surname", "family_name"):
            return LAST_NAMES[rng.randrange(len(LAST_NAMES))]
        if name in ("name", "full_name", "fullname", "author", "username", "user", "person"):
            if context.person and index == 0:
                return context.person
            first = FIRST_NAMES[(rng.randrange(len(FIRST_NAMES)) + index) % len(FIRST_NAMES)]
            return f"{first} {LAST_NAMES[rng.randrange(len(LAST_NAMES))]}"
        if any(w in name for w in ("url", "uri", "link", "website", "homepage")):
            return _url(context, rng)
        if "phone" in name:
            return f"+1-555-01{rng.randrange(100):02d}"
        if "date" in name or "birthday" in name or name.endswith("_on"):
            return _date(self, path, rng)
        if "time" in name:
            return f"{rng.randrange(8, 19):02d}:{rng.choice((0, 15, 30, 45)):02d}"
        if name in ("id", "uuid", "guid") or name.endswith("_id"):
            return _uuid(self, path, rng)
        if "colo" in name:
            return COLORS[(rng.randrange(len(COLORS)) + index) % len(COLORS)]
        if name in ("language", "lang"):
            return "English"
        if name in (
            "answer",
            "reply",
            "response",
            "content",
            "text",
            "message",
            "output",
            "result",
        ):
            return context.plain_reply or context.last_user
        if name in ("summary", "description", "explanation", "reason", "reasoning", "comment"):
            return _first_sentence(context.plain_reply) or context.last_user
        if name in ("query", "question", "prompt", "input", "search", "topic", "q"):
            return context.last_user.strip() or "the question"
        if name in ("title", "headline", "subject"):
            return " ".join(context.words[:4]).title() or "Untitled"
        if context.words:
            start = (rng.randrange(len(context.words)) + index) % len(context.words)
            return " ".join(context.words[start : start + 2])
        return name.replace("_", " ") or "value"

    # --- containers ---------------------------------------------------------------------------

    def array(
        self, schema: dict[str, Any], path: str, chain: tuple[str, ...], resolver: Any
    ) -> list[Any]:
        low = _count(schema, "minItems", 0)
        high = _count(schema, "maxItems", None)
        if low > MAX_ITEMS:
            raise SchemaError(
                f"the array at {path or 'the root'} must hold at least {low} items "
                f"(the fake writes at most {MAX_ITEMS})"
            )
        prefix = schema.get("prefixItems")
        if prefix is None and isinstance(schema.get("items"), list):  # draft 4-7 tuples
            prefix = schema["items"]
            rest = schema.get("additionalItems", True)
        else:
            rest = schema.get("items", True)
        prefix = prefix or []
        wanted = len(prefix) if prefix else _array_length(self.context, path, rest, chain)
        count = max(low, wanted)
        if rest is False:
            count = min(count, len(prefix))
        if high is not None:
            count = min(count, high)
        if count < low:
            raise SchemaError(f"the array at {path or 'the root'} cannot hold {low} items")
        out: list[Any] = []
        for index in range(count):
            item_schema = prefix[index] if index < len(prefix) else rest
            item_path = f"{path}/{index}"
            value = self.build(item_schema, item_path, chain, resolver)
            if schema.get("uniqueItems"):
                for attempt in range(1, 12):
                    if value not in out:
                        break
                    value = self.build(item_schema, f"{item_path}~{attempt}", chain, resolver)
                if value in out:
                    if len(out) >= low:
                        break
                    raise SchemaError(f"cannot find {low} distinct items for {path or 'the root'}")
            out.append(value)
        return out

    def object(
        self, schema: dict[str, Any], path: str, chain: tuple[str, ...], resolver: Any
    ) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        required = list(schema.get("required") or [])
        out: dict[str, Any] = {}
        deep = _loops(chain) >= MAX_LOOPS
        for key, sub in properties.items():
            if deep and key not in required:
                continue
            out[key] = self.build(sub, f"{path}/{key}", chain, resolver)
        extra = schema.get("additionalProperties", True)
        for key in required:
            if key not in out:
                sub = extra if isinstance(extra, dict) else {}
                if extra is False:
                    raise SchemaError(
                        f"{key!r} is required at {path or 'the root'} but not allowed"
                    )
                out[key] = self.build(sub, f"{path}/{key}", chain, resolver)
        index = 1
        if _count(schema, "minProperties", 0) > MAX_ITEMS:
            raise SchemaError(
                f"the object at {path or 'the root'} needs more properties than the fake writes "
                f"({MAX_ITEMS})"
            )
        while len(out) < _count(schema, "minProperties", 0):
            if extra is False:
                raise SchemaError(f"the object at {path or 'the root'} needs more properties")
            key = f"key{index}"
            index += 1
            if key not in out:
                out[key] = self.build(
                    extra if isinstance(extra, dict) else {}, f"{path}/{key}", chain, resolver
                )
        return out


# --- helpers ------------------------------------------------------------------------------------


def _merge(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """Two schemas that must both hold, as one (``allOf``): properties and required unite,
    bounds tighten, other keywords of the later one win."""
    merged = {**first, **second}
    if "properties" in first and "properties" in second:
        merged["properties"] = {**first["properties"], **second["properties"]}
    if "required" in first and "required" in second:
        merged["required"] = list(dict.fromkeys([*first["required"], *second["required"]]))
    for key, pick in (("minimum", max), ("minLength", max), ("minItems", max),
                      ("maximum", min), ("maxLength", min), ("maxItems", min)):  # fmt: skip
        if key in first and key in second:
            merged[key] = pick(first[key], second[key])
    return merged


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null"


def _bounds(schema: dict[str, Any], integer: bool) -> tuple[float | None, float | None]:
    low = schema.get("minimum")
    high = schema.get("maximum")
    exclusive_low = schema.get("exclusiveMinimum")
    exclusive_high = schema.get("exclusiveMaximum")
    nudge = 1 if integer else 0.01
    if exclusive_low is True and low is not None:  # draft 4 booleans
        low += nudge
    elif isinstance(exclusive_low, int | float) and not isinstance(exclusive_low, bool):
        low = max(low, exclusive_low + nudge) if low is not None else exclusive_low + nudge
    if exclusive_high is True and high is not None:
        high -= nudge
    elif isinstance(exclusive_high, int | float) and not isinstance(exclusive_high, bool):
        high = min(high, exclusive_high - nudge) if high is not None else exclusive_high - nudge
    if integer:
        low = math.ceil(low) if low is not None else None
        high = math.floor(high) if high is not None else None
    return low, high


def _unresolvable() -> type[Exception]:
    from referencing.exceptions import Unresolvable

    return Unresolvable


def _count(schema: dict[str, Any], key: str, default: int | None) -> Any:
    """A length keyword as an int (JSON Schema allows 2.0 for 2)."""
    value = schema.get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _loops(chain: tuple[str, ...]) -> int:
    """How many references on the path lead back to one already entered (recursion)."""
    return len(chain) - len(set(chain))


def _leaf_name(path: str) -> str:
    for part in reversed(path.split("/")):
        part = part.split("~")[0]
        if part and not part.isdigit():
            return part
    return ""


def _owner_name(path: str) -> str:
    """The name of the object or array that holds the leaf (``cities`` in /cities/0/name)."""
    parts = [p.split("~")[0] for p in path.split("/") if p and not p.split("~")[0].isdigit()]
    return parts[-2] if len(parts) > 1 else ""


def _index_in(path: str) -> int:
    """The position in the innermost array on the path (0 outside arrays)."""
    for part in reversed(path.split("/")):
        part = part.split("~")[0]
        if part.isdigit():
            return int(part)
    return 0


def _number_kind(name: str) -> str:
    name = name.casefold()
    for kind in _NUMBER_RANGES:
        if kind in name:
            return kind
    return ""


_NUMBER_RANGES: dict[str, tuple[float, float]] = {
    "age": (18, 90),
    "year": (1990, 2026),
    "month": (1, 12),
    "day": (1, 28),
    "hour": (0, 23),
    "minute": (0, 59),
    "rating": (1, 5),
    "score": (1, 10),
    "percent": (0, 100),
    "temperature": (-5, 30),
    "latitude": (-60, 70),
    "longitude": (-120, 150),
    "price": (5, 200),
    "cost": (5, 200),
    "amount": (5, 200),
    "population": (50_000, 5_000_000),
    "count": (1, 10),
    "quantity": (1, 10),
    "number": (1, 10),
}


def _number_near(text: str, name: str, *, latest: bool = False) -> float | None:
    """A number written next to the field's word or its unit ("36 years old" for an age,
    "12 degrees" for a temperature, "temperature 21" in a tool's result)."""
    word = name.casefold().rstrip("s")
    if len(word) < 3:
        return None
    words = "|".join(re.escape(w) for w in (word, *_UNITS_OF.get(_number_kind(word), ())))
    number = r"(-?\d+(?:\.\d+)?)"
    pattern = rf"{number}\s*(?:\w+\s+){{0,2}}(?:{words})|(?:{words})\w*\W{{0,12}}?{number}"
    matches = list(re.finditer(pattern, text, re.IGNORECASE))
    if not matches:
        return None
    match = matches[-1] if latest else matches[0]
    return float(match.group(1) or match.group(2))


_UNITS_OF = {
    "age": ("years old", "year old", "yrs old"),
    "temperature": ("degree", "°"),
    "price": ("dollar", "euro", "usd", "eur"),
    "cost": ("dollar", "euro", "usd", "eur"),
    "amount": ("dollar", "euro", "usd", "eur"),
}


def _array_length(context: Context, path: str, items: Any, chain: tuple[str, ...]) -> int:
    if _loops(chain) >= MAX_LOOPS:
        return 0
    name = _leaf_name(path).casefold()
    if (
        any(w in name for w in ("cit", "town", "place", "location", "destination"))
        and context.cities
    ):
        return len(context.cities)
    found = re.search(r"\b(two|three|four|five|\d)\b", context.last_user, re.IGNORECASE)
    if found:
        word = found.group(1).casefold()
        return {"two": 2, "three": 3, "four": 4, "five": 5}.get(word) or int(word)
    return 2


def _pick(found: list[str], pool: tuple[str, ...], index: int, rng: random.Random) -> str:
    if index < len(found):
        return found[index]
    rest = [name for name in pool if name not in found]
    return rest[(rng.randrange(len(rest)) + index) % len(rest)]


def _first_sentence(text: str) -> str:
    match = re.match(r"(.+?[.!?])(\s|$)", text.strip(), re.DOTALL)
    return (match.group(1) if match else text).strip()


def _url(context: Context, rng: random.Random) -> str:
    found = re.search(r"https?://[^\s\"'<>]+", context.text)
    if found:
        return found.group(0).rstrip(".,)")
    slug = "-".join(w.casefold() for w in context.words[:3]) or f"page-{rng.randrange(100)}"
    return f"https://example.com/{slug}"


def _date(builder: _Builder, path: str, rng: random.Random) -> str:
    found = re.search(r"\b(\d{4}-\d{2}-\d{2})\b", builder.context.text)
    if found:
        try:
            return date.fromisoformat(found.group(1)).isoformat()
        except ValueError:
            pass
    return (date(2026, 1, 1) + timedelta(days=rng.randrange(365))).isoformat()


def _uuid(builder: _Builder, path: str, rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _pattern_string(pattern: str, rng: random.Random, schema: dict[str, Any], path: str) -> str:
    low, high = _count(schema, "minLength", 0), _count(schema, "maxLength", None)
    compiled = re.compile(pattern)
    for _ in range(20):
        try:
            text = str(_xeger_class()(rng).xeger(pattern))
        except Exception:
            break
        if compiled.search(text) and len(text) >= low and (high is None or len(text) <= high):
            return text
    raise SchemaError(f"no string found for the pattern {pattern!r} at {path or 'the root'}")


_FORMATS: dict[str, Callable[[_Builder, str, random.Random], str]] = {
    "date": _date,
    "date-time": lambda b, p, r: (
        f"{_date(b, p, r)}T{r.randrange(8, 19):02d}:{r.choice((0, 30)):02d}:00Z"
    ),
    "time": lambda b, p, r: f"{r.randrange(8, 19):02d}:{r.choice((0, 15, 30, 45)):02d}:00Z",
    "email": lambda b, p, r: b.named_string(p + "/email", r),
    "idn-email": lambda b, p, r: b.named_string(p + "/email", r),
    "uri": lambda b, p, r: _url(b.context, r),
    "url": lambda b, p, r: _url(b.context, r),
    "iri": lambda b, p, r: _url(b.context, r),
    "uri-reference": lambda b, p, r: _url(b.context, r),
    "uuid": _uuid,
    "hostname": lambda b, p, r: "example.com",
    "idn-hostname": lambda b, p, r: "example.com",
    "ipv4": lambda b, p, r: f"192.0.2.{r.randrange(1, 255)}",
    "ipv6": lambda b, p, r: f"2001:db8::{r.randrange(1, 0xFFFF):x}",
    "duration": lambda b, p, r: f"PT{r.randrange(1, 59)}M",
}
