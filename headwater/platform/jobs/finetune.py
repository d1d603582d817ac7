"""Fine-tuning jobs as OpenAI shapes them (`POST /v1/fine_tuning/jobs`): checked whole at create, run as tasks in
worker processes (`LocalWorkerRunner`), and the trained model registered in the catalogue as
`ft:<base>:<suffix>:<id>` before the job reports `succeeded`, so it answers `/v1/chat/completions` at once.

Methods: OpenAI's `supervised` (our SFT) on the full weights; `distill` (`headwater.train.distill`: a teacher,
served or built-in, distilled into the job's model with TAID or a baseline loss, `finetune_distill`); `cft`
(critique fine-tuning on question/response/critique lines, `finetune_cft`). `dpo` is refused with a 400 naming
`method.type` until its stage exists. The moderate stage runs the platform's guard
(HEADWATER_MODERATION_GUARD) over every example first and fails the job closed above the threshold.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from headwater.errors import InvalidRequestError, NotFoundError
from headwater.platform.catalogue import CatalogueEntry
from headwater.platform.files import FileStore, LocalFileStorage
from headwater.platform.jobs.finetune_cft import cft_settings, check_cft_file
from headwater.platform.jobs.finetune_distill import distill_settings, teacher_source
from headwater.platform.jobs.records import JobRecord, JobStore, TaskSpec
from headwater.platform.jobs.workers import LocalWorkerRunner
from headwater.safety.guard.check import CheckReport, check_examples, example_conversation
from headwater.safety.guard.verdict import Guard

if TYPE_CHECKING:
    from headwater.platform.app import Gateway

METHODS = ("supervised", "distill", "cft")
PLANNED_METHODS = ("dpo",)
TASKS = {
    "supervised": "headwater.platform.jobs.finetune_tasks:train_supervised",
    "distill": "headwater.platform.jobs.finetune_tasks:train_distill",
    "cft": "headwater.platform.jobs.finetune_tasks:train_cft",
}
"""The train task's function per method (run in a worker process)."""
HYPERPARAMETERS: dict[str, tuple[type, float | int]] = {
    "n_epochs": (int, 3),
    "batch_size": (int, 8),
    "learning_rate_multiplier": (float, 1.0),
}
_SUFFIX = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _hyperparameters(given: object, where: str) -> dict[str, float | int]:
    """OpenAI's hyperparameters with "auto" (or absent) → our defaults; unknown names and bad values → 400."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise InvalidRequestError(f"{where} must be an object", param=where)
    unknown = sorted(set(given) - set(HYPERPARAMETERS))
    if unknown:
        raise InvalidRequestError(
            f"{where}.{unknown[0]} is not a hyperparameter here; use {', '.join(HYPERPARAMETERS)}",
            param=f"{where}.{unknown[0]}",
        )
    resolved: dict[str, float | int] = {}
    for name, (kind, default) in HYPERPARAMETERS.items():
        value = given.get(name, "auto")
        if value == "auto":
            value = default
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise InvalidRequestError(f"{where}.{name} must be a positive number or 'auto'", param=f"{where}.{name}")
        if kind is int and int(value) != value:
            raise InvalidRequestError(f"{where}.{name} must be a whole number", param=f"{where}.{name}")
        resolved[name] = kind(value)
    return resolved


def _method(body: dict) -> dict:
    """The `method` object resolved: its type and hyperparameters (legacy top-level `hyperparameters` too)."""
    method = body.get("method") or {"type": "supervised"}
    if not isinstance(method, dict):
        raise InvalidRequestError("method must be an object like {'type': 'supervised'}", param="method")
    kind = method.get("type")
    if kind in PLANNED_METHODS:
        raise InvalidRequestError(
            f"method.type {kind!r} is not available yet on this server; use one of {', '.join(METHODS)}",
            param="method.type",
        )
    if kind not in METHODS:
        raise InvalidRequestError(f"method.type must be one of {', '.join(METHODS)}, got {kind!r}", param="method.type")
    settings = method.get(kind) or {}
    if not isinstance(settings, dict):
        raise InvalidRequestError(f"method.{kind} must be an object", param=f"method.{kind}")
    extra = distill_settings(settings) if kind == "distill" else cft_settings(settings) if kind == "cft" else {}
    given = settings.get("hyperparameters", body.get("hyperparameters"))
    return {"type": kind, kind: {**extra, "hyperparameters": _hyperparameters(given, f"method.{kind}.hyperparameters")}}


class FineTuneService:
    """Creates, runs, resumes and registers fine-tuning jobs."""

    def __init__(self, gateway: Gateway, jobs: JobStore, files: FileStore) -> None:
        self.gateway = gateway
        self.jobs = jobs
        self.files = files
        self.runner = LocalWorkerRunner(jobs, gateway.settings.data_dir / "jobs")
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def create(self, tenant: str, body: dict, idempotency_key: str | None) -> JobRecord:
        """Check everything first (model, files, method): a refused request writes nothing."""
        model = body.get("model")
        entry = self.gateway.control.entries.get(model) if isinstance(model, str) else None
        if entry is None:
            available = ", ".join(sorted(self.gateway.control.entries)) or "none"
            raise NotFoundError(f"model {model!r} does not exist; available models: {available}", param="model")
        training = self._file(tenant, body.get("training_file"), "training_file")
        validation = body.get("validation_file")
        if validation is not None:
            self._file(tenant, validation, "validation_file")
        suffix = body.get("suffix")
        if suffix is not None and not (isinstance(suffix, str) and _SUFFIX.match(suffix)):
            raise InvalidRequestError("suffix must be 1 to 64 letters, digits, '-', '_' or '.'", param="suffix")
        seed = body.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise InvalidRequestError("seed must be an integer", param="seed")
        method = _method(body)
        kind = method["type"]
        teacher = teacher_source(method[kind]["teacher"], self.gateway.control.entries) if kind == "distill" else None
        if kind == "cft":
            check_cft_file(self.files.content(tenant, training))
        params = {
            "training_file": training,
            "validation_file": validation,
            "suffix": suffix,
            "seed": seed if seed is not None else 0,
            "method": method,
        }
        storage = self.files.storage
        path = storage.path(tenant, training) if isinstance(storage, LocalFileStorage) else None
        payload = {
            "model": entry.model,
            "training_file": str(path),
            "data_dir": str(self.gateway.settings.data_dir),
            "hyperparameters": method[kind]["hyperparameters"],
            "seed": params["seed"],
        }
        if teacher is not None:
            payload |= {"teacher": teacher, "loss": method[kind]["loss"]}
        task = TaskSpec("train", TASKS[kind], payload)
        return self.jobs.create(tenant, "finetune", str(model), params, [task], idempotency_key, prefix="ftjob-")

    def _file(self, tenant: str, file_id: object, field: str) -> str:
        if not isinstance(file_id, str):
            raise InvalidRequestError(f"{field} must name an uploaded file", param=field)
        row = self.files.get(tenant, file_id)
        if row.purpose != "fine-tune":
            raise InvalidRequestError(
                f"file {file_id} was uploaded for {row.purpose!r}; upload it with purpose 'fine-tune'", param=field
            )
        return file_id

    def start(self) -> None:
        """Requeue what a stopped gateway left running, run the queued jobs, serve the models already trained."""
        self.jobs.requeue_running("finetune")
        for job_id in self.jobs.ids_in_state("finetune", "queued"):
            self.submit(job_id)
        for job_id in self.jobs.ids_in_state("finetune", "succeeded"):
            self._spawn(job_id, self._serve_again(job_id))

    def submit(self, job_id: str) -> None:
        """Run the job unless it already runs here (an idempotent create returns a queued job again)."""
        if job_id not in self._tasks:
            self._spawn(job_id, self._run(job_id))

    def _spawn(self, job_id: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work, name=f"finetune-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(job_id, None))

    async def stop(self) -> None:
        """Interrupt training (the workers are stopped; the jobs resume at the next start), then the tasks."""
        self.runner.stop()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _run(self, job_id: str) -> None:
        loop = asyncio.get_running_loop()
        if not await self._moderate(await asyncio.to_thread(self.jobs.get, job_id)):
            return

        def register(job: JobRecord) -> None:
            asyncio.run_coroutine_threadsafe(self._register(job), loop).result()

        await asyncio.to_thread(self.runner.run, job_id, register)

    async def _moderate(self, job: JobRecord) -> bool:
        """The moderate stage: every training example through the platform's guard (`/v1/moderations`' own), the
        report kept as a result file. Fails the job closed, before any training, when the flagged fraction passes
        HEADWATER_MODERATION_THRESHOLD. With no guard configured it is skipped, and the job's result says so."""
        if "moderation" in job.result:  # a restarted job was already moderated
            return True
        moderation = self.gateway.moderation
        if moderation.configured is None:
            note = "skipped: no guard configured (HEADWATER_MODERATION_GUARD)"
            await asyncio.to_thread(self.jobs.add_event, job.id, f"moderation {note}", "warning")
            await asyncio.to_thread(self.jobs.update, job.id, None, {"moderation": note})
            return True
        name, guard = await moderation.guard(job.tenant)
        await asyncio.to_thread(self.jobs.add_event, job.id, f"moderating the training file with {name}")
        data = await asyncio.to_thread(self.files.content, job.tenant, job.params["training_file"])
        report = await asyncio.to_thread(_check_training_file, data, guard)
        written = await asyncio.to_thread(
            self.files.add_output,
            job.tenant,
            f"{job.id}-moderation.json",
            "fine-tune-results",
            json.dumps(report.to_dict(), indent=1).encode(),
        )
        await asyncio.to_thread(self.jobs.set_file, job.id, "moderation_report", written.id)
        limit = self.gateway.settings.moderation_threshold
        summary = {"guard": name, "total": report.total, "flagged": report.flagged, "report_file": written.id}
        await asyncio.to_thread(self.jobs.update, job.id, None, {"moderation": summary})
        message = f"moderation: {report.flagged} of {report.total} examples flagged ({report.flagged_fraction:.1%})"
        await asyncio.to_thread(self.jobs.add_event, job.id, message)
        if report.flagged_fraction <= limit:
            return True
        reason = (
            f"{message}, above HEADWATER_MODERATION_THRESHOLD ({limit:.1%}); see the report file {written.id} for "
            "the flagged lines and why"
        )
        await asyncio.to_thread(self.jobs.transition, job.id, "failed", reason)
        return False

    async def _register(self, job: JobRecord) -> None:
        """Serve the trained model under its `ft:` name (the last task's `model_path`)."""
        [*_, train] = await asyncio.to_thread(self.jobs.tasks, job.id)
        name = f"ft:{job.model}:{job.params.get('suffix') or ''}:{job.id.removeprefix('ftjob-')[:8]}"
        if name not in self.gateway.models:
            await self.gateway.control.add(CatalogueEntry(model=train.result["model_path"], name=name))
        await asyncio.to_thread(self.jobs.update, job.id, None, {"fine_tuned_model": name})
        await asyncio.to_thread(self.jobs.add_event, job.id, f"registered {name}: it answers /v1/chat/completions")

    async def _serve_again(self, job_id: str) -> None:
        job = await asyncio.to_thread(self.jobs.get, job_id)
        if job.result.get("fine_tuned_model"):
            await self._register(job)


def _check_training_file(data: bytes, guard: Guard) -> CheckReport:
    """Every example of an uploaded training JSONL (already checked line by line at upload) through `guard`."""
    records = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    examples = [(line, example_conversation(record, line)) for line, record in enumerate(records, start=1)]
    return check_examples(examples, guard)


def _ts(moment: object) -> int | None:
    return int(moment.timestamp()) if moment is not None else None  # type: ignore[attr-defined]


def finetune_object(job: JobRecord) -> dict[str, object]:
    """The job in OpenAI's `fine_tuning.job` shape."""
    method = job.params["method"]
    error = {"code": "job_failed", "message": job.error, "param": None} if job.state == "failed" else None
    return {
        "id": job.id,
        "object": "fine_tuning.job",
        "created_at": _ts(job.created_at),
        "error": error,
        "fine_tuned_model": job.result.get("fine_tuned_model"),
        "finished_at": _ts(job.finished_at),
        "hyperparameters": method[method["type"]]["hyperparameters"],
        "model": job.model,
        "organization_id": job.tenant,
        "result_files": list(job.files.values()),
        "seed": job.params["seed"],
        "status": job.state,
        "trained_tokens": None,
        "training_file": job.params["training_file"],
        "validation_file": job.params["validation_file"],
        "suffix": job.params["suffix"],
        "method": method,
        "estimated_finish": None,
        "integrations": None,
        "metadata": None,
        "result": job.result,
    }
