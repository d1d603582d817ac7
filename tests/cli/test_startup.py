"""A CLI that answers at once: the light commands never import torch or transformers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
sys.argv = ["headwater", *json.loads(sys.argv[1])]
from headwater.cli import main
try:
    main()
except SystemExit:
    pass
heavy = sorted(name for name in ("torch", "transformers", "trl", "peft", "datasets") if name in sys.modules)
print("HEAVY=" + json.dumps(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["footprint", "estimate", "--use-case", "chat", "--size", "70B"],
        ["keys", "list"],
        ["detect", "--help"],
        ["distill", "--help"],
        ["cft", "train", "--help"],
        ["files", "--help"],
        ["batches", "list", "--base-url", "http://127.0.0.1:9/v1"],
    ],
)
def test_light_commands_never_import_torch_or_transformers(argv, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HEADWATER_DATA_DIR": str(tmp_path / "data")},
    )
    line = next(line for line in result.stderr.splitlines() if line.startswith("HEAVY="))
    assert json.loads(line.removeprefix("HEAVY=")) == [], result.stderr[-2000:]
