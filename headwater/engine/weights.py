"""Where a task executor's weights come from: disk, the page cache, or a peer on the same host.

DeepFlow (arXiv 2501.14417, "Fast scaling") cuts the weight-load phase of a scale-up two ways: weights of models
predicted to scale are kept in host DRAM, and a new TE copies them from a running TE instead of reading storage
("NPU-fork"). Here:

- `read_ahead` / `cached_bytes` keep a model's safetensors in the page cache and measure how much of them is
  there (mincore(2) over a read-only mapping: the kernel's own answer, page by page).
- `SharedMemoryWeights` (CPU): the first TE of a model copies its folder once into a per-model folder under
  /dev/shm that the gateway names; every TE, the first included, loads from that copy. transformers maps
  safetensors with mmap and keeps same-dtype CPU tensors on the mapping, so the TEs of a model share one set of
  read-only tmpfs pages: four TEs use about one model's memory (`mapped_memory` reads their PSS).
- `CudaIpcWeights` (GPU): the first TE exports its CUDA tensors as IPC handles (torch.multiprocessing's
  reductions) into the same folder; a later TE on the host rebuilds its model around them, so the weights are
  on the device once. Written to the interface but NOT RUN on our CPU-only machines.

`weight_source(spec)` picks one; the TE records which kind (`disk`, `page_cache`, `peer`) it used.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import logging
import os
import pickle
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from headwater.engine.ipc import ModelSpec
from headwater.errors import ModelLoadError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

logger = logging.getLogger(__name__)
WeightKind = Literal["disk", "page_cache", "peer"]
CACHED_FRACTION = 0.9
"""A model whose files are at least this much in the page cache loads from `page_cache`, not `disk`."""
PUBLISHED = ".published"
"""Marker written last into a shared folder: its copy is complete."""
CUDA_HANDLES = "cuda-ipc.pkl"
READ_CHUNK = 8 << 20
_PAGE = os.sysconf("SC_PAGE_SIZE")
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
_MAP_FAILED = ctypes.c_void_p(-1).value


def weight_files(folder: Path | str) -> list[Path]:
    """The safetensors files of a model folder (empty for a hub id or a folder of .bin files)."""
    path = Path(folder)
    return sorted(path.glob("*.safetensors")) if path.is_dir() else []


def cached_bytes(path: Path) -> int:
    """Bytes of `path` resident in the page cache, counted page by page with mincore(2)."""
    size = path.stat().st_size
    if size == 0:
        return 0
    fd = os.open(path, os.O_RDONLY)
    try:
        address = _libc.mmap(None, size, 1, 1, fd, 0)  # PROT_READ, MAP_SHARED: maps, reads nothing
        if address in (None, _MAP_FAILED):
            raise OSError(ctypes.get_errno(), f"mmap of {path} failed")
        try:
            pages = (size + _PAGE - 1) // _PAGE
            vector = ctypes.create_string_buffer(pages)
            if _libc.mincore(address, size, vector) != 0:
                raise OSError(ctypes.get_errno(), f"mincore of {path} failed")
            resident = sum(byte & 1 for byte in vector.raw)
        finally:
            _libc.munmap(address, size)
    finally:
        os.close(fd)
    return min(size, resident * _PAGE)


def read_ahead(paths: list[Path]) -> int:
    """Bring `paths` into the page cache (posix_fadvise WILLNEED, then a sequential read of whatever mincore
    says is still missing, since the advice is only a hint); returns the bytes read."""
    read = 0
    for path in paths:
        with open(path, "rb", buffering=0) as file:
            os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_WILLNEED)
            if cached_bytes(path) >= path.stat().st_size:
                continue
            while chunk := file.read(READ_CHUNK):
                read += len(chunk)
    return read


def load_kind(paths: list[Path]) -> WeightKind:
    """`page_cache` when the files are (almost) all resident, else `disk`."""
    total = sum(path.stat().st_size for path in paths)
    resident = sum(cached_bytes(path) for path in paths)
    return "page_cache" if total and resident >= CACHED_FRACTION * total else "disk"


@dataclass(frozen=True)
class MappedMemory:
    """Resident and proportional (shared pages split among their users) kilobytes a process maps from files
    under one folder, from /proc/PID/smaps."""

    rss_kb: int
    pss_kb: int


def mapped_memory(pid: int, folder: Path | str) -> MappedMemory:
    """What process `pid` maps from files under `folder` (e.g. a model's shared weights)."""
    prefix, rss, pss, inside = str(Path(folder).resolve()) + "/", 0, 0, False
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            field, _, rest = line.partition(" ")
            if not field.endswith(":"):  # a mapping's header line: address perms offset dev inode [path]
                parts = rest.split(maxsplit=4)
                inside = len(parts) == 5 and parts[4].strip().startswith(prefix)
            elif inside and field == "Rss:":
                rss += int(rest.split()[0])
            elif inside and field == "Pss:":
                pss += int(rest.split()[0])
    return MappedMemory(rss, pss)


def process_pss_kb(pid: int) -> int:
    """Proportional set size of a whole process, from /proc/PID/smaps_rollup."""
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


@dataclass
class LoadedWeights:
    """A model loaded by a `WeightSource`, and where its weights came from."""

    model: PreTrainedModel
    kind: WeightKind


class WeightSource(Protocol):
    """Loads a TE's model and releases what it shared when the TE unbinds."""

    def load(self, spec: ModelSpec) -> LoadedWeights: ...

    def release(self) -> None: ...


class DiskWeights:
    """Plain load from the model's folder (or the hub); `page_cache` when the files were already resident."""

    def load(self, spec: ModelSpec) -> LoadedWeights:
        from headwater.models.loading import load_model

        kind = load_kind(weight_files(spec.model))
        return LoadedWeights(load_model(spec.model, dtype=spec.dtype, device=spec.device, data_dir=spec.data_dir), kind)

    def release(self) -> None:
        """Nothing was shared."""


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on `folder` across TEs (flock: released by the kernel if the holder dies)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def publish(source: Path, shared: Path) -> None:
    """Copy the model folder's files into `shared` and mark it complete (the caller holds the lock). Each file is
    written aside and renamed into place: a TE still mapping an older copy keeps its pages (truncating a mapped
    file in place would kill it with SIGBUS)."""
    (shared / PUBLISHED).unlink(missing_ok=True)
    for path in source.iterdir():
        if path.is_file():
            partial = shared / f"{path.name}.partial"
            shutil.copyfile(path, partial)
            partial.replace(shared / path.name)
    (shared / PUBLISHED).write_text(str(source))


class SharedMemoryWeights:
    """CPU: every TE of a model on this host maps one read-only copy of its weights in /dev/shm.

    The first TE (under the folder's lock) copies the model folder there: its weights came from `disk` or the
    `page_cache`; later TEs find the copy complete and record `peer`. All of them load from the copy, so
    their tensors sit on the same tmpfs pages. A dtype other than the file's forces a private copy; then the
    load still avoids the disk but shares nothing."""

    def __init__(self, shared: Path) -> None:
        self.shared = shared

    def load(self, spec: ModelSpec) -> LoadedWeights:
        from headwater.models.loading import load_model

        source = Path(spec.model)
        files = weight_files(source)
        if not files:
            return DiskWeights().load(spec)
        kind: WeightKind = "peer"
        try:
            with _locked(self.shared):
                if not (self.shared / PUBLISHED).exists():
                    kind = load_kind(files)
                    publish(source, self.shared)
        except OSError as error:  # /dev/shm full or missing: the TE still serves, from disk
            logger.warning("cannot share %s's weights through %s (%s); loading from disk", source, self.shared, error)
            return DiskWeights().load(spec)
        model = load_model(str(self.shared), dtype=spec.dtype, device=spec.device, data_dir=spec.data_dir)
        return LoadedWeights(model, kind)

    def release(self) -> None:
        """The gateway removes the folder with the model; TEs that still map it keep their pages until exit."""


class CudaIpcWeights:
    """GPU: the first TE of a model exports its CUDA tensors as IPC handles; later TEs on the host map them.

    The handles (torch.multiprocessing's CUDA reductions, pickled with the exporter's pid) sit next to the
    shared host copy. A TE that finds live handles builds its model on the meta device and assigns the
    exported tensors: the weights are on the device once, and its weight load is a few IPC opens. The exporter
    must outlive its importers' use (CUDA IPC's rule); it removes the handles when it unbinds, and torch keeps
    the memory until importers release it. NOT RUN: no GPU on the machines this was written on."""

    def __init__(self, shared: Path) -> None:
        self.shared = shared
        self._exported = False

    def load(self, spec: ModelSpec) -> LoadedWeights:
        handles = self.shared / CUDA_HANDLES
        with contextlib.suppress(OSError, EOFError, pickle.UnpicklingError, RuntimeError, ModelLoadError):
            model = self._import(spec, handles)
            if model is not None:
                return LoadedWeights(model, "peer")
        loaded = SharedMemoryWeights(self.shared).load(spec)
        with _locked(self.shared):
            if not _handles_alive(handles):
                _write_atomically(handles, _export(loaded.model))
                self._exported = True
        return loaded

    def _import(self, spec: ModelSpec, handles: Path) -> PreTrainedModel | None:
        if not _handles_alive(handles):
            return None
        blob = handles.read_bytes().split(b"\n", 1)[1]
        return rebuild_model(spec.model, pickle.loads(blob))  # unpickling opens each CUDA IPC handle

    def release(self) -> None:
        """Withdraw our handles so no new TE imports from a TE that is going away."""
        handles = self.shared / CUDA_HANDLES
        if self._exported and _handles_alive(handles) and _handles_pid(handles) == os.getpid():
            handles.unlink(missing_ok=True)
        self._exported = False


def rebuild_model(source: str, tensors: dict[str, torch.Tensor]) -> PreTrainedModel:
    """A model of `source`'s config built on the meta device around `tensors` (its parameters and buffers, tied
    ones once): nothing is copied, so the model uses the tensors' memory, wherever it is."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(source)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=next(iter(tensors.values())).dtype)
    for name, tensor in tensors.items():
        _assign(model, name, tensor)
    model.tie_weights()
    missing = [name for name, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if missing:
        raise ModelLoadError(
            f"the exported tensors do not cover {source}: {len(missing)} missing, first {missing[0]}; "
            "export the same model (its config must match the shared weights) or load it from disk",
            param="model",
        )
    return model.eval()


def exported_tensors(model: PreTrainedModel) -> dict[str, torch.Tensor]:
    """What a peer needs to rebuild `model`: every parameter (tied ones once) and buffer."""
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    return {name: tensor.detach() for name, tensor in tensors.items()}


def _export(model: PreTrainedModel) -> bytes:
    from multiprocessing.reduction import ForkingPickler

    import torch.multiprocessing  # noqa: F401  registers the CUDA tensor reductions on ForkingPickler

    blob = bytes(ForkingPickler.dumps(exported_tensors(model)))
    return f"{os.getpid()}\n".encode() + blob  # the pid first, readable without unpickling (and importing)


def _assign(model: PreTrainedModel, name: str, tensor: torch.Tensor) -> None:
    import torch

    owner, _, leaf = name.rpartition(".")
    module = model.get_submodule(owner)
    if leaf in module._parameters:
        module._parameters[leaf] = torch.nn.Parameter(tensor, requires_grad=False)
    else:
        module._buffers[leaf] = tensor


def _handles_pid(handles: Path) -> int:
    """The exporter's pid: the text line before the pickle."""
    with open(handles, "rb") as file:
        return int(file.readline())


def _handles_alive(handles: Path) -> bool:
    try:
        os.kill(_handles_pid(handles), 0)
    except (OSError, ValueError):
        return False
    return True


def _write_atomically(target: Path, data: bytes) -> None:
    temporary = target.with_suffix(".tmp")
    temporary.write_bytes(data)
    temporary.replace(target)


def weight_source(spec: ModelSpec) -> WeightSource:
    """CUDA IPC on a GPU, a /dev/shm copy on CPU, plain disk when the gateway shares nothing."""
    if spec.shared_weights is None:
        return DiskWeights()
    shared = Path(spec.shared_weights)
    from headwater.models.loading import pick_device

    if pick_device(spec.device).startswith("cuda"):
        return CudaIpcWeights(shared)
    return SharedMemoryWeights(shared)
