"""The lint gate, under `make test` and `colcon test`: `ruff check` of the whole repository
with the one configuration in ruff.toml (pyflakes, pycodestyle errors and warnings, 120 columns).

Skipped where ruff is not installed (an apt ROS 2 machine without it), except in CI, where a
missing linter is a failure: tools/requirements-jazzy.txt and the GitHub workflow install it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "ruff.toml"


def _ruff() -> List[str]:
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    exe = shutil.which("ruff")
    if exe:
        return [exe]
    if os.environ.get("CI"):
        pytest.fail("ruff is not installed (pip install -r tools/requirements-jazzy.txt installs the pinned one)")
    pytest.skip("ruff is not installed")


@pytest.fixture(scope="module")
def ruff() -> List[str]:
    if not CONFIG.is_file():
        pytest.skip("not in the pose_ros repository (ruff.toml missing): lint runs from a checkout")
    return _ruff()


def test_repository_has_no_ruff_findings(ruff):
    run = subprocess.run(ruff + ["check", "--config", str(CONFIG), "--no-cache", "--output-format", "concise", "."],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"ruff check found problems (`ruff check --fix` fixes some):\n{run.stdout}{run.stderr}"


@pytest.mark.parametrize("code, rule", [
    ("import os\n", "F401"),                                     # unused import
    ("x = 1\n" + "y = " + "1 + " * 40 + "1\n", "E501"),          # a line over 120 columns
    ("def f():\n    return undefined_name\n", "F821"),
])
def test_the_gate_catches(ruff, tmp_path, code, rule):
    """The configuration really checks what it says (a gate that lets everything through passes too)."""
    run = subprocess.run(ruff + ["check", "--config", str(CONFIG), "--no-cache", "--output-format", "concise",
                                 "--stdin-filename", str(ROOT / "pose_ros" / "pose_ros" / "probe.py"), "-"],
                         input=code, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and rule in run.stdout, run.stdout + run.stderr
