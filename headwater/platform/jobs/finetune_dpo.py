"""The `dpo` method of a fine-tuning job, in OpenAI's shape: `{"type": "dpo", "dpo": {"hyperparameters": {"beta":
0.1, ...}}}` on a file of OpenAI's preference lines

    {"input": {"messages": [...]}, "preferred_output": [{"role": "assistant", "content": ...}],
     "non_preferred_output": [{"role": "assistant", "content": ...}]}

trained with the judge's recipe (`headwater.judge.train_judge`, Selene Mini §2): TRL's DPOTrainer with the sigmoid
DPO loss plus an NLL (SFT) term on the preferred output, weighted by our `sft_weight` (1 as Selene; 0: plain DPO,
which is what OpenAI documents). Files are checked whole at create, so a job never starts on a line it cannot
train on and a refused request writes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from headwater.errors import InvalidRequestError
from headwater.jsonl import jsonl_lines
from headwater.platform.jobs.worker_process import TaskContext

if TYPE_CHECKING:
    from transformers import TrainerCallback

FIELDS = ("input", "preferred_output", "non_preferred_output")
"""What every line of a preference file holds."""
ROLES = ("system", "user", "assistant", "developer")


def _bad(field: str, line: int, message: str) -> InvalidRequestError:
    return InvalidRequestError(f"{field} line {line}: {message}", param=field)


def _messages(value: object, where: str, field: str, line: int) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise _bad(field, line, f"{where} must be a non-empty list of messages")
    for index, message in enumerate(value):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise _bad(field, line, f"{where}[{index}].role must be one of {', '.join(ROLES)}")
        if not isinstance(message.get("content"), str):
            raise _bad(field, line, f"{where}[{index}].content must be a string (tool calls are not supported)")
    return value


def check_preference_record(record: dict, field: str, line: int) -> None:
    """One preference line, or a 400 naming `field` (the file), the line and the part of it that is wrong."""
    missing = [name for name in FIELDS if name not in record]
    if missing:
        raise _bad(field, line, f"method dpo needs {', '.join(missing)} (every line: {', '.join(FIELDS)})")
    given = record["input"]
    if not isinstance(given, dict):
        raise _bad(field, line, "input must be an object with messages")
    if given.get("tools"):
        raise _bad(field, line, "input.tools is not supported: preference pairs of text replies only")
    _messages(given.get("messages"), "input.messages", field, line)
    outputs = {}
    for name in ("preferred_output", "non_preferred_output"):
        messages = _messages(record[name], name, field, line)
        if any(message["role"] != "assistant" for message in messages):
            raise _bad(field, line, f"{name} must hold assistant messages only")
        outputs[name] = [message["content"] for message in messages]
    if outputs["preferred_output"] == outputs["non_preferred_output"]:
        raise _bad(field, line, "non_preferred_output is the same as preferred_output: nothing to prefer")


def check_preference_file(data: bytes, field: str) -> None:
    """Every line of an uploaded file (already valid JSONL) is a preference pair; else a 400 naming `field`."""
    lines = [(number, raw) for number, raw in enumerate(jsonl_lines(data.decode("utf-8")), start=1) if raw.strip()]
    if not lines:
        raise InvalidRequestError(f"{field} holds no example", param=field)
    for number, raw in lines:
        check_preference_record(json.loads(raw), field, number)


def preference_row(record: dict) -> dict[str, list[dict[str, str]]]:
    """One preference line as TRL's conversational DPO row (`prompt`, `chosen`, `rejected`)."""
    return {
        "prompt": _plain(record["input"]["messages"]),
        "chosen": _plain(record["preferred_output"]),
        "rejected": _plain(record["non_preferred_output"]),
    }


def _plain(messages: list[dict]) -> list[dict[str, str]]:
    """Role and content only (OpenAI's lines may carry `name`, `weight`…, which TRL's template does not take)."""
    return [{"role": message["role"], "content": message["content"]} for message in messages]


def _reporter(context: TaskContext) -> TrainerCallback:
    """Each logged DPO step as an event: the loss, and how far the policy prefers the preferred output."""
    from transformers import TrainerCallback

    class Report(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "loss" not in logs:
                return
            step, total = state.global_step, max(1, state.max_steps)
            data = {"step": step, "train_loss": logs["loss"]}
            for key, name in (("rewards/margins", "reward_margin"), ("rewards/accuracies", "reward_accuracy")):
                if key in logs:
                    data[name] = logs[key]
            context.event(f"step {step}/{total}: training loss {logs['loss']:.4f}", **data)
            context.progress(step / total)

    return Report()


def train_dpo(payload: dict, context: TaskContext) -> dict:
    """The train task of a `dpo` job (run in a worker): `train_judge` on the file's pairs (held-out lines
    excepted), LoRA merged, the model as the job's checkpoint. Resumable as the supervised task is: a Trainer
    checkpoint every `checkpoint_interval_s`, and a retried task continues from the last recorded one."""
    from headwater.judge.training import JudgeTrainConfig, train_judge
    from headwater.platform.jobs.finetune_eval import kept
    from headwater.platform.jobs.finetune_lora import lora_fields, servable
    from headwater.platform.jobs.finetune_tasks import BASE_LEARNING_RATE, job_checkpoints
    from headwater.platform.jobs.train_checkpoints import resume_point

    path = Path(payload["training_file"])
    records = [json.loads(raw) for raw in jsonl_lines(path.read_text(encoding="utf-8")) if raw.strip()]
    rows = [preference_row(record) for record in kept(records, payload)]
    hyper = payload["hyperparameters"]
    config = JudgeTrainConfig(
        beta=float(hyper["beta"]),
        alpha=float(hyper["sft_weight"]),
        learning_rate=BASE_LEARNING_RATE * float(hyper["learning_rate_multiplier"]),
        epochs=float(hyper["n_epochs"]),
        batch_size=int(hyper["batch_size"]),
        seed=int(payload.get("seed", 0)),
        **lora_fields(hyper),
    )
    context.event(f"DPO (beta {config.beta}, SFT weight {config.alpha}) on {len(rows)} preference pairs")
    loss, model, losses = train_judge(
        payload["model"],
        rows,
        context.workdir,
        config,
        payload["data_dir"],
        callbacks=[_reporter(context), job_checkpoints(payload, context)],
        resume_from=resume_point(context),
    )
    model = servable(model, payload)
    context.checkpoint(len(losses), str(model), train_loss=loss)
    return {"model_path": str(model), "train_loss": loss, "examples": len(rows)}
