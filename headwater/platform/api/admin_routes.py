"""Admin routes: the model catalogue at run time and the task executors behind it (admin keys only: 403 else)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from headwater.errors import ConflictError
from headwater.platform.api.responses import error_responses
from headwater.platform.auth import authenticate_admin
from headwater.platform.catalogue import parse_entry
from headwater.platform.state import gateway_of

router = APIRouter(prefix="/v1/admin", dependencies=[Depends(authenticate_admin)])


@router.get("/executors", responses=error_responses(401, 403))
async def executors(request: Request) -> dict[str, object]:
    """Every catalogued model with its TEs (state, pid, in flight), and the pool of pre-warmed TEs."""
    return gateway_of(request).control.snapshot()


@router.post("/models", responses=error_responses(400, 401, 403, 409))
async def add_model(request: Request, entry: dict[str, object]) -> dict[str, object]:
    """Catalogue one model (a catalogue YAML entry as JSON) and bring up its `min_tes`; a model that cannot load
    is refused with the task executor's own reason and is not catalogued."""
    parsed = parse_entry(entry, "body")
    gateway = gateway_of(request)
    if parsed.served_name in gateway.models:
        raise ConflictError(
            f"model {parsed.served_name!r} is already served; DELETE it first or give the entry another `name`",
            param="name",
        )
    served = await gateway.control.add(parsed)
    return {"id": served.name, "object": "model", "model": parsed.model, "min_tes": parsed.min_tes}


@router.delete("/models/{name:path}", responses=error_responses(401, 403, 404))
async def remove_model(name: str, request: Request) -> dict[str, object]:
    """Take a model out of the catalogue: requests for it get 404 from now on; its TEs finish what they run."""
    await gateway_of(request).control.remove(name)
    return {"id": name, "object": "model", "deleted": True}
