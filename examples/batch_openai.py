"""Run a batch of chat requests with the official OpenAI client, unchanged: upload the input file, create the
batch, wait, read the output file.

Start the platform first (`make up`), then:

    HEADWATER_API_KEY=$(cat .headwater/admin.key) .venv/bin/python examples/batch_openai.py
"""

from __future__ import annotations

import json
import os
import time

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("HEADWATER_BASE_URL", "http://127.0.0.1:8000/v1"),
    api_key=os.environ["HEADWATER_API_KEY"],
)
model = client.models.list().data[0].id
questions = ["What is 2 + 2?", "Name a colour.", "Say hello."]
lines = [
    {
        "custom_id": f"q{i}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": model, "messages": [{"role": "user", "content": q}], "max_tokens": 16, "temperature": 0},
    }
    for i, q in enumerate(questions)
]
data = "\n".join(json.dumps(line) for line in lines).encode()
upload = client.files.create(file=("questions.jsonl", data), purpose="batch")
batch = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h")
print("batch:", batch.id, batch.status)

while batch.status not in ("completed", "failed", "cancelled", "expired"):
    time.sleep(0.5)
    batch = client.batches.retrieve(batch.id)
print("status:", batch.status, "| counts:", batch.request_counts.model_dump())

for line in client.files.content(batch.output_file_id).text.splitlines():
    result = json.loads(line)
    print(result["custom_id"], "→", result["response"]["body"]["choices"][0]["message"]["content"])
