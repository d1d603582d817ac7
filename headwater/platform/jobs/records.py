"""Durable jobs in the store: their state machine, progress, append-only events, checkpoints, result files and
tasks, in the same database (SQLite or PostgreSQL) and the same `jobs` table as the per-request chat jobs.

A job row keeps what every job has (kind, model, state, error, footprint); `job_details` adds what long jobs need
(parameters, progress, result, cancel request). The state machine is enforced here, on every write, so no
caller can move a finished job back to running:

    queued → running → succeeded | failed | cancelled      (queued may also go straight to failed or cancelled;
    running → queued                                         a restart requeues what was running)
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from headwater.errors import ConflictError, InvalidRequestError, NotFoundError
from headwater.footprint.impacts import CRITERIA as FOOTPRINT_CRITERIA
from headwater.platform.idempotency import Idempotency
from headwater.platform.store import JobFootprintRow, JobRow, Store, _Base, _now, record_of

TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"running", "failed", "cancelled"}),
    "running": frozenset({"succeeded", "failed", "cancelled", "queued"}),
    "succeeded": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset(),
}
FINISHED = frozenset({"succeeded", "failed", "cancelled"})


class JobDetailRow(_Base):
    """What a long-running job adds to its `jobs` row."""

    __tablename__ = "job_details"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    params: Mapped[str] = mapped_column(Text, default="{}")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    result: Mapped[str] = mapped_column(Text, default="{}")
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class JobEventRow(_Base):
    """One line of a job's log; rows are only ever inserted."""

    __tablename__ = "job_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    level: Mapped[str] = mapped_column(String(8), default="info")
    message: Mapped[str] = mapped_column(String(2000))
    data: Mapped[str] = mapped_column(Text, default="{}")


class JobCheckpointRow(_Base):
    __tablename__ = "job_checkpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(1000))
    metrics: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class JobCheckpointDeletionRow(_Base):
    """A recorded checkpoint whose folder was deleted (rotation, `checkpoint_rotation`): it stays listed, never
    resumed. A table of its own, so stores made before rotation existed gain it without a migration."""

    __tablename__ = "job_checkpoint_deletions"
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("job_checkpoints.id"), primary_key=True)
    deleted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class JobFileRow(_Base):
    """A file a job produced (batch output, error file, moderation report), by role."""

    __tablename__ = "job_files"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    file_id: Mapped[str] = mapped_column(String(64))


class TaskRow(_Base):
    """The smallest unit placed on a worker; `attempts` counts starts, so a lost worker's task is retried until
    `max_attempts`."""

    __tablename__ = "job_tasks"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    function: Mapped[str] = mapped_column(String(300))
    payload: Mapped[str] = mapped_column(Text, default="{}")
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    result: Mapped[str] = mapped_column(Text, default="{}")
    error: Mapped[str | None] = mapped_column(String(2000), nullable=True)


@dataclass(frozen=True)
class TaskSpec:
    """A task to create: `function` is `module:function`, called in a worker as `function(payload, context)`."""

    name: str
    function: str
    payload: dict
    max_attempts: int = 3


@dataclass(frozen=True)
class TaskInfo:
    id: str
    job_id: str
    name: str
    function: str
    payload: dict
    state: str
    attempts: int
    max_attempts: int
    result: dict
    error: str | None


@dataclass(frozen=True)
class JobRecord:
    """A long-running job as recorded."""

    id: str
    tenant: str
    kind: str
    model: str
    state: str
    params: dict
    progress: float
    result: dict
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancel_requested_at: datetime | None
    files: dict[str, str]


@dataclass(frozen=True)
class JobEvent:
    id: int
    job_id: str
    created_at: datetime
    level: str
    message: str
    data: dict


@dataclass(frozen=True)
class Checkpoint:
    id: int
    job_id: str
    step: int
    path: str
    metrics: dict
    created_at: datetime
    deleted_at: datetime | None = None
    """When its folder was deleted (rotation); None while it is on disk."""


def _task(row: TaskRow) -> TaskInfo:
    return record_of(TaskInfo, row, payload=json.loads(row.payload), result=json.loads(row.result))


class JobStore:
    """Jobs, tasks and events over the gateway's `Store` (same engine, same transactions' rules)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        _Base.metadata.create_all(store.engine)
        self._session = store._session
        self.idempotency = Idempotency(store)

    def create(
        self,
        tenant: str,
        kind: str,
        model: str,
        params: dict,
        tasks: tuple[TaskSpec, ...] | list[TaskSpec] = (),
        idempotency_key: str | None = None,
        prefix: str = "job_",
    ) -> JobRecord:
        """A new queued job with its tasks; the same idempotency key and body return the first job again (two
        racing creates with one key: the loser's insert fails on the key's primary key and it reads the winner's)."""
        try:
            return self._create(tenant, kind, model, params, list(tasks), idempotency_key, prefix)
        except IntegrityError:
            if idempotency_key is None:
                raise
            return self._create(tenant, kind, model, params, list(tasks), idempotency_key, prefix)

    def _create(
        self,
        tenant: str,
        kind: str,
        model: str,
        params: dict,
        tasks: list[TaskSpec],
        idempotency_key: str | None,
        prefix: str,
    ) -> JobRecord:
        body = {"kind": kind, "model": model, "params": params}
        with self._session.begin() as session:
            existing = self.idempotency.claim(session, tenant, kind, idempotency_key, body)
            if existing is not None:
                return self._record(session, existing)
            job_id = f"{prefix}{uuid.uuid4().hex}"
            self.store._tenant(session, tenant)
            session.add(JobRow(id=job_id, tenant_id=tenant, kind=kind, model=model, state="queued"))
            session.flush()
            session.add(JobDetailRow(job_id=job_id, params=json.dumps(params)))
            for position, spec in enumerate(tasks):
                session.add(
                    TaskRow(
                        id=f"task_{uuid.uuid4().hex}",
                        job_id=job_id,
                        position=position,
                        name=spec.name,
                        function=spec.function,
                        payload=json.dumps(spec.payload),
                        max_attempts=spec.max_attempts,
                    )
                )
            self.idempotency.bind(session, tenant, kind, idempotency_key, body, job_id)
            session.add(JobEventRow(job_id=job_id, message=f"{kind} job created", data="{}"))
            session.flush()
            return self._record(session, job_id)

    def get(self, job_id: str, tenant: str | None = None, kind: str | None = None) -> JobRecord:
        """The job, or 404 when it does not exist, is another tenant's or another kind (ids never leak)."""
        with self._session() as session:
            return self._record(session, job_id, tenant, kind)

    def list_jobs(
        self, tenant: str, kind: str | None, limit: int = 20, after: str | None = None, state: str | None = None
    ) -> list[JobRecord]:
        """The tenant's long jobs (of one kind, in one state, when given), newest first; `after` is the last id of
        the previous page (ties on `created_at` are broken by id, so a page never skips a job)."""
        with self._session() as session:
            query = select(JobRow.id).join(JobDetailRow, JobDetailRow.job_id == JobRow.id)
            query = query.where(JobRow.tenant_id == tenant)
            if kind is not None:
                query = query.where(JobRow.kind == kind)
            if state is not None:
                query = query.where(JobRow.state == state)
            if after is not None:
                anchor = session.get(JobRow, after)
                if anchor is None or anchor.tenant_id != tenant or kind not in (None, anchor.kind):
                    raise NotFoundError(f"no {kind or 'job'} {after!r} to page after", param="after")
                query = query.where(
                    (JobRow.created_at < anchor.created_at)
                    | ((JobRow.created_at == anchor.created_at) & (JobRow.id < anchor.id))
                )
            query = query.order_by(JobRow.created_at.desc(), JobRow.id.desc()).limit(limit)
            return [self._record(session, job_id) for job_id in session.scalars(query).all()]

    def recent(self, tenant: str, limit: int = 50) -> list[JobRecord]:
        """The tenant's long jobs of every kind, newest first (per-request chat rows have no details: left out)."""
        with self._session() as session:
            query = select(JobRow.id).join(JobDetailRow, JobDetailRow.job_id == JobRow.id)
            query = query.where(JobRow.tenant_id == tenant).order_by(JobRow.created_at.desc()).limit(limit)
            return [self._record(session, job_id) for job_id in session.scalars(query).all()]

    def ids_in_state(self, kind: str, *states: str) -> list[str]:
        with self._session() as session:
            query = select(JobRow.id).where(JobRow.kind == kind, JobRow.state.in_(states)).order_by(JobRow.created_at)
            return list(session.scalars(query))

    def transition(self, job_id: str, state: str, error: str | None = None) -> JobRecord:
        """Move the job to `state`; an illegal move (e.g. out of a finished state) raises ConflictError."""
        with self._session.begin() as session:
            row = self._row(session, job_id)
            if state not in TRANSITIONS:
                raise InvalidRequestError(f"unknown job state {state!r}; one of {', '.join(TRANSITIONS)}")
            if state not in TRANSITIONS[row.state]:
                raise ConflictError(f"job {job_id} is {row.state}; it cannot become {state}")
            row.state = state
            detail = session.get(JobDetailRow, job_id)
            if state == "running" and detail is not None and detail.started_at is None:
                detail.started_at = _now()
            if state in FINISHED:
                row.finished_at = _now()
                row.error = error[:2000] if error else None
                if detail is not None and state == "succeeded":
                    detail.progress = 1.0
            session.add(JobEventRow(job_id=job_id, level="error" if error else "info", message=error or state))
            session.flush()
            return self._record(session, job_id)

    def request_cancel(self, job_id: str, tenant: str, kind: str | None) -> JobRecord:
        """Ask a job to stop: a queued job is cancelled at once, a running one when its runner sees the request
        (`kind` None: a job of any kind, as `POST /v1/jobs/{id}/cancel` asks)."""
        with self._session.begin() as session:
            row = self._row(session, job_id, tenant, kind)
            detail = session.get(JobDetailRow, job_id)
            if detail is None:
                raise NotFoundError(f"no {kind or 'job'} {job_id!r}", param="id")
            if row.state == "queued":
                row.state, row.finished_at = "cancelled", _now()
                session.add(JobEventRow(job_id=job_id, message="cancelled before it started"))
            elif row.state == "running" and detail.cancel_requested_at is None:
                session.add(JobEventRow(job_id=job_id, message="cancel requested"))
            if row.state not in FINISHED or row.state == "cancelled":
                detail.cancel_requested_at = detail.cancel_requested_at or _now()
            session.flush()
            return self._record(session, job_id)

    def update(self, job_id: str, progress: float | None = None, result: dict | None = None) -> None:
        """Set progress (0..1) and/or merge keys into the job's result."""
        with self._session.begin() as session:
            detail = session.get(JobDetailRow, job_id)
            if detail is None:
                raise NotFoundError(f"no job {job_id!r}")
            if progress is not None:
                detail.progress = min(1.0, max(0.0, progress))
            if result is not None:
                detail.result = json.dumps({**json.loads(detail.result), **result})

    def add_event(self, job_id: str, message: str, level: str = "info", data: dict | None = None) -> None:
        with self._session.begin() as session:
            session.add(JobEventRow(job_id=job_id, level=level, message=message[:2000], data=json.dumps(data or {})))

    def events(self, job_id: str, after: int | None = None, limit: int = 100) -> list[JobEvent]:
        """Events oldest first, from after the event id `after`."""
        query = select(JobEventRow).where(JobEventRow.job_id == job_id).order_by(JobEventRow.id).limit(limit)
        if after is not None:
            query = query.where(JobEventRow.id > after)
        with self._session() as session:
            return [record_of(JobEvent, r, data=json.loads(r.data)) for r in session.scalars(query)]

    def add_checkpoint(self, job_id: str, step: int, path: str, metrics: dict | None = None) -> None:
        """Record a checkpoint and its `checkpoint at step N` event in one transaction: a platform killed between
        two writes would otherwise resume from a checkpoint its event log never mentioned."""
        with self._session.begin() as session:
            session.add(JobCheckpointRow(job_id=job_id, step=step, path=path, metrics=json.dumps(metrics or {})))
            data = json.dumps({"path": path, **(metrics or {})})
            session.add(JobEventRow(job_id=job_id, message=f"checkpoint at step {step}", data=data))

    def checkpoints(self, job_id: str) -> list[Checkpoint]:
        """Every checkpoint recorded, oldest first, the deleted ones with their `deleted_at`."""
        query = (
            select(JobCheckpointRow, JobCheckpointDeletionRow.deleted_at)
            .outerjoin(JobCheckpointDeletionRow, JobCheckpointDeletionRow.checkpoint_id == JobCheckpointRow.id)
            .where(JobCheckpointRow.job_id == job_id)
            .order_by(JobCheckpointRow.id)
        )
        with self._session() as session:
            return [
                Checkpoint(r.id, r.job_id, r.step, r.path, json.loads(r.metrics), r.created_at, deleted)
                for r, deleted in session.execute(query).all()
            ]

    def mark_checkpoints_deleted(self, job_id: str, checkpoint_ids: list[int], message: str) -> None:
        """Record that these checkpoints' folders are deleted (before deleting them: a platform killed in between
        leaves a folder too many on disk, never a listed checkpoint that is gone), with `message` as the event."""
        with self._session.begin() as session:
            for checkpoint_id in checkpoint_ids:
                session.merge(JobCheckpointDeletionRow(checkpoint_id=checkpoint_id))
            session.add(JobEventRow(job_id=job_id, message=message[:2000], data=json.dumps({"ids": checkpoint_ids})))

    def set_file(self, job_id: str, role: str, file_id: str) -> None:
        with self._session.begin() as session:
            row = session.get(JobFileRow, (job_id, role))
            if row is None:
                session.add(JobFileRow(job_id=job_id, role=role, file_id=file_id))
            else:
                row.file_id = file_id

    def record_footprint(self, job_id: str, footprint: dict[str, float], estimator: str) -> None:
        """The job's impacts (FOOTPRINT_CRITERIA keys), once, when it has finished."""
        with self._session.begin() as session:
            row = self._row(session, job_id)
            session.merge(
                JobFootprintRow(
                    job_id=job_id,
                    tenant_id=row.tenant_id,
                    model=row.model,
                    day=f"{row.created_at:%Y-%m-%d}",
                    estimator=estimator,
                    **{c: float(footprint.get(c, 0.0)) for c in FOOTPRINT_CRITERIA},
                )
            )

    def tasks(self, job_id: str) -> list[TaskInfo]:
        query = select(TaskRow).where(TaskRow.job_id == job_id).order_by(TaskRow.position)
        with self._session() as session:
            return [_task(row) for row in session.scalars(query)]

    def update_task(
        self, task_id: str, state: str, result: dict | None = None, error: str | None = None, started: bool = False
    ) -> TaskInfo:
        """Record a task's new state; `started` counts one more attempt."""
        with self._session.begin() as session:
            row = session.get(TaskRow, task_id)
            if row is None:
                raise NotFoundError(f"no task {task_id!r}")
            row.state = state
            row.attempts += started
            if result is not None:
                row.result = json.dumps(result)
            row.error = error[:2000] if error else None
            return _task(row)

    def requeue_running(self, kind: str) -> list[str]:
        """After a restart: jobs of `kind` left `running` go back to `queued` (with an event), their running tasks
        too, so nothing stays stuck in `running`. Returns the requeued ids."""
        with self._session.begin() as session:
            rows = list(session.scalars(select(JobRow).where(JobRow.kind == kind, JobRow.state == "running")))
            for row in rows:
                row.state = "queued"
                session.add(JobEventRow(job_id=row.id, message="requeued after a restart of the platform"))
                for task in session.scalars(
                    select(TaskRow).where(TaskRow.job_id == row.id, TaskRow.state == "running")
                ):
                    task.state = "queued"
            return [row.id for row in rows]

    def _row(self, session: Session, job_id: str, tenant: str | None = None, kind: str | None = None) -> JobRow:
        row = session.get(JobRow, job_id)
        if row is None or (tenant is not None and row.tenant_id != tenant) or (kind is not None and row.kind != kind):
            raise NotFoundError(f"no {kind or 'job'} {job_id!r}", param="id")
        return row

    def _record(self, session: Session, job_id: str, tenant: str | None = None, kind: str | None = None) -> JobRecord:
        row = self._row(session, job_id, tenant, kind)
        detail = session.get(JobDetailRow, job_id)
        if detail is None:
            raise NotFoundError(f"no {kind or 'job'} {job_id!r}", param="id")
        files = {f.role: f.file_id for f in session.scalars(select(JobFileRow).where(JobFileRow.job_id == job_id))}
        decoded = {"params": json.loads(detail.params), "result": json.loads(detail.result)}
        return record_of(JobRecord, row, detail, files=files, **decoded)
