"""Several cameras, one model, one node (issue 22 part 2), over real DDS with the real model.

``cameras:=[front, rear]``: the node subscribes front/image and rear/image and publishes
front/persons and rear/persons; one estimator, each camera its own slot, tracker and counters.
"""

from __future__ import annotations

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from pose_ros.ros.convert.images import stamp_ns
from pose_ros.ros.pose_node.node import PoseNode
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_testing import SINGLE_PASS, RosHarness, image_msg
from sample_media import sample_image
from sensor_msgs.msg import Image

from pose_ros_msgs.msg import PersonKeypointsArray

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
BASKETBALL = sample_image("basketball1.png")   # two players, 640x480 (counts not asserted: the
# estimator may pick its input size from a time budget, and a loaded machine then sees fewer)
EMPTY = np.full((240, 320, 3), 128, np.uint8)   # nobody in it, and another size
CAMERAS = ("front", "rear")



class MultiRig:
    """One pose node with ``cameras:=[front, rear]``, a publisher and a persons subscriber per camera."""

    def __init__(self, extra: dict | None = None) -> None:
        self.ros = RosHarness()
        params = [Parameter("cameras", value=list(CAMERAS))]
        params += [Parameter(k, value=v) for k, v in {**SINGLE_PASS, **(extra or {})}.items()]
        self.pose = self.ros.add(PoseNode(context=self.ros.context, parameter_overrides=params))
        self.client = self.ros.node("cameras_and_consumers")
        self.cameras = {c: self.client.create_publisher(Image, f"{c}/image", RELIABLE) for c in CAMERAS}
        self.persons: dict[str, list[PersonKeypointsArray]] = {c: [] for c in CAMERAS}
        for c in CAMERAS:
            self.client.create_subscription(PersonKeypointsArray, f"{c}/persons", self.persons[c].append, RELIABLE)
        assert self.ros.spin_until(lambda: all(p.get_subscription_count() > 0 for p in self.cameras.values()))
        # auto QoS: the node re-subscribes reliable once it sees the reliable cameras (2 s check).
        subs = lambda: [c.intake.subscription for c in self.pose._pipeline.cameras]  # noqa: E731
        assert self.ros.spin_until(lambda: all(s.qos_profile.reliability == ReliabilityPolicy.RELIABLE
                                               for s in subs()), 10)
        assert self.ros.spin_until(lambda: all(p.get_subscription_count() > 0 for p in self.cameras.values()))

    def output_for(self, camera: str, stamp: int, timeout_s: float = 20.0) -> PersonKeypointsArray:
        assert self.ros.spin_until(lambda: any(stamp_ns(m.header) == stamp for m in self.persons[camera]), timeout_s), \
            f"no {camera}/persons for stamp {stamp}"
        return next(m for m in self.persons[camera] if stamp_ns(m.header) == stamp)

    def processed(self) -> dict[str, int]:
        return {c: s["frames_processed"] for c, s in self.pose.stats()["cameras"].items()}

    def close(self) -> None:
        self.ros.close()


@pytest.fixture(scope="module")
def rig():
    r = MultiRig()
    yield r
    r.close()


def test_each_camera_gets_its_own_persons_header_and_tracks(rig):
    assert rig.pose._pipeline.cameras[0].outputs.persons_pub.topic_name == "/front/persons"
    # Stamps 10 s in the past, so the steps below can be seconds apart without being in the future.
    t = rig.pose.get_clock().now().nanoseconds - 10_000_000_000
    rig.cameras["front"].publish(image_msg(BASKETBALL, t, frame_id="front_optical"))
    rig.cameras["rear"].publish(image_msg(EMPTY, t + 1, frame_id="rear_optical"))
    front, rear = rig.output_for("front", t), rig.output_for("rear", t + 1)
    assert (front.header.frame_id, front.image_width) == ("front_optical", 640) and front.persons
    assert (rear.header.frame_id, rear.image_width, len(rear.persons)) == ("rear_optical", 320, 0)
    assert not any(stamp_ns(m.header) == t + 1 for m in rig.persons["front"]), "rear's frame came out on front"
    front_ids = [int(p.id) for p in front.persons]

    # Front sees nobody for 5 s of stamps: its tracks expire (track_max_age_s 3.3). Then rear sees
    # the players: its own tracker numbers them from 1, while front's goes on after its old ids.
    # One shared tracker would have numbered rear's players on from front's.
    rig.cameras["front"].publish(image_msg(EMPTY, t + 5_000_000_000, frame_id="front_optical"))
    assert rig.output_for("front", t + 5_000_000_000).persons == []
    rig.cameras["rear"].publish(image_msg(BASKETBALL, t + 5_100_000_000, frame_id="rear_optical"))
    rear_ids = sorted(int(p.id) for p in rig.output_for("rear", t + 5_100_000_000).persons)
    assert rear_ids == list(range(1, len(rear_ids) + 1)) and rear_ids
    rig.cameras["front"].publish(image_msg(BASKETBALL, t + 5_200_000_000, frame_id="front_optical"))
    again = rig.output_for("front", t + 5_200_000_000)
    assert again.persons and min(int(p.id) for p in again.persons) > max(front_ids)


def test_a_camera_that_stops_does_not_stall_the_other(rig):
    # Rear sends one frame and goes silent; front goes on and every frame of it is answered.
    start = rig.pose.get_clock().now().nanoseconds
    rig.cameras["rear"].publish(image_msg(EMPTY, start, frame_id="rear_optical"))
    rig.output_for("rear", start)
    before = rig.processed()
    for i in range(1, 5):
        stamp = start + i * 50_000_000
        rig.cameras["front"].publish(image_msg(BASKETBALL, stamp, frame_id="front_optical"))
        assert rig.output_for("front", stamp).persons
    after = rig.processed()
    assert after["front"] - before["front"] == 4 and after["rear"] == before["rear"]


def test_both_cameras_flooding_are_served_fairly(rig):
    """Both cameras publish faster than the model runs: each gets half of the processed frames (within 10 %)."""
    clock = rig.pose.get_clock()

    def flood() -> None:
        now = clock.now().nanoseconds
        rig.cameras["front"].publish(image_msg(BASKETBALL, now, frame_id="front_optical"))
        rig.cameras["rear"].publish(image_msg(BASKETBALL, now + 1, frame_id="rear_optical"))

    timer = rig.client.create_timer(0.02, flood)   # 50 Hz each: several times what the model does
    before = rig.processed()
    try:
        assert rig.ros.spin_until(lambda: sum(rig.processed().values()) - sum(before.values()) >= 20, 120)
    finally:
        rig.client.destroy_timer(timer)
    done = {c: n - before[c] for c, n in rig.processed().items()}
    shares = {c: n / sum(done.values()) for c, n in done.items()}
    assert all(abs(s - 0.5) <= 0.05 for s in shares.values()), f"unfair: {done}"
    stats = rig.pose.stats()["cameras"]
    assert all(stats[c]["frames_dropped"] > 0 for c in CAMERAS), "the cameras were meant to outrun the model"


def test_one_diagnostic_status_per_camera_and_one_for_the_estimator(rig):
    diags: list[DiagnosticArray] = []
    rig.client.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 10)
    stamp = rig.pose.get_clock().now().nanoseconds
    rig.cameras["front"].publish(image_msg(BASKETBALL, stamp, frame_id="front_optical"))
    rig.output_for("front", stamp)

    def statuses() -> dict[str, DiagnosticStatus]:
        return {s.name: s for a in diags for s in a.status if s.name.startswith("/pose_node: pose")}
    names = {"/pose_node: pose", "/pose_node: pose front", "/pose_node: pose rear"}
    assert rig.ros.spin_until(lambda: names <= set(statuses()), 5)
    by_name = statuses()
    values = {n: {kv.key: kv.value for kv in by_name[n].values} for n in names}
    assert int(values["/pose_node: pose front"]["frames_processed"]) >= 1
    total = int(values["/pose_node: pose"]["frames_processed"])   # the estimator's: every camera's frames
    assert total == sum(int(values[f"/pose_node: pose {c}"]["frames_processed"]) for c in CAMERAS)
    assert values["/pose_node: pose"]["runtime"] != "n/a" and float(values["/pose_node: pose"]["inference_ms"]) > 0
    assert "input_fps" in values["/pose_node: pose rear"] and "input_fps" not in values["/pose_node: pose"]
    assert by_name["/pose_node: pose"].level == DiagnosticStatus.OK


def test_without_cameras_the_node_keeps_its_single_camera_topics():
    ros = RosHarness()
    try:
        pose = ros.add(PoseNode(context=ros.context))
        assert pose._pipeline.names == [""]
        assert pose._pipeline.outputs.persons_pub.topic_name == "/persons"
        assert pose._pipeline.intake.topic == "/image" and "cameras" not in pose.stats()
    finally:
        ros.close()


def test_a_bad_camera_name_fails_configure_with_the_reason():
    ros = RosHarness()
    try:
        pose = ros.add(PoseNode(context=ros.context,
                                parameter_overrides=[Parameter("cameras", value=["front", "front"])]))
        stats = pose.stats()
        assert stats["lifecycle_state"] == "unconfigured"
        assert "each camera name must be given once" in stats["last_error"]
    finally:
        ros.close()


def test_deactivate_stops_every_camera_and_activate_resumes_them(rig):
    rig.pose.trigger_deactivate()
    assert rig.pose.lifecycle_state == "inactive"
    assert rig.ros.spin_until(lambda: all(p.get_subscription_count() == 0 for p in rig.cameras.values()))
    assert not rig.pose._pipeline.worker.running
    rig.pose.trigger_activate()
    assert rig.ros.spin_until(lambda: all(p.get_subscription_count() > 0 for p in rig.cameras.values()))
    stamp = rig.pose.get_clock().now().nanoseconds
    for camera in CAMERAS:
        rig.cameras[camera].publish(image_msg(EMPTY, stamp, frame_id=f"{camera}_optical"))
    assert all(rig.output_for(c, stamp).header.frame_id == f"{c}_optical" for c in CAMERAS)
