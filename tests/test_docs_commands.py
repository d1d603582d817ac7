"""Every `headwater …` command that the platform's guides show exists, with every flag it is shown with: the guides
are checked against the CLI itself (its click tree), so a renamed command or flag fails here, not in a reader's
shell."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer

from headwater.cli import app

DOCS = Path(__file__).parent.parent / "docs"
GUIDES = ["jobs.md", "platform.md"]
_BLOCK = re.compile(r"```(?:bash|sh|shell)\n(.*?)```", re.S)
_ENV = re.compile(r"^[A-Z_][A-Z0-9_]*=\S*$")


def commands(text: str) -> list[list[str]]:
    """The `headwater` command lines of a page's shell blocks, as words (continuations joined, comments, `[` `]`
    of optional parts, environment assignments and `.venv/bin/` dropped)."""
    found = []
    for block in _BLOCK.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            for part in re.split(r"\s(?:\||&&|;)\s", line):
                words = [w.strip("[]") for w in shlex.split(part, comments=True)]
                words = [w for w in words if w and w != "&"]
                while words and _ENV.match(words[0]):
                    words.pop(0)
                if words and words[0].removeprefix(".venv/bin/") == "headwater":
                    found.append(words)
    return found


def problems(words: list[str], root: Any) -> list[str]:
    """What is wrong with one command line: a subcommand or a flag that the CLI does not have. (`root` is typer's
    own vendored click tree: a group has `commands`, a command `params`.)"""
    command, rest = root, words[1:]
    while hasattr(command, "commands") and rest and not rest[0].startswith("-"):
        names = rest.pop(0).split("|")  # `jobs list|show|cancel` names several subcommands
        missing = [name for name in names if name not in command.commands]
        if missing:
            return [f"{' '.join(words)}: no command {missing}"]
        command = command.commands[names[0]]
    if hasattr(command, "commands"):
        return [] if not rest or rest == ["--help"] else [f"{' '.join(words)}: names no subcommand"]
    flags = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)} | {"--help"}
    return [f"{' '.join(words)}: no flag {w}" for w in rest if w.startswith("-") and w.split("=")[0] not in flags]


@pytest.mark.parametrize("page", GUIDES)
def test_every_command_and_flag_a_guide_shows_exists(page):
    lines = commands((DOCS / page).read_text())
    assert len(lines) >= 5
    root = typer.main.get_command(app)
    assert [problem for words in lines for problem in problems(words, root)] == []


def test_the_platform_flow_page_shows_the_example_that_the_flow_test_runs():
    """docs/platform.md's flow is examples/platform_flow.py cut at its steps: every block is the script's own text,
    and together they cover every step, so the page cannot drift from what tests/platform/test_full_flow.py runs."""
    page = (DOCS / "platform.md").read_text()
    section = page.split("## The flow a team follows\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    script = (DOCS.parent / "examples" / "platform_flow.py").read_text()
    assert [block for block in blocks if block not in script] == []
    assert [f"# {step}. " for step in range(1, 7) if not any(b.startswith(f"# {step}. ") for b in blocks)] == []
