#!/usr/bin/env python3
"""pose_node with extra options for the built-in estimator, for end-to-end benchmarks only.

The accuracy-at-speed table compares estimator options the node has no parameter for yet
(``zoom``, ``frame_budget_ms``, ``precision: auto``). This runs the unchanged pose_node and
merges the JSON object in ``POSE_ROS_BENCH_OPTIONS`` into every OpenPoseDnnEstimator it
constructs (over what the node passes), which is what the node does once it passes them.
"""

from __future__ import annotations

import json
import os
import runpy
import sys

from pose_ros.estimators import openpose_dnn

EXTRA = json.loads(os.environ.get("POSE_ROS_BENCH_OPTIONS") or "{}")
_init = openpose_dnn.OpenPoseDnnEstimator.__init__


def _with_extra(self, **options) -> None:
    _init(self, **{**options, **EXTRA})


openpose_dnn.OpenPoseDnnEstimator.__init__ = _with_extra

if __name__ == "__main__":
    sys.argv[0] = "pose_node"
    runpy.run_module("pose_ros.ros.pose_node.node", run_name="__main__")
