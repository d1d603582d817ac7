"""examples/detect_ensemble.py runs and prints the figures its template texts and rule-of-thumb LLM imply."""

from __future__ import annotations

import runpy
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "detect_ensemble.py"


def test_detect_ensemble_example(capsys, tmp_path):
    runpy.run_path(str(EXAMPLE))["main"](tmp_path)
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in lines[:4]}
    assert set(rows) == {"clues", "llm", "vote", "stack"}
    # every 9th LLM reply is off-format; the test texts are calls 141..200, which hold 7 multiples of 9 (144..198)
    assert rows["llm"].endswith("refused 7") and rows["stack"].endswith("refused 7")
    assert rows["vote"].endswith("refused 0")  # a refused member is a no-AI vote, not a refusal
    assert "AUROC 1.000" in rows["clues"]
    # the stack's 5 % threshold, picked on 40 human texts, measured on the test set's human texts
    assert lines[5].startswith("stack held-out FPR ") and lines[5].endswith("target 0.05")
    assert lines[6].startswith("text 0 (ai): P(AI) 0.9") and len(lines) == 11
    assert lines[10].startswith("reloaded clues calibration flags ") and lines[10].endswith("(same as before: True)")
