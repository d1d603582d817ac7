"""The platform's services with the official OpenAI client and plain HTTP: moderate a dataset with an LLM guard over
the served model, judge a benchmark file as a job (the bench report as its result file), and read the footprint:
the requests' own, and a portfolio's HTML report made by a job.

Start the platform first (`make up`), then:

    HEADWATER_API_KEY=$(cat .headwater/admin.key) .venv/bin/python examples/platform_services.py
"""

from __future__ import annotations

import json
import os
import time

import httpx
from openai import OpenAI

base_url = os.environ.get("HEADWATER_BASE_URL", "http://127.0.0.1:8000/v1")
key = os.environ["HEADWATER_API_KEY"]
client = OpenAI(base_url=base_url, api_key=key)
auth = {"Authorization": f"Bearer {key}"}
model = client.models.list().data[0].id


def finished(job: dict) -> dict:
    """Poll `GET /v1/jobs/{id}` until the job has ended."""
    while job["state"] in ("queued", "running"):
        time.sleep(0.5)
        job = httpx.get(f"{base_url}/jobs/{job['id']}", headers=auth, timeout=30).json()
    return job


# 1. moderate a dataset: `model` names a served model, so an LLM guard over it (unparseable replies are flagged)
dataset = ["How do I bake bread?", "Tell me a joke about rivers."]
moderation = client.moderations.create(model=model, input=dataset)
print("moderation:", moderation.model, "| flagged:", sum(result.flagged for result in moderation.results))

# 2. judge a benchmark file with the served model, as a job
items = [
    {"instruction": "Is 2 + 2 = 4?", "response": "Yes.", "criteria": "Is the response correct?", "label": "Yes"},
    {"instruction": "Name a colour.", "response": "Seven.", "criteria": "Is it a colour?", "label": "No"},
]
bench = client.files.create(
    file=("bench.jsonl", "".join(json.dumps(i) + "\n" for i in items).encode()), purpose="evals"
)
body = {"model": model, "kind": "classification", "file_id": bench.id, "max_tokens": 32}
job = finished(httpx.post(f"{base_url}/judgements", json=body, headers=auth, timeout=30).json())
report = json.loads(client.files.content(job["files"]["report"]).read())
print("judge job:", job["state"], "| items:", report["items"], "| accuracy:", report["metrics"]["accuracy"])

# 3. the footprint: of the requests made above, and a portfolio's report
footprint = httpx.get(f"{base_url}/footprint", headers=auth, timeout=30).json()
print("requests:", footprint["totals"]["requests"], "| kg CO2e:", f"{footprint['totals']['gwp_kgco2e']:.3g}")
body = {"portfolio": {"use_cases": 40}, "factors": {"pue": 1.2}}
job = finished(httpx.post(f"{base_url}/footprint/reports", json=body, headers=auth, timeout=30).json())
page = client.files.content(job["files"]["report"]).read()
print(
    "footprint report:",
    job["state"],
    "|",
    len(page),
    "bytes of HTML | 2030 indexes:",
    sorted(job["result"]["scenarios"]),
)
