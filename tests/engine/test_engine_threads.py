"""`HEADWATER_ENGINE_THREADS` reaches the engine a TE builds: on a shared host fewer kernel threads than cores leave
room for the gateway and the other TEs (llama.cpp's threads collapse when they must share their cores)."""

from __future__ import annotations

import msgspec
import torch

from headwater.config import Settings
from headwater.engine.ipc import ModelSpec
from headwater.engine.task_executor import build_engine


def test_the_setting_becomes_the_engines_thread_count():
    assert Settings(engine_threads=1).engine.threads == 1
    assert Settings().engine.threads == 0  # 0: torch's default, one per core


def test_a_te_engine_built_with_one_thread_runs_its_kernels_on_one(tiny_chat_path):
    before = torch.get_num_threads()
    spec = ModelSpec(str(tiny_chat_path))
    spec = msgspec.structs.replace(spec, engine=msgspec.structs.replace(spec.engine, threads=1, kv_blocks=16))
    try:
        engine, info, _phases, _kind = build_engine(spec)
        try:
            assert torch.get_num_threads() == 1
            assert info.device_units == 1.0  # the footprint counts the cores the engine uses
        finally:
            engine.shutdown()
    finally:
        torch.set_num_threads(before)
