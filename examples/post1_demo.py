"""The Post 1 demo as the series prints it: one model behind Ollama's OpenAI-compatible endpoint.

Runs unmodified against a real Ollama or against the bundled fake (`python -m mockserver`),
because both answer on http://localhost:11434/v1.
"""

import os

from openai import OpenAI

client = OpenAI(base_url="http://localhost:11434/v1", api_key="ollama")
MODEL = os.environ.get("MODEL", "gpt-oss:20b")

# Block 1: a single round trip.
resp = client.chat.completions.create(
    model=MODEL,
    messages=[{"role": "user", "content": "Name three Canadian cities."}],
)
print(resp.choices[0].message.content.strip())
print(resp.usage)

# Block 2: the stateless proof.
final_q = "Driving. What's the capital of Canada?"
one_turn = [{"role": "user", "content": final_q}]
five_turn = [
    {"role": "user", "content": "Hi, I'm planning a trip across Canada."},
    {"role": "assistant", "content": "Nice! Which provinces are you thinking of visiting?"},
    {"role": "user", "content": "Mainly Quebec and Ontario, with a stop in the Maritimes."},
    {"role": "assistant", "content": "Great picks. Are you flying in or driving?"},
    {"role": "user", "content": final_q},
]
r1 = client.chat.completions.create(model=MODEL, messages=one_turn)
r5 = client.chat.completions.create(model=MODEL, messages=five_turn)
print("1-turn:", r1.choices[0].message.content.strip())
print("5-turn:", r5.choices[0].message.content.strip())
print("1-turn prompt_tokens:", r1.usage.prompt_tokens)
print("5-turn prompt_tokens:", r5.usage.prompt_tokens)
print("delta:", r5.usage.prompt_tokens - r1.usage.prompt_tokens)
print(
    "The server holds NO conversation state between requests: the 5-turn call costs more\n"
    "prompt tokens only because the client re-sent the full history in the request body."
)
