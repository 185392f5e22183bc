"""pose_recorder on its own: it never waits forever for a pipeline that never started."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

PKG_ROOT = Path(__file__).resolve().parents[1]


def test_a_recorder_that_never_gets_a_message_finishes_after_start_timeout(tmp_path):
    """demo.launch.py with a source that could not open: the recorder's idle timer only starts
    with the first message, so it used to wait until Ctrl-C (reliability round 3, 2.1)."""
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pose_ros.apps.recorder", "--ros-args", "-p",
                           f"output_dir:={tmp_path}", "-p", "start_timeout_s:=1.5", "-p", "idle_timeout_s:=3.0",
                           "-r", "__ns:=/recorder_alone"],
                          cwd=PKG_ROOT, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert done.returncode == 0, done.stderr
    assert 1.5 <= time.monotonic() - t0 < 30
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["finished_by"] == "no_input" and summary["frames_out"] == 0
