"""Install a plugin distribution into a test's folder: package source plus a dist-info.

``importlib.metadata`` then finds its entry points on ``sys.path`` exactly as it finds a
pip-installed package's, so discovery is tested for real without pip.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterable, Optional

TEST_DIR = Path(__file__).resolve().parent
RUNTIME_EXAMPLE = TEST_DIR / "runtime_plugin_example"
RUNTIME_EXAMPLE_PKG = "pose_ros_test_runtime"


def install_dist(root: Path, dist: str, group: str, entry_lines: Iterable[str],
                 package: Optional[Path] = None) -> None:
    """Write ``<dist>-0.1.0.dist-info`` (and copy ``package``) under ``root``."""
    if package is not None:
        shutil.copytree(package, root / package.name, dirs_exist_ok=True)
    info = root / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n" + "\n".join(entry_lines) + "\n")


def install_runtime_example(root: Path, entry_lines: Iterable[str]) -> None:
    """The runtime plugin example (``runtime_plugin_example``) with the given entry points."""
    install_dist(root, "pose-ros-test-runtime", "pose_ros.runtimes", entry_lines,
                 RUNTIME_EXAMPLE / RUNTIME_EXAMPLE_PKG)
