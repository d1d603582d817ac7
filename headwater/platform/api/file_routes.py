"""OpenAI's files API: POST /v1/files (multipart: `file`, `purpose`), list, retrieve, content, delete.

Every route sees only the caller's files: another tenant's file id is a 404, exactly like an id that never
existed, so ids do not leak.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from headwater.errors import InvalidRequestError
from headwater.platform.api.job_schemas import FileDeleted, FileList, FileObject
from headwater.platform.api.multipart import parse_form
from headwater.platform.api.responses import cursor_list, error_responses
from headwater.platform.auth import authenticate
from headwater.platform.files import FileStore, file_object
from headwater.platform.state import gateway_of

router = APIRouter(prefix="/v1")
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "purpose"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "purpose": {"type": "string", "description": "fine-tune, batch, evals, …"},
                    },
                }
            }
        },
    }
}


def _files(request: Request) -> FileStore:
    return gateway_of(request).jobs.files


def idempotency_key(request: Request) -> str | None:
    """The `Idempotency-Key` header, if the client sent one."""
    return request.headers.get("idempotency-key")


@router.post(
    "/files",
    response_model=None,
    openapi_extra=_UPLOAD_BODY,
    responses={200: {"model": FileObject}, **error_responses(400, 401, 409, 413)},
)
async def create_file(request: Request, tenant: str = Depends(authenticate)) -> dict[str, object]:
    form = parse_form(request.headers.get("content-type", ""), await request.body())
    upload, purpose = form.get("file"), form.get("purpose")
    if upload is None or upload.filename is None:
        raise InvalidRequestError("the form needs a `file` part (the file itself, with its name)", param="file")
    if purpose is None:
        raise InvalidRequestError("the form needs a `purpose` field (fine-tune, batch, evals, …)", param="purpose")
    files = _files(request)
    row = await asyncio.to_thread(
        files.create,
        tenant,
        upload.filename,
        purpose.data.decode("utf-8", "replace"),
        upload.data,
        idempotency_key(request),
    )
    return file_object(row)


@router.get("/files", response_model=None, responses={200: {"model": FileList}, **error_responses(400, 401, 404)})
async def list_files(
    request: Request,
    tenant: str = Depends(authenticate),
    purpose: str | None = None,
    limit: int = Query(10_000, ge=1, le=10_000),
    after: str | None = None,
    order: str = Query("desc", pattern="^(asc|desc)$"),
) -> dict[str, object]:
    rows = await asyncio.to_thread(_files(request).list_files, tenant, purpose, limit + 1, after, order)
    return cursor_list([file_object(row) for row in rows[:limit]], len(rows) > limit)


@router.get(
    "/files/{file_id}", response_model=None, responses={200: {"model": FileObject}, **error_responses(401, 404)}
)
async def retrieve_file(file_id: str, request: Request, tenant: str = Depends(authenticate)) -> dict[str, object]:
    return file_object(await asyncio.to_thread(_files(request).get, tenant, file_id))


@router.get(
    "/files/{file_id}/content",
    response_class=Response,
    responses={
        200: {"description": "The file's bytes.", "content": {"application/octet-stream": {}}},
        **error_responses(401, 404),
    },
)
async def file_content(file_id: str, request: Request, tenant: str = Depends(authenticate)) -> Response:
    data = await asyncio.to_thread(_files(request).content, tenant, file_id)
    return Response(data, media_type="application/octet-stream")


@router.delete(
    "/files/{file_id}", response_model=None, responses={200: {"model": FileDeleted}, **error_responses(401, 404)}
)
async def delete_file(file_id: str, request: Request, tenant: str = Depends(authenticate)) -> dict[str, object]:
    await asyncio.to_thread(_files(request).delete, tenant, file_id)
    return {"id": file_id, "object": "file", "deleted": True}
