"""examples/redteam_tiny.py runs and prints the numbers its scripted models imply."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[3] / "examples" / "redteam_tiny.py"


def test_redteam_example(tmp_path):
    result = subprocess.run([sys.executable, str(EXAMPLE), str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # 12 tests, every third complies -> 4 flagged, 3 confirmed (the first is rejected) -> precision 0.75
    assert "outcomes: {'safe': 8, 'unsafe': 4, 'unknown': 0, 'blocked': 0, 'error': 0}" in result.stdout
    assert "confirmed unsafe: 3" in result.stdout and "oracle precision: 0.75" in result.stdout
    assert "data:image/png;base64," in (tmp_path / "report.html").read_text()
