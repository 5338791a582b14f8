"""``:local`` and ``:cloud`` on every route that takes a model name, over a real socket.

``internal/modelref/modelref.go`` ParseRef, ``server/model_resolver.go``
parseAndValidateModelRef, each handler's ``writeModelRefParseError`` fallback and
``server/cloud_proxy.go`` (ollama/ollama@fb3076099). The fake answers ``:cloud`` as an Ollama
with its cloud turned off (``OLLAMA_NO_CLOUD=1``): 403, native shape, even on ``/v1``
(``cloudPassthroughMiddleware`` writes it before the OpenAI layer).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from mockserver.config import Settings
from mockserver.server import serving

CHAT = "llama3.2:3b"
EMBED = "all-minilm"
HI = [{"role": "user", "content": "hi"}]

# route -> (method, path, body for a model name); every row below runs on every route.
Build = Callable[[str], tuple[str, str, dict | None]]
ROUTES: dict[str, Build] = {
    "/api/chat": lambda m: ("POST", "/api/chat", {"model": m, "messages": HI, "stream": False}),
    "/api/generate": lambda m: ("POST", "/api/generate", {"model": m, "prompt": "hi",
                                                          "stream": False}),
    "/api/show": lambda m: ("POST", "/api/show", {"model": m}),
    "/api/embed": lambda m: ("POST", "/api/embed", {"model": m, "input": "hi"}),
    "/api/embeddings": lambda m: ("POST", "/api/embeddings", {"model": m, "prompt": "hi"}),
    "/v1/chat/completions": lambda m: ("POST", "/v1/chat/completions",
                                       {"model": m, "messages": HI}),
    "/v1/completions": lambda m: ("POST", "/v1/completions", {"model": m, "prompt": "hi"}),
    "/v1/embeddings": lambda m: ("POST", "/v1/embeddings", {"model": m, "input": "hi"}),
    "/v1/responses": lambda m: ("POST", "/v1/responses", {"model": m, "input": "hi"}),
    "/v1/messages": lambda m: ("POST", "/v1/messages", {"model": m, "max_tokens": 8,
                                                        "messages": HI}),
    "/v1/models/{model}": lambda m: ("GET", f"/v1/models/{m}", None),
}  # fmt: skip
EMBEDDING_ROUTES = {"/api/embed", "/api/embeddings", "/v1/embeddings"}
DETAILS = {"/api/show", "/v1/models/{model}"}  # the cloud refusal names model details


def _model(route: str) -> str:
    return EMBED if route in EMBEDDING_ROUTES else CHAT


@pytest.fixture(scope="module")
def http() -> httpx.Client:
    with (
        serving(Settings(port=0, current_date="2026-03-23", models=(CHAT, EMBED))) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        yield client


def _with_suffix(model: str, suffix: str) -> str:
    """A "-cloud" suffix ends a tag: the name needs one."""
    if suffix.startswith("-") and ":" not in model:
        model += ":latest"
    return model + suffix


def _send(http: httpx.Client, route: str, model: str) -> httpx.Response:
    method, path, body = ROUTES[route](model)
    return http.request(method, path, json=body)


def _message(reply: httpx.Response) -> str:
    """The error's words, whichever surface's shape carries them."""
    error = reply.json()["error"]
    return error if isinstance(error, str) else error["message"]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("suffix", [":local", ":LOCAL", ": local "])
def test_local_names_the_local_model(http: httpx.Client, route: str, suffix: str) -> None:
    """The suffix is dropped for the lookup; the answer is the plain name's."""
    plain = _send(http, route, _model(route))
    local = _send(http, route, _model(route) + suffix)
    assert (local.status_code, plain.status_code) == (200, 200), local.text
    if route == "/v1/models/{model}":
        assert local.json()["id"] == _model(route) + suffix  # echoed as sent
    elif route in ("/api/chat", "/api/generate", "/api/embed"):
        assert local.json()["model"] == _model(route) + suffix
        assert local.json().get("prompt_eval_count") == plain.json().get("prompt_eval_count")


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name", [":cloud", ":Cloud", "-cloud"])
def test_cloud_is_refused_as_an_ollama_with_cloud_off(
    http: httpx.Client, route: str, name: str
) -> None:
    model = _with_suffix(_model(route), name)
    reply = _send(http, route, model)
    operation = "remote model details" if route in DETAILS else "remote model"
    operation += " are unavailable" if route in DETAILS else " is unavailable"
    assert (reply.status_code, reply.json()) == (
        403,
        {"error": f"ollama cloud is disabled: {operation}"},
    )


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("suffixes", [":local:cloud", ":cloud:local", "-cloud:local"])
def test_two_source_suffixes_are_a_400(http: httpx.Client, route: str, suffixes: str) -> None:
    """ErrConflictingSourceSuffix on every route; on /v1 the cloud passthrough lets the name
    through (it does not parse) and the handler's 400 comes back in the surface's shape."""
    model = _with_suffix(_model(route), suffixes)
    reply = _send(http, route, model)
    assert reply.status_code == 400, reply.text
    assert _message(reply) == f'use either :local or :cloud, not both: "{model}"'


@pytest.mark.parametrize(
    ("route", "status", "message"),
    [
        ("/api/chat", 404, "model 'nope:1b:local' not found"),
        ("/api/generate", 404, "model 'nope:1b:local' not found"),
        ("/api/show", 404, "model 'nope:1b' not found"),  # re-spelt: DisplayShortest
        ("/api/embed", 404, 'model "nope:1b:local" not found, try pulling it first'),
        ("/api/embeddings", 404, 'model "nope:1b:local" not found, try pulling it first'),
        ("/v1/chat/completions", 404, "model 'nope:1b:local' not found"),
        ("/v1/embeddings", 404, 'model "nope:1b:local" not found, try pulling it first'),
        ("/v1/models/{model}", 404, "model 'nope:1b' not found"),
    ],
)
def test_an_unknown_local_model_is_the_routes_not_found(
    http: httpx.Client, route: str, status: int, message: str
) -> None:
    reply = _send(http, route, "nope:1b:local")
    assert (reply.status_code, _message(reply)) == (status, message)


def test_the_cloud_refusal_comes_before_the_body_is_read_on_v1(http: httpx.Client) -> None:
    """cloudPassthroughMiddleware only looks at "model": a body the OpenAI layer would refuse
    is still the cloud's 403."""
    body = {"model": f"{CHAT}:cloud", "messages": "not a list"}
    reply = http.post("/v1/chat/completions", json=body)
    assert reply.status_code == 403
    assert reply.json() == {"error": "ollama cloud is disabled: remote model is unavailable"}


# --- model management: parseNormalizePullModelRef (pull, delete), parseAndValidateModelRef
# (create's "from"); copy and push parse plain names (":local" is a tag there).


def test_pull_and_delete_take_a_local_name_for_the_model(http: httpx.Client) -> None:
    pulled = http.post("/api/pull", json={"model": "llama3.2:1b:local", "stream": False})
    assert (pulled.status_code, pulled.json()) == (200, {"status": "success"})
    names = {m["name"] for m in http.get("/api/tags").json()["models"]}
    assert "llama3.2:1b" in names
    deleted = http.request("DELETE", "/api/delete", json={"model": "llama3.2:1b:LOCAL"})
    assert deleted.status_code == 200
    assert "llama3.2:1b" not in {m["name"] for m in http.get("/api/tags").json()["models"]}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("POST", "/api/pull", {"model": f"{CHAT}:local:cloud", "stream": False}, 400,
         f'use either :local or :cloud, not both: "{CHAT}:local:cloud"'),
        ("DELETE", "/api/delete", {"model": f"{CHAT}:cloud:local"}, 400,
         f'use either :local or :cloud, not both: "{CHAT}:cloud:local"'),
        # a cloud model is a legacy stub name locally (llama3.2:3b-cloud): none pulled here
        ("DELETE", "/api/delete", {"model": f"{CHAT}:cloud"}, 404,
         f"model '{CHAT}:cloud' not found"),
        ("DELETE", "/api/delete", {"model": "a:b:c"}, 400, 'name "a:b:c" is invalid'),
        ("POST", "/api/pull", {"model": "a:b:c", "stream": False}, 400, "invalid model name"),
        # create: "from" with two suffixes is worded as any invalid name
        ("POST", "/api/create", {"model": "mine", "from": f"{CHAT}:local:cloud",
                                 "stream": False}, 400, "invalid model name"),
    ],
)  # fmt: skip
def test_management_routes_parse_suffixes_as_ollama_does(
    http: httpx.Client, method: str, path: str, body: dict, status: int, error: str
) -> None:
    reply = http.request(method, path, json=body)
    assert (reply.status_code, reply.json()) == (status, {"error": error})


def test_create_from_a_local_name(http: httpx.Client) -> None:
    body = {"model": "mine:v1", "from": f"{CHAT}:local", "system": "Be brief.", "stream": False}
    reply = http.post("/api/create", json=body)
    assert (reply.status_code, reply.json()) == (200, {"status": "success"})
    shown = http.post("/api/show", json={"model": "mine:v1:local"}).json()
    assert shown["system"] == "Be brief."


def test_the_name_cache_is_bounded_and_keeps_no_error() -> None:
    from mockserver.errors import OllamaError
    from mockserver.modelref import _cached_local_base, local_base

    _cached_local_base.cache_clear()
    for _ in range(2):  # raised every time, never remembered as an answer
        with pytest.raises(OllamaError, match="not both"):
            local_base("gpt-oss:20b:local:cloud")
    assert local_base("gpt-oss:20b:local") == "gpt-oss:20b"
    local_base("m" * 10_000 + ":local")  # a long name is parsed, not kept
    info = _cached_local_base.cache_info()
    assert info.maxsize == 512 and info.currsize == 1
