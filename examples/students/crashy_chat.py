"""Asks for the usage chunk, then crashes on it: `chunk.choices[0]` on a chunk with no choices.

`python -m lab check -- python crashy_chat.py` fails "runs to the end" and says why.
"""

import os
import sys

from openai import OpenAI

client = OpenAI()
model = os.environ.get("MODEL", "llama3.2:3b")
messages = []

for line in sys.stdin:
    messages.append({"role": "user", "content": line.strip()})
    stream = client.chat.completions.create(
        model=model, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    answer = "".join(chunk.choices[0].delta.content or "" for chunk in stream)  # IndexError
    messages.append({"role": "assistant", "content": answer})
    print(answer)
