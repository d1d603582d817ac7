"""The stages of a fine-tuning job, as task functions run in worker processes (`LocalWorkerRunner`): they import
the training library (torch, TRL) in the worker, never in the gateway."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from headwater.jsonl import jsonl_lines
from headwater.platform.jobs.finetune_eval import kept
from headwater.platform.jobs.finetune_lora import lora_fields, servable
from headwater.platform.jobs.worker_process import TaskContext

if TYPE_CHECKING:
    from headwater.platform.jobs.train_checkpoints import JobCheckpoints
    from headwater.train.data import Conversation

DEFAULT_CHECKPOINT_INTERVAL_S = 300.0
"""Seconds between two resumable checkpoints when the payload does not say (HEADWATER_CHECKPOINT_INTERVAL_S's)."""
BASE_LEARNING_RATE = 1e-4
"""The learning rate `learning_rate_multiplier` scales (OpenAI's field is a multiplier of an unpublished base)."""


def supervised_rows(path: Path) -> list[dict]:
    """A fine-tune file's examples as TRL prompt/completion rows: a chat learns its last (assistant) turn, a
    prompt example its response (or completion)."""
    return [supervised_row(json.loads(raw)) for raw in jsonl_lines(path.read_text(encoding="utf-8")) if raw.strip()]


def supervised_row(record: dict) -> dict:
    """One example as a TRL prompt/completion row (see `supervised_rows`)."""
    if "messages" in record:
        *prompt, last = record["messages"]
        return {"prompt": prompt, "completion": [last]}
    answer = record.get("response", record.get("completion", ""))
    return {
        "prompt": [{"role": "user", "content": record["prompt"]}],
        "completion": [{"role": "assistant", "content": answer}],
    }


def train_supervised(payload: dict, context: TaskContext) -> dict:
    """SFT (`headwater.train.fine_tune`) of `payload["model"]` on the training file; loss per step as events, the
    final model as the job's checkpoint."""
    rows = kept(supervised_rows(Path(payload["training_file"])), payload)
    context.event(f"training on {len(rows)} examples")
    return _fine_tune(payload, context, rows)


def train_cft(payload: dict, context: TaskContext) -> dict:
    """Critique fine-tuning (Wang et al. 2025): `headwater.train.fine_tune` on `cft_row`s, so the model learns the
    critique of each (question, response), the loss on the critique only. The file was checked at create."""
    from headwater.train import cft_row

    path = Path(payload["training_file"])
    records = [json.loads(raw) for raw in jsonl_lines(path.read_text(encoding="utf-8")) if raw.strip()]
    rows = [cft_row(r["question"], r["response"], r["critique"]) for r in kept(records, payload)]
    context.event(f"critique fine-tuning on {len(rows)} examples")
    return _fine_tune(payload, context, rows)


def _fine_tune(payload: dict, context: TaskContext, rows: list[dict]) -> dict:
    """`headwater.train.fine_tune` on prompt/completion `rows` with the job's hyperparameters; each logged step's
    loss as an event, the trained model as the job's checkpoint. Resumable: a Trainer checkpoint every
    `checkpoint_interval_s` (HEADWATER_CHECKPOINT_INTERVAL_S) is recorded, and a retried task (a lost worker, a
    killed platform) continues from the last one (`train_checkpoints`)."""
    from transformers import TrainerCallback

    from headwater.platform.jobs.train_checkpoints import resume_point
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
        **lora_fields(hyper),
    )
    result = fine_tune(
        payload["model"],
        rows,
        context.workdir,
        config,
        payload["data_dir"],
        callbacks=[Report(), job_checkpoints(payload, context)],
        resume_from=resume_point(context),
    )
    model = servable(result.model, payload)  # a LoRA adapter merged into its base: a model the engine serves
    context.checkpoint(1, str(model), train_loss=result.train_loss)
    return {"model_path": str(model), "train_loss": result.train_loss, "examples": len(rows)}


def job_checkpoints(payload: dict, context: TaskContext) -> JobCheckpoints:
    """The callback that makes a train task resumable: a Trainer checkpoint every `checkpoint_interval_s`
    (HEADWATER_CHECKPOINT_INTERVAL_S), each recorded in the job as it lands (`train_checkpoints`)."""
    from headwater.platform.jobs.train_checkpoints import JobCheckpoints

    return JobCheckpoints(context, float(payload.get("checkpoint_interval_s", DEFAULT_CHECKPOINT_INTERVAL_S)))


def distill_conversations(path: Path) -> list[Conversation]:
    """A fine-tune file's examples as `Conversation`s (prompt turns, the response the student learns), read as
    the supervised method reads them; a line that is neither a chat nor a prompt/response names itself."""
    from headwater.errors import InvalidRequestError
    from headwater.train.data import Conversation

    conversations = []
    for line, raw in enumerate(jsonl_lines(path.read_text(encoding="utf-8")), start=1):
        if not raw.strip():
            continue
        record = json.loads(raw)
        if "messages" not in record and "prompt" not in record:
            raise InvalidRequestError(
                f"training_file line {line}: distill needs `messages` or `prompt` and `response`", param="training_file"
            )
        row = supervised_row(record)
        conversations.append(Conversation(row["prompt"], str(row["completion"][0]["content"])))
    return conversations


def train_distill(payload: dict, context: TaskContext) -> dict:
    """Distil `payload["teacher"]` into `payload["model"]` with `headwater.train.distill` (TAID or a baseline
    loss); each step's loss (and TAID's t) as events, the student as the job's checkpoint. Resumable as `_fine_tune`
    is: a retried task continues from the last recorded Trainer checkpoint, TAID's schedule state with it."""
    from headwater.platform.jobs.train_checkpoints import resume_point
    from headwater.train import DistillConfig, DistillStep, distill

    def report(step: DistillStep) -> None:
        context.progress(step.step / max(1, step.total))
        if step.loss is None:
            return
        data: dict[str, float] = {"step": step.step, "train_loss": step.loss}
        message = f"step {step.step}/{step.total}: training loss {step.loss:.4f}"
        if step.t is not None:
            data["taid_t"] = step.t
            message += f" (TAID t {step.t:.3f})"
        context.event(message, **data)

    hyper = payload["hyperparameters"]
    config = DistillConfig(
        teacher=payload["teacher"],
        student=payload["model"],
        method=payload["loss"],
        epochs=float(hyper["n_epochs"]),
        batch_size=int(hyper["batch_size"]),
        lr=BASE_LEARNING_RATE * float(hyper["learning_rate_multiplier"]),
        max_length=int(payload.get("max_length", 512)),
        data_dir=Path(payload["data_dir"]),
        seed=int(payload.get("seed", 0)),
    )
    conversations = kept(distill_conversations(Path(payload["training_file"])), payload)
    context.event(f"distilling {payload['teacher']} with {payload['loss']} on {len(conversations)} examples")
    result = distill(
        config,
        conversations,
        context.workdir,
        on_step=report,
        callbacks=[job_checkpoints(payload, context)],
        resume_from=resume_point(context),
    )
    context.checkpoint(result.steps, result.model, train_loss=result.train_loss)
    return {"model_path": result.model, "train_loss": result.train_loss, "examples": result.examples, "t": result.t}
