"""Real client flows against the fake, unmodified: an app that asks for JSON or offers tools.

Each test is what an app written for Ollama does with its client library, with nothing set for
the fake: the ``openai`` SDK's ``parse`` with a pydantic tool and output, pydantic-ai's agent
(tool output and native output), and LangChain's ``ChatOllama`` (``with_structured_output``,
``bind_tools``). The ``ollama`` client's tool loop and ``format=schema`` are in
``test_tool_calls.py`` and ``test_structured_outputs.py``.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pydantic
import pytest

from mockserver.server import BackgroundServer


class GetWeather(pydantic.BaseModel):
    """Get the current weather in a city."""

    city: str
    unit: str = "celsius"


class Forecast(pydantic.BaseModel):
    city: str
    temperature: int
    summary: str


def _weather(city: str) -> dict[str, Any]:
    return {"city": city, "temperature": 19, "condition": "cloudy"}


@pytest.mark.parametrize("model", ["llama3.2:3b", "qwen2.5:7b", "gpt-oss:20b"])
def test_openai_parse_with_a_pydantic_tool_then_a_pydantic_answer(
    client: openai.OpenAI, model: str
):
    messages: list[Any] = [{"role": "user", "content": "How is the weather in Lisbon today?"}]
    first = client.chat.completions.parse(
        model=model, messages=messages, tools=[openai.pydantic_function_tool(GetWeather)]
    )
    (call,) = first.choices[0].message.tool_calls
    arguments = call.function.parsed_arguments
    assert isinstance(arguments, GetWeather) and arguments.city == "Lisbon"

    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append(
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps(_weather(arguments.city))}
    )
    final = client.chat.completions.parse(model=model, messages=messages, response_format=Forecast)
    forecast = final.choices[0].message.parsed
    assert forecast == Forecast(city="Lisbon", temperature=19, summary=forecast.summary)
    assert "cloudy" in forecast.summary


@pytest.fixture
def pydantic_ai_model(fake: BackgroundServer):
    pytest.importorskip("pydantic_ai")
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.ollama import OllamaProvider

    return lambda name: OpenAIChatModel(name, provider=OllamaProvider(base_url=fake.openai_url))


@pytest.mark.parametrize("model", ["qwen2.5:7b", "llama3.1:8b", "mistral:7b"])
def test_a_pydantic_ai_agent_calls_its_tool_then_its_output_tool(pydantic_ai_model, model):
    from pydantic_ai import Agent

    agent = Agent(pydantic_ai_model(model), output_type=Forecast, instructions="Weather bot.")
    called: list[str] = []

    @agent.tool_plain
    def get_weather(city: str) -> dict[str, Any]:
        """Get the current weather in a city."""
        called.append(city)
        return _weather(city)

    result = agent.run_sync("What's the weather in Halifax?")
    assert called == ["Halifax"]
    assert (result.output.city, result.output.temperature) == ("Halifax", 19)
    assert result.usage.input_tokens > 0


def test_a_pydantic_ai_agent_with_native_structured_output(pydantic_ai_model):
    from pydantic_ai import Agent, NativeOutput

    agent = Agent(pydantic_ai_model("llama3.2:3b"), output_type=NativeOutput(Forecast))
    result = agent.run_sync("Forecast for Ottawa, please: about 12 degrees.")
    assert result.output.city == "Ottawa" and result.output.temperature == 12


@pytest.fixture
def chat_ollama(fake: BackgroundServer):
    pytest.importorskip("langchain_ollama")
    from langchain_ollama import ChatOllama

    return lambda name: ChatOllama(model=name, base_url=fake.url)


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_langchain_with_structured_output(chat_ollama, method):
    llm = chat_ollama("qwen2.5:7b").with_structured_output(Forecast, method=method)
    forecast = llm.invoke("Forecast for Oslo: 7 degrees, light rain.")
    assert (forecast.city, forecast.temperature) == ("Oslo", 7)


def test_langchain_bind_tools_loop(chat_ollama):
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool

    @tool
    def get_weather(city: str) -> str:
        """Get the current weather in a city."""
        return f"sunny in {city}, 20 degrees"

    llm = chat_ollama("llama3.1:8b").bind_tools([get_weather])
    messages: list[Any] = [HumanMessage("What's the weather in Rome?")]
    asked = llm.invoke(messages)
    assert [(c["name"], c["args"]) for c in asked.tool_calls] == [("get_weather", {"city": "Rome"})]
    assert asked.usage_metadata["output_tokens"] > 0
    messages.append(asked)
    messages += [
        ToolMessage(get_weather.invoke(c["args"]), tool_call_id=c["id"]) for c in asked.tool_calls
    ]
    assert "sunny in Rome, 20 degrees" in llm.invoke(messages).content
