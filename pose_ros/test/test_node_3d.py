"""The pose node with colour + aligned depth + camera_info over real DDS: 3D persons and RViz
markers out, and 2D output that never waits for depth.

The colour image is a real photo (two basketball players) through the real model; the
depth image is synthetic with known geometry (a ramp z = 1 m + u / 640 m), so every 3D
keypoint can be checked against its own 2D keypoint and the intrinsics.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from builtin_interfaces.msg import Time
from pose_ros.ros.pose_node.node import PoseNode
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_testing import SINGLE_PASS, RosHarness, image_msg
from sample_media import sample_image
from sensor_msgs.msg import CameraInfo, Image
from visualization_msgs.msg import Marker, MarkerArray

from pose_ros_msgs.msg import PersonKeypoints3DArray, PersonKeypointsArray

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
COLOR = sample_image("basketball1.png")
H, W = COLOR.shape[:2]
FX = FY = 525.0
CX, CY = (W - 1) / 2, (H - 1) / 2
FRAME = "camera_color_optical_frame"


def _ns(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def ramp_depth_mm(width: int, height: int) -> np.ndarray:
    """16UC1 millimetres: z = 1 m + u / 640 m at colour column u (whatever the depth size)."""
    u_color = (np.arange(width) + 0.5) * W / width - 0.5
    row = np.rint(1000.0 + u_color * 1000.0 / 640.0).astype(np.uint16)
    return np.repeat(row[None], height, axis=0)


def depth_msg(mm: np.ndarray, stamp_ns: int) -> Image:
    msg = image_msg(mm, stamp_ns, frame_id=FRAME, encoding="16UC1")
    msg.step = mm.shape[1] * 2
    msg.data = mm.tobytes()
    return msg


def camera_info(stamp_ns: int = 0) -> CameraInfo:
    info = CameraInfo(width=W, height=H, distortion_model="plumb_bob")
    info.header.frame_id = FRAME
    info.header.stamp = Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
    info.k = [FX, 0.0, CX, 0.0, FY, CY, 0.0, 0.0, 1.0]
    return info


class Rig3D:
    """A pose node, an RGB-D camera (colour, depth, camera_info) and a consumer of 2D, 3D, markers."""

    def __init__(self, overrides: dict | None = None) -> None:
        self.ros = RosHarness()
        params = [Parameter(k, value=v) for k, v in {**SINGLE_PASS, **(overrides or {})}.items()]
        self.pose = self.ros.add(PoseNode(context=self.ros.context, parameter_overrides=params))
        self.client = self.ros.node("rgbd_camera_and_consumer")
        self.color = self.client.create_publisher(Image, "image", RELIABLE)
        self.depth = self.client.create_publisher(Image, "depth", RELIABLE)
        self.info = self.client.create_publisher(CameraInfo, "camera_info", RELIABLE)
        self.persons: list[PersonKeypointsArray] = []
        self.persons_3d: list[PersonKeypoints3DArray] = []
        self.markers: list[MarkerArray] = []
        self.client.create_subscription(PersonKeypointsArray, "persons", self.persons.append, RELIABLE)
        self.client.create_subscription(PersonKeypoints3DArray, "persons_3d", self.persons_3d.append, RELIABLE)
        self.client.create_subscription(MarkerArray, "persons_markers", self.markers.append, RELIABLE)
        for pub in (self.color, self.depth, self.info):
            assert self.ros.spin_until(lambda: pub.get_subscription_count() > 0), pub.topic_name
        # auto QoS: the node re-subscribes image and depth as reliable within its 2 s check.
        assert self.ros.spin_until(
            lambda: self.pose._image_sub.qos_profile.reliability == ReliabilityPolicy.RELIABLE
            and self.pose._depth_sub.qos_profile.reliability == ReliabilityPolicy.RELIABLE, 10)
        assert self.ros.spin_until(lambda: self.color.get_subscription_count() > 0
                                   and self.depth.get_subscription_count() > 0)
        assert self.ros.spin_until(lambda: self.pose._markers_pub.get_subscription_count() > 0)

    def send_info(self) -> None:
        self.info.publish(camera_info())
        assert self.ros.spin_until(lambda: self.pose._camera_info is not None)

    def wait_for(self, items: list, stamp: int, timeout_s: float = 30.0):
        assert self.ros.spin_until(lambda: any(_ns(m) == stamp for m in items), timeout_s), \
            f"nothing for stamp {stamp}; 3D status: {self.pose.stats()['status_3d']}"
        return next(m for m in items if _ns(m) == stamp)

    def close(self) -> None:
        self.ros.close()


@pytest.fixture
def rig():
    r = Rig3D()
    yield r
    r.close()


def _check_3d_against_2d(out2d: PersonKeypointsArray, out3d: PersonKeypoints3DArray) -> None:
    assert [p.id for p in out3d.persons] == [p.id for p in out2d.persons]
    assert out3d.skeleton == out2d.skeleton == "coco18"
    lifted = 0
    for p2, p3 in zip(out2d.persons, out3d.persons):
        assert len(p3.keypoints) == len(p2.keypoints)
        for k2, k3 in zip(p2.keypoints, p3.keypoints):
            if k2.score == 0:
                assert k3.score == 0 and (k3.position.x, k3.position.y, k3.position.z) == (0, 0, 0)
                continue
            lifted += 1
            assert k3.score == pytest.approx(k2.score)
            z = 1.0 + k2.x / 640.0
            assert k3.position.z == pytest.approx(z, abs=0.004)  # one depth column of the ramp
            assert k3.position.x == pytest.approx((k2.x - CX) * k3.position.z / FX, abs=0.003)
            assert k3.position.y == pytest.approx((k2.y - CY) * k3.position.z / FY, abs=0.003)
    assert lifted >= 20


def test_color_depth_and_camera_info_give_3d_persons_and_markers_in_the_camera_frame(rig):
    rig.send_info()
    stamp = 1_700_000_100_000_000_000
    rig.depth.publish(depth_msg(ramp_depth_mm(W, H), stamp))
    assert rig.ros.spin_until(lambda: rig.pose.stats()["depth_received"] == 1)
    rig.color.publish(image_msg(COLOR, stamp, frame_id=FRAME))
    out2d = rig.wait_for(rig.persons, stamp)
    out3d = rig.wait_for(rig.persons_3d, stamp)
    assert out3d.header.frame_id == FRAME and _ns(out3d) == stamp
    assert len(out2d.persons) == 2
    _check_3d_against_2d(out2d, out3d)

    assert rig.ros.spin_until(lambda: any(_ns(m.markers[0]) == stamp for m in rig.markers))
    array = next(m for m in rig.markers if _ns(m.markers[0]) == stamp)
    assert array.markers[0].action == Marker.DELETEALL
    assert all(m.header.frame_id == FRAME and _ns(m) == stamp for m in array.markers)
    for pid in (p.id for p in out3d.persons):
        ns = [m for m in array.markers if m.ns == f"person_{pid}"]
        kinds = {m.type for m in ns}
        assert {Marker.LINE_LIST, Marker.SPHERE_LIST} <= kinds, pid
        lines = next(m for m in ns if m.type == Marker.LINE_LIST)
        assert len(lines.points) % 2 == 0 and len(lines.points) >= 2
        assert all(m.lifetime.sec + m.lifetime.nanosec * 1e-9 == pytest.approx(1.0) for m in ns)
    stats = rig.pose.stats()
    assert stats["frames_3d"] == 1 and stats["status_3d"] == "ok"


def test_depth_arriving_after_the_color_result_still_gives_3d(rig):
    rig.send_info()
    stamp = 1_700_000_200_000_000_000
    rig.color.publish(image_msg(COLOR, stamp, frame_id=FRAME))
    out2d = rig.wait_for(rig.persons, stamp)  # 2D does not wait for the depth frame
    assert not rig.persons_3d
    rig.depth.publish(depth_msg(ramp_depth_mm(W, H), stamp))
    _check_3d_against_2d(out2d, rig.wait_for(rig.persons_3d, stamp))


def test_without_depth_2d_keeps_flowing_and_diagnostics_say_why_3d_is_empty(rig):
    rig.send_info()
    stamps = [1_700_000_300_000_000_000 + i * 100_000_000 for i in range(4)]
    for stamp in stamps:
        rig.color.publish(image_msg(COLOR, stamp, frame_id=FRAME))
        assert len(rig.wait_for(rig.persons, stamp).persons) == 2
    assert not rig.persons_3d
    # at most max_pending results wait for depth; the older ones are decided without it
    assert rig.ros.spin_until(lambda: rig.pose.stats()["frames_without_3d"] >= len(stamps) - 2)
    stats = rig.pose.stats()
    assert "no depth image received yet" in stats["status_3d"] and "/depth" in stats["status_3d"]
    assert stats["frames_3d"] == 0 and stats["last_error"] == ""


def test_without_camera_info_3d_is_empty_and_the_reason_is_camera_info(rig):
    stamp = 1_700_000_400_000_000_000
    rig.depth.publish(depth_msg(ramp_depth_mm(W, H), stamp))
    assert rig.ros.spin_until(lambda: rig.pose.stats()["depth_received"] == 1)
    rig.color.publish(image_msg(COLOR, stamp, frame_id=FRAME))
    rig.wait_for(rig.persons, stamp)
    assert rig.ros.spin_until(lambda: rig.pose.stats()["frames_without_3d"] == 1)
    assert "camera_info" in rig.pose.stats()["status_3d"] and not rig.persons_3d


def test_half_resolution_depth_is_used_and_other_aspect_ratio_is_refused(rig):
    rig.send_info()
    half = 1_700_000_500_000_000_000
    rig.depth.publish(depth_msg(ramp_depth_mm(W // 2, H // 2), half))
    assert rig.ros.spin_until(lambda: rig.pose.stats()["depth_received"] == 1)
    rig.color.publish(image_msg(COLOR, half, frame_id=FRAME))
    _check_3d_against_2d(rig.wait_for(rig.persons, half), rig.wait_for(rig.persons_3d, half))

    wide = half + 1_000_000_000
    rig.depth.publish(depth_msg(ramp_depth_mm(W + 208, H), wide))
    assert rig.ros.spin_until(lambda: rig.pose.stats()["depth_received"] == 2)
    rig.color.publish(image_msg(COLOR, wide, frame_id=FRAME))
    rig.wait_for(rig.persons, wide)
    assert rig.ros.spin_until(lambda: rig.pose.stats()["frames_without_3d"] == 1)
    assert "aspect ratio" in rig.pose.stats()["status_3d"]
    assert not any(_ns(m) == wide for m in rig.persons_3d)


@pytest.mark.parametrize("entry", [0, 2])   # fx, cx
def test_a_nan_in_camera_info_k_gives_no_3d_and_says_why(rig, entry):
    """fx or cx NaN used to give keypoints like [nan, -0.466, 2.0] with score > 0 and status "ok"."""
    info = camera_info()
    k = list(info.k)
    k[entry] = float("nan")
    info.k = k
    rig.info.publish(info)
    assert rig.ros.spin_until(lambda: rig.pose._camera_info is not None)
    stamp = 1_700_000_550_000_000_000
    rig.depth.publish(depth_msg(ramp_depth_mm(W, H), stamp))
    assert rig.ros.spin_until(lambda: rig.pose.stats()["depth_received"] == 1)
    rig.color.publish(image_msg(COLOR, stamp, frame_id=FRAME))
    rig.wait_for(rig.persons, stamp)
    assert rig.ros.spin_until(lambda: rig.pose.stats()["frames_without_3d"] == 1)
    assert "not finite" in rig.pose.stats()["status_3d"]
    assert not any(_ns(m) == stamp for m in rig.persons_3d)


@pytest.mark.parametrize("fill", [0, 65535])   # no reading anywhere; everything beyond range (65 m)
def test_depth_without_a_usable_reading_publishes_empty_3d_and_says_why(rig, fill):
    rig.send_info()
    stamp = 1_700_000_560_000_000_000
    rig.depth.publish(depth_msg(np.full((H, W), fill, np.uint16), stamp))
    assert rig.ros.spin_until(lambda: rig.pose.stats()["depth_received"] == 1)
    rig.color.publish(image_msg(COLOR, stamp, frame_id=FRAME))
    assert len(rig.wait_for(rig.persons, stamp).persons) == 2
    assert not rig.wait_for(rig.persons_3d, stamp).persons
    assert rig.ros.spin_until(lambda: rig.pose.stats()["frames_without_3d"] == 1)
    assert "no reading in" in rig.pose.stats()["status_3d"]


def test_depth_far_from_the_color_stamp_is_not_paired():
    rig = Rig3D({"depth_tolerance_s": 0.02})
    try:
        rig.send_info()
        stamp = 1_700_000_600_000_000_000
        rig.depth.publish(depth_msg(ramp_depth_mm(W, H), stamp + 50_000_000))  # 50 ms later
        assert rig.ros.spin_until(lambda: rig.pose.stats()["depth_received"] == 1)
        rig.color.publish(image_msg(COLOR, stamp, frame_id=FRAME))
        rig.wait_for(rig.persons, stamp)
        assert rig.ros.spin_until(lambda: rig.pose.stats()["frames_without_3d"] == 1)
        assert "within 20 ms" in rig.pose.stats()["status_3d"] and not rig.persons_3d
    finally:
        rig.close()


def _jittered_frames(n: int, seed: int = 0) -> list:
    """The photo shifted by a few random pixels per frame: a still scene seen by a shaky camera."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        dx, dy = rng.uniform(-4, 4, size=2)
        shift = np.float32([[1, 0, dx], [0, 1, dy]])
        frames.append(cv2.warpAffine(COLOR, shift, (W, H), borderMode=cv2.BORDER_REPLICATE))
    return frames


@pytest.mark.parametrize("smoothing", [True, False])
def test_smoothing_steadies_tracked_keypoints_and_diagnostics_report_the_jitter(smoothing):
    rig = Rig3D({"smoothing": smoothing})
    try:
        start = 1_700_000_700_000_000_000
        outputs = []
        for i, frame in enumerate(_jittered_frames(12)):
            stamp = start + i * 100_000_000  # 10 fps of image time
            rig.color.publish(image_msg(frame, stamp, frame_id=FRAME))
            outputs.append(rig.wait_for(rig.persons, stamp))
        ids = [sorted(p.id for p in out.persons) for out in outputs]
        assert all({"1", "2"} <= set(i) for i in ids), ids  # both players keep their tracks
        stats = rig.pose.stats()
        raw, smoothed = stats["jitter_raw_px"], stats["jitter_smoothed_px"]
        if smoothing:
            assert raw > 2.0, raw  # the shaking really reaches the keypoints
            assert smoothed < 0.6 * raw, (raw, smoothed)
        else:
            assert np.isnan(raw) and np.isnan(smoothed)  # nothing smoothed, nothing measured
    finally:
        rig.close()
