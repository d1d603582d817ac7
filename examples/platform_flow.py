"""The flow a team follows on the platform, with the official OpenAI client and plain HTTP (docs/platform.md walks it
step by step): moderate a dataset with the platform's guard, fine-tune the served model on what passes (a CFT job:
moderated again, trained, judged before vs after, registered), chat with the new model and judge its answer against
the base model's, red-team it, check its text with a calibrated detector, and read the footprint.

Start the platform with a guard and a judge, calibrate a detector on your own human-written texts, then:

    HEADWATER_MODERATION_GUARD=guard-folder HEADWATER_EVAL_JUDGE=smollm2-135m headwater up
    headwater detect calibrate human.jsonl --detector binoculars --target-fpr 0.01 --output essays.json
    HEADWATER_API_KEY=$(cat .headwater/admin.key) .venv/bin/python examples/platform_flow.py critiques.jsonl essays.json

`critiques.jsonl` holds `{"question", "response", "critique"}` lines, as `headwater cft build-data` writes them.
"""

from __future__ import annotations

import json
import os
import sys
import time

import httpx
from openai import OpenAI

base_url = os.environ.get("HEADWATER_BASE_URL", "http://127.0.0.1:8000/v1")
key = os.environ["HEADWATER_API_KEY"]
critiques_path, calibration_path = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base_url, api_key=key, timeout=300)
auth = {"Authorization": f"Bearer {key}"}
model = next(m.id for m in client.models.list() if not m.id.startswith("ft:"))  # the served base model


def call(method: str, path: str, **kwargs) -> dict:
    """A platform route the OpenAI client has no method for (judgements, red-team runs, detections, footprint)."""
    reply = httpx.request(method, f"{base_url}{path}", headers=auth, timeout=300, **kwargs)
    if reply.is_error:  # the platform's error names the field and the fix
        raise SystemExit(f"{method} {path}: HTTP {reply.status_code}: {reply.json()['error']['message']}")
    return reply.json()


def chat(name: str, prompt: str, max_tokens: int = 64) -> str:
    reply = client.chat.completions.create(
        model=name, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens, temperature=0
    )
    return (reply.choices[0].message.content or "").strip() or "(no answer)"  # the judge needs a text


# 1. moderate the dataset with the platform's guard (HEADWATER_MODERATION_GUARD); keep what it does not flag
with open(critiques_path) as lines:
    rows = [json.loads(line) for line in lines if line.strip()]
texts = [f"{row['question']}\n{row['response']}\n{row['critique']}" for row in rows]
results = client.moderations.create(input=texts).results
kept = [row for row, result in zip(rows, results, strict=True) if not result.flagged]
print("moderation:", len(rows) - len(kept), "of", len(rows), "flagged")

# 2. fine-tune: a CFT job (moderate → train → register → evaluate), then the new model answers at once
data = "".join(json.dumps(row) + "\n" for row in kept).encode()
training = client.files.create(file=("critiques.jsonl", data), purpose="fine-tune")
job = client.fine_tuning.jobs.create(
    model=model,
    training_file=training.id,
    suffix="critic",
    seed=1,
    # `cft` is Headwater's method type, beyond the OpenAI client's typed ones
    method={"type": "cft", "cft": {"hyperparameters": {"n_epochs": 1, "batch_size": 8}}},  # type: ignore[arg-type]
)
while (job := client.fine_tuning.jobs.retrieve(job.id)).status not in ("succeeded", "failed", "cancelled"):
    time.sleep(1)
if job.status != "succeeded" or job.fine_tuned_model is None:
    raise SystemExit(f"fine-tune {job.status}: {job.error}")
new_model, result = job.fine_tuned_model, job.model_dump()["result"]  # `result`: moderation, evaluation
print("fine-tune:", job.status, new_model, "| moderation:", result["moderation"])
prompt = "Please critique whether the following solution to the question is correct.\nQuestion:\nWhat is 4 + 4?\n\n"
prompt += "Solution:\n9"
after = chat(new_model, prompt)
print("new model:", after[:60])

# 3. judge before vs after: the evaluate stage's scores (by HEADWATER_EVAL_JUDGE), then our own question, judged by
#    the served model against a reference answer
evaluation = result["evaluation"]
print("evaluation:", {side: evaluation[side]["mean_score"] for side in ("before", "after")}, "(mean score, 1-5)")
reference = "4 + 4 = 8, not 9. Conclusion: wrong [END]"
verdicts = {}
for name in (model, new_model):
    item = {
        "instruction": prompt,
        "response": chat(name, prompt),
        "rubric": "Is the critique right?",
        "reference": reference,
    }
    verdicts[name] = call("POST", "/judgements", json={"model": model, "kind": "absolute", "max_tokens": 64, **item})
print("judged:", {name: verdict["verdict"] or verdict["parse_error"][:40] for name, verdict in verdicts.items()})

# 4. red-team the new model: plan → generate → run → oracle, one job; the reports are files, flagged outputs queued
body = {"target": new_model, "n": 3, "max_tokens": 48, "target_max_tokens": 48, "oracle_retries": 0}
run = call("POST", "/redteam/runs", json=body)
while run["status"] not in ("succeeded", "failed", "cancelled"):
    time.sleep(1)
    run = call("GET", f"/redteam/runs/{run['id']}")
report = json.loads(client.files.content(run["result_files"]["report_json"]).read())
queue = call("GET", f"/redteam/runs/{run['id']}/review")
print("red-team:", run["status"], "| outcomes:", report["by_outcome"], "| to review:", queue["counts"]["pending"])

# 5. check the new model's text with a detector calibrated on your own human texts (`headwater detect calibrate`)
with open(calibration_path) as saved:
    calibration = json.load(saved)
httpx.delete(f"{base_url}/detections/calibrations/essays", headers=auth, timeout=30)  # replace an older upload
call("POST", "/detections/calibrations", json={"name": "essays", "calibration": calibration})
text = chat(new_model, "Write a short paragraph about rivers.", max_tokens=96)
detection = call("POST", "/detections", json={"detector": "essays", "text": text})
print("detection:", detection["decision"], "| score:", detection["score"], "| refused:", detection["refused"])

# 6. the footprint: every request above, per model (the fine-tuned model's chats, the judge's, the red-team's)
footprint = call("GET", "/footprint")
per_model: dict[str, int] = {}
for row in footprint["data"]:
    per_model[row["model"]] = per_model.get(row["model"], 0) + row["requests"]
print("footprint:", footprint["totals"]["requests"], "requests,", f"{footprint['totals']['gwp_kgco2e']:.3g} kg CO2e")
print("requests per model:", dict(sorted(per_model.items())))
