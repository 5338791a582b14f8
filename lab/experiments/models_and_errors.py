"""``/v1/models`` and the errors a client must handle: an unknown model, a malformed request."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lab.experiment import Answer, Facts, Finding, experiment

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletionMessageParam

    from lab.context import Lab

UNKNOWN_MODEL = "no-such-model-portway:latest"
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello."}]
ANSWER_CAP = 16  # max_tokens, in case a server answers a request it should have refused


@dataclass(frozen=True, slots=True)
class Probe:
    """One request the lab makes on purpose, what the contract expects, and what came back."""

    name: str
    request: str
    expected: int
    status: int
    raised: str  # the SDK exception class, or "" (no exception)
    body: Any

    @property
    def as_expected(self) -> bool:
        return self.status == self.expected

    def as_dict(self) -> dict[str, Any]:
        return {
            "request": self.request,
            "expected_status": self.expected,
            "status": self.status,
            "sdk_raised": self.raised or None,
            "body": self.body,
        }


@experiment(
    "models_and_errors",
    "Models and errors",
    "GET /v1/models, then a chat with an unknown model and two malformed requests: "
    "the statuses and error bodies a client must handle.",
    default=False,
)
def models_and_errors(lab: Lab) -> Finding:
    from lab.ollama import same_model

    ids, owners, listing_error = _listed(lab)
    listed = any(i == lab.model or same_model(i, lab.model) for i in ids)
    probes = [
        _sdk_probe(lab, "unknown model", f"model={UNKNOWN_MODEL!r}", 404, UNKNOWN_MODEL, HELLO),
        _sdk_probe(lab, "empty messages", "messages=[]", 400, lab.model, []),
        _raw_probe(lab, "wrong type", 'messages="hi" (a string, not a list)', 400),
    ]
    data: dict[str, Any] = {
        "models": ids,
        "owned_by": owners,
        "listing_error": listing_error,
        "model_listed": listed,
        "probes": {p.name: p.as_dict() for p in probes},
    }
    unknown = probes[0]
    show: list[Facts | Answer] = [
        Facts(
            f"GET /v1/models: {len(ids)} model{'s' if len(ids) != 1 else ''}",
            ("id", "owned_by", "the lab's model"),
            tuple(
                (i, owners.get(i, ""), "◀" if i == lab.model or same_model(i, lab.model) else "")
                for i in ids
            )
            or (("(none)", listing_error or "", ""),),
        ),
        Facts(
            "Requests that should fail",
            ("request", "expected", "got", "the SDK raised"),
            tuple(
                (p.request, str(p.expected), str(p.status), p.raised or "nothing") for p in probes
            ),
        ),
        Answer(f"HTTP {unknown.status} body for the unknown model", _pretty(unknown.body)),
    ]
    explanation = [
        f"GET /v1/models lists {len(ids)} model{'s' if len(ids) != 1 else ''}; {lab.model} is "
        + ("among them." if listed else "NOT among them.")
        + " The id is the name to send as model; a gateway routes on it."
        if not listing_error
        else f"GET /v1/models failed ({listing_error}): this server does not list its models.",
    ]
    explanation += [_says(p) for p in probes]
    deviations = [p for p in probes if not p.as_expected]
    if deviations:
        explanation.append(
            "This server departs from the OpenAI contract in "
            f"{len(deviations)} of {len(probes)} cases: a client written against OpenAI or "
            "Ollama must not rely on the status alone here. That is a finding, not a failure."
        )
    else:
        explanation.append(
            "A client can branch on the status: 404 means fix the model name (or pull it), "
            "400 means fix the request; retrying either is pointless. The SDK raises a typed "
            "exception for each, with the server's message in .body."
        )
    figure = (
        f"{len(ids)} model{'s' if len(ids) != 1 else ''} listed; HTTP "
        + ", ".join(str(p.status) for p in probes)
        + f" (expected {', '.join(str(p.expected) for p in probes)})"
    )
    return Finding(data, explanation, show, figure=figure)


def _listed(lab: Lab) -> tuple[list[str], dict[str, str], str]:
    import openai

    try:
        with lab.waiting("GET /v1/models"):
            page = lab.client.models.list()
    except openai.APIStatusError as exc:
        return [], {}, f"HTTP {exc.status_code}"
    models = list(page.data)
    return [m.id for m in models], {m.id: str(m.owned_by) for m in models}, ""


def _sdk_probe(
    lab: Lab,
    name: str,
    request: str,
    expected: int,
    model: str,
    messages: list[ChatCompletionMessageParam],
) -> Probe:
    import openai

    try:
        with lab.waiting(name):
            response = lab.client.chat.completions.create(
                model=model, messages=messages, max_tokens=ANSWER_CAP
            )
    except openai.APIStatusError as exc:
        return Probe(name, request, expected, exc.status_code, type(exc).__name__, _body(exc))
    return Probe(name, request, expected, 200, "", response.model_dump(mode="json", warnings=False))


def _raw_probe(lab: Lab, name: str, request: str, expected: int) -> Probe:
    """A body the SDK would not send: plain HTTP, so the server's own check answers."""
    with lab.waiting(name):
        response = lab.http.post(
            f"{lab.target.openai_url}/chat/completions",
            json={"model": lab.model, "messages": "hi", "max_tokens": ANSWER_CAP},
        )
    try:
        body: Any = response.json()
    except ValueError:
        from lab.errors import quote_body  # never a raw HTML page in the output

        body = quote_body(response.text, response.headers.get("content-type", ""), limit=500)
    return Probe(name, request, expected, response.status_code, "", body)


def _says(probe: Probe) -> str:
    message = _message(probe.body)
    if probe.as_expected:
        raised = f"the SDK raised {probe.raised}" if probe.raised else "plain HTTP"
        return f"{probe.request}: HTTP {probe.status} ({raised}): {message}"
    if probe.status == 200:
        return (
            f"{probe.request}: this server answered 200 instead of {probe.expected}"
            + (
                f" (it served the request anyway, as {probe.body.get('model')!r})"
                if isinstance(probe.body, dict) and probe.body.get("model")
                else ""
            )
            + ". A typo in a model name or an empty request goes unnoticed here."
        )
    return (
        f"{probe.request}: this server answered HTTP {probe.status}, not {probe.expected}: "
        f"{message}"
    )


def _body(exc: openai.APIStatusError) -> Any:
    try:
        return exc.response.json()
    except ValueError:
        from lab.errors import quote_body

        return quote_body(exc.response.text, exc.response.headers.get("content-type", ""), 500)


def _message(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return _short(error["message"])
        if isinstance(error, str):
            return _short(error)
    return _short(json.dumps(body) if not isinstance(body, str) else body)


def _short(text: str, width: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _pretty(body: Any) -> str:
    return json.dumps(body, indent=2, ensure_ascii=False) if not isinstance(body, str) else body
