"""The batch API's runner: each line of a batch input file is one request through the ordinary request path
(the same validation, admission, job row and footprint as a client's call), at low priority, so interactive
requests are served first.

Each finished line is recorded in the store as it ends (`batch_lines`, in group commits off the lines' path:
`batch_recorder`), so after a restart the batch goes on with the lines still to do and never runs a finished one
again; the output and error files are written from those rows when the last line is done. A line that meets a
full server (429) waits and tries again; a line whose request is refused (400, 404…) goes to the error file with
its status and OpenAI's error body.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from types import SimpleNamespace
from typing import TYPE_CHECKING

from pydantic import BaseModel, ValidationError
from sqlalchemy import ForeignKey, Integer, String, Text, case, func, select
from sqlalchemy.orm import Mapped, mapped_column
from starlette.requests import Request

from headwater.errors import EngineUnavailableError, HeadwaterError, InvalidRequestError, RateLimitError
from headwater.platform.api.errors import error_body, exception_body
from headwater.platform.fair_queue import PRIORITY
from headwater.platform.files import FileStore
from headwater.platform.jobs.batch_recorder import LineRecorder
from headwater.platform.jobs.records import JobRecord, JobStore
from headwater.platform.jobs.running import RunningJobs, jobs_to_resume
from headwater.platform.jsonl_check import BATCH_URLS, parse_lines
from headwater.platform.store import _Base

if TYPE_CHECKING:
    from headwater.platform.app import Gateway

logger = logging.getLogger(__name__)
COMPLETION_WINDOWS = ("24h",)
UNAVAILABLE_RETRIES = 3
CANCEL_CHECK_S = 0.5
"""How often a running batch reads whether it was cancelled (a store read per line would slow the lines)."""
STOP_GRACE_S = 5.0
"""How long a stopping gateway lets a batch's lines in flight end, and be kept, before it cancels them. A line
cancelled just as its request ends has its job counted as succeeded but not its row, and runs again at the next
start."""


class BatchLineRow(_Base):
    """One finished line of a batch: what goes to its output (2xx) or error file."""

    __tablename__ = "batch_lines"
    batch_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    custom_id: Mapped[str] = mapped_column(String(300))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)


def _never_disconnects() -> object:
    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    return receive


class BatchRunner:
    """Creates, runs, resumes and cancels batches inside the gateway's event loop."""

    def __init__(self, gateway: Gateway, jobs: JobStore, files: FileStore) -> None:
        self.gateway = gateway
        self.jobs = jobs
        self.files = files
        _Base.metadata.create_all(jobs.store.engine, tables=[_Base.metadata.tables["batch_lines"]])
        self._session = jobs.store._session
        self._running = RunningJobs("batch")
        self._app = SimpleNamespace(state=SimpleNamespace(gateway=gateway))

    def create(self, tenant: str, body: dict, idempotency_key: str | None) -> JobRecord:
        """Check the request and its input file whole, then record the batch (nothing is written if a check fails)."""
        endpoint, window = body.get("endpoint"), body.get("completion_window", "24h")
        if endpoint not in BATCH_URLS:
            raise InvalidRequestError(f"endpoint must be one of {', '.join(BATCH_URLS)}", param="endpoint")
        if window not in COMPLETION_WINDOWS:
            raise InvalidRequestError(f"completion_window must be {COMPLETION_WINDOWS[0]!r}", param="completion_window")
        metadata = body.get("metadata")
        if metadata is not None and not (
            isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
        ):
            raise InvalidRequestError("metadata must map strings to strings", param="metadata")
        file_id = body.get("input_file_id")
        if not isinstance(file_id, str):
            raise InvalidRequestError("input_file_id must name an uploaded file", param="input_file_id")
        source = self.files.get(tenant, file_id)
        if source.purpose != "batch":
            raise InvalidRequestError(
                f"file {file_id} was uploaded for {source.purpose!r}; upload it with purpose 'batch'",
                param="input_file_id",
            )
        lines = parse_lines(self.files.content(tenant, file_id))
        for number, record in lines:
            if record.get("url") != endpoint:
                raise InvalidRequestError(
                    f"line {number}: url {record.get('url')!r} differs from the batch's endpoint {endpoint!r}",
                    param="input_file_id",
                )
        params = {"input_file_id": file_id, "endpoint": endpoint, "completion_window": window, "metadata": metadata}
        params["total"] = len(lines)
        model = str(lines[0][1]["body"]["model"])
        return self.jobs.create(tenant, "batch", model, params, idempotency_key=idempotency_key, prefix="batch_")

    def start(self) -> None:
        """Resume what a stopped gateway left: running batches are requeued, then every queued one runs."""
        for batch_id in jobs_to_resume(self.jobs, "batch"):
            self.submit(batch_id)

    def submit(self, batch_id: str) -> None:
        self._running.spawn(batch_id, lambda: self._run(batch_id))

    async def stop(self) -> None:
        """Stop running batches (their finished lines are kept; they resume at the next start)."""
        await self._running.stop(cancel=True)

    def counts(self, batch_id: str) -> tuple[int, int]:
        """(completed, failed) lines so far, counted by the database: a client polling a running batch costs the
        gateway one small query, not a row per finished line."""
        ok = case((BatchLineRow.status_code.between(200, 299), 1), else_=0)
        query = select(func.count(), func.coalesce(func.sum(ok), 0)).where(BatchLineRow.batch_id == batch_id)
        with self._session() as session:
            total, completed = session.execute(query).one()
        return int(completed), int(total) - int(completed)

    async def _run(self, batch_id: str) -> None:
        job = await asyncio.to_thread(self.jobs.get, batch_id)
        try:
            if job.state == "queued":
                job = await asyncio.to_thread(self.jobs.transition, batch_id, "running")
            if job.state != "running":
                return
            cancelled = await self._run_lines(job)
            await self._finish(job, "cancelled" if cancelled else "succeeded")
        except asyncio.CancelledError:
            raise  # the gateway is stopping: the batch stays running and is requeued at the next start
        except Exception as error:  # anything else ends the batch as failed, with the reason
            logger.exception("batch %s failed", batch_id)
            reason = error.message if isinstance(error, HeadwaterError) else f"{type(error).__name__}: {error}"
            await asyncio.to_thread(self.jobs.transition, batch_id, "failed", reason)

    async def _run_lines(self, job: JobRecord) -> bool:
        """Run the lines not yet done, `batch_concurrency` at a time; True if the batch was cancelled."""
        data = await asyncio.to_thread(self.files.content, job.tenant, job.params["input_file_id"])
        done = await asyncio.to_thread(self._done_lines, job.id)
        todo = [(number, record) for number, record in parse_lines(data) if number not in done]
        slots = asyncio.Semaphore(self.gateway.settings.batch_concurrency)
        running: set[asyncio.Task[None]] = set()
        recorder: LineRecorder[BatchLineRow] = LineRecorder(self._record)
        cancelled, checked = False, time.monotonic()
        try:
            for number, record in todo:
                await slots.acquire()
                if time.monotonic() - checked > CANCEL_CHECK_S:
                    checked = time.monotonic()
                    if await self._cancel_requested(job.id):
                        slots.release()
                        cancelled = True
                        break
                task = asyncio.create_task(self._line(job, number, record, recorder))
                task.add_done_callback(lambda _t: slots.release())
                running.add(task)
                task.add_done_callback(running.discard)
            if running:
                await asyncio.gather(*running)
        finally:
            if running:  # only when stopping (or failing): the lines in flight get `STOP_GRACE_S` to end
                await asyncio.wait(running, timeout=STOP_GRACE_S)
            for task in running:
                task.cancel()
            await recorder.flush()  # the lines that ended are kept, even when the gateway is stopping
        return cancelled or await self._cancel_requested(job.id)

    async def _cancel_requested(self, batch_id: str) -> bool:
        return (await asyncio.to_thread(self.jobs.get, batch_id)).cancel_requested_at is not None

    async def _line(self, job: JobRecord, number: int, record: dict, recorder: LineRecorder[BatchLineRow]) -> None:
        """One line's request; its row goes to `recorder`, so the line's slot is free as soon as the request ends."""
        PRIORITY.set("batch")
        status, body = await self._call(job.tenant, str(record["url"]), dict(record["body"]))
        row = BatchLineRow(
            batch_id=job.id, line=number, custom_id=str(record["custom_id"]), status_code=status, body=json.dumps(body)
        )
        recorder.add(row)

    async def _call(self, tenant: str, url: str, body: dict) -> tuple[int, dict]:
        """One line through the ordinary route handler; waits and retries while the server is full."""
        from headwater.platform.api.openai_routes import chat_completions, completions
        from headwater.platform.api.schemas import ChatCompletionRequest, CompletionRequest

        schema: type[BaseModel] = ChatCompletionRequest if url == "/v1/chat/completions" else CompletionRequest
        handler = chat_completions if url == "/v1/chat/completions" else completions
        unavailable = 0
        while True:
            try:
                parsed = schema.model_validate({**body, "stream": False})
                scope = {"type": "http", "app": self._app, "method": "POST", "path": url, "headers": []}
                response = await handler(parsed, Request(scope, _never_disconnects()), tenant)  # type: ignore[arg-type]
                return response.status_code, json.loads(bytes(response.body))
            except ValidationError as error:
                first = error.errors()[0]
                field = ".".join(str(part) for part in first.get("loc", ())) or "body"
                return 400, error_body(f"{field}: {first.get('msg')}", "invalid_request_error", field)
            except RateLimitError as error:
                await asyncio.sleep(error.retry_after_s or 1)
            except EngineUnavailableError as error:
                unavailable += 1
                if unavailable > UNAVAILABLE_RETRIES:
                    return error.status_code, exception_body(error)
                await asyncio.sleep(error.retry_after_s or 1)
            except HeadwaterError as error:
                return error.status_code, exception_body(error)
            except Exception as error:  # a bug behind one line fails that line (500), as it would a client's call
                logger.exception("a batch line failed inside the server")
                return 500, exception_body(error)

    def _done_lines(self, batch_id: str) -> set[int]:
        with self._session() as session:
            return set(session.scalars(select(BatchLineRow.line).where(BatchLineRow.batch_id == batch_id)))

    def _record(self, rows: list[BatchLineRow]) -> None:
        """Finished lines, in one transaction."""
        with self._session.begin() as session:
            for row in rows:
                session.merge(row)

    async def _finish(self, job: JobRecord, state: str) -> None:
        await asyncio.to_thread(self._write_files, job)
        completed, failed = await asyncio.to_thread(self.counts, job.id)
        await asyncio.to_thread(self.jobs.update, job.id, None, {"completed": completed, "failed": failed})
        await asyncio.to_thread(self.jobs.transition, job.id, state)

    def _write_files(self, job: JobRecord) -> None:
        """The output file (2xx lines) and the error file (the rest), in input order, OpenAI's output line shape."""
        with self._session() as session:
            query = select(BatchLineRow).where(BatchLineRow.batch_id == job.id).order_by(BatchLineRow.line)
            rows = list(session.scalars(query))
        outputs: dict[str, list[str]] = {"output": [], "error": []}
        for row in rows:
            ok = 200 <= row.status_code < 300
            body = json.loads(row.body)
            line = {
                "id": f"batch_req_{uuid.uuid4().hex}",
                "custom_id": row.custom_id,
                "response": {"status_code": row.status_code, "request_id": f"req_{row.line}", "body": body},
                "error": None
                if ok
                else {"code": str(row.status_code), "message": body.get("error", {}).get("message")},
            }
            outputs["output" if ok else "error"].append(json.dumps(line))
        for role, lines in outputs.items():
            if lines:
                name = f"{job.id}_{role}.jsonl"
                data = ("\n".join(lines) + "\n").encode()
                written = self.files.add_output(job.tenant, name, "batch_output", data)
                self.jobs.set_file(job.id, role, written.id)


def _ts(moment: object) -> int | None:
    return int(moment.timestamp()) if moment is not None else None  # type: ignore[attr-defined]


def batch_object(job: JobRecord, counts: tuple[int, int]) -> dict[str, object]:
    """The batch in OpenAI's shape; its status follows the job's state (and a pending cancel)."""
    status = {
        "queued": "validating",
        "running": "in_progress",
        "succeeded": "completed",
        "failed": "failed",
        "cancelled": "cancelled",
    }[job.state]
    if job.state == "running" and job.cancel_requested_at is not None:
        status = "cancelling"
    finished = _ts(job.finished_at)
    errors = None
    if job.state == "failed" and job.error:
        errors = {"object": "list", "data": [{"code": "batch_failed", "message": job.error}]}
    completed, failed = counts
    return {
        "id": job.id,
        "object": "batch",
        "endpoint": job.params["endpoint"],
        "errors": errors,
        "input_file_id": job.params["input_file_id"],
        "completion_window": job.params["completion_window"],
        "status": status,
        "output_file_id": job.files.get("output"),
        "error_file_id": job.files.get("error"),
        "created_at": _ts(job.created_at),
        "in_progress_at": _ts(job.started_at),
        "expires_at": (_ts(job.created_at) or int(time.time())) + 24 * 3600,
        "finalizing_at": finished if job.state == "succeeded" else None,
        "completed_at": finished if job.state == "succeeded" else None,
        "failed_at": finished if job.state == "failed" else None,
        "expired_at": None,
        "cancelling_at": _ts(job.cancel_requested_at),
        "cancelled_at": finished if job.state == "cancelled" else None,
        "request_counts": {"total": job.params["total"], "completed": completed, "failed": failed},
        "metadata": job.params.get("metadata"),
    }
