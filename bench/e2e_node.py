#!/usr/bin/env python3
"""pose_node with extra options for the built-in estimator, for end-to-end benchmarks only.

The accuracy-at-speed table compares estimator options lever by lever, some of which the node
has no parameter for (the old defaults' ``precision: f32`` with no zoom is one combination of
parameters, but each lever is easier to state as estimator options). This runs the unchanged
pose_node and merges the JSON object in ``POSE_ROS_BENCH_OPTIONS`` into every
OpenPoseDnnEstimator it constructs (over what the node passes).
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
