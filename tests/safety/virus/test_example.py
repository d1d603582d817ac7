"""examples/guard_tiny.py runs and tells its story: plain harmful uploads caught, Virus blocks leak, defences."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[3] / "examples" / "guard_tiny.py"


def test_guard_tiny_example_runs():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "plain uploads: 3/4 flagged ['safe', 'unsafe', 'unsafe', 'unsafe']" in lines
    leakage = next(line for line in lines if line.startswith("leakage ratio:"))
    assert float(leakage.split(":")[1]) > 0.0
    assert any(line.startswith("segments: ") for line in lines) and any(
        line.startswith("perplexity: ") for line in lines
    )
