"""Weight sources: page-cache measurement and read-ahead, per-mapping memory, and the /dev/shm copy that the TEs
of a model share (in-process here; two real TEs in tests/platform/test_weights_sharing.py)."""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import pytest
import torch

from headwater.engine.ipc import ModelSpec
from headwater.engine.weights import (
    CUDA_HANDLES,
    PUBLISHED,
    CudaIpcWeights,
    DiskWeights,
    SharedMemoryWeights,
    cached_bytes,
    exported_tensors,
    mapped_memory,
    read_ahead,
    rebuild_model,
    weight_files,
    weight_source,
)

PAGE = os.sysconf("SC_PAGE_SIZE")


def _dropped(path: Path) -> bool:
    """Ask the kernel to drop `path` from the page cache; False where it ignores that (e.g. tmpfs)."""
    with open(path, "rb") as file:
        os.fsync(file.fileno())
        os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    return cached_bytes(path) < path.stat().st_size


def test_read_ahead_brings_a_dropped_file_back_into_the_page_cache(tmp_path):
    path = tmp_path / "weights.safetensors"
    path.write_bytes(os.urandom(64 * PAGE))
    assert cached_bytes(path) == path.stat().st_size  # just written: every page is resident
    if not _dropped(path):
        pytest.skip("this filesystem keeps pages that are advised away")
    read_ahead([path])
    assert cached_bytes(path) == path.stat().st_size


def test_mapped_memory_counts_only_the_pages_of_files_under_the_folder(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    path = folder / "blob"
    path.write_bytes(b"\1" * (32 * PAGE))
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, prot=mmap.PROT_READ) as mapped:
        assert mapped_memory(os.getpid(), folder).rss_kb == 0
        total = sum(mapped[offset] for offset in range(0, 32 * PAGE, PAGE))  # touch every page
        assert total == 32
        memory = mapped_memory(os.getpid(), folder)
        assert memory.rss_kb == 32 * PAGE // 1024
        assert 0 < memory.pss_kb <= memory.rss_kb
    assert mapped_memory(os.getpid(), tmp_path / "elsewhere").rss_kb == 0


def _greedy(model, prompt: list[int], steps: int = 6) -> list[int]:
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt]), max_new_tokens=steps, do_sample=False, pad_token_id=0)
    return out[0, len(prompt) :].tolist()


def test_the_first_load_publishes_a_copy_and_the_second_maps_it_as_a_peer(tmp_path, tiny_chat_path):
    shared = tmp_path / "shm-model"
    spec = ModelSpec(str(tiny_chat_path), shared_weights=str(shared))
    assert isinstance(weight_source(spec), SharedMemoryWeights)
    first = SharedMemoryWeights(shared).load(spec)
    assert first.kind in ("disk", "page_cache")
    assert (shared / PUBLISHED).exists()
    assert [p.name for p in weight_files(shared)] == [p.name for p in weight_files(tiny_chat_path)]
    second = SharedMemoryWeights(shared).load(spec)
    assert second.kind == "peer"
    assert _greedy(first.model, [5, 6, 7]) == _greedy(second.model, [5, 6, 7])
    baseline = DiskWeights().load(ModelSpec(str(tiny_chat_path))).model
    assert _greedy(baseline, [5, 6, 7]) == _greedy(second.model, [5, 6, 7])
    # the weights live on the shared file's pages, not in private memory
    size_kb = sum(p.stat().st_size for p in weight_files(shared)) // 1024
    assert mapped_memory(os.getpid(), shared).rss_kb >= size_kb // 2


def test_no_shared_folder_means_a_plain_disk_load(tiny_chat_path):
    source = weight_source(ModelSpec(str(tiny_chat_path)))
    assert isinstance(source, DiskWeights)
    read_ahead(weight_files(tiny_chat_path))
    assert source.load(ModelSpec(str(tiny_chat_path))).kind == "page_cache"


def test_an_unwritable_shared_folder_falls_back_to_disk(tmp_path, tiny_chat_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    spec = ModelSpec(str(tiny_chat_path), shared_weights=str(blocker / "model"))
    loaded = SharedMemoryWeights(blocker / "model").load(spec)
    assert loaded.kind in ("disk", "page_cache")
    assert loaded.model.config.hidden_size == 64


def test_the_gpu_paths_rebuild_uses_the_peers_tensors_without_copying(tiny_chat_path):
    """CudaIpcWeights itself needs a GPU (not run here); the part that builds a model around a peer's tensors is
    device-agnostic and checked on CPU tensors."""
    peer = DiskWeights().load(ModelSpec(str(tiny_chat_path))).model
    tensors = exported_tensors(peer)
    model = rebuild_model(str(tiny_chat_path), tensors)
    assert model.model.embed_tokens.weight.data_ptr() == peer.model.embed_tokens.weight.data_ptr()
    assert model.lm_head.weight.data_ptr() == peer.model.embed_tokens.weight.data_ptr()  # tied again
    assert _greedy(model, [5, 6, 7]) == _greedy(peer, [5, 6, 7])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA IPC needs a GPU")
def test_cuda_ipc_weights_are_shared_between_two_loads(tmp_path, tiny_chat_path):
    import torch.multiprocessing as mp

    shared = tmp_path / "shm"
    spec = ModelSpec(str(tiny_chat_path), device="cuda", shared_weights=str(shared))
    first = CudaIpcWeights(shared)
    exporter = first.load(spec)
    assert exporter.kind in ("disk", "page_cache") and (shared / CUDA_HANDLES).exists()
    context = mp.get_context("spawn")
    with context.Pool(1) as pool:  # an importer must be another process (CUDA IPC cannot open its own handles)
        kind, tokens = pool.apply(_import_in_child, (spec,))
    assert kind == "peer" and tokens == _greedy(exporter.model, [5, 6, 7])
    first.release()
    assert not (shared / CUDA_HANDLES).exists()


def _import_in_child(spec: ModelSpec) -> tuple[str, list[int]]:
    loaded = CudaIpcWeights(Path(spec.shared_weights or "")).load(spec)
    return loaded.kind, _greedy(loaded.model, [5, 6, 7])
