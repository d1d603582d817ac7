"""Start `headwater serve` in a child process and wait until it is healthy: for benchmarks and scripts that need
a real server beside them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from headwater.errors import ModelLoadError


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LaunchedServer:
    """A running server: its process and its OpenAI base URL."""

    process: subprocess.Popen[bytes]
    base_url: str

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def launch_server(
    model: str | None,
    data_dir: Path | str,
    *,
    log: Path | None = None,
    timeout_s: float = 300,
    auth: bool = False,
    env: dict[str, str] | None = None,
) -> LaunchedServer:
    """`headwater serve MODEL` on a free loopback port (`--no-auth` unless `auth`, with `env` added to the
    environment; MODEL None serves the catalogue `HEADWATER_MODELS` names); raises RuntimeError if it does not
    come up."""
    port = free_port()
    log_file = Path(log or Path(data_dir) / "launched-server.log")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "headwater",
        "serve",
        *([model] if model is not None else []),
        "--port",
        str(port),
        *([] if auth else ["--no-auth"]),
        "--data-dir",
        str(data_dir),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=log_file.open("wb"), env={**os.environ, **(env or {})}
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ModelLoadError(f"the server exited; see {log_file}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return LaunchedServer(process, f"http://127.0.0.1:{port}/v1")
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise ModelLoadError(f"the server did not become healthy in {timeout_s:.0f} s; see {log_file}")
