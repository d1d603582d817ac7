"""Files a tenant uploads (training data, batch inputs) or a job produces (batch outputs, reports).

The bytes live behind `FileStorage`, one small interface (put, get, delete), so an object store by URL can
replace the local folder later; the metadata lives in the store. A tenant's files sit in their own folder under
the data directory, named by ids the platform made, and every path is checked to stay inside that folder.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import DateTime, Integer, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from headwater.errors import InvalidRequestError, NotFoundError, PayloadTooLargeError
from headwater.platform.idempotency import Idempotency
from headwater.platform.jsonl_check import check_jsonl
from headwater.platform.store import Store, _Base, _now

UPLOAD_PURPOSES = ("fine-tune", "batch", "evals", "assistants", "vision", "user_data")
OUTPUT_PURPOSES = ("batch_output", "fine-tune-results", "job_output")
"""Purposes of the files the platform writes (`job_output`: a judgement, detection or report job's result)."""
_FILE_ID = re.compile(r"^file-[0-9a-f]{32}$")
_SAFE_TENANT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class FileRow(_Base):
    __tablename__ = "files"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(300))
    purpose: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class FileStorage(Protocol):
    """Where file bytes live; names are file ids, always inside the tenant's space."""

    def put(self, tenant: str, file_id: str, data: bytes) -> None: ...

    def get(self, tenant: str, file_id: str) -> bytes: ...

    def delete(self, tenant: str, file_id: str) -> None: ...


class LocalFileStorage:
    """Files under `root/<tenant>/<file id>`; writes go to a temporary name first, so a crash never leaves half
    a file under a real id."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, tenant: str, file_id: str) -> Path:
        """The file's path, refused unless it is a platform-made id inside the tenant's own folder."""
        if not _FILE_ID.match(file_id):
            raise NotFoundError(f"no file {file_id!r}", param="file_id")
        tenant_root = tenant_folder(self.root, tenant)
        path = (tenant_root / file_id).resolve()
        if not tenant_root.is_relative_to(self.root) or path.parent != tenant_root:
            raise NotFoundError(f"no file {file_id!r}", param="file_id")
        return path

    def put(self, tenant: str, file_id: str, data: bytes) -> None:
        path = self.path(tenant, file_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(data)
        partial.replace(path)

    def get(self, tenant: str, file_id: str) -> bytes:
        try:
            return self.path(tenant, file_id).read_bytes()
        except FileNotFoundError as error:
            raise NotFoundError(f"the content of file {file_id!r} is missing from storage") from error

    def delete(self, tenant: str, file_id: str) -> None:
        self.path(tenant, file_id).unlink(missing_ok=True)


def tenant_folder(root: Path, tenant: str) -> Path:
    """The tenant's own folder under `root`: its name when that is a plain file name, else a digest of it, so no
    tenant name can reach a path outside `root` or another tenant's folder."""
    folder = tenant if _SAFE_TENANT.match(tenant) and tenant not in {".", ".."} else _digest(tenant)
    return (root.resolve() / folder).resolve()


def _digest(text: str) -> str:
    return "t-" + hashlib.sha256(text.encode()).hexdigest()[:32]


class FileStore:
    """Upload, list, read and delete a tenant's files; bytes in `storage`, metadata in the store."""

    def __init__(self, store: Store, storage: FileStorage, max_bytes: int) -> None:
        _Base.metadata.create_all(store.engine, tables=[_Base.metadata.tables["files"]])
        self._session = store._session
        self.storage = storage
        self.max_bytes = max_bytes
        self.idempotency = Idempotency(store)

    def create(
        self, tenant: str, filename: str, purpose: str, data: bytes, idempotency_key: str | None = None
    ) -> FileRow:
        """Check and keep an upload. JSONL purposes are checked line by line; nothing is written if a check fails."""
        if purpose not in UPLOAD_PURPOSES:
            raise InvalidRequestError(
                f"purpose {purpose!r} is not one of {', '.join(UPLOAD_PURPOSES)}", param="purpose"
            )
        if len(data) > self.max_bytes:
            raise PayloadTooLargeError(
                f"the file has {len(data)} bytes; the limit is {self.max_bytes} (HEADWATER_MAX_FILE_BYTES)",
                param="file",
            )
        name = Path(filename).name  # a client's folders never reach the platform's paths
        if not name or len(name) > 300:
            raise InvalidRequestError("the file needs a name of 1 to 300 characters", param="file")
        check_jsonl(data, purpose)
        return self._keep(tenant, name, purpose, data, idempotency_key)

    def add_output(self, tenant: str, filename: str, purpose: str, data: bytes) -> FileRow:
        """A file a job produced (not checked: the platform wrote it)."""
        return self._keep(tenant, filename, purpose, data, None)

    def _keep(self, tenant: str, filename: str, purpose: str, data: bytes, key: str | None) -> FileRow:
        digest = hashlib.sha256(data).hexdigest()
        body = {"filename": filename, "purpose": purpose, "sha256": digest}
        try:
            with self._session.begin() as session:
                existing = self.idempotency.claim(session, tenant, "file", key, body)
                if existing is not None:
                    return self.get(tenant, existing)
                row = FileRow(
                    id=f"file-{uuid.uuid4().hex}",
                    tenant_id=tenant,
                    filename=filename,
                    purpose=purpose,
                    bytes=len(data),
                    sha256=digest,
                    created_at=_now(),
                )
                self.storage.put(tenant, row.id, data)  # before the commit: a row never names missing bytes
                session.add(row)
                self.idempotency.bind(session, tenant, "file", key, body, row.id)
        except IntegrityError:
            if key is None:
                raise
            return self._keep(tenant, filename, purpose, data, key)
        return row

    def get(self, tenant: str, file_id: str) -> FileRow:
        """The file's metadata, or 404 when it does not exist or is another tenant's."""
        with self._session() as session:
            row = session.get(FileRow, file_id)
            if row is None or row.tenant_id != tenant:
                raise NotFoundError(f"no file {file_id!r}", param="file_id")
            return row

    def content(self, tenant: str, file_id: str) -> bytes:
        return self.storage.get(tenant, self.get(tenant, file_id).id)

    def list_files(
        self,
        tenant: str,
        purpose: str | None = None,
        limit: int = 10_000,
        after: str | None = None,
        order: str = "desc",
    ) -> list[FileRow]:
        query = select(FileRow).where(FileRow.tenant_id == tenant)
        if purpose is not None:
            query = query.where(FileRow.purpose == purpose)
        newest_first = order != "asc"
        if after is not None:
            anchor = self.get(tenant, after)
            newer = FileRow.created_at < anchor.created_at if newest_first else FileRow.created_at > anchor.created_at
            query = query.where(newer)
        column = FileRow.created_at.desc() if newest_first else FileRow.created_at.asc()
        with self._session() as session:
            return list(session.scalars(query.order_by(column).limit(limit)))

    def delete(self, tenant: str, file_id: str) -> None:
        with self._session.begin() as session:
            row = session.get(FileRow, file_id)
            if row is None or row.tenant_id != tenant:
                raise NotFoundError(f"no file {file_id!r}", param="file_id")
            session.delete(row)
        self.storage.delete(tenant, file_id)


def file_object(row: FileRow) -> dict[str, object]:
    """The file in OpenAI's shape."""
    return {
        "id": row.id,
        "object": "file",
        "bytes": row.bytes,
        "created_at": int(row.created_at.timestamp()),
        "filename": row.filename,
        "purpose": row.purpose,
        "status": "processed",
        "status_details": None,
        "expires_at": None,
    }
