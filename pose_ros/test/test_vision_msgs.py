"""vision_msgs as the node sees it: upstream's wire format, and a stand-in colcon never finds.

On the pip set-up path ``tools/setup.sh`` builds ``tools/vision_msgs`` (vision_msgs 4.1.1's
definitions); with apt ROS the real package is used. Either way the generated type hashes
must equal upstream's, or DDS peers built against the real package would not match.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# From vision_msgs 4.1.1's generated share/vision_msgs/msg/*.json (RIHS01 = ROS IDL hash v1).
UPSTREAM_HASHES = {
    "Detection2DArray": "RIHS01_214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968",
    "Detection2D": "RIHS01_0d12b69df5c593b3455b7346fac8205437a7d4bcb09b9e0e0b2dde787ded38ea",
    "LabelInfo": "RIHS01_3d37df4015cdf660cc851c51897f2acd957e1ca6205ba0a99aebffb9406b0783",
}

# vision_msgs 4.1.1's fields, as rosidl's Python classes name their types.
UPSTREAM_FIELDS = {
    "Detection2DArray": {"header": "std_msgs/Header", "detections": "sequence<vision_msgs/Detection2D>"},
    "Detection2D": {"header": "std_msgs/Header", "results": "sequence<vision_msgs/ObjectHypothesisWithPose>",
                    "bbox": "vision_msgs/BoundingBox2D", "id": "string"},
    "ObjectHypothesisWithPose": {"hypothesis": "vision_msgs/ObjectHypothesis",
                                 "pose": "geometry_msgs/PoseWithCovariance"},
    "ObjectHypothesis": {"class_id": "string", "score": "double"},
    "BoundingBox2D": {"center": "vision_msgs/Pose2D", "size_x": "double", "size_y": "double"},
    "Pose2D": {"position": "vision_msgs/Point2D", "theta": "double"},
    "Point2D": {"x": "double", "y": "double"},
    "LabelInfo": {"header": "std_msgs/Header", "class_map": "sequence<vision_msgs/VisionClass>",
                  "threshold": "float"},
    "VisionClass": {"class_id": "uint16", "class_name": "string"},
}


def _share() -> Path:
    ament = pytest.importorskip("ament_index_python.packages")
    try:
        return Path(ament.get_package_share_directory("vision_msgs"))
    except ament.PackageNotFoundError:
        pytest.fail("vision_msgs is not on the ROS path: run `make setup` (it builds the stand-in)")


@pytest.mark.parametrize("name", sorted(UPSTREAM_HASHES))
def test_generated_type_hash_equals_upstream(name: str) -> None:
    description = json.loads((_share() / "msg" / f"{name}.json").read_text())
    hashes = {h["type_name"]: h["hash_string"] for h in description["type_hashes"]}
    assert hashes[f"vision_msgs/msg/{name}"] == UPSTREAM_HASHES[name]


@pytest.mark.parametrize("name", sorted(UPSTREAM_FIELDS))
def test_message_fields_are_upstream(name: str) -> None:
    module = pytest.importorskip("vision_msgs.msg")
    assert getattr(module, name).get_fields_and_field_types() == UPSTREAM_FIELDS[name]


def test_stand_in_is_no_package_for_colcon_or_rosdep() -> None:
    """An apt ROS user's `colcon build` (and rosdep) crawls the whole clone: it must find
    pose_ros and pose_ros_msgs only, never a second vision_msgs next to the real one."""
    stand_in = REPO / "tools" / "vision_msgs"
    assert (stand_in / "package.xml.in").is_file() and (stand_in / "CMakeLists.txt.in").is_file()
    for marker in ("package.xml", "CMakeLists.txt", "setup.py", "setup.cfg", "pyproject.toml"):
        assert not list(stand_in.rglob(marker)), f"{marker} in {stand_in} would make it a colcon package"

    discovery = pytest.importorskip("colcon_core.package_discovery")
    identification = pytest.importorskip("colcon_core.package_identification")
    parser = argparse.ArgumentParser()
    discovery.add_package_discovery_arguments(parser)
    found = discovery.discover_packages(parser.parse_args(["--base-paths", str(REPO)]),
                                        identification.get_package_identification_extensions())
    assert sorted(d.name for d in found) == ["pose_ros", "pose_ros_msgs"]


def _vision_msgs_prefix(ament_prefix_path: str, venv: Path) -> subprocess.CompletedProcess:
    """Run set-up's own ``vision_msgs_prefix`` function (cut out of tools/setup.sh)."""
    setup = (REPO / "tools" / "setup.sh").read_text()
    start = setup.index("vision_msgs_prefix() {")
    body = setup[start:setup.index("\n}\n", start) + 3]
    script = f'ROOT={REPO}; VENV={venv}; AMENT_PREFIX_PATH="{ament_prefix_path}"\n{body}\nvision_msgs_prefix'
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)


def test_setup_builds_the_stand_in_only_without_a_vision_msgs_on_the_ros_path(tmp_path: Path) -> None:
    venv, apt = tmp_path / "venv", tmp_path / "opt_ros_jazzy"
    venv.mkdir()
    (apt / "share" / "vision_msgs").mkdir(parents=True)
    ours = REPO / "install" / "vision_msgs"   # the stand-in itself does not count
    missing = _vision_msgs_prefix(f"{ours}:{venv}", venv)
    assert missing.returncode == 1 and missing.stdout == ""
    (apt / "share" / "vision_msgs" / "package.xml").write_text("<package/>")
    found = _vision_msgs_prefix(f"{ours}:{apt}", venv)
    assert found.returncode == 0 and found.stdout.strip() == str(apt)
