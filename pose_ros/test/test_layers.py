"""The map of the house, checked: which folder of ``pose_ros/pose_ros`` may import which.

Each module's imports are read from its source (``ast``, nothing is imported), resolved to
``pose_ros.<layer>...`` or to a third-party root, and held against :data:`MAY_IMPORT` and
:data:`ROS_FREE`. CONTRIBUTING.md ("The map of the house") explains the layers in words;
this table is the part that cannot drift.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "pose_ros"

# layer -> the layers its modules may import (its own included). A layer is a sub-package,
# or the top-level module plugins.py. Lower layers first.
BELOW_ROS = {"core", "streams", "media", "formats", "plugins", "models", "runtimes", "estimators"}
MAY_IMPORT: Dict[str, Set[str]] = {
    "core": {"core"},
    "streams": {"core", "streams"},
    "media": {"core", "media"},
    "formats": {"core", "formats"},
    "plugins": {"core", "plugins"},
    "models": {"core", "models"},
    "runtimes": {"core", "plugins", "models", "runtimes"},
    "estimators": {"core", "plugins", "models", "runtimes", "estimators"},
    "bringup": BELOW_ROS | {"bringup"},
    "ros": BELOW_ROS | {"bringup", "ros"},
    "apps": BELOW_ROS | {"bringup", "ros", "apps"},
}
# Layers that never import ROS (rclpy, message packages, ament, launch): usable in any Python.
ROS_FREE = BELOW_ROS
# Layers that import ROS only inside functions, so that importing them costs no ROS.
ROS_LAZY = {"bringup"}
# Not layers: the package face and the import hook for the old flat paths.
EXEMPT = {"__init__", "_moved"}

ROS_ROOTS = {"rclpy", "rcl_interfaces", "builtin_interfaces", "ament_index_python", "launch", "launch_ros",
             "rosidl_runtime_py", "rosidl_parser", "cv_bridge", "message_filters", "image_transport"}


def is_ros(root: str) -> bool:
    return root in ROS_ROOTS or root.endswith(("_msgs", "_srvs", "_interfaces"))


def module_name(path: Path, package_dir: Path) -> str:
    parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> str:
    """``pose_ros.core.paf`` -> ``core``; ``pose_ros.plugins`` -> ``plugins``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_submodule(module: str, package_dir: Path) -> bool:
    rel = Path(*module.split(".")[1:])
    base = package_dir / rel
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(path: Path, package_dir: Path) -> Iterator[Tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every import statement in ``path``.

    ``from pose_ros import models`` names the module ``pose_ros.models``; relative imports are
    resolved against the importing module's package.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    in_function = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for n in ast.walk(f)}
    me = module_name(path, package_dir)
    package = me.split(".") if path.name == "__init__.py" else me.split(".")[:-1]
    for node in ast.walk(tree):
        lazy = id(node) in in_function
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, lazy
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                inside = target.split(".")[0] == "pose_ros" and _is_submodule(sub, package_dir)
                yield (sub if inside else target), node.lineno, lazy


def violations(package_dir: Path = PACKAGE_DIR) -> List[str]:
    """Every import that breaks the map, as ``path:line: why``."""
    found: List[str] = []
    for path in sorted(package_dir.rglob("*.py")):
        me = module_name(path, package_dir)
        mine = layer_of(me)
        if path.stem in EXEMPT and path.parent == package_dir:
            continue
        where = f"{path.relative_to(package_dir.parent)}"
        if mine not in MAY_IMPORT:
            found.append(f"{where}: module outside every layer (add it to a folder, or to MAY_IMPORT)")
            continue
        for target, line, lazy in imports_of(path, package_dir):
            root = target.split(".")[0]
            if root == "pose_ros":
                theirs = layer_of(target)
                if theirs in EXEMPT or theirs == "__init__":
                    continue
                if theirs not in MAY_IMPORT[mine]:
                    found.append(f"{where}:{line}: {mine}/ may not import {target} ({theirs}/)")
            elif is_ros(root):
                if mine in ROS_FREE:
                    found.append(f"{where}:{line}: {mine}/ is ROS-free but imports {target}")
                elif mine in ROS_LAZY and not lazy:
                    found.append(f"{where}:{line}: {mine}/ imports ROS only inside functions, not {target}")
    return found


def who_imports(layer: str, package_dir: Path = PACKAGE_DIR) -> Set[str]:
    users = set()
    for path in package_dir.rglob("*.py"):
        me = module_name(path, package_dir)
        if layer_of(me) == layer:
            continue
        for target, _, _ in imports_of(path, package_dir):
            if target.startswith(f"pose_ros.{layer}"):
                users.add(me)
    return users


def test_the_package_follows_the_map_of_the_house():
    assert violations() == []


def test_every_folder_is_a_layer_with_an_init():
    """A folder without ``__init__.py`` is silently left out by ``find_packages`` (and by colcon)."""
    for folder in PACKAGE_DIR.rglob("*"):
        if folder.is_dir() and folder.name != "__pycache__" and any(folder.glob("*.py")):
            assert (folder / "__init__.py").is_file(), folder
    layers = {p.name for p in PACKAGE_DIR.iterdir() if p.is_dir() and p.name != "__pycache__"}
    layers |= {p.stem for p in PACKAGE_DIR.glob("*.py")} - EXEMPT
    assert layers == set(MAY_IMPORT)


def test_apps_are_imported_by_nobody():
    assert who_imports("apps") == set()


def _copy_package(tmp_path: Path) -> Path:
    dst = tmp_path / "pose_ros"
    shutil.copytree(PACKAGE_DIR, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def _append(path: Path, line: str, inside: Optional[str] = None) -> None:
    text = path.read_text()
    if inside:
        text += f"\n\ndef {inside}():\n    {line}\n"
    else:
        text += f"\n{line}\n"
    path.write_text(text)


def test_a_core_module_importing_rclpy_is_caught(tmp_path):
    pkg = _copy_package(tmp_path)
    _append(pkg / "core" / "paf.py", "import rclpy  # noqa")
    assert violations(pkg) == ["pose_ros/core/paf.py:" + str(len((pkg / "core" / "paf.py").read_text().splitlines()))
                               + ": core/ is ROS-free but imports rclpy"]


def test_a_message_import_hidden_in_a_function_of_media_is_caught(tmp_path):
    pkg = _copy_package(tmp_path)
    _append(pkg / "media" / "sources.py", "from sensor_msgs.msg import Image  # noqa", inside="late")
    assert [v.split(": ", 1)[1] for v in violations(pkg)] == ["media/ is ROS-free but imports sensor_msgs.msg"]


def test_upward_and_sideways_imports_are_caught(tmp_path):
    pkg = _copy_package(tmp_path)
    _append(pkg / "core" / "draw.py", "from pose_ros.media import image_convert  # noqa")
    _append(pkg / "runtimes" / "opencv_dnn.py", "from pose_ros.estimators import Estimator  # noqa")
    _append(pkg / "ros" / "qos.py", "from ..apps import demo  # noqa")
    found = [v.split(": ", 1)[1] for v in violations(pkg)]
    assert found == ["core/ may not import pose_ros.media.image_convert (media/)",
                     "ros/ may not import pose_ros.apps.demo (apps/)",
                     "runtimes/ may not import pose_ros.estimators (estimators/)"]


def test_bringup_may_import_ros_only_lazily(tmp_path):
    pkg = _copy_package(tmp_path)
    _append(pkg / "bringup" / "dds_profile.py", "import rclpy  # noqa")
    assert [v.split(": ", 1)[1] for v in violations(pkg)] == [
        "bringup/ imports ROS only inside functions, not rclpy"]
