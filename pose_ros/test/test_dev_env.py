"""The pip development environment: after `source tools/env.sh`, the package's executables
run by name, as `ros2 run pose_ros <name>` would start them on an apt ROS install."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXECUTABLES = ("pose_node", "image_source", "pose_recorder", "pose_ros_models", "pose_ros_infer")


@pytest.mark.skipif(not (REPO / "tools" / "env.sh").is_file() or not (REPO / ".venv").is_dir(),
                    reason="not the pip development checkout (no tools/env.sh with a .venv)")
def test_executables_are_on_path_after_sourcing_env_sh() -> None:
    names = " ".join(EXECUTABLES)
    script = (f"source tools/env.sh && for n in {names}; do command -v $n || exit 3; done && "
              "pose_ros_infer --help >/dev/null && pose_ros_models list >/dev/null")
    # A clean PATH: the test must not pass because the calling shell had them already.
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "AMENT_PREFIX_PATH",
                                                             "CMAKE_PREFIX_PATH", "PYTHONPATH")}
    env["PATH"] = "/usr/bin:/bin"
    out = subprocess.run(["bash", "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    found = out.stdout.split()
    assert [Path(p).name for p in found] == list(EXECUTABLES)
    assert all(Path(p).parent == REPO / "install" / "pose_ros" / "lib" / "pose_ros" for p in found)
