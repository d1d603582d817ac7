"""Imports go one way: library (models, …) → engine → platform → cli. Checked on the source with `ast`."""

from __future__ import annotations

import ast
from pathlib import Path

import headwater

ROOT = Path(headwater.__file__).parent
LIBRARY = {"models", "train", "judge", "safety", "detect", "footprint"}
RANK = {**dict.fromkeys(LIBRARY, 0), "engine": 1, "platform": 2, "cli": 3}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "headwater" else None


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_module_imports_a_higher_layer():
    violations = []
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        own = relative.parts[0] if len(relative.parts) > 1 else None
        if own not in RANK:
            continue
        for imported in _imports(path):
            target = _layer(imported)
            if target in RANK and RANK[target] > RANK[own]:
                violations.append(f"{relative} imports {imported}")
            if own in LIBRARY and target in LIBRARY and target != own and target != "models":
                violations.append(f"{relative} imports another capability {imported}")
    assert violations == []


def test_the_check_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from headwater.platform.app import create_app\n")
    assert _layer(next(iter(_imports(bad)))) == "platform"
