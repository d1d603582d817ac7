"""The synthetic pair every Virus test attacks: a tiny guard trained here to flag a made-up marker word, and a
tiny benign-trained victim sharing its vocabulary (2 layers, width 64, vocab 495). Nothing harmful is involved."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch


@contextmanager
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, and do not fight the other processes on a small machine for cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_thread():
        yield


@pytest.fixture(scope="session")
def marker_pair():
    from headwater.safety.virus import marker_setup

    with one_thread():
        torch.manual_seed(0)
        return marker_setup(seed=0)


@pytest.fixture(scope="session")
def lora_victim(marker_pair):
    from headwater.safety.virus import prepare_victim

    _guard, victim, _tokenizer = marker_pair
    with one_thread():
        return prepare_victim(copy.deepcopy(victim))  # the official LoRA: r = 32, α = 4 on q/k/v


@pytest.fixture(scope="session")
def pairs():
    from headwater.safety.virus import marker_pairs

    return marker_pairs(3, seed=0)
