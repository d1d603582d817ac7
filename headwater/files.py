"""Writing whole files safely: the one way every saved report, model config and export reaches the disk."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from headwater.errors import InvalidRequestError


def write_atomic(path: Path | str, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the new one, never half of it: a staging file
    next to it is written, synced and renamed over it, and removed if anything fails. The file gets the umask's
    ordinary permissions (mkstemp's 0600 would hide a shared report)."""
    path = Path(path)
    if path.is_dir():
        raise InvalidRequestError(f"{path} is a folder; give a file name for the output", param="output")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(staging, 0o666 & ~_umask())
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
