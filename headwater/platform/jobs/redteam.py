"""Red-teaming runs as platform jobs (`POST /v1/redteam/runs`): ASTRAL's plan → generate → run (target + oracle)
→ report as one job (kind `redteam`) of four tasks, each with its events, the JSON and HTML reports as result
files, and the review queue of flagged outputs through the API.

Where a run executes: in a worker thread of the gateway, not in a worker process. Every model it calls is served
here (`ServedGenerator`: the tenant's admission, job rows and footprint, the TEs' batching, no key and no second
copy of the weights) or external, reached over HTTP; the run itself only orchestrates, so a process would add a
start-up and a way to hand it the key, and nothing else.

The external target's key (`target_api_key`) is given per run and never stored: not encrypted at rest, not
stored at all. It lives in this service's memory while the run may use it, and is in no job param, event, task
payload, log line or file. A restart forgets it, so such a run then waits, queued, until
`POST /v1/redteam/runs/{id}/resume` gives it again; a run whose target needs no key resumes by itself.

Resumable: finished stages (tasks) are skipped after a restart; generate and run append each finished test to the
run's JSONL files under `data_dir/redteam/<id>/` and skip those ids when they run again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from headwater.errors import ConflictError, HeadwaterError, InvalidRequestError, NotFoundError
from headwater.models.generator import Generator
from headwater.models.openai_generator import OpenAIGenerator
from headwater.platform.files import FileStore
from headwater.platform.jobs.records import FINISHED, JobRecord, JobStore, TaskInfo, TaskSpec
from headwater.platform.jobs.redteam_request import RedteamRunRequest, resolve
from headwater.platform.jobs.redteam_stages import STAGES, RunStopped, StageContext, render, report_numbers, summary
from headwater.platform.jobs.running import RunningJobs, jobs_to_resume
from headwater.platform.served_generator import ServedGenerator
from headwater.safety.astral import ReviewQueue

if TYPE_CHECKING:
    from headwater.platform.app import Gateway

logger = logging.getLogger(__name__)
KIND = "redteam"
CALL_KIND = "redteam_call"
"""The kind of the per-request rows of the runs' model calls (not `redteam`: those are the runs themselves)."""
TASK_NAMES = ("plan", "generate", "run", "report")
REPORT_ROLES = ("report_json", "report_html")


class RedteamService:
    """Creates, runs, resumes and reviews red-teaming runs."""

    def __init__(self, gateway: Gateway, jobs: JobStore, files: FileStore) -> None:
        self.gateway = gateway
        self.jobs = jobs
        self.files = files
        self.root = gateway.settings.data_dir / "redteam"
        self._keys: dict[str, str] = {}
        """Run id → its external target's key, in memory only (see the module's docstring)."""
        self._running = RunningJobs("redteam")
        self._stopping = threading.Event()
        self._review = threading.Lock()

    def folder(self, job_id: str) -> Path:
        return self.root / job_id

    def create(self, tenant: str, body: RedteamRunRequest, idempotency_key: str | None) -> JobRecord:
        """Check the whole request (a refused one writes nothing), then record the queued run and its tasks."""
        spec = resolve(body, set(self.gateway.visible_models(tenant)))
        tasks = [TaskSpec(name, f"{__name__}:{name}", {}) for name in TASK_NAMES]
        job = self.jobs.create(tenant, KIND, spec.label, spec.params, tasks, idempotency_key, prefix="rtrun_")
        if spec.key is not None and job.state not in FINISHED:
            self._keys.setdefault(job.id, spec.key)
        return job

    def start(self) -> None:
        """After a (re)start: requeue what was running and run every queued run that can (see `resumable`)."""
        for job_id in jobs_to_resume(self.jobs, KIND):
            job = self.jobs.get(job_id)
            if self.resumable(job):
                self.submit(job_id)
            else:
                self.jobs.add_event(
                    job_id,
                    f"waiting for the external target's key: POST /v1/redteam/runs/{job_id}/resume with "
                    "target_api_key (keys are never stored)",
                    "warning",
                )

    def resumable(self, job: JobRecord) -> bool:
        """Whether the run has what it needs: a served target, a keyless external one, or its key in memory."""
        return not job.params["target_api_key_given"] or job.id in self._keys

    def resume(self, job_id: str, tenant: str, key: str | None) -> JobRecord:
        """Run a queued run again, with its external target's key given again when it has one."""
        job = self.jobs.get(job_id, tenant, KIND)
        if job.state != "queued":
            raise ConflictError(f"run {job_id} is {job.state}; only a queued run can be resumed", param="id")
        if job.params["target_api_key_given"]:
            if not key:
                raise InvalidRequestError("this run's external target needs its target_api_key", param="target_api_key")
            self._keys[job_id] = key
        self.submit(job_id)
        return job

    def submit(self, job_id: str) -> None:
        self._running.spawn(job_id, lambda: self._run(job_id))

    async def stop(self) -> None:
        """Stop every run after its batch in flight (its finished tests are kept; it resumes at the next start)."""
        self._stopping.set()
        await self._running.stop()

    async def _run(self, job_id: str) -> None:
        job = await asyncio.to_thread(self.jobs.get, job_id)
        if job.state == "queued":
            job = await asyncio.to_thread(self.jobs.transition, job_id, "running")
        if job.state != "running":  # cancelled before it started
            self._keys.pop(job_id, None)
            return
        try:
            models = self._models(job)
        except HeadwaterError as error:  # a model no longer served since the run was created
            await asyncio.to_thread(self._fail, job_id, None, error.message)
            return
        try:
            await asyncio.to_thread(self._stages, job, *models)
        finally:
            for model in models:
                if isinstance(model, OpenAIGenerator):
                    model.close()

    def _models(self, job: JobRecord) -> tuple[Generator, Generator, Generator]:
        """(writer, target, oracle), built on the gateway's loop (a ServedGenerator needs it)."""
        params, tenant = job.params, job.tenant
        target_spec = params["target"]
        if "served" in target_spec:
            target: Generator = ServedGenerator(self.gateway, target_spec["served"], tenant, kind=CALL_KIND)
        else:
            # "" and not None: a missing key must not become the gateway's own HEADWATER_API_KEY sent elsewhere
            key = self._keys.get(job.id, "")
            target = OpenAIGenerator(
                target_spec["model"], target_spec["base_url"], key, concurrency=params["concurrency"]
            )
        writer = ServedGenerator(self.gateway, params["generator"], tenant, kind=CALL_KIND)
        oracle = ServedGenerator(self.gateway, params["oracle"], tenant, kind=CALL_KIND)
        return writer, target, oracle

    def _stages(self, job: JobRecord, writer: Generator, target: Generator, oracle: Generator) -> None:
        """Run the job's tasks in order (finished ones skipped), then mark it succeeded (worker thread)."""
        for task in self.jobs.tasks(job.id):
            if task.state == "succeeded":
                continue
            task = self.jobs.update_task(task.id, "running", started=True)
            self.jobs.add_event(job.id, f"task {task.name} started (attempt {task.attempts})")
            context = self._context(job, task, writer, target, oracle)
            try:
                result = self._report(job) if task.name == "report" else STAGES[task.name](context)
            except RunStopped as stop:
                self._stopped(job.id, task, stop)
                return
            except (HeadwaterError, OSError) as error:
                self._fail(job.id, task, str(getattr(error, "message", error)))
                return
            except Exception as error:  # a bug or a model's crash: the run fails saying so, the gateway lives on
                logger.exception("red-teaming run %s: task %s failed", job.id, task.name)
                self._fail(job.id, task, f"{type(error).__name__}: {error}")
                return
            self.jobs.update_task(task.id, "succeeded", result=result)
            self.jobs.update(job.id, result={task.name: result})
            self.jobs.add_event(job.id, f"task {task.name} succeeded")
        self._keys.pop(job.id, None)
        self.jobs.transition(job.id, "succeeded")

    def _context(
        self, job: JobRecord, task: TaskInfo, writer: Generator, target: Generator, oracle: Generator
    ) -> StageContext:
        def check() -> None:
            if self._stopping.is_set():
                raise RunStopped(cancelled=False)
            if self.jobs.get(job.id).cancel_requested_at is not None:
                raise RunStopped(cancelled=True)

        folder = self.folder(job.id)
        folder.mkdir(parents=True, exist_ok=True)
        return StageContext(
            params=job.params,
            folder=folder,
            data_dir=self.gateway.settings.data_dir,
            attempt=task.attempts,
            writer=writer,
            target=target,
            oracle=oracle,
            event=lambda message: self.jobs.add_event(job.id, message),
            progress=lambda fraction: self.jobs.update(job.id, progress=fraction),
            check=check,
        )

    def _stopped(self, job_id: str, task: TaskInfo, stop: RunStopped) -> None:
        if stop.cancelled:
            self.jobs.update_task(task.id, "cancelled")
            self._keys.pop(job_id, None)
            self.jobs.transition(job_id, "cancelled")
        else:
            self.jobs.add_event(job_id, f"task {task.name} {stop}; it resumes at the next start", "warning")

    def _fail(self, job_id: str, task: TaskInfo | None, message: str) -> None:
        if task is not None:
            self.jobs.update_task(task.id, "failed", error=message)
        self._keys.pop(job_id, None)
        self.jobs.transition(job_id, "failed", f"task {task.name} failed: {message}" if task else message)

    def _report(self, job: JobRecord) -> dict:
        """The report stage: the JSON and HTML reports as the job's result files."""
        numbers = self.publish_report(job)
        return {"total": numbers["total"]}

    def publish_report(self, job: JobRecord) -> dict:
        """Write the report (with the review labels so far) as the job's `report_json` and `report_html` files,
        replacing (and deleting) the ones it had; the job's result gets the report's summary."""
        numbers = report_numbers(self.folder(job.id) / "results.jsonl")
        data = render(numbers, f"Red-teaming report: {job.model} ({job.id})")
        previous = self.jobs.get(job.id).files
        for role, content, suffix in zip(REPORT_ROLES, data, ("json", "html"), strict=True):
            written = self.files.add_output(job.tenant, f"{job.id}-report.{suffix}", "job_output", content)
            self.jobs.set_file(job.id, role, written.id)
            if role in previous:
                self.files.delete(job.tenant, previous[role])
        self.jobs.update(job.id, result={"report": summary(numbers)})
        return numbers

    def queue(self, job_id: str, tenant: str) -> tuple[JobRecord, ReviewQueue]:
        """The run's review queue, once its run stage has finished (409 before)."""
        job = self.jobs.get(job_id, tenant, KIND)
        results = self.folder(job_id) / "results.jsonl"
        ran = any(task.name == "run" and task.state == "succeeded" for task in self.jobs.tasks(job_id))
        if not ran or not results.exists():
            raise ConflictError(f"run {job_id} is {job.state} and has no results to review yet", param="id")
        return job, ReviewQueue(results)

    def verdict(self, job_id: str, tenant: str, result_id: str, label: str | None, note: str) -> dict:
        """Record a reviewer's label (or a skip when `label` is None) and refresh the report files."""
        with self._review:
            job, queue = self.queue(job_id, tenant)
            if result_id not in queue.results:
                raise NotFoundError(f"run {job_id} has no result {result_id!r}", param="id")
            if label is None:
                queue.skip(result_id)
            else:
                queue.label(result_id, label, note)
            if job.state == "succeeded":
                self.publish_report(job)
            return queue.counts()
