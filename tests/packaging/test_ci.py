"""CI runs the README's commands verbatim, and the linters."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _quick_start_commands():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [line for b in blocks for line in b.splitlines() if line.strip()]


def test_quick_start_is_two_commands():
    commands = _quick_start_commands()
    assert len(commands) == 2, commands
    assert "hspy-perovskite demo" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_readme_test_command_verbatim_and_ruff():
    script = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _quick_start_commands()[1] in script
    assert any(line.startswith("ruff check") for line in script)
    assert any(line.startswith("ruff format --check") for line in script)
    assert "set -euo pipefail" in script
