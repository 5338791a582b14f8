"""Structured outputs: ``format`` (native) and ``response_format`` (/v1) give JSON that validates.

Every value is checked with the ``jsonschema`` library against its schema, over real schemas:
pydantic's ``model_json_schema()``, the strict schemas the ``openai`` SDK sends for
``chat.completions.parse``, zod-to-json-schema output (``tests/data/zod_schemas.json``, made by
``tests/data/zod_schemas.js``), and schemas hypothesis invents.
"""

from __future__ import annotations

import datetime
import json
import uuid
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import jsonschema
import openai
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.engine.families import FAMILIES
from mockserver.engine.structured import Context, SchemaError, value_for
from mockserver.server import BackgroundServer

PLAIN = "llama3.2:3b"
TRIP = (
    "Hi, my name is Ada Lovelace. I am 36 years old and I want to drive from Montreal to Halifax."
)
CONTEXT = Context(text=TRIP, last_user=TRIP, plain_reply="A fine road trip.")


def _valid(value: Any, schema: Any) -> None:
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    validator(schema, format_checker=validator.FORMAT_CHECKER).validate(value)


# --- a corpus of real schemas ---------------------------------------------------------------------


class Unit(StrEnum):
    celsius = "celsius"
    fahrenheit = "fahrenheit"


class Address(pydantic.BaseModel):
    street: str
    city: str
    postcode: Annotated[str, pydantic.Field(pattern=r"^[A-Z]\d[A-Z] \d[A-Z]\d$")]


class Traveller(pydantic.BaseModel):
    name: str
    age: Annotated[int, pydantic.Field(ge=0, le=130)]
    email: str | None = None


class Trip(pydantic.BaseModel):
    traveller: Traveller
    start: datetime.date
    leaves_at: datetime.datetime
    booking: uuid.UUID
    stops: Annotated[list[Address], pydantic.Field(min_length=1, max_length=3)]
    unit: Unit
    mode: Literal["car", "train"]
    budget: Annotated[float, pydantic.Field(gt=0, le=5000)]
    tags: Annotated[set[str], pydantic.Field(max_length=4)] = set()


class Node(pydantic.BaseModel):
    """Recursive: pydantic emits a $ref to itself."""

    label: str
    children: list[Node] = []
    parent: Node | None = None


class Shape(pydantic.BaseModel):
    shape: Annotated[pydantic.RootModel[Any] | None, pydantic.Field(default=None)] = (
        None  # Any: an empty schema
    )
    kind: Literal["circle"] | Literal["square"]
    size: Annotated[int, pydantic.Field(multiple_of=5, ge=5, le=50)]


class Circle(pydantic.BaseModel):
    type: Literal["circle"]
    radius: float


class Square(pydantic.BaseModel):
    type: Literal["square"]
    side: float


class Drawing(pydantic.BaseModel):
    items: list[Annotated[Circle | Square, pydantic.Field(discriminator="type")]]
    title: Annotated[str, pydantic.Field(min_length=3, max_length=20)]


PYDANTIC_MODELS = [Trip, Node, Shape, Drawing, Traveller]
ZOD = json.loads((Path(__file__).parent / "data" / "zod_schemas.json").read_text())


def _openai_strict(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    from openai.lib._pydantic import to_strict_json_schema

    return to_strict_json_schema(model)


CORPUS: dict[str, Any] = {
    **{f"pydantic:{m.__name__}": m.model_json_schema() for m in PYDANTIC_MODELS},
    **{f"openai-strict:{m.__name__}": _openai_strict(m) for m in (Trip, Drawing, Traveller)},
    **{f"zod:{name}": schema for name, schema in ZOD.items()},
    "draft4-exclusive": {
        "type": "object",
        "properties": {"n": {"type": "number", "minimum": 0, "exclusiveMinimum": True}},
        "required": ["n"],
        "$schema": "http://json-schema.org/draft-04/schema#",
    },
    "type-list": {"type": ["string", "null"], "format": "email"},
    "const-and-enum": {
        "type": "object",
        "properties": {"v": {"const": 3}, "c": {"enum": ["red", "green", 7, None]}},
        "required": ["v", "c"],
        "additionalProperties": False,
    },
    "allOf": {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
            {"properties": {"b": {"type": "string", "format": "date"}}, "required": ["b"]},
        ]
    },
    "oneOf-numbers": {"oneOf": [{"type": "string"}, {"type": "integer", "minimum": 10}]},
    "tuple-prefixItems": {
        "type": "array",
        "prefixItems": [{"type": "string"}, {"type": "boolean"}],
        "items": False,
    },
    "min-properties": {
        "type": "object",
        "minProperties": 2,
        "additionalProperties": {"type": "integer"},
    },
    "unique": {
        "type": "array",
        "items": {"enum": ["a", "b", "c"]},
        "minItems": 3,
        "uniqueItems": True,
    },
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_every_value_validates_against_its_schema(name):
    schema = CORPUS[name]
    _valid(value_for(schema, CONTEXT), schema)


@pytest.mark.parametrize("model", PYDANTIC_MODELS, ids=lambda m: m.__name__)
def test_pydantic_parses_the_value_into_its_model(model):
    model.model_validate(value_for(model.model_json_schema(), CONTEXT))


def test_values_are_a_function_of_the_conversation():
    schema = Trip.model_json_schema()
    assert value_for(schema, CONTEXT) == value_for(schema, Context(text=TRIP, last_user=TRIP))
    other = Context(text="Book me something.", last_user="Book me something.")
    assert value_for(schema, other) != value_for(schema, CONTEXT)


def test_values_come_from_the_conversation_where_it_has_them():
    value = value_for(Trip.model_json_schema(), CONTEXT)
    assert value["traveller"]["name"] == "Ada Lovelace"
    assert value["traveller"]["age"] == 36
    assert [stop["city"] for stop in value["stops"]][:2] == ["Montreal", "Halifax"]
    assert value["mode"] == "car" or value["mode"] == "train"


def test_an_answer_field_carries_the_plain_reply():
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
    }
    assert value_for(schema, CONTEXT) == {"answer": "A fine road trip."}


def test_format_json_without_a_schema_is_an_object_with_the_answer():
    assert value_for("json", CONTEXT) == {"answer": "A fine road trip."}


@pytest.mark.parametrize(
    "described",
    [
        'Reply as JSON like {"name": "Bob", "age": 40, "cities": ["Rome"]}.',
        'Follow this JSON schema: {"type": "object", "properties": {"name": {"type": "string"},'
        ' "age": {"type": "integer"}, "cities": {"type": "array", "items": {"type": "string"}}},'
        ' "required": ["name", "age", "cities"]}',
    ],
    ids=["an example", "a schema"],
)
def test_format_json_follows_a_shape_the_prompt_describes(described):
    context = Context(text=TRIP, last_user=TRIP, instructions=f"{described}\n{TRIP}")
    assert value_for("json", context) == {
        "name": "Ada Lovelace",
        "age": 36,
        "cities": ["Montreal", "Halifax"],
    }


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ({"type": "string", "minLength": 5, "maxLength": 2}, "no value found"),
        ({"type": "array", "minItems": 3, "maxItems": 1}, "cannot hold 3 items"),
        ({"enum": []}, "the enum at the root is empty"),
        (False, "allows no value"),
        ({"type": "integer", "minimum": 10, "maximum": 1}, "leave no number"),
        ({"$ref": "https://example.com/remote.json"}, "cannot resolve $ref"),
        ({"type": "object", "required": ["a"], "additionalProperties": False}, "'a' is required"),
        ({"type": "strin"}, "not a valid JSON schema"),
    ],
)
def test_a_schema_the_fake_cannot_satisfy_is_a_400_that_says_why(schema, words):
    with pytest.raises(SchemaError) as caught:
        value_for(schema, CONTEXT)
    assert caught.value.status == 400
    assert "the fake's model cannot satisfy this JSON schema" in caught.value.message
    assert words in caught.value.message


# --- hypothesis: schemas nobody wrote by hand -----------------------------------------------

_names = st.sampled_from(["name", "city", "age", "email", "count", "title", "id", "score", "x"])
_leaves = st.one_of(
    st.builds(
        lambda lo, extra: {"type": "integer", "minimum": lo, "maximum": lo + extra},
        st.integers(-50, 50),
        st.integers(0, 30),
    ),
    st.just({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}),
    st.builds(
        lambda lo, extra: {"type": "string", "minLength": lo, "maxLength": lo + extra},
        st.integers(0, 10),
        st.integers(0, 20),
    ),
    st.sampled_from(
        [
            {"type": "string", "format": f}
            for f in ("date", "date-time", "time", "email", "uri", "uuid", "ipv4", "ipv6")
        ]
    ),
    st.just({"type": "string", "pattern": r"^[a-z]{2,4}-\d{3}$"}),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=4, unique=True).map(
        lambda options: {"enum": options}
    ),
)


def _compound(children):
    return st.one_of(
        st.builds(
            lambda props, required_count: {
                "type": "object",
                "properties": props,
                "required": sorted(props)[:required_count],
            },
            st.dictionaries(_names, children, min_size=1, max_size=4),
            st.integers(0, 4),
        ),
        st.builds(
            lambda items, lo, extra: {
                "type": "array",
                "items": items,
                "minItems": lo,
                "maxItems": lo + extra,
            },
            children,
            st.integers(0, 3),
            st.integers(0, 3),
        ),
        st.lists(children, min_size=1, max_size=3).map(lambda branches: {"anyOf": branches}),
        children.map(lambda schema: {"anyOf": [schema, {"type": "null"}]}),
    )


SCHEMAS = st.recursive(_leaves, _compound, max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=SCHEMAS, words=st.text(max_size=40))
def test_hypothesis_schemas_get_valid_values(schema, words):
    context = Context(text=words, last_user=words)
    _valid(value_for(schema, context), schema)


_KEYWORDS = st.sampled_from(
    ["type", "properties", "items", "required", "enum", "const", "anyOf", "oneOf", "allOf",
     "$ref", "$defs", "minimum", "maximum", "exclusiveMinimum", "multipleOf", "minLength",
     "maxLength", "pattern", "format", "minItems", "maxItems", "uniqueItems", "prefixItems",
     "additionalProperties", "minProperties", "not", "city"]
)  # fmt: skip
_ANYTHING = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 20)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.sampled_from(
        ["string", "integer", "object", "array", "null", "#", "#/$defs/a", "(", "date"]
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYWORDS, inner, max_size=4),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(schema=st.dictionaries(_KEYWORDS, _ANYTHING, max_size=5))
def test_any_json_as_a_schema_gets_a_value_or_a_400(schema):
    try:
        _valid(value_for(schema, CONTEXT), schema)
    except SchemaError as error:
        assert error.status == 400


# --- on the wire ----------------------------------------------------------------------------


@pytest.fixture
def http(fake: BackgroundServer):
    with httpx.Client(base_url=fake.url, timeout=30) as client:
        yield client


def test_openai_parse_returns_the_pydantic_model(client: openai.OpenAI):
    completion = client.chat.completions.parse(
        model=PLAIN, messages=[{"role": "user", "content": TRIP}], response_format=Traveller
    )
    traveller = completion.choices[0].message.parsed
    assert isinstance(traveller, Traveller)
    assert traveller.name == "Ada Lovelace" and traveller.age == 36


def test_completion_tokens_count_the_json_as_the_model_emits_it(client: openai.OpenAI):
    schema = Traveller.model_json_schema()
    response = client.chat.completions.create(
        model=PLAIN,
        messages=[{"role": "user", "content": TRIP}],
        response_format={"type": "json_schema", "json_schema": {"name": "t", "schema": schema}},
    )
    content = response.choices[0].message.content
    _valid(json.loads(content), schema)
    tokenizer = FAMILIES["llama3.2"].tokenizer
    # the JSON, then <|eot_id|>: one token the runner counts and never shows
    assert response.usage.completion_tokens == len(tokenizer.encode(content)) + 1


def test_a_stream_carries_the_same_json_in_token_pieces(client: openai.OpenAI):
    kwargs: dict[str, Any] = {
        "model": PLAIN,
        "messages": [{"role": "user", "content": TRIP}],
        "response_format": {"type": "json_object"},
    }
    whole = client.chat.completions.create(**kwargs).choices[0].message.content
    pieces = [
        chunk.choices[0].delta.content
        for chunk in client.chat.completions.create(stream=True, **kwargs)
        if chunk.choices and chunk.choices[0].delta.content
    ]
    assert len(pieces) > 3 and "".join(pieces) == whole
    assert json.loads(whole) == {"answer": json.loads(whole)["answer"]}


def test_response_format_text_is_no_format(client: openai.OpenAI):
    response = client.chat.completions.create(
        model=PLAIN,
        messages=[{"role": "user", "content": "Name three Canadian cities."}],
        response_format={"type": "text"},
    )
    assert response.choices[0].message.content.startswith("Here are three Canadian cities")


@pytest.mark.parametrize("endpoint", ["/api/chat", "/api/generate"])
def test_native_format_schema_and_json(http: httpx.Client, endpoint):
    schema = Trip.model_json_schema()
    body: dict[str, Any] = {"model": PLAIN, "stream": False, "format": schema}
    if endpoint == "/api/chat":
        body["messages"] = [{"role": "user", "content": TRIP}]
    else:
        body["prompt"] = TRIP
    answer = http.post(endpoint, json=body).json()
    text = answer["message"]["content"] if endpoint == "/api/chat" else answer["response"]
    _valid(json.loads(text), schema)
    answer = http.post(endpoint, json={**body, "format": "json"}).json()
    text = answer["message"]["content"] if endpoint == "/api/chat" else answer["response"]
    assert isinstance(json.loads(text), dict)


def test_the_ollama_client_with_a_pydantic_schema(fake: BackgroundServer):
    import ollama

    reply = ollama.Client(host=fake.url).chat(
        model=PLAIN,
        messages=[{"role": "user", "content": TRIP}],
        format=Traveller.model_json_schema(),
    )
    assert Traveller.model_validate_json(reply.message.content).name == "Ada Lovelace"


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("yaml", 'invalid format: "\\"yaml\\""; expected "json" or a valid JSON Schema object'),
        ([1, 2], 'invalid format: "[1,2]"; expected "json" or a valid JSON Schema object'),
    ],
)
def test_a_format_that_is_neither_json_nor_a_schema_is_refused(http: httpx.Client, fmt, message):
    body = {
        "model": PLAIN,
        "stream": False,
        "format": fmt,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    response = http.post("/api/chat", json=body)
    assert response.status_code == 400
    assert response.json() == {"error": message}
    rendered = http.post("/api/chat", json={**body, "_debug_render_only": True})
    assert rendered.status_code == 200  # checked by the runner, after the render-only return


def test_an_unsatisfiable_schema_is_a_400_on_v1(client: openai.OpenAI):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=PLAIN,
            messages=[{"role": "user", "content": "Hi"}],
            response_format={
                "type": "json_schema",
                "json_schema": {
                    "name": "x",
                    "schema": {"type": "array", "minItems": 2, "maxItems": 1},
                },
            },
        )
    assert "cannot satisfy this JSON schema" in caught.value.message


def test_gpt_oss_thinks_first_then_a_second_request_emits_the_json(client, fake):
    """ChatHandler's two requests: the answer reports the second one's counts."""
    messages = [{"role": "user", "content": TRIP}]
    first = httpx.post(
        fake.url + "/api/chat",
        json={"model": "gpt-oss:20b", "messages": messages, "_debug_render_only": True},
    ).json()["_debug_info"]["rendered_template"]  # the first request's prompt
    response = client.chat.completions.create(
        model="gpt-oss:20b", messages=messages, response_format={"type": "json_object"}
    )
    message = response.choices[0].message
    thinking = message.model_extra["reasoning"]
    second = (
        first.removesuffix("<|start|>assistant")
        + f"<|start|>assistant<|channel|>analysis<|message|>{thinking}<|end|>"
        + "<|start|>assistant<|channel|>final<|message|>"
    )
    tokenizer = FAMILIES["gptoss"].tokenizer
    assert response.usage.prompt_tokens == len(tokenizer.encode(second))
    # the JSON, then <|return|>; the thinking was generated by the first request
    assert response.usage.completion_tokens == len(tokenizer.encode(message.content)) + 1
    assert isinstance(json.loads(message.content), dict)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "minLength": 3.4e38},  # found by the hypothesis test above: a hang
        {"type": "string", "minLength": 10**9},
        {"type": "array", "minItems": 10**9},
        {"type": "object", "minProperties": 10**9},
        {"type": "array", "minItems": 4000, "items": {"type": "array", "minItems": 4000}},
    ],
)
def test_a_schema_asking_for_a_huge_value_is_refused_not_built(schema) -> None:
    with pytest.raises(SchemaError) as refused:
        value_for(schema, CONTEXT)
    assert refused.value.status == 400
    assert "the fake writes" in str(refused.value)
