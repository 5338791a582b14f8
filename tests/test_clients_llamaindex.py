"""LlamaIndex against the fake: ``llama-index-llms-ollama`` and ``llama-index-embeddings-ollama``.

What an app built on LlamaIndex does with Ollama, nothing set for the fake but ``base_url``:
``structured_predict`` and ``as_structured_llm`` with a pydantic class (LlamaIndex sends the
class's JSON schema as ``format``), ``predict_and_call`` and a ``FunctionAgent`` with a tool,
``stream_chat`` / ``stream_complete``, and ``OllamaEmbedding``. Every test runs with the network
refused but loopback (``tests/offline.py``), and one runs LlamaIndex in a fresh interpreter with
no caches of the user's: LlamaIndex needs nothing from the internet (it ships tiktoken's
``cl100k_base`` and nltk's stopwords and punkt in ``llama_index/core/_static`` and points
``TIKTOKEN_CACHE_DIR`` / nltk at them when unset).

Installed by the ``clients`` extra (``nox -s clients``); skipped without it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest

pytest.importorskip("llama_index.llms.ollama", reason="the `clients` extra (nox -s clients)")
pytest.importorskip("llama_index.embeddings.ollama", reason="the `clients` extra")

from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.llms import ChatMessage
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from llama_index.embeddings.ollama import OllamaEmbedding
from llama_index.llms.ollama import Ollama

from mockserver.config import Settings
from mockserver.server import BackgroundServer, serving
from tests.offline import ATTEMPTS, forbid_network

# LlamaIndex reads pydantic's deprecated attributes on every call: not the fake's concern.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MODELS = ("llama3.2:3b", "llama3.1:8b", "qwen2.5:7b", "mistral:7b", "gpt-oss:20b")
TOOL_MODELS = ["llama3.1:8b", "qwen2.5:7b", "mistral:7b", "gpt-oss:20b"]


@pytest.fixture(scope="module")
def fake() -> Iterator[BackgroundServer]:
    settings = Settings(
        port=0, models=(*MODELS, "nomic-embed-text"), seed=5, current_date="2026-01-01", journal=50
    )
    with serving(settings) as server:
        yield server


@pytest.fixture(autouse=True)
def offline(fake: BackgroundServer) -> Iterator[None]:
    fake.journal.clear()
    ATTEMPTS.clear()
    restore = forbid_network()
    try:
        yield
    finally:
        restore()
    assert ATTEMPTS == [], "LlamaIndex tried to reach the network"


def llm(fake: BackgroundServer, model: str) -> Ollama:
    return Ollama(model=model, base_url=fake.url, request_timeout=60, context_window=8192)


class Forecast(pydantic.BaseModel):
    """A weather forecast for one city."""

    city: str
    temperature: int
    summary: str
    sky: str = pydantic.Field(pattern="^(clear|cloudy|rain)$")


ASK_FORECAST = "Forecast for Oslo: 7 degrees, light rain."


@pytest.mark.parametrize("model", ["llama3.2:3b", "qwen2.5:7b", "gpt-oss:20b"])
def test_structured_predict_sends_the_schema_and_returns_the_class(fake, model):
    forecast = llm(fake, model).structured_predict(
        Forecast, PromptTemplate("Forecast for {city}: 7 degrees, light rain."), city="Oslo"
    )
    assert isinstance(forecast, Forecast)
    assert (forecast.city, forecast.temperature) == ("Oslo", 7)
    entry = fake.journal.last
    assert entry.path == "/api/chat"
    assert entry.body["format"] == Forecast.model_json_schema()


def test_as_structured_llm_chat_and_complete(fake):
    structured = llm(fake, "qwen2.5:7b").as_structured_llm(Forecast)
    chat = structured.chat([ChatMessage(role="user", content=ASK_FORECAST)])
    assert isinstance(chat.raw, Forecast) and chat.raw.city == "Oslo"
    assert Forecast.model_validate_json(chat.message.content) == chat.raw
    completed = structured.complete(ASK_FORECAST)
    assert Forecast.model_validate_json(completed.text) == chat.raw


def weather(city: str) -> dict[str, Any]:
    """Get the current weather in a city."""
    return {"city": city, "temperature": 19, "condition": "cloudy"}


@pytest.mark.parametrize("model", TOOL_MODELS)
def test_predict_and_call_calls_the_tool_with_the_users_city(fake, model):
    output = llm(fake, model).predict_and_call(
        [FunctionTool.from_defaults(weather, name="get_weather")], "How is the weather in Lisbon?"
    )
    (source,) = output.sources
    assert source.tool_name == "get_weather"
    assert source.raw_input["kwargs"] == {"city": "Lisbon"}
    assert source.raw_output == weather("Lisbon")


@pytest.mark.parametrize("model", TOOL_MODELS)
def test_a_function_agent_runs_the_tool_loop_to_an_answer(fake, model):
    agent = FunctionAgent(
        tools=[FunctionTool.from_defaults(weather, name="get_weather")],
        llm=llm(fake, model),
        system_prompt="You are a weather bot.",
    )

    async def ask() -> Any:  # a workflow starts inside a running event loop
        return await agent.run("How is the weather in Lisbon?")

    result = asyncio.run(ask())
    assert [(c.tool_name, c.tool_kwargs) for c in result.tool_calls] == [
        ("get_weather", {"city": "Lisbon"})
    ]
    assert "get_weather says" in str(result.response) and "19" in str(result.response)
    first, second = [e for e in fake.journal if e.path == "/api/chat"]
    roles = [m["role"] for m in second.messages]
    assert roles == ["system", "user", "assistant", "tool"]  # the agent re-sent everything
    assert second.messages[2]["tool_calls"][0]["function"]["arguments"] == {"city": "Lisbon"}
    assert "'temperature': 19" in second.prompt  # the result, as the template renders it
    assert first.completion_tokens and second.completion_tokens


def local_time(city: str) -> dict[str, Any]:
    """Get the local time in a city."""
    return {"city": city, "hour": 9}


def test_a_function_agent_runs_parallel_calls_in_one_turn(fake):
    agent = FunctionAgent(
        tools=[
            FunctionTool.from_defaults(weather, name="get_weather"),
            FunctionTool.from_defaults(local_time, name="get_local_time"),
        ],
        llm=llm(fake, "qwen2.5:7b"),
    )

    async def ask() -> Any:
        return await agent.run("What's the weather in Paris and the local time in Tokyo?")

    result = asyncio.run(ask())
    assert [(c.tool_name, c.tool_kwargs) for c in result.tool_calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_local_time", {"city": "Tokyo"}),
    ]
    assert [e.path for e in fake.journal] == ["/api/chat", "/api/chat"]  # both in one turn
    assert "get_local_time says" in str(result.response)


def test_stream_chat_and_stream_complete_join_into_the_answer(fake):
    model = llm(fake, "llama3.2:3b")
    messages = [ChatMessage(role="user", content="Name three Canadian cities.")]
    whole = model.chat(messages)
    pieces = list(model.stream_chat(messages))
    assert len(pieces) > 2
    assert "".join(p.delta or "" for p in pieces) == whole.message.content
    assert pieces[-1].message.content == whole.message.content
    assert pieces[-1].raw["eval_count"] == fake.journal.last.completion_tokens
    assert pieces[-1].raw["prompt_eval_count"] == whole.raw["prompt_eval_count"]
    streamed = list(model.stream_complete("Name three Canadian cities."))
    assert streamed[-1].text == "".join(p.delta or "" for p in streamed)


def test_ollama_embedding_gives_the_servers_vectors(fake):
    embedder = OllamaEmbedding(model_name="nomic-embed-text", base_url=fake.url)
    texts = ["The cat sat on the mat.", "A cat on a mat.", "Quarterly tax filing deadlines."]
    vectors = embedder.get_text_embedding_batch(texts)
    served = httpx.post(
        f"{fake.url}/api/embed", json={"model": "nomic-embed-text", "input": texts}
    ).json()
    assert vectors == served["embeddings"]
    assert embedder.get_query_embedding(texts[0]) == vectors[0]
    cat, mat, tax = vectors
    assert embedder.similarity(cat, mat) > embedder.similarity(cat, tax)


OFFLINE_RUN = """
import asyncio, os, sys
sys.path.insert(0, sys.argv[2])
from tests.offline import ATTEMPTS, forbid_network
forbid_network()
from llama_index.core import Settings
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.tools import FunctionTool
from llama_index.core.utils import globals_helper
from llama_index.llms.ollama import Ollama
from llama_index.embeddings.ollama import OllamaEmbedding

assert len(Settings.tokenizer("tiktoken's cl100k_base, from LlamaIndex's own cache")) > 5
assert "the" in globals_helper.stopwords  # nltk's stopwords, bundled
chunks = SentenceSplitter(chunk_size=32, chunk_overlap=0).split_text("One. Two three. " * 40)
assert len(chunks) > 1

def get_weather(city: str) -> str:
    "Get the current weather in a city."
    return f"sunny in {city}"

llm = Ollama(model="qwen2.5:7b", base_url=sys.argv[1], request_timeout=60)
agent = FunctionAgent(tools=[FunctionTool.from_defaults(get_weather)], llm=llm)
async def ask():
    return await agent.run("Weather in Lisbon?")
result = asyncio.run(ask())
assert "sunny in Lisbon" in str(result.response), result.response
OllamaEmbedding(model_name="nomic-embed-text", base_url=sys.argv[1]).get_text_embedding("hi")
assert ATTEMPTS == [], ATTEMPTS
print("offline ok")
"""


def test_llamaindex_downloads_nothing_in_a_fresh_interpreter(fake, tmp_path: Path):
    """No tiktoken or nltk cache of the user's, a fresh HOME: the run must still need no
    network (a download attempt would fail the guard, whatever library makes it)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "PYTHONPATH": "",
    }
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run(
        [sys.executable, "-c", OFFLINE_RUN, fake.url, str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    if "multiply-linked file" in run.stderr:  # nltk's pathsec and a hard-linked install
        pytest.fail("nltk refuses its hard-linked data files: install with UV_LINK_MODE=copy")
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().endswith("offline ok")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*"))
