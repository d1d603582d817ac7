"""Shared fixtures: tiny models built from configs, a scripted fake Generator, and a real server on loopback."""

from __future__ import annotations

import os

# Tests never reach a model hub: set before transformers / huggingface_hub read their settings.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from headwater.models.generator import Generation, GenerationParams, Prompt


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data folder per test session, so built-in models are built once."""
    return tmp_path_factory.mktemp("headwater-data")


@pytest.fixture(scope="session")
def tiny_chat_path(data_dir: Path) -> Path:
    from headwater.models.builtin import builtin_path

    return builtin_path("tiny-chat", data_dir)


@pytest.fixture(scope="session")
def saved_tiny_model(tmp_path_factory: pytest.TempPathFactory, tiny_chat_path: Path) -> Path:
    """tiny-chat re-saved with `save_pretrained` into a plain folder, as a user's own model would be."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = tmp_path_factory.mktemp("user-model")
    AutoModelForCausalLM.from_pretrained(tiny_chat_path).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_chat_path).save_pretrained(folder)
    return folder


class ScriptedGenerator:
    """A fake Generator that answers from a script (one entry per prompt, in order), recording the prompts. It
    raises when the script runs out, so a test never passes on replies it did not write."""

    name = "scripted"

    def __init__(self, replies: Sequence[str]) -> None:
        self.replies = list(replies)
        self.prompts: list[Prompt] = []

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Generation]:
        results = []
        for prompt in prompts:
            self.prompts.append(prompt)
            if not self.replies:
                raise AssertionError(f"the script ran out: no reply left for prompt {len(self.prompts)}: {prompt!r}")
            text = self.replies.pop(0)
            results.append(Generation(text, "stop", 1, len(text.split())))
        return results


@pytest.fixture
def scripted_generator() -> type[ScriptedGenerator]:
    return ScriptedGenerator


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RunningServer:
    """A `headwater serve` process on a loopback port, with an API key for tenant `tests`."""

    process: subprocess.Popen[bytes]
    base_url: str
    api_key: str
    model: str
    data_dir: Path
    log: Path

    def health(self) -> dict:
        return httpx.get(self.base_url.removesuffix("/v1") + "/health", timeout=5).json()

    def metric(self, name: str) -> float:
        """The value of a gauge or counter of the served model in /metrics."""
        text = httpx.get(self.base_url.removesuffix("/v1") + "/metrics", timeout=5).text
        line = next(line for line in text.splitlines() if line.startswith(f'{name}{{model="{self.model}"}}'))
        return float(line.split()[-1])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_server(
    model_path: Path | None,
    data_dir: Path,
    served_name: str,
    env: dict[str, str] | None = None,
    extra_args: Sequence[str] = (),
) -> RunningServer:
    """`headwater serve` on a free port with a key for tenant `tests`; `model_path` None serves `extra_args`'
    catalogue (`--models FILE`) instead of one model."""
    from headwater.platform.store import Store

    data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{data_dir / 'headwater.db'}")
    _info, key = store.create_api_key("tests")
    store.engine.dispose()
    port = free_port()
    log = data_dir / "server.log"
    one_model = [str(model_path), "--served-model-name", served_name] if model_path is not None else []
    command = [
        sys.executable,
        "-m",
        "headwater",
        "serve",
        *one_model,
        *extra_args,
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]
    process = subprocess.Popen(
        command, stdout=log.open("wb"), stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
    )
    server = RunningServer(process, f"http://127.0.0.1:{port}/v1", key, served_name, data_dir, log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-3000:]}")
        try:
            if server.health()["status"] == "ok":
                return server
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"server did not become healthy:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, saved_tiny_model: Path) -> Iterator[RunningServer]:
    """The real server on a free port, serving a save_pretrained folder under the name `tiny-local`."""
    running = start_server(
        saved_tiny_model,
        tmp_path_factory.mktemp("server"),
        "tiny-local",
        {
            "HEADWATER_TENANT_MAX_QUEUED_SEQUENCES": "8",
            "HEADWATER_MAX_QUEUED_SEQUENCES": "64",
            "HEADWATER_MAX_SEQUENCES_PER_REQUEST": "8",
            "HEADWATER_POOL_SIZE": "0",
        },
    )
    yield running
    running.stop()


@pytest.fixture
def openai_client(server: RunningServer):
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0, timeout=60)
