"""File jobs of the platform's services: a JSONL benchmark judged by a served model (`judge`, the judge bench
report as its result file), a JSONL of texts scored by a stored calibration (`detect`, one detection per line),
and a portfolio's footprint report (`footprint`, the HTML report): the job kinds of the design. (The prompts a
judge job sends are per-request rows of kind `judgement`, like those of `POST /v1/judgements`.)

Judgement and detection jobs run in the gateway, their model reached through a `ServedGenerator`, not in a worker
process calling the gateway over HTTP: a worker would need the tenant's API key in clear (keys are stored hashed;
minting one per job would put a secret in the job's payload), and the work is waiting on the task executors, which
do the compute either way. So each prompt is admitted, queued fairly and accounted to the tenant like its own
requests, with no second copy of the weights. Prompts go in chunks (`CHUNK`), which bounds what one job puts in the
queue at once and gives the progress, the events and a point to notice a cancel or a stopping platform.

A footprint report is CPU work with matplotlib: it runs as a task in a worker process (`LocalWorkerRunner`). After a
restart every job left running is requeued and run again from its start (the file is judged or scored again).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from headwater.errors import ConflictError, InvalidRequestError
from headwater.jsonl import read_jsonl
from headwater.models.generator import Generation, GenerationParams, Generator, Prompt
from headwater.platform.files import FileStore, LocalFileStorage
from headwater.platform.jobs.records import JobRecord, JobStore, TaskSpec
from headwater.platform.jobs.running import RunningJobs, jobs_to_resume
from headwater.platform.jobs.workers import WorkerRunner

if TYPE_CHECKING:
    from headwater.judge import Judge
    from headwater.platform.app import Gateway

KINDS = ("judge", "detect", "footprint")
CHUNK = 8
"""Prompts (or texts) of one job in flight at once."""
RESULT_PURPOSE = "job_output"
REPORT_TASK = "headwater.platform.jobs.footprint_tasks:render_report"


class Interrupted(Exception):
    """Raised in a job's thread between two chunks: the job was cancelled, or the platform is stopping."""


class ChunkedGenerator:
    """Forwards prompts to `inner` `chunk` at a time and calls `after_chunk(prompts done so far)` after each."""

    def __init__(self, inner: Generator, chunk: int, after_chunk: Callable[[int], None]) -> None:
        self.inner, self.chunk, self.after_chunk = inner, chunk, after_chunk
        self.name = inner.name
        self.done = 0

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Generation]:
        generations: list[Generation] = []
        for start in range(0, len(prompts), self.chunk):
            generations += self.inner.generate(prompts[start : start + self.chunk], params)
            self.done += len(prompts[start : start + self.chunk])
            self.after_chunk(self.done)
        return generations


class _NoReply:
    """A generator that answers nothing at once: a dry run of the bench checks every line of a file at create."""

    name = "dry-run"

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Generation]:
        return [Generation("", "stop", 0, 0) for _ in prompts]


class ServiceJobs:
    """Creates, runs, resumes and cancels judgement, detection and footprint report jobs."""

    def __init__(self, gateway: Gateway, jobs: JobStore, files: FileStore, runner: WorkerRunner) -> None:
        self.gateway = gateway
        self.jobs = jobs
        self.files = files
        self.runner = runner
        self._running = RunningJobs("service-job")
        self._stopping = threading.Event()

    # creating: everything checked first, so a refused request writes nothing

    def create_judgement(self, tenant: str, settings: dict, idempotency_key: str | None) -> JobRecord:
        """A judge bench over the `evals` file `settings["file_id"]` (the judge CLI's bench lines of `kind`)."""
        from headwater.judge import TASK_KINDS
        from headwater.judge.bench import bench

        if settings["kind"] not in TASK_KINDS:
            kinds = ", ".join(TASK_KINDS)
            raise InvalidRequestError(f"kind must be one of {kinds}, got {settings['kind']!r}", param="kind")
        self.gateway.model(settings["model"], tenant)  # a 404 listing the models this tenant may use
        file_id = self._evals_file(tenant, settings.get("file_id"))
        try:
            bench(settings["kind"], self._path(tenant, file_id), self._judge(_NoReply(), settings), settings["policy"])
        except InvalidRequestError as error:
            raise InvalidRequestError(f"file_id {file_id}: {error.message}", param="file_id") from None
        return self.jobs.create(tenant, "judge", settings["model"], settings, idempotency_key=idempotency_key)

    def create_detection(self, tenant: str, settings: dict, idempotency_key: str | None) -> JobRecord:
        """Every `text` of the `evals` file `settings["file_id"]` scored by the calibration `settings["detector"]`."""
        stored = self.gateway.detection.calibrations.get(tenant, settings["detector"], param="detector")
        file_id = self._evals_file(tenant, settings.get("file_id"))
        texts = _texts(self._path(tenant, file_id))
        params = {**settings, "texts": len(texts)}
        model = ",".join(stored.calibration.models)
        return self.jobs.create(tenant, "detect", model, params, idempotency_key=idempotency_key)

    def create_footprint_report(self, tenant: str, document: dict, idempotency_key: str | None) -> JobRecord:
        """The HTML report of a portfolio document (`headwater.footprint.document`; empty: the paper's)."""
        from headwater.footprint.document import read_document

        read_document(document)
        task = TaskSpec("report", REPORT_TASK, {"document": document}, max_attempts=2)
        params = {"document": document}
        return self.jobs.create(tenant, "footprint", "capgemini", params, [task], idempotency_key)

    def _evals_file(self, tenant: str, file_id: object) -> str:
        if not isinstance(file_id, str):
            raise InvalidRequestError("file_id must name an uploaded file", param="file_id")
        row = self.files.get(tenant, file_id)
        if row.purpose != "evals":
            raise InvalidRequestError(
                f"file {file_id} was uploaded for {row.purpose!r}; upload it with purpose 'evals'", param="file_id"
            )
        return file_id

    def _path(self, tenant: str, file_id: str) -> Path:
        """A local path of the file (the libraries read paths): its own with local storage, else a copy."""
        storage = self.files.storage
        if isinstance(storage, LocalFileStorage):
            return storage.path(tenant, file_id)
        copy = self.gateway.settings.data_dir / "jobs" / "inputs" / tenant / file_id
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(self.files.content(tenant, file_id))
        return copy

    def _judge(self, generator: Generator, settings: dict) -> Judge:
        from headwater.judge import Judge
        from headwater.judge.templates import template_named

        return Judge(
            generator,
            retries=settings["retries"],
            samples=settings["samples"],
            max_tokens=settings["max_tokens"],
            template=template_named(settings["template"]),
            order=settings["order"],
            seed=settings["seed"],
        )

    # running

    def start(self) -> None:
        """Requeue what a stopped gateway left running, then run every queued job (inside the event loop)."""
        for kind in KINDS:
            for job_id in jobs_to_resume(self.jobs, kind):
                self.submit(job_id)

    def submit(self, job_id: str) -> None:
        """Run the job unless it already runs here (an idempotent create returns a queued job again)."""
        self._running.spawn(job_id, lambda: self._run(job_id))

    async def stop(self) -> None:
        """Interrupt the running jobs at their next chunk (they stay `running`, requeued at the next start)."""
        self._stopping.set()
        self.runner.stop()
        await self._running.stop()

    async def _run(self, job_id: str) -> None:
        job = await asyncio.to_thread(self.jobs.get, job_id)
        if job.kind == "footprint":
            await asyncio.to_thread(self.runner.run, job_id, self._attach_report)
            return
        if job.state == "queued":
            try:
                job = await asyncio.to_thread(self.jobs.transition, job_id, "running")
            except ConflictError:  # cancelled while queued
                return
        if job.state != "running":
            return
        try:
            if job.kind == "judge":
                await self._judgement(job)
            else:
                await self._detection(job)
        except Interrupted:
            if not self._stopping.is_set():
                await asyncio.to_thread(self.jobs.transition, job_id, "cancelled")
        except Exception as error:  # the job failed: its reason is recorded, the gateway goes on
            await asyncio.to_thread(self.jobs.transition, job_id, "failed", f"{type(error).__name__}: {error}")
        else:
            await asyncio.to_thread(self.jobs.transition, job_id, "succeeded")

    def _reporter(self, job: JobRecord, expected: int, what: str) -> Callable[[int], None]:
        """What runs after each chunk: progress, an event, and the check for a cancel or a stopping platform."""

        def after_chunk(done: int) -> None:
            if self._stopping.is_set() or self.jobs.get(job.id).cancel_requested_at is not None:
                raise Interrupted
            self.jobs.update(job.id, progress=min(0.99, done / max(1, expected)))
            message = f"{done} of {expected} {what} done"
            if done > expected:  # a judge re-asks the verdicts that did not parse
                message = f"{done} {what} done ({expected} planned, then retries)"
            self.jobs.add_event(job.id, message, data={"done": done, "total": expected})

        return after_chunk

    async def _judgement(self, job: JobRecord) -> None:
        from headwater.judge.bench import bench
        from headwater.platform.served_generator import ServedGenerator

        settings = job.params
        path = await asyncio.to_thread(self._path, job.tenant, settings["file_id"])
        items = len(read_jsonl(path, "item"))
        expected = items * settings["samples"] * (2 if settings["order"] == "both" else 1)
        served = ServedGenerator(self.gateway, job.model, job.tenant, kind="judgement")
        generator = ChunkedGenerator(served, CHUNK, self._reporter(job, expected, "judge calls"))
        await asyncio.to_thread(self.jobs.add_event, job.id, f"judging {items} items with {job.model}")
        report = await asyncio.to_thread(
            bench, settings["kind"], path, self._judge(generator, settings), settings["policy"]
        )
        report = {"model": job.model, **report}
        await self._keep(job, "report", f"{job.id}-judge-report.json", json.dumps(report, indent=1).encode())
        summary = {key: report[key] for key in ("kind", "items", "parse_failure_rate", "metrics") if key in report}
        await asyncio.to_thread(self.jobs.update, job.id, None, summary)

    async def _detection(self, job: JobRecord) -> None:
        from headwater.platform.detection import detection_object, score_rows

        settings = job.params
        stored, calibrated = await self.gateway.detection.detector(job.tenant, settings["detector"])
        path = await asyncio.to_thread(self._path, job.tenant, settings["file_id"])
        lines = await asyncio.to_thread(_lines, path)
        after_chunk = self._reporter(job, len(lines), "texts")
        rows: list[dict[str, object]] = []
        for start in range(0, len(lines), CHUNK):
            chunk = lines[start : start + CHUNK]
            scored = await asyncio.to_thread(score_rows, calibrated, [r["text"] for r in chunk], settings["explain"])
            for record, row in zip(chunk, scored, strict=True):
                rows.append({"line": record["line"], "custom_id": record.get("id"), **detection_object(stored, row)})
            await asyncio.to_thread(after_chunk, len(rows))
        data = "".join(json.dumps(row) + "\n" for row in rows).encode()
        await self._keep(job, "output", f"{job.id}-detections.jsonl", data)
        decisions = [row["decision"] for row in rows]
        summary = {
            "detector": stored.name,
            "texts": len(rows),
            "ai": decisions.count("ai"),
            "human": decisions.count("human"),
            "refused": decisions.count(None),
        }
        await asyncio.to_thread(self.jobs.update, job.id, None, summary)

    async def _keep(self, job: JobRecord, role: str, filename: str, data: bytes) -> None:
        written = await asyncio.to_thread(self.files.add_output, job.tenant, filename, RESULT_PURPOSE, data)
        await asyncio.to_thread(self.jobs.set_file, job.id, role, written.id)
        await asyncio.to_thread(self.jobs.add_event, job.id, f"{role} written: {written.id} ({len(data)} bytes)")

    def _attach_report(self, job: JobRecord) -> None:
        """After the report task: its HTML becomes the job's `report` file, its summary the job's result."""
        [task] = self.jobs.tasks(job.id)
        result = dict(task.result)
        data = Path(str(result.pop("path"))).read_bytes()
        written = self.files.add_output(job.tenant, f"{job.id}-footprint-report.html", RESULT_PURPOSE, data)
        self.jobs.set_file(job.id, "report", written.id)
        self.jobs.update(job.id, None, result)


def _lines(path: Path) -> list[dict]:
    """The file's records with their line numbers, each with a non-empty string `text` (400 naming the line)."""
    records = []
    for number, record in read_jsonl(path, "text"):
        text = record.get("text") if isinstance(record, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise InvalidRequestError(f"line {number}: needs a non-empty string `text`", param="file_id")
        records.append({**record, "line": number})  # type: ignore[dict-item]
    return records


def _texts(path: Path) -> list[str]:
    return [record["text"] for record in _lines(path)]
