"""Minimal third-party estimator plugin for pose_ros (also used by test_plugins.py).

Install it next to pose_ros (``pip install .`` or put it in your colcon workspace) and
select it with the node parameter ``estimator:=fixed_example``. pose_ros finds it
through the ``pose_ros.estimators`` entry-point group; nothing in pose_ros names it.
"""

from setuptools import setup

setup(
    name="pose-ros-test-plugin",
    version="0.1.0",
    packages=["pose_ros_test_plugin"],
    install_requires=["numpy"],
    entry_points={
        "pose_ros.estimators": [
            "fixed_example = pose_ros_test_plugin:FixedEstimator",
        ],
    },
)
