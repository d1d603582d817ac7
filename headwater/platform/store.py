"""The durable store: tenants, their API keys (hashed) and jobs, in SQLite by default or PostgreSQL by URL.

API keys are 256-bit random tokens, so a plain SHA-256 of the key is enough to make a leaked table useless
(slow password hashes are for low-entropy secrets). Every write is one short transaction: a failed request
never leaves half a row.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from headwater.errors import InvalidRequestError, NotFoundError
from headwater.footprint.impacts import CRITERIA as FOOTPRINT_CRITERIA

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

KEY_PREFIX = "hw-"
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
REQUEST_KINDS = ("chat", "completion")
"""Kinds of the jobs one API request makes (`start_job`); long jobs (batches, fine-tuning…) have their own."""


def _now() -> datetime:
    return datetime.now(UTC)


def hash_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


class _Base(DeclarativeBase):
    pass


Record = TypeVar("Record", bound="DataclassInstance")


def record_of(cls: type[Record], *rows: _Base, **values: object) -> Record:
    """The frozen record `cls` that the store hands out, read from `rows` by name: each field from the first row
    with a column of its name (`tenant` from `tenant_id`), or from `values` (decoded JSON, joined rows) when given
    there. One conversion for every record, so none keeps a positional list in step with its dataclass."""
    for field in fields(cls):
        if field.name in values:
            continue
        column = "tenant_id" if field.name == "tenant" else field.name
        row = next((row for row in rows if hasattr(row, column)), None)
        if row is None:
            raise TypeError(f"{cls.__name__}.{field.name}: no column {column!r} in {[type(r).__name__ for r in rows]}")
        values[field.name] = getattr(row, column)
    return cls(**values)


class TenantRow(_Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class ApiKeyRow(_Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    hint: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class JobRow(_Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(300))
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    ttft_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    e2e_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(String(2000), nullable=True)


class JobFootprintRow(_Base):
    """A job's impacts, one row per finished job; `day` (UTC, YYYY-MM-DD) keeps aggregation portable."""

    __tablename__ = "job_footprints"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    model: Mapped[str] = mapped_column(String(300))
    day: Mapped[str] = mapped_column(String(10), index=True)
    estimator: Mapped[str] = mapped_column(String(32))
    energy_kwh: Mapped[float] = mapped_column(Float)
    gwp_kgco2e: Mapped[float] = mapped_column(Float)
    water_m3eq: Mapped[float] = mapped_column(Float)
    pe_mj: Mapped[float] = mapped_column(Float)
    adpe_kgsbeq: Mapped[float] = mapped_column(Float)


class ExecutorTimeRow(_Base):
    """Seconds a model's task executors spent busy, idle or pooled on one day (UTC), and their energy and GHG:
    what serving costs beyond its requests, so serverless and always-on deployments can be compared."""

    __tablename__ = "executor_time"
    model: Mapped[str] = mapped_column(String(300), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), primary_key=True)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    energy_kwh: Mapped[float] = mapped_column(Float, default=0.0)
    gwp_kgco2e: Mapped[float] = mapped_column(Float, default=0.0)


@dataclass(frozen=True)
class ExecutorTime:
    """Time and impacts of one model's TEs in one state on one day (model `(pool)` for pre-warmed TEs)."""

    model: str
    day: str
    state: str
    seconds: float
    energy_kwh: float
    gwp_kgco2e: float


@dataclass(frozen=True)
class FootprintSummary:
    """Impacts of a tenant's requests to one model on one day."""

    tenant: str
    model: str
    day: str
    requests: int
    criteria: dict[str, float]


@dataclass(frozen=True)
class ApiKeyInfo:
    """An API key as listed: never the key itself, only its id, a hint and its state."""

    id: str
    tenant: str
    name: str
    hint: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiKeyRow) -> ApiKeyInfo:
        return record_of(cls, row)


@dataclass(frozen=True)
class JobInfo:
    """A job as recorded."""

    id: str
    tenant: str
    kind: str
    model: str
    state: str
    prompt_tokens: int
    completion_tokens: int
    ttft_s: float | None
    e2e_s: float | None
    error: str | None
    created_at: datetime | None = None

    @classmethod
    def of(cls, row: JobRow) -> JobInfo:
        return record_of(cls, row)


@dataclass(frozen=True)
class JobResult:
    """How a job ended, as written when it finishes."""

    state: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_s: float | None = None
    e2e_s: float | None = None
    error: str | None = None
    footprint: dict[str, float | str] | None = None
    """Criteria values (FOOTPRINT_CRITERIA keys) and the estimator's name under "estimator"."""


_NEW_JOB = insert(JobRow)
_NEW_FOOTPRINT = insert(JobFootprintRow)
_FINISH_JOB = (
    update(JobRow)
    .where(JobRow.id == bindparam("job"))
    .values(
        state=bindparam("new_state"),
        finished_at=bindparam("finished"),
        prompt_tokens=bindparam("prompt"),
        completion_tokens=bindparam("completion"),
        ttft_s=bindparam("ttft"),
        e2e_s=bindparam("e2e"),
        error=bindparam("failure"),
    )
    .returning(JobRow.tenant_id, JobRow.model, JobRow.created_at)
)
"""The statements every API request runs, built once: SQLAlchemy then compiles each once and only binds values."""


def _configure_sqlite(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # WAL's recommended setting: a commit reaches the log without waiting for the disk (an fsync, ~0.5 ms, twice per
    # API request); nothing is lost if the process crashes, and the file is never corrupted; only a power loss or
    # an OS crash may roll back the last commits.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Store:
    """Synchronous SQLAlchemy store; the gateway calls it from worker threads."""

    def __init__(self, url: str) -> None:
        is_sqlite = url.startswith("sqlite")
        database = make_url(url).database
        if is_sqlite and database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url, connect_args={"check_same_thread": False} if is_sqlite else {})
        if is_sqlite:
            event.listen(self.engine, "connect", _configure_sqlite)
        _Base.metadata.create_all(self.engine)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        self._known_tenants: set[str] = set()

    def _new_tenant(self, tenant: str) -> PostgresqlInsert | SqliteInsert:
        """The tenant's row, inserted unless another transaction made it first (in this database's dialect)."""
        insert_into = postgresql_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        return insert_into(TenantRow).values(id=tenant, created_at=_now()).on_conflict_do_nothing()

    def _tenant(self, session: Session, tenant: str) -> TenantRow:
        """The tenant's row, created if new. Concurrent first requests of one tenant (a batch's lines, say) race to
        create it, so the insert ignores a row another transaction made first, instead of failing on the key."""
        row = session.get(TenantRow, tenant)
        if row is None:
            session.execute(self._new_tenant(tenant))
            row = session.get(TenantRow, tenant)  # the row must exist before rows that reference it
            assert row is not None
        return row

    def create_api_key(self, tenant: str, name: str = "") -> tuple[ApiKeyInfo, str]:
        """A new key for `tenant` (created if new); returns its info and the key, shown this once."""
        if not tenant or len(tenant) > 64:
            raise InvalidRequestError("tenant must be 1 to 64 characters", param="tenant")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        with self._session.begin() as session:
            self._tenant(session, tenant)
            row = ApiKeyRow(
                id=f"key_{uuid.uuid4().hex[:12]}",
                tenant_id=tenant,
                name=name,
                key_hash=hash_key(key),
                hint=f"{key[:6]}…{key[-4:]}",
                created_at=_now(),
            )
            session.add(row)
        return ApiKeyInfo.of(row), key

    def list_api_keys(self, include_revoked: bool = False) -> list[ApiKeyInfo]:
        with self._session() as session:
            query = select(ApiKeyRow).order_by(ApiKeyRow.created_at)
            if not include_revoked:
                query = query.where(ApiKeyRow.revoked_at.is_(None))
            return [ApiKeyInfo.of(row) for row in session.scalars(query)]

    def revoke_api_key(self, key_id: str) -> ApiKeyInfo:
        with self._session.begin() as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None:
                raise NotFoundError(f"no API key with id {key_id!r}; `headwater keys list` shows the ids")
            if row.revoked_at is None:
                row.revoked_at = _now()
            return ApiKeyInfo.of(row)

    def tenant_for_key(self, key: str) -> str | None:
        """The tenant a live key belongs to, or None for unknown and revoked keys."""
        with self._session() as session:
            row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == hash_key(key)))
            return row.tenant_id if row is not None and row.revoked_at is None else None

    def start_job(self, tenant: str, kind: str, model: str) -> str:
        """Record a job that starts running now; returns its id. Every API request makes one, so it is plain
        statements compiled once (the tenant's row made if new, then the job's), not ORM loads: 0.25 ms of CPU
        instead of 0.9."""
        job_id = f"job_{uuid.uuid4().hex}"
        with self.engine.begin() as connection:
            if tenant not in self._known_tenants:  # tenants are never deleted: once seen, always there
                connection.execute(self._new_tenant(tenant))
            job = {"id": job_id, "tenant_id": tenant, "kind": kind, "model": model, "state": "running"}
            connection.execute(_NEW_JOB, {**job, "created_at": _now()})
        self._known_tenants.add(tenant)
        return job_id

    def finish_job(self, job_id: str, result: JobResult) -> None:
        """Write how a job ended and its footprint: an update that returns what the footprint row repeats."""
        if result.state not in JOB_STATES[2:]:
            raise InvalidRequestError(f"a job finishes as succeeded, failed or cancelled, not {result.state!r}")
        outcome = {
            "job": job_id,
            "new_state": result.state,
            "finished": _now(),
            "prompt": result.prompt_tokens,
            "completion": result.completion_tokens,
            "ttft": result.ttft_s,
            "e2e": result.e2e_s,
            "failure": result.error[:2000] if result.error else None,
        }
        with self.engine.begin() as connection:
            finished = connection.execute(_FINISH_JOB, outcome).one_or_none()
            if finished is None:
                raise NotFoundError(f"no job {job_id!r}")
            if result.footprint is not None:
                footprint = {
                    "job_id": job_id,
                    "tenant_id": finished.tenant_id,
                    "model": finished.model,
                    "day": f"{finished.created_at:%Y-%m-%d}",
                    "estimator": str(result.footprint.get("estimator", "")),
                    **{c: float(result.footprint[c]) for c in FOOTPRINT_CRITERIA},
                }
                connection.execute(_NEW_FOOTPRINT, footprint)

    def footprint_summary(
        self, tenant: str | None = None, since: str | None = None, until: str | None = None, model: str | None = None
    ) -> list[FootprintSummary]:
        """Impacts summed per tenant, model and day (days as YYYY-MM-DD, both ends included)."""
        sums = [func.sum(getattr(JobFootprintRow, c)) for c in FOOTPRINT_CRITERIA]
        query = select(
            JobFootprintRow.tenant_id,
            JobFootprintRow.model,
            JobFootprintRow.day,
            func.count(JobFootprintRow.job_id),
            *sums,
        )
        for column, value in ((JobFootprintRow.tenant_id, tenant), (JobFootprintRow.model, model)):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(JobFootprintRow.day >= since)
        if until is not None:
            query = query.where(JobFootprintRow.day <= until)
        query = query.group_by(JobFootprintRow.tenant_id, JobFootprintRow.model, JobFootprintRow.day).order_by(
            JobFootprintRow.day, JobFootprintRow.tenant_id, JobFootprintRow.model
        )
        with self._session() as session:
            return [
                FootprintSummary(t, m, d, n, dict(zip(FOOTPRINT_CRITERIA, values, strict=True)))
                for t, m, d, n, *values in session.execute(query)
            ]

    def add_executor_time(self, entries: list[ExecutorTime]) -> None:
        """Add to the running totals (one row per model, day and state)."""
        with self._session.begin() as session:
            for entry in entries:
                row = session.get(ExecutorTimeRow, (entry.model, entry.day, entry.state))
                if row is None:
                    row = ExecutorTimeRow(model=entry.model, day=entry.day, state=entry.state)
                    row.seconds = row.energy_kwh = row.gwp_kgco2e = 0.0
                    session.add(row)
                row.seconds += entry.seconds
                row.energy_kwh += entry.energy_kwh
                row.gwp_kgco2e += entry.gwp_kgco2e

    def executor_time(
        self, since: str | None = None, until: str | None = None, model: str | None = None
    ) -> list[ExecutorTime]:
        """The TE-time totals per model, day and state (days as YYYY-MM-DD, both ends included)."""
        query = select(ExecutorTimeRow).order_by(ExecutorTimeRow.day, ExecutorTimeRow.model, ExecutorTimeRow.state)
        if model is not None:
            query = query.where(ExecutorTimeRow.model == model)
        if since is not None:
            query = query.where(ExecutorTimeRow.day >= since)
        if until is not None:
            query = query.where(ExecutorTimeRow.day <= until)
        with self._session() as session:
            return [record_of(ExecutorTime, row) for row in session.scalars(query)]

    def list_jobs(
        self, tenant: str | None = None, limit: int = 100, kinds: tuple[str, ...] | None = None
    ) -> list[JobInfo]:
        """Jobs newest first; `kinds` keeps only those kinds (REQUEST_KINDS: the per-request rows)."""
        with self._session() as session:
            query = select(JobRow).order_by(JobRow.created_at.desc()).limit(limit)
            if tenant is not None:
                query = query.where(JobRow.tenant_id == tenant)
            if kinds is not None:
                query = query.where(JobRow.kind.in_(kinds))
            return [JobInfo.of(row) for row in session.scalars(query)]
