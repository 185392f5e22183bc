"""Old flat module paths (0.1.x) that still import, with a DeprecationWarning, for one release.

Plugin authors and scripts wrote ``from pose_ros.persons import Person``; the layered layout of
0.2 moved that module to ``pose_ros.core.persons``. Rather than 36 alias files that would hide
the layers again, one import hook maps each old name to its new module. Remove in 0.3.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType
from typing import Optional, Sequence

# old module (under pose_ros.) -> new module (under pose_ros.)
MOVED = {
    "persons": "core.persons", "skeletons": "core.skeletons", "geometry": "core.geometry",
    "result_check": "core.result_check", "paf": "core.paf", "map_fusion": "core.map_fusion",
    "synthetic": "core.synthetic", "tracking": "core.tracking", "smoothing": "core.smoothing",
    "lifting": "core.lifting", "draw": "core.draw", "image_markers": "core.overlay",
    "frame_slot": "streams.frame_slot", "stamp_pairing": "streams.stamp_pairing",
    "rate_stats": "streams.rate_stats",
    "image_convert": "media.image_convert", "sources": "media.sources", "depth_frames": "media.depth_frames",
    "keypoints_json": "formats.keypoints_json", "coco_format": "formats.coco_format",
    "models.opencv_support": "runtimes.opencv_support",
    "launch_logic": "bringup.launch_logic", "dds_profile": "bringup.dds_profile",
    "qos": "ros.qos", "node_runner": "ros.node_runner",
    "msg_convert": "ros.convert.persons", "markers3d": "ros.convert.persons3d",
    "detections_convert": "ros.convert.detections", "markers_convert": "ros.convert.image_markers",
    "node": "ros.pose_node.node",
    "image_source": "apps.image_source", "recorder": "apps.recorder", "demo": "apps.demo",
    "infer_cli": "apps.infer_cli",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self._target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(f"{spec.name} moved to {self._target}; the old path goes away in pose_ros 0.3",
                      DeprecationWarning, stacklevel=2)
        return importlib.import_module(self._target)

    def exec_module(self, module: ModuleType) -> None:
        """The target module is already executed; nothing to do."""


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Resolves ``pose_ros.<old>`` to the module that now holds it (the same module object)."""

    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None,
                  target: Optional[ModuleType] = None) -> Optional[importlib.machinery.ModuleSpec]:
        if not fullname.startswith("pose_ros."):
            return None
        new = MOVED.get(fullname[len("pose_ros."):])
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader("pose_ros." + new))


def install() -> None:
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
