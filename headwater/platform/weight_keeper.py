"""Keeping catalogued models' weights in host memory, so a scale-up does not read them from disk.

DeepFlow (arXiv 2501.14417, "Fast scaling", weight load) pre-loads the weights of models predicted to scale into
host DRAM. Our prediction is the simple one: a model marked `preload: true`, or used (had a TE or a request) in
the last `keep_warm_s`. For those the keeper reads the safetensors ahead into the page cache (again every
`READ_AHEAD_PERIOD_S`, in a thread, only what mincore says is missing). Each model also gets a per-model folder
under /dev/shm, named here and passed to its TEs in `ModelSpec.shared_weights`: the first TE copies the weights
there and every TE maps that one copy (see headwater.engine.weights). The folder goes when the model leaves the
catalogue, when the gateway stops, or when the model has been unused for `keep_warm_s`; folders of a gateway
that died are swept at the next start.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from headwater.engine.weights import cached_bytes, read_ahead, weight_files

logger = logging.getLogger(__name__)
SHM_ROOT = Path("/dev/shm")
PREFIX = "headwater-"
READ_AHEAD_PERIOD_S = 60.0


@dataclass
class KeptModel:
    """What the keeper knows of one catalogued model's weights."""

    files: list[Path]
    shared: Path | None
    preload: bool
    last_used: float
    source: str | None = None
    """Where the last TE bound to the model got its weights: `disk`, `page_cache` or `peer`."""
    read_at: float = float("-inf")
    reading: asyncio.Task[None] | None = None


def sweep_stale(root: Path = SHM_ROOT) -> list[Path]:
    """Remove shared-weight folders left by gateways that are no longer running; returns what was removed."""
    removed = []
    for folder in root.glob(f"{PREFIX}*"):
        match = re.match(rf"{PREFIX}(\d+)-", folder.name)
        if match is None or _alive(int(match.group(1))):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WeightKeeper:
    """The page-cache warmth and /dev/shm copies of this gateway's models."""

    def __init__(self, keep_warm_s: float, share: bool, root: Path = SHM_ROOT) -> None:
        self.keep_warm_s = keep_warm_s
        self.share = share and root.is_dir() and os.access(root, os.W_OK)
        self.root = root
        self.models: dict[str, KeptModel] = {}

    def add(self, name: str, folder: str, preload: bool, now: float | None = None) -> str | None:
        """Track a model whose weights live in `folder`; returns its shared folder for the TEs (None: no
        sharing, e.g. a hub id with no local safetensors, or no writable /dev/shm)."""
        files = weight_files(folder)
        shared = self.root / f"{PREFIX}{os.getpid()}-{re.sub(r'[^A-Za-z0-9._-]', '_', name)}"
        kept = KeptModel(
            files, shared if self.share and files else None, preload, time.monotonic() if now is None else now
        )
        self.models[name] = kept
        return str(kept.shared) if kept.shared is not None else None

    def bound(self, name: str, source: str) -> None:
        """A TE of `name` loaded its weights from `source`."""
        if name in self.models:
            self.models[name].source = source

    def tick(self, in_use: dict[str, bool], now: float) -> None:
        """Mark models in use, read ahead the warm ones that are due, drop the shared copy of cold idle ones."""
        for name, kept in self.models.items():
            if in_use.get(name, False):
                kept.last_used = now
            if self.warm(name, now):
                if now - kept.read_at >= READ_AHEAD_PERIOD_S and (kept.reading is None or kept.reading.done()):
                    kept.read_at = now
                    kept.reading = asyncio.create_task(self._read_ahead(name, kept.files))
            elif not in_use.get(name, False) and kept.shared is not None and kept.shared.exists():
                logger.info("%s unused for %.0f s: dropping its shared weights", name, now - kept.last_used)
                shutil.rmtree(kept.shared, ignore_errors=True)

    def warm(self, name: str, now: float) -> bool:
        """Whether the model is predicted to scale: `preload`, or used in the last `keep_warm_s`."""
        kept = self.models[name]
        return kept.preload or now - kept.last_used <= self.keep_warm_s

    async def _read_ahead(self, name: str, files: list[Path]) -> None:
        try:
            read = await asyncio.to_thread(read_ahead, files)
        except OSError as error:  # a file gone or unreadable: the next TE reports it; the keeper carries on
            logger.warning("reading %s's weights ahead failed: %s", name, error)
            return
        if read:
            logger.info("%s: read %.1f MB of weights into the page cache", name, read / 1e6)

    def report(self, name: str, now: float | None = None) -> dict[str, object]:
        """The `weights` block of `GET /v1/admin/executors`: file bytes, bytes in the page cache (mincore), bytes
        in the shared copy, where the last TE got them, and whether the model is kept warm."""
        kept = self.models.get(name)
        if kept is None:
            return {"bytes": 0, "cached_bytes": 0, "shared_bytes": 0, "source": None, "keep_warm": False}
        present = [path for path in kept.files if path.exists()]
        shared = kept.shared
        return {
            "bytes": sum(path.stat().st_size for path in present),
            "cached_bytes": sum(cached_bytes(path) for path in present),
            "shared_bytes": sum(p.stat().st_size for p in weight_files(shared)) if shared is not None else 0,
            "source": kept.source,
            "keep_warm": self.warm(name, time.monotonic() if now is None else now),
        }

    def remove(self, name: str) -> None:
        """Forget a model and delete its shared copy (TEs still mapping it keep their pages until they exit)."""
        kept = self.models.pop(name, None)
        if kept is None:
            return
        if kept.reading is not None:
            kept.reading.cancel()
        if kept.shared is not None:
            shutil.rmtree(kept.shared, ignore_errors=True)

    def stop(self) -> None:
        for name in list(self.models):
            self.remove(name)
