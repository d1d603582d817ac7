"""A KV transport for TEs on different hosts: the prefill TE serves each hand-off's blocks from a small TCP server.

DeepFlow (arXiv 2501.14417, §4) moves a prompt's KV from a prefill TE to a decode TE; shared memory
(`headwater.engine.kv_transfer.SharedMemoryTransport`) only reaches TEs on one host. Here the prefill TE keeps the
exported blocks in its own memory under a random id and a one-time token, and names them in the `KVHandoff`
(`location` = `host:port/id/token`, `nbytes`); the decode TE connects, presents id and token, and reads the bytes;
the server frees them as it sends them. Blocks no one takes are freed after a TTL, or at once when the gateway
discards the hand-off (the same socket, another op), so nothing leaks even when a decode never happens.

Wire format, with no pickle: the client sends a fixed header (`HWKV`, one op byte, the 16-byte id and the 16-byte
token) and the server answers one status byte; a successful take is followed by an 8-byte big-endian length and that
many raw bytes, the `[blocks, bytes_per_block]` uint8 tensor, whose dtype and shape follow from the hand-off's
`bytes_per_block` and `nbytes` (the length is checked against them). A hand-off that is missing, expired, already
taken or presented with a wrong token reads as None: the decode TE then recomputes the prompt (slower, never wrong).
The token is checked in constant time; a wrong one leaves the blocks for their rightful taker.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import queue
import secrets
import socket
import socketserver
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from headwater.engine.kv_address import parse_address
from headwater.engine.protocol import KVHandoff

if TYPE_CHECKING:  # torch only where blocks are moved (in a TE): the gateway imports this module for `discard_later`
    import torch

logger = logging.getLogger(__name__)

MAGIC = b"HWKV"
TAKE, DISCARD = b"T", b"D"
OK, MISSING, REFUSED = 0, 1, 2
_HEADER = struct.Struct("!4sc16s16s")
_LENGTH = struct.Struct("!Q")
DEFAULT_TTL_S = 60.0
"""Seconds exported blocks wait for their decode TE before they are freed (the decode then recomputes)."""
IO_TIMEOUT_S = 10.0
"""Longest wait on one read or write, either side: a dead peer never holds a thread for long."""
CONNECT_TIMEOUT_S = 2.0
"""Longest wait for a prefill TE to accept: the decode TE takes on the thread that admits requests, so a host that
does not answer must not stall it (the prompt is recomputed instead)."""
MIN_SEND_RATE = 50e6
"""Bytes a second below which a take is given up: sending a hand-off may take IO_TIMEOUT_S plus its size at this
rate (`sendall`'s timeout covers the whole payload, and a long prompt of a large model is gigabytes)."""
DISCARD_TIMEOUT_S = 2.0
"""A discard the prefill TE does not answer in time is left to the TTL."""
_WILDCARDS = ("0.0.0.0", "::")


@dataclass
class _Entry:
    token: bytes
    blocks: torch.Tensor
    expires: float


class HandoffStore:
    """Exported blocks waiting for their decode TE, each under an id and a one-time token; thread-safe."""

    def __init__(self, ttl_s: float = DEFAULT_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[bytes, _Entry] = {}
        self._lock = threading.Lock()

    def add(self, blocks: torch.Tensor) -> tuple[bytes, bytes]:
        """Keep `blocks` until taken, discarded or expired; returns (id, token)."""
        handoff_id, token = secrets.token_bytes(16), secrets.token_bytes(16)
        with self._lock:
            self._entries[handoff_id] = _Entry(token, blocks, self._clock() + self.ttl_s)
        return handoff_id, token

    def pop(self, handoff_id: bytes, token: bytes) -> tuple[int, torch.Tensor | None]:
        """Remove and return the blocks of `handoff_id` if `token` is theirs: (OK, blocks), (MISSING, None) when they
        are gone or expired, (REFUSED, None) on a wrong token (the blocks stay)."""
        with self._lock:
            entry = self._entries.get(handoff_id)
            if entry is None or entry.expires <= self._clock():
                self._entries.pop(handoff_id, None)
                return MISSING, None
            if not hmac.compare_digest(entry.token, token):
                return REFUSED, None
            del self._entries[handoff_id]
        return OK, entry.blocks

    def sweep(self) -> int:
        """Free every expired entry; returns how many."""
        now = self._clock()
        with self._lock:
            expired = [key for key, entry in self._entries.items() if entry.expires <= now]
            for key in expired:
                del self._entries[key]
        return len(expired)

    def clear(self) -> None:
        """Free everything (the transport is closing)."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        with self._lock:
            return sum(entry.blocks.numel() for entry in self._entries.values())


def format_location(host: str, port: int, handoff_id: bytes, token: bytes) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}/{handoff_id.hex()}/{token.hex()}"


def parse_location(location: str) -> tuple[str, int, bytes, bytes]:
    """A socket hand-off's `location` as (host, port, id, token); ValueError when it is not one."""
    address, _, rest = location.partition("/")
    id_hex, _, token_hex = rest.partition("/")
    host, port = parse_address(address)
    handoff_id, token = bytes.fromhex(id_hex), bytes.fromhex(token_hex)
    if not host or not port or len(handoff_id) != 16 or len(token) != 16:
        raise ValueError(f"not a socket KV hand-off location: {location!r}")
    return host, port, handoff_id, token


def host_address() -> str:
    """This host's address as other hosts reach it: Ray's node address inside a Ray worker, else the interface of
    the default route (a UDP connect sends no packet), else what the host name resolves to."""
    ray = sys.modules.get("ray")
    if ray is not None:
        with contextlib.suppress(Exception):  # Ray not initialised here, or an older API
            if ray.is_initialized():
                return str(ray.util.get_node_ip_address())
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))
        return str(probe.getsockname()[0])
    with contextlib.suppress(OSError):
        return socket.gethostbyname(socket.gethostname())
    return "127.0.0.1"


def _recv_into(conn: socket.socket, buffer: memoryview) -> None:
    received = 0
    while received < len(buffer):
        count = conn.recv_into(buffer[received:])
        if count == 0:
            raise EOFError(f"connection closed after {received} of {len(buffer)} bytes")
        received += count


def _recv_exact(conn: socket.socket, size: int) -> bytes:
    buffer = bytearray(size)
    _recv_into(conn, memoryview(buffer))
    return bytes(buffer)


class _Handler(socketserver.BaseRequestHandler):
    """One connection: one take or one discard."""

    server: _Server
    request: socket.socket

    def handle(self) -> None:
        self.request.settimeout(IO_TIMEOUT_S)
        try:
            magic, op, handoff_id, token = _HEADER.unpack(_recv_exact(self.request, _HEADER.size))
            if magic != MAGIC or op not in (TAKE, DISCARD):
                logger.warning("KV server: a connection from %s is not a hand-off request", self.client_address)
                return
            status, blocks = self.server.store.pop(handoff_id, token)
            if status == REFUSED:
                logger.warning("KV server: wrong token for a hand-off from %s", self.client_address)
            if op == DISCARD or blocks is None:
                self.request.sendall(bytes([status]))
                return
            self.request.settimeout(IO_TIMEOUT_S + blocks.numel() / MIN_SEND_RATE)
            self.request.sendall(bytes([OK]) + _LENGTH.pack(blocks.numel()))
            self.request.sendall(blocks.reshape(-1).numpy().data)
        except (OSError, EOFError) as error:
            logger.warning("KV server: a hand-off connection from %s failed: %s", self.client_address, error)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], store: HandoffStore) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.store = store
        super().__init__(address, _Handler)

    def service_actions(self) -> None:
        """Called by `serve_forever` about twice a second: free what has expired."""
        self.store.sweep()


class SocketTransport:
    """Hand-offs served over TCP by the prefill TE's engine (`put`, `discard`) and read by the decode TE's (`take`).

    `address` is `HOST[:PORT]` to bind: empty, this host's address (`host_address`) and a free port; a wildcard host
    (`0.0.0.0`, `::`) binds every interface and advertises this host's address. The server starts on the first `put`
    (or `start`), so a decode TE never listens."""

    name = "socket"

    def __init__(
        self, address: str = "", ttl_s: float = DEFAULT_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.bind_host, self.bind_port = parse_address(address)
        self.store = HandoffStore(ttl_s, clock)
        self._server: _Server | None = None
        self._advertised = ("", 0)
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        """`host:port` the decode TEs connect to (empty before `start`)."""
        host, port = self._advertised
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}" if host else ""

    def start(self) -> str:
        """Bind and serve (once); returns `address`. An address that cannot be bound is a ValueError naming it."""
        with self._lock:
            if self._server is None:
                advertised = self.bind_host if self.bind_host not in ("", *_WILDCARDS) else host_address()
                bind = self.bind_host or advertised
                try:
                    server = _Server((bind, self.bind_port), self.store)
                except OSError as error:
                    raise ValueError(
                        f"kv_address {bind}:{self.bind_port}: cannot serve KV hand-offs there ({error.strerror}); "
                        "set HEADWATER_KV_ADDRESS to an address of this host"
                    ) from None
                threading.Thread(target=server.serve_forever, name="kv-socket-server", daemon=True).start()
                self._server, self._advertised = server, (advertised, int(server.server_address[1]))
        return self.address

    def put(self, request_id: str, blocks: torch.Tensor, handoff: KVHandoff) -> KVHandoff:
        import torch

        if blocks.dtype != torch.uint8:
            raise ValueError(f"KV blocks for {request_id} must be uint8 bytes, got {blocks.dtype}")
        self.start()
        data = blocks.detach().to("cpu").contiguous()
        handoff_id, token = self.store.add(data)
        host, port = self._advertised
        location = format_location(host, port, handoff_id, token)
        return KVHandoff(
            self.name, location, handoff.block_size, handoff.block_hashes, handoff.bytes_per_block, data.numel()
        )

    def take(self, handoff: KVHandoff) -> torch.Tensor | None:
        return fetch(handoff)

    def discard(self, handoff: KVHandoff) -> None:
        """Free a hand-off this transport served (nothing if it is gone); one served elsewhere is discarded there."""
        try:
            host, port, handoff_id, token = parse_location(handoff.location)
        except ValueError:
            return
        if self._server is not None and (host, port) == self._advertised:
            self.store.pop(handoff_id, token)
        else:
            discard_remote(handoff)

    def close(self) -> None:
        """Stop serving and free every hand-off still held."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        self.store.clear()


def _request(handoff: KVHandoff, op: bytes, timeout: float) -> tuple[socket.socket, int]:
    """Connect to the hand-off's server and send `op`: the open connection and the status byte."""
    host, port, handoff_id, token = parse_location(handoff.location)
    conn = socket.create_connection((host, port), timeout=min(timeout, CONNECT_TIMEOUT_S))
    try:
        conn.settimeout(timeout)
        conn.sendall(_HEADER.pack(MAGIC, op, handoff_id, token))
        return conn, _recv_exact(conn, 1)[0]
    except BaseException:
        conn.close()
        raise


def fetch(handoff: KVHandoff, timeout: float = IO_TIMEOUT_S) -> torch.Tensor | None:
    """Take a socket hand-off's blocks from its prefill TE (which frees them), or None when they cannot be had."""
    import torch

    if handoff.transport != SocketTransport.name or handoff.bytes_per_block <= 0:
        logger.warning("KV hand-off over %r cannot be read by the socket transport", handoff.transport)
        return None
    try:
        conn, status = _request(handoff, TAKE, timeout)
        with conn:
            if status != OK:
                why = "refused (wrong token)" if status == REFUSED else "gone (taken, discarded or expired)"
                logger.warning("KV hand-off %s is %s; the prompt is recomputed", handoff.location, why)
                return None
            (length,) = _LENGTH.unpack(_recv_exact(conn, _LENGTH.size))
            if length != handoff.nbytes or length % handoff.bytes_per_block:
                logger.warning(
                    "KV hand-off %s sends %d bytes, the hand-off says %d of %d per block; the prompt is recomputed",
                    handoff.location,
                    length,
                    handoff.nbytes,
                    handoff.bytes_per_block,
                )
                return None
            data = torch.empty(length, dtype=torch.uint8)
            _recv_into(conn, data.numpy().data)
    except (OSError, EOFError, ValueError) as error:
        logger.warning("KV hand-off %s could not be read (%s); the prompt is recomputed", handoff.location, error)
        return None
    return data.view(-1, handoff.bytes_per_block)


def discard_remote(handoff: KVHandoff, timeout: float = DISCARD_TIMEOUT_S) -> bool:
    """Ask the hand-off's prefill TE to free it now; False when it could not be reached (its TTL frees it)."""
    try:
        conn, _ = _request(handoff, DISCARD, timeout)
        conn.close()
    except (OSError, EOFError, ValueError) as error:
        logger.info("KV hand-off %s not discarded (%s); its TTL frees it", handoff.location, error)
        return False
    return True


_discards: queue.SimpleQueue[KVHandoff] = queue.SimpleQueue()
_discard_workers: list[threading.Thread] = []
_discards_lock = threading.Lock()
DISCARD_WORKERS = 2
"""Threads sending the gateway's discards: daemons, so a host that does not answer never holds up an exit."""


def _send_discards() -> None:
    while True:
        discard_remote(_discards.get())


def discard_later(handoff: KVHandoff) -> None:
    """`discard_remote` on a background thread, so that the gateway's event loop never waits on another host."""
    with _discards_lock:
        while len(_discard_workers) < DISCARD_WORKERS:
            worker = threading.Thread(target=_send_discards, name="kv-discard", daemon=True)
            worker.start()
            _discard_workers.append(worker)
    _discards.put(handoff)
