"""The stages of a fine-tuning job, as task functions run in worker processes (`LocalWorkerRunner`): they import
the training library (torch, TRL) in the worker, never in the gateway."""

from __future__ import annotations

import json
from pathlib import Path

from headwater.platform.jobs.worker_process import TaskContext

BASE_LEARNING_RATE = 1e-4
"""The learning rate `learning_rate_multiplier` scales (OpenAI's field is a multiplier of an unpublished base)."""


def supervised_rows(path: Path) -> list[dict]:
    """A fine-tune file's examples as TRL prompt/completion rows: a chat learns its last (assistant) turn, a
    prompt example its response (or completion)."""
    rows = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.strip():
            continue
        record = json.loads(raw)
        if "messages" in record:
            *prompt, last = record["messages"]
            rows.append({"prompt": prompt, "completion": [last]})
        else:
            answer = record.get("response", record.get("completion", ""))
            rows.append(
                {
                    "prompt": [{"role": "user", "content": record["prompt"]}],
                    "completion": [{"role": "assistant", "content": answer}],
                }
            )
    return rows


def train_supervised(payload: dict, context: TaskContext) -> dict:
    """SFT (`headwater.train.fine_tune`) of `payload["model"]` on the training file; loss per step as events, the
    final model as the job's checkpoint."""
    from transformers import TrainerCallback

    from headwater.train import FineTuneConfig, fine_tune

    class Report(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                step, total = state.global_step, max(1, state.max_steps)
                context.event(
                    f"step {step}/{total}: training loss {logs['loss']:.4f}", step=step, train_loss=logs["loss"]
                )
                context.progress(step / total)

    hyper = payload["hyperparameters"]
    config = FineTuneConfig(
        epochs=float(hyper["n_epochs"]),
        batch_size=int(hyper["batch_size"]),
        learning_rate=BASE_LEARNING_RATE * float(hyper["learning_rate_multiplier"]),
        max_length=int(payload.get("max_length", 512)),
        warmup_ratio=0.0,
        seed=int(payload.get("seed", 0)),
    )
    rows = supervised_rows(Path(payload["training_file"]))
    context.event(f"training on {len(rows)} examples")
    result = fine_tune(payload["model"], rows, context.workdir, config, payload["data_dir"], callbacks=[Report()])
    context.checkpoint(1, str(result.model), train_loss=result.train_loss)
    return {"model_path": str(result.model), "train_loss": result.train_loss, "examples": len(rows)}
