"""A chat loop with four classic mistakes; `python -m lab check -- python bad_chat.py` fails.

1. It keeps the questions but not the answers: the model never sees what it said.
2. It appends the system prompt again on every turn.
3. It streams without `stream_options.include_usage`, so no chunk carries usage...
4. ...and its meter, which reads `chunk.usage`, bills every stream as zero.
"""

import os
import sys

from openai import OpenAI

client = OpenAI()
model = os.environ.get("MODEL", "llama3.2:3b")
messages = []
total_tokens = 0

for line in sys.stdin:
    question = line.strip()
    if not question:
        continue
    messages.append({"role": "system", "content": "You are a concise travel assistant."})
    messages.append({"role": "user", "content": question})
    stream = client.chat.completions.create(model=model, messages=messages, stream=True)
    answer = ""
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            answer += chunk.choices[0].delta.content
        if chunk.usage:
            total_tokens += chunk.usage.total_tokens
    print(f"> {question}\n{answer}\n")

print(f"total tokens: {total_tokens}")
