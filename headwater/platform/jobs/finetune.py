"""Fine-tuning jobs as OpenAI shapes them (`POST /v1/fine_tuning/jobs`): checked whole at create, run as tasks in
worker processes (`LocalWorkerRunner`), and the trained model registered in the catalogue as
`ft:<base>:<suffix>:<id>` before the job reports `succeeded`, so it answers `/v1/chat/completions` at once.

Methods: OpenAI's `supervised` (our SFT) on the full weights; `distill` (`headwater.train.distill`: a teacher,
served or built-in, distilled into the job's model with TAID or a baseline loss, `finetune_distill`); `cft`
(critique fine-tuning on question/response/critique lines, `finetune_cft`); OpenAI's `dpo` on preference pairs
(the judge's DPO+SFT recipe, `finetune_dpo`). `supervised`, `cft` and `dpo` take our `lora` hyperparameter
(`finetune_lora`). Stages: moderate (the platform's guard, HEADWATER_MODERATION_GUARD, over every example; the job
fails closed above the threshold) → train (a worker task) → register → evaluate (the judge named by
HEADWATER_EVAL_JUDGE scores the base and the fine-tuned model, `finetune_evaluate`) → succeeded.

A cancel is honoured in every stage. During evaluate it stops the judging at once, and the model registered for it is
taken out of the catalogue again: a cancelled job serves no model (`fine_tuned_model` null, as OpenAI's cancelled
jobs have), while its trained weights stay on disk as the job's last checkpoint.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from typing import TYPE_CHECKING

from headwater.errors import InvalidRequestError, NotFoundError
from headwater.platform.catalogue import CatalogueEntry
from headwater.platform.files import FileStore, LocalFileStorage
from headwater.platform.jobs.finetune_cft import cft_settings, check_cft_file
from headwater.platform.jobs.finetune_distill import distill_settings, teacher_source
from headwater.platform.jobs.finetune_dpo import check_preference_file
from headwater.platform.jobs.finetune_eval import eval_item, held_out, records
from headwater.platform.jobs.finetune_evaluate import EvaluateStage
from headwater.platform.jobs.finetune_hyper import method_settings, resolve_hyperparameters
from headwater.platform.jobs.records import JobRecord, JobStore, TaskSpec
from headwater.platform.jobs.running import RunningJobs, jobs_to_resume
from headwater.platform.jobs.workers import StageCancelled, WorkerRunner
from headwater.safety.guard.check import CheckReport, check_examples, example_conversation
from headwater.safety.guard.verdict import Conversation, Guard

if TYPE_CHECKING:
    from headwater.platform.app import Gateway

logger = logging.getLogger(__name__)

METHODS = ("supervised", "dpo", "distill", "cft")
TASKS = {
    "supervised": "headwater.platform.jobs.finetune_tasks:train_supervised",
    "dpo": "headwater.platform.jobs.finetune_dpo:train_dpo",
    "distill": "headwater.platform.jobs.finetune_tasks:train_distill",
    "cft": "headwater.platform.jobs.finetune_tasks:train_cft",
}
"""The train task's function per method (run in a worker process)."""
_SUFFIX = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _method(body: dict) -> dict:
    """The `method` object resolved: its type and hyperparameters (legacy top-level `hyperparameters` too)."""
    method = body.get("method") or {"type": "supervised"}
    if not isinstance(method, dict):
        raise InvalidRequestError("method must be an object like {'type': 'supervised'}", param="method")
    kind = method.get("type")
    if kind not in METHODS:
        raise InvalidRequestError(f"method.type must be one of {', '.join(METHODS)}, got {kind!r}", param="method.type")
    settings = method.get(kind) or {}
    if not isinstance(settings, dict):
        raise InvalidRequestError(f"method.{kind} must be an object", param=f"method.{kind}")
    extra = distill_settings(settings) if kind == "distill" else cft_settings(settings) if kind == "cft" else {}
    if kind in ("supervised", "dpo"):
        method_settings(settings, kind)
    given = settings.get("hyperparameters", body.get("hyperparameters"))
    return {"type": kind, kind: {**extra, "hyperparameters": resolve_hyperparameters(given, kind)}}


class FineTuneService:
    """Creates, runs, resumes and registers fine-tuning jobs."""

    def __init__(self, gateway: Gateway, jobs: JobStore, files: FileStore, runner: WorkerRunner) -> None:
        self.gateway = gateway
        self.jobs = jobs
        self.files = files
        self.runner = runner
        self._running = RunningJobs("finetune")

    def create(self, tenant: str, body: dict, idempotency_key: str | None) -> JobRecord:
        """Check everything first (model, files, method): a refused request writes nothing."""
        model = body.get("model")
        entries = self._entries(tenant)
        entry = entries.get(model) if isinstance(model, str) else None
        if entry is None:
            available = ", ".join(sorted(entries)) or "none"
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
        teacher = teacher_source(method[kind]["teacher"], entries) if kind == "distill" else None
        held = self._check_data(tenant, kind, training, validation, seed if seed is not None else 0)
        params = {
            "training_file": training,
            "validation_file": validation,
            "suffix": suffix,
            "seed": seed if seed is not None else 0,
            "method": method,
            "held_out": held,
        }
        storage = self.files.storage
        path = storage.path(tenant, training) if isinstance(storage, LocalFileStorage) else None
        payload = {
            "model": entry.model,
            "training_file": str(path),
            "data_dir": str(self.gateway.settings.data_dir),
            "hyperparameters": method[kind]["hyperparameters"],
            "seed": params["seed"],
            "checkpoint_interval_s": self.gateway.settings.checkpoint_interval_s,
            "held_out": held,
        }
        if teacher is not None:
            payload |= {"teacher": teacher, "loss": method[kind]["loss"]}
        task = TaskSpec("train", TASKS[kind], payload)
        return self.jobs.create(tenant, "finetune", str(model), params, [task], idempotency_key, prefix="ftjob-")

    def _entries(self, tenant: str) -> dict[str, CatalogueEntry]:
        """The catalogue as `tenant` sees it: another tenant's fine-tuned models are not there (a 404 naming them
        as unknown, whether as the base model or as a distillation teacher)."""
        return {name: entry for name, entry in self.gateway.control.entries.items() if entry.visible_to(tenant)}

    def _check_data(self, tenant: str, kind: str, training: str, validation: str | None, seed: int) -> list[int]:
        """The files hold what method `kind` trains on (else a 400 naming the file and the line); returns the
        training examples held out for the evaluate stage (none with a validation file, or with no judge)."""
        checks = {"cft": check_cft_file, "dpo": check_preference_file}
        data = self.files.content(tenant, training)
        if kind in checks:
            checks[kind](data, "training_file")
            if validation is not None:
                checks[kind](self.files.content(tenant, validation), "validation_file")
        settings = self.gateway.settings
        if validation is not None or settings.eval_judge is None:
            return []
        return held_out(len(records(data)), settings.eval_max_items, seed)

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
        for job_id in jobs_to_resume(self.jobs, "finetune"):
            self.submit(job_id)
        for job_id in self.jobs.ids_in_state("finetune", "succeeded"):
            self._running.spawn(job_id, functools.partial(self._serve_again, job_id))

    def submit(self, job_id: str) -> None:
        """Run the job unless it already runs here (an idempotent create returns a queued job again)."""
        self._running.spawn(job_id, lambda: self._run(job_id))

    async def stop(self) -> None:
        """Interrupt training (the workers are stopped; the jobs resume at the next start), then the tasks."""
        self.runner.stop()
        await self._running.stop()

    async def _run(self, job_id: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            moderated = await self._moderate(await asyncio.to_thread(self.jobs.get, job_id))
        except Exception as error:  # a guard that cannot run fails the job closed, never leaves it queued
            logger.exception("fine-tuning job %s: the moderate stage failed", job_id)
            await asyncio.to_thread(self.jobs.transition, job_id, "failed", f"moderation could not run: {error}")
            return
        if not moderated:
            return

        def finish(job: JobRecord) -> None:
            asyncio.run_coroutine_threadsafe(self._finish(job), loop).result()

        await asyncio.to_thread(self.runner.run, job_id, finish)

    async def _finish(self, job: JobRecord) -> None:
        """Register, then evaluate the model as it is served. A cancel requested by the end (the evaluate stage
        stops at once on one) unregisters the model and raises `StageCancelled`, so the job ends `cancelled`."""
        await self._register(job)
        job = await asyncio.to_thread(self.jobs.get, job.id)
        completed = await EvaluateStage(self.gateway, self.jobs, self.files, job).run_or_cancel()
        job = await asyncio.to_thread(self.jobs.get, job.id)
        if completed and job.cancel_requested_at is None:
            return
        await self._unregister(job)
        raise StageCancelled("cancelled after training: the fine-tuned model is not served")

    async def _unregister(self, job: JobRecord) -> None:
        """Take a cancelled job's model out of the catalogue; its weights stay (the job's last checkpoint)."""
        name = job.result.get("fine_tuned_model")
        if name in self.gateway.control.entries:
            await self.gateway.control.remove(name)
        await asyncio.to_thread(self.jobs.update, job.id, None, {"fine_tuned_model": None})
        await asyncio.to_thread(self.jobs.add_event, job.id, f"unregistered {name}: the job was cancelled")

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
        method = job.params["method"]["type"]
        report = await asyncio.to_thread(_check_training_file, data, guard, method)
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
            entry = CatalogueEntry(model=train.result["model_path"], name=name, owner=job.tenant)
            await self.gateway.control.add(entry)
        result = {"fine_tuned_model": name, "train_loss": train.result.get("train_loss")}
        await asyncio.to_thread(self.jobs.update, job.id, None, result)
        await asyncio.to_thread(self.jobs.add_event, job.id, f"registered {name}: it answers /v1/chat/completions")

    async def _serve_again(self, job_id: str) -> None:
        job = await asyncio.to_thread(self.jobs.get, job_id)
        if job.result.get("fine_tuned_model"):
            await self._register(job)


def _check_training_file(data: bytes, guard: Guard, method: str) -> CheckReport:
    """Every example of an uploaded training JSONL (already checked line by line at upload and at create) through
    `guard`, as the conversation a `method` job trains on (see `trained_conversation`)."""
    lines = enumerate(records(data), start=1)
    return check_examples([(line, trained_conversation(record, line, method)) for line, record in lines], guard)


def trained_conversation(record: dict, line: int, method: str) -> Conversation:
    """What the guard reads for one example: a chat as it is; a prompt/response, critique or preference line as its
    prompt and the answer it teaches (the response, the critique, the preferred output), since a guard only reads
    conversations and those lines are none."""
    if "messages" in record:
        return example_conversation(record, line)
    item = eval_item(record, method)
    return [*item.prompt, {"role": "assistant", "content": item.reference}]


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
