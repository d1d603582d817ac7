"""How a prompt's KV travels from a prefill TE to a decode TE: the `KVTransport` interface and its shared-memory
implementation.

A transport moves one request's exported blocks (a `[blocks, bytes_per_block]` uint8 tensor, every layer's K and V
of each block) and names them in a small `KVHandoff` message that the gateway carries from one TE to the other.
On one host the blocks go through a file in /dev/shm (memory, not disk): the prefill TE writes it, the decode TE
reads and deletes it, and the gateway deletes it too when the decode never happens (the deletion is idempotent).
Across hosts the prefill TE serves them over TCP instead (`headwater.engine.kv_socket.SocketTransport`, same
interface); `make_transport` picks one from the engine config (`EngineConfig.kv_transport`).
"""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from headwater.engine.kv_socket import SocketTransport, discard_later
from headwater.engine.protocol import EngineConfig, KVHandoff

if TYPE_CHECKING:  # torch only where blocks are moved (in a TE): the gateway imports this module for `discard`
    import torch

logger = logging.getLogger(__name__)
SHM_ROOT = Path("/dev/shm")


def default_kv_dir() -> Path:
    """Where hand-offs go when the engine config names no folder: shared memory if the host has it, else the
    temporary folder (a disk, but still correct)."""
    root = SHM_ROOT if SHM_ROOT.is_dir() and os.access(SHM_ROOT, os.W_OK) else Path(tempfile.gettempdir())
    return root / "headwater-kv"


class KVTransport(Protocol):
    """Moves exported KV blocks between TEs; `put` on the prefill side, `take` on the decode side."""

    def put(self, request_id: str, blocks: torch.Tensor, handoff: KVHandoff) -> KVHandoff:
        """Store `blocks` and return `handoff` completed with where they are and how many bytes they take."""
        ...

    def take(self, handoff: KVHandoff) -> torch.Tensor | None:
        """The blocks of `handoff` (freed from the transport), or None when they are gone (then the decode TE
        recomputes the prompt, which is slower but still correct)."""
        ...

    def discard(self, handoff: KVHandoff) -> None:
        """Free the blocks of a hand-off this transport put, if they are still there (a request that failed)."""
        ...

    def close(self) -> None:
        """Release what the transport holds (the engine is shutting down)."""
        ...


class SharedMemoryTransport:
    """A file per hand-off in a folder on this host (by default in /dev/shm: a memory copy each way)."""

    name = "shm"

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory else default_kv_dir()

    def put(self, request_id: str, blocks: torch.Tensor, handoff: KVHandoff) -> KVHandoff:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{uuid.uuid4().hex}.kv"
        data = blocks.detach().to("cpu").contiguous()
        partial = path.with_suffix(".part")
        data.numpy().tofile(partial)
        partial.rename(path)  # a reader never sees half a file
        return KVHandoff(
            self.name, str(path), handoff.block_size, handoff.block_hashes, handoff.bytes_per_block, data.numel()
        )

    def take(self, handoff: KVHandoff) -> torch.Tensor | None:
        import torch

        path = Path(handoff.location)
        try:
            data = torch.from_file(str(path), shared=False, size=handoff.nbytes, dtype=torch.uint8)
        except (OSError, RuntimeError) as error:
            logger.warning("KV hand-off %s is gone (%s); the prompt is recomputed", path, error)
            return None
        finally:
            discard(handoff)
        return data.view(-1, handoff.bytes_per_block)

    def discard(self, handoff: KVHandoff) -> None:
        discard(handoff)

    def close(self) -> None:
        """Nothing to release: the files belong to their hand-offs (and the gateway sweeps the model's folder)."""


def make_transport(config: EngineConfig) -> KVTransport:
    """The transport an engine's config names: `shm` (one host) or `socket` (across hosts; a prefill engine starts
    its server now, so that an address it cannot bind fails the TE's start, not its first request)."""
    if config.kv_transport == SocketTransport.name:
        transport = SocketTransport(config.kv_address)
        if config.mode == "prefill":
            transport.start()
        return transport
    return SharedMemoryTransport(config.kv_dir or None)


def discard(handoff: KVHandoff) -> None:
    """Free a hand-off's storage (nothing if it is already gone): what the gateway does when no decode TE took it.
    A socket hand-off is discarded from a background thread (the prefill TE may be on a host that does not answer;
    then its TTL frees the blocks)."""
    if handoff.transport == SharedMemoryTransport.name:
        Path(handoff.location).unlink(missing_ok=True)
    elif handoff.transport == SocketTransport.name:
        discard_later(handoff)
