"""Input topics nobody publishes are named (rgbd.launch.py with no driver used to stay silent)."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray
from pose_ros.ros.pose_node import input_watch
from pose_ros.ros.pose_node.input_watch import missing_inputs
from pose_ros.ros.pose_node.node import PoseNode
from rclpy.parameter import Parameter
from ros_testing import RosHarness
from sensor_msgs.msg import CameraInfo, Image

IMAGE, DEPTH, INFO = "/cam/color/image_raw", "/cam/depth/image_raw", "/cam/color/camera_info"


def _watch(*published: str):
    return missing_inputs(lambda topic: int(topic in published), IMAGE, DEPTH, INFO)


def test_no_driver_at_all_names_all_three_topics():
    assert _watch() == [f"{IMAGE} (image)", f"{DEPTH} (depth)", f"{INFO} (camera_info)"]


def test_a_2d_camera_is_complete_and_half_a_3d_one_is_not():
    assert _watch(IMAGE) == []                      # 2D only: depth and camera_info are optional
    assert _watch(IMAGE, DEPTH, INFO) == []
    assert _watch(IMAGE, DEPTH) == [f"{INFO} (camera_info)"]
    assert _watch(IMAGE, INFO) == [f"{DEPTH} (depth)"]
    assert _watch(DEPTH, INFO) == [f"{IMAGE} (image)"]


def test_a_node_without_a_camera_says_which_topics_have_no_publisher(monkeypatch):
    monkeypatch.setattr(input_watch, "GRACE_S", 0.5)   # the real grace period is 5 s
    ros = RosHarness()
    try:
        node = ros.add(PoseNode(context=ros.context, cli_args=["--ros-args", "-r", f"image:={IMAGE}",
                                                               "-r", f"depth:={DEPTH}", "-r", f"camera_info:={INFO}"],
                                parameter_overrides=[Parameter("tracking", value=True)]))
        seen = []
        listener = ros.node("diagnostics_listener")
        listener.create_subscription(DiagnosticArray, "/diagnostics", seen.append, 10)
        said = lambda: any("no publisher on" in s.message and IMAGE in s.message and DEPTH in s.message  # noqa: E731
                           for m in seen for s in m.status)
        assert ros.spin_until(said, 15), [s.message for m in seen for s in m.status]
        assert node.stats()["inputs_missing"].startswith(f"{IMAGE} (image)")
        # the driver comes up: the complaint goes away
        camera = ros.node("late_driver")
        pubs = [camera.create_publisher(Image, IMAGE, 1), camera.create_publisher(Image, DEPTH, 1),
                camera.create_publisher(CameraInfo, INFO, 1)]
        assert ros.spin_until(lambda: node.stats()["inputs_missing"] == "", 10)
        del pubs
    finally:
        ros.close()
