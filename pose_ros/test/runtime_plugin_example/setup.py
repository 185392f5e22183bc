"""Minimal third-party inference runtime for pose_ros (also used by test_runtimes.py).

Install it next to pose_ros (``pip install .`` or put it in your colcon workspace) and
select it with ``runtime:=readnet_example``. pose_ros finds it through the
``pose_ros.runtimes`` entry-point group; nothing in pose_ros names it. The second entry
shows how a runtime whose library is missing reports itself.
"""

from setuptools import setup

setup(
    name="pose-ros-test-runtime",
    version="0.1.0",
    packages=["pose_ros_test_runtime"],
    install_requires=["numpy", "opencv-python-headless"],
    entry_points={
        "pose_ros.runtimes": [
            "readnet_example = pose_ros_test_runtime:ReadNetRuntime",
            "missing_library_example = pose_ros_test_runtime:MissingLibraryRuntime",
        ],
    },
)
