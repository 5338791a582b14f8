"""A chat loop that keeps the contract: `python -m lab check -- python good_chat.py` passes.

One user turn per line on stdin. The client carries the conversation (the server keeps none):
the system prompt once at the start, then every question and every answer, re-sent each turn.
Answers are streamed with `stream_options.include_usage`, and the meter reads the usage chunk
(the last one, whose `choices` list is empty).
"""

import os
import sys

from openai import OpenAI

client = OpenAI()  # OPENAI_BASE_URL and OPENAI_API_KEY from the environment
model = os.environ.get("MODEL", "llama3.2:3b")
messages = [{"role": "system", "content": "You are a concise travel assistant."}]
total_tokens = 0

for line in sys.stdin:
    question = line.strip()
    if not question:
        continue
    messages.append({"role": "user", "content": question})
    stream = client.chat.completions.create(
        model=model, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    answer = []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            answer.append(chunk.choices[0].delta.content)
        if chunk.usage:  # the usage chunk: choices == []
            total_tokens += chunk.usage.total_tokens
    messages.append({"role": "assistant", "content": "".join(answer)})
    print(f"> {question}\n{''.join(answer)}\n")

print(f"total tokens: {total_tokens}")
