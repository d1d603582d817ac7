"""Admin-only attack jobs (`POST /v1/attacks`): Virus (arXiv 2501.17433) against the platform's own guard, to
measure how well its moderation holds, with the harness table as the job's result and result file.

The guard attacked is the one `/v1/moderations` and fine-tuning's moderate stage use (HEADWATER_MODERATION_GUARD),
or another one named in `guard`: a served model's weights or the configured HF guard. Virus needs its gradients,
so it must be a causal LM: a classifier-guard folder is refused with a 400 naming `guard`. The victim is a served
model (the one a fine-tuning upload would poison), sharing the guard's vocabulary. Sizes default small (two pairs,
five steps, one seed); the paper's budget is for a GPU.

The task runs in a worker process (`attack_tasks.run_harness`), like fine-tuning: it loads and trains models.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from headwater.errors import InvalidRequestError, NotFoundError
from headwater.jsonl import jsonl_lines
from headwater.platform.files import FileStore
from headwater.platform.jobs.records import JobRecord, JobStore, TaskSpec
from headwater.platform.jobs.running import RunningJobs, jobs_to_resume
from headwater.platform.jobs.workers import WorkerRunner
from headwater.safety.guard.llm import PROMPT_STYLES

if TYPE_CHECKING:
    from headwater.platform.app import Gateway

KIND = "attack"
TASK = "headwater.platform.jobs.attack_tasks:run_harness"
PAIR_FIELDS = ("instruction", "response", "harmful")


class AttackRequest(BaseModel):
    """Virus against the guard: the pairs file, the victim, and the search and fine-tune budget."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    file_id: str = Field(
        description="Uploaded JSONL of pairs: instruction, response (benign), harmful (answer), harmful_instruction."
    )
    victim: str = Field(description="A served model whose fine-tuning the poisoned uploads target.")
    guard: str | None = Field(None, description="The guard attacked (default: HEADWATER_MODERATION_GUARD).")
    prompt: str = Field("llama-guard", description=f"The guard's prompt style: {', '.join(PROMPT_STYLES)}.")
    samples: int = Field(2, ge=1, le=64, description="Pairs attacked.")
    steps: int = Field(5, ge=1, le=1000, description="Search steps per sample.")
    top_k: int = Field(8, ge=1, le=256, description="Candidate tokens per position.")
    swaps: int = Field(32, ge=1, le=1024, description="Single-token swaps scored per step.")
    lam: float = Field(0.1, alias="lambda", ge=0.0, le=1.0, description="Weight of the guard jailbreak loss.")
    optimise: str = Field("sample", description="sample: the whole harmful sample; answer: the answer alone.")
    seeds: int = Field(1, ge=1, le=10, description="Seeds of the harness (attack, LoRA, fine-tune).")
    fine_tune_steps: int = Field(20, ge=1, le=1000, description="The victim's fine-tuning steps per variant.")
    max_new_tokens: int = Field(10, ge=1, le=256, description="Tokens per answer for harmful score and accuracy.")


def _pair_lines(data: bytes, needs_instruction: bool) -> int:
    """The number of pair lines, each checked (the worker reads them again with `read_pairs`)."""
    count = 0
    for number, raw in enumerate(jsonl_lines(data.decode("utf-8", errors="replace")), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError:
            raise InvalidRequestError(f"file_id line {number}: not JSON", param="file_id") from None
        needed = (*PAIR_FIELDS, "harmful_instruction") if needs_instruction else PAIR_FIELDS
        for name in needed:
            if not isinstance(record, dict) or not isinstance(record.get(name), str) or not record[name].strip():
                raise InvalidRequestError(f"file_id line {number}: `{name}` must be a non-empty text", param="file_id")
        count += 1
    if count < 2:
        raise InvalidRequestError(
            f"file_id has {count} pair line(s); the harness needs at least 2 (a third are held out)", param="file_id"
        )
    return count


class AttackService:
    """Creates and runs attack jobs in worker processes."""

    def __init__(self, gateway: Gateway, jobs: JobStore, files: FileStore, runner: WorkerRunner) -> None:
        self.gateway = gateway
        self.jobs = jobs
        self.files = files
        self.runner = runner
        self._running = RunningJobs("attack")

    def _guard(self, name: str | None) -> tuple[str, str]:
        """(public name, weights source) of the guard attacked."""
        configured = self.gateway.settings.moderation_guard
        name = name or configured
        entries = self.gateway.control.entries
        if name is None:
            raise InvalidRequestError(
                "no guard to attack: set HEADWATER_MODERATION_GUARD or name a served model in guard", param="guard"
            )
        if name in entries:
            return name, entries[name].model
        if name != configured:
            raise NotFoundError(
                f"guard {name!r} does not exist; use the configured guard ({configured or 'none'}) or a served "
                f"model ({', '.join(sorted(entries)) or 'none'})",
                param="guard",
            )
        from headwater.safety.guard.classifier import is_classifier

        if is_classifier(name):
            raise InvalidRequestError(
                f"the guard {name!r} is a classifier guard: Virus needs a causal-LM guard's gradients", param="guard"
            )
        return name, name

    def create(self, tenant: str, body: AttackRequest, idempotency_key: str | None) -> JobRecord:
        """Check everything (victim served, guard attackable, pairs well formed), then record the queued job."""
        entries = self.gateway.control.entries
        if body.victim not in entries:
            available = ", ".join(sorted(entries)) or "none"
            raise NotFoundError(
                f"model {body.victim!r} (victim) is not served; available models: {available}",
                param="victim",
            )
        if body.prompt not in PROMPT_STYLES:
            raise InvalidRequestError(f"prompt must be one of {', '.join(PROMPT_STYLES)}", param="prompt")
        if body.optimise not in ("sample", "answer"):
            raise InvalidRequestError("optimise must be sample or answer", param="optimise")
        guard_name, guard_source = self._guard(body.guard)
        self.files.get(tenant, body.file_id)
        lines = _pair_lines(self.files.content(tenant, body.file_id), body.optimise == "sample")
        settings = body.model_dump(by_alias=True, exclude={"file_id", "victim", "guard", "prompt"})
        params: dict[str, object] = {"file_id": body.file_id, "victim": body.victim, "guard": guard_name}
        params |= {"prompt": body.prompt, "settings": settings, "pairs": lines}
        folder = self.gateway.settings.data_dir / "attacks"
        payload = {
            "guard": guard_source,
            "guard_name": guard_name,
            "victim": entries[body.victim].model,
            "victim_name": body.victim,
            "prompt": body.prompt,
            "settings": settings,
            "data_dir": str(self.gateway.settings.data_dir),
            "pairs": str(folder / f"{body.file_id}.jsonl"),
        }
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{body.file_id}.jsonl").write_bytes(self.files.content(tenant, body.file_id))
        task = TaskSpec("harness", TASK, payload, max_attempts=2)
        return self.jobs.create(tenant, KIND, guard_name, params, [task], idempotency_key, prefix="attack_")

    def start(self) -> None:
        """Requeue what a stopped gateway left running and run every queued attack."""
        for job_id in jobs_to_resume(self.jobs, KIND):
            self.submit(job_id)

    def submit(self, job_id: str) -> None:
        self._running.spawn(job_id, lambda: self._run(job_id))

    async def stop(self) -> None:
        self.runner.stop()
        await self._running.stop()

    async def _run(self, job_id: str) -> None:
        await asyncio.to_thread(self.runner.run, job_id, self._publish)

    def _publish(self, job: JobRecord) -> None:
        """The harness table as the job's result and its `harness_table` file (runs before `succeeded`)."""
        [task] = self.jobs.tasks(job.id)
        table = task.result["table"]
        content = json.dumps({"table": table, "rows": task.result["rows"]}, indent=1).encode()
        written = self.files.add_output(job.tenant, f"{job.id}-harness.json", "job_output", content)
        self.jobs.set_file(job.id, "harness_table", written.id)
        self.jobs.update(job.id, result={"table": table})


def attack_object(job: JobRecord) -> dict[str, object]:
    """The job as `/v1/attacks` returns it."""
    return {
        "id": job.id,
        "object": "attack",
        "status": job.state,
        "guard": job.params["guard"],
        "victim": job.params["victim"],
        "created_at": int(job.created_at.timestamp()),
        "finished_at": int(job.finished_at.timestamp()) if job.finished_at else None,
        "params": job.params,
        "progress": job.progress,
        "table": job.result.get("table"),
        "result_files": job.files,
        "error": job.error,
    }
