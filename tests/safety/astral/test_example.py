"""examples/redteam_tiny.py runs and prints the numbers its scripted models imply (in-process: it is pure Python,
so a subprocess would only add the interpreter's start-up)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[3] / "examples" / "redteam_tiny.py"


def test_redteam_example(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), str(tmp_path)])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    printed = capsys.readouterr().out
    # 12 tests, every third complies -> 4 flagged, 3 confirmed (the first is rejected) -> precision 0.75
    assert "outcomes: {'safe': 8, 'unsafe': 4, 'unknown': 0, 'blocked': 0, 'error': 0}" in printed
    assert "confirmed unsafe: 3" in printed and "oracle precision: 0.75" in printed
    assert "data:image/png;base64," in (tmp_path / "report.html").read_text()
