"""The same store on PostgreSQL: a throwaway cluster started for this module (skipped where there is none)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from headwater.platform.store import JobResult, Store

pytestmark = pytest.mark.postgres


def _postgres_bin() -> Path | None:
    initdb = shutil.which("initdb")
    return Path(os.path.realpath(initdb)).parent if initdb else None


@pytest.fixture(scope="module")
def postgres_url():
    binaries = _postgres_bin()
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        binaries = None
    if binaries is None or os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("PostgreSQL binaries, a postgres user and root are needed to start a throwaway cluster")
    folder = Path(tempfile.mkdtemp(prefix="headwater-pg-"))
    folder.chmod(0o755)
    shutil.chown(folder, "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def as_postgres(*args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, timeout=120)

    data = folder / "data"
    as_postgres(str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    as_postgres(str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        as_postgres(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_keys_and_jobs_on_postgres(postgres_url):
    store = Store(postgres_url)
    info, key = store.create_api_key("acme")
    assert store.tenant_for_key(key) == "acme"
    job_id = store.start_job("acme", "chat", "tiny-chat")
    store.finish_job(job_id, JobResult("succeeded", 3, 4, 0.1, 0.2))
    [job] = store.list_jobs("acme")
    assert (job.state, job.completion_tokens) == ("succeeded", 4)
    store.revoke_api_key(info.id)
    assert store.tenant_for_key(key) is None
    store.engine.dispose()
