"""`headwater up`: the main job, on a free port with tiny-chat, prints URL, key and curl, and keeps its key."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from headwater.cli.serve import ADMIN_KEY_FILE, admin_key
from headwater.config import Settings
from headwater.platform.store import Store
from tests.conftest import free_port


def test_admin_key_is_kept_and_replaced_once_revoked(tmp_path):
    settings = Settings(data_dir=tmp_path)
    key = admin_key(settings)
    assert admin_key(settings) == key
    assert oct((tmp_path / ADMIN_KEY_FILE).stat().st_mode & 0o777) == "0o600"
    store = Store(settings.resolved_store_url)
    store.revoke_api_key(store.list_api_keys()[0].id)
    store.engine.dispose()
    replacement = admin_key(settings)
    assert replacement != key and (tmp_path / ADMIN_KEY_FILE).read_text().strip() == replacement


def test_up_serves_with_its_defaults(tmp_path, tiny_chat_path):
    port = free_port()
    env = {
        **os.environ,
        "HEADWATER_DATA_DIR": str(tmp_path),
        "HEADWATER_MODEL": str(tiny_chat_path),
        "HEADWATER_SERVED_MODEL_NAME": "tiny-chat",
        "HEADWATER_PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "headwater", "up"], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        banner = ""
        deadline = time.monotonic() + 120
        while "or       " not in banner and time.monotonic() < deadline and process.poll() is None:
            banner += process.stderr.readline()
        key = (tmp_path / ADMIN_KEY_FILE).read_text().strip()
        assert f"http://127.0.0.1:{port}/v1" in banner and key in banner and "curl" in banner
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            timeout=30,
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "tiny-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2},
        )
        assert response.status_code == 200 and response.json()["usage"]["completion_tokens"] == 2
        assert (tmp_path / "headwater.db").exists()
    finally:
        process.terminate()
        assert process.wait(30) is not None


def test_port_in_use_is_a_clear_error(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "headwater", "serve", "tiny-chat", "--port", str(port), "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert "already in use" in result.stderr
