"""Talk to Headwater with the official OpenAI client, unchanged: list models, chat, stream, complete.

Start the platform first (`make up`), then:

    HEADWATER_API_KEY=$(cat .headwater/admin.key) .venv/bin/python examples/openai_client.py
"""

from __future__ import annotations

import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("HEADWATER_BASE_URL", "http://127.0.0.1:8000/v1"),
    api_key=os.environ["HEADWATER_API_KEY"],
)
model = client.models.list().data[0].id
print("model:", model)

answer = client.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": "What is the capital of France?"}],
    max_tokens=32,
    temperature=0,
)
print("chat:", answer.choices[0].message.content, "| usage:", answer.usage.model_dump())

print("stream: ", end="")
for chunk in client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": "Name three rivers."}], max_tokens=32, stream=True
):
    print(chunk.choices[0].delta.content or "", end="", flush=True)
print()

completion = client.completions.create(model=model, prompt="The capital of Italy is", max_tokens=8, seed=1, n=2)
print("completions:", [choice.text for choice in completion.choices])
