"""The node's ecosystem outputs over real DDS: vision_msgs detections and label info, and the
skeletons as ImageMarker overlays, checked against ``persons`` for the same real image."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pose_ros.core.overlay import VIEWER_OFFSET_PX
from pose_ros.core.skeletons import COCO18
from rclpy.parameter import Parameter
from ros_testing import image_msg
from test_node import BASKETBALL, LATCHED, RELIABLE, Rig, _ns
from visualization_msgs.msg import ImageMarker

vision_msgs = pytest.importorskip("vision_msgs.msg", reason="vision_msgs missing: run `make setup`")


class VisionRig(Rig):
    """A Rig that also listens to detections, label_info and both marker topics."""

    def __init__(self, overrides: dict | None = None) -> None:
        super().__init__(overrides)
        self.detections, self.label_info, self.limbs, self.joints = [], [], [], []
        c = self.client
        c.create_subscription(vision_msgs.Detection2DArray, "detections", self.detections.append, RELIABLE)
        c.create_subscription(vision_msgs.LabelInfo, "label_info", self.label_info.append, LATCHED)
        c.create_subscription(ImageMarker, "image_markers/limbs", self.limbs.append, RELIABLE)
        c.create_subscription(ImageMarker, "image_markers/joints", self.joints.append, RELIABLE)
        assert self.ros.spin_until(lambda: self.pose._limbs_pub.get_subscription_count() > 0
                                   and self.pose._joints_pub.get_subscription_count() > 0
                                   and self.pose._detections_pub.get_subscription_count() > 0)

    def stamped(self, received: list, stamp: int, timeout_s: float = 20.0):
        assert self.ros.spin_until(lambda: any(_ns(m) == stamp for m in received), timeout_s), \
            f"nothing with stamp {stamp}"
        return next(m for m in received if _ns(m) == stamp)


@pytest.fixture
def vrig():
    r = VisionRig()
    yield r
    r.close()


def _tight_box(person) -> tuple:
    found = np.array([(k.x, k.y) for k in person.keypoints if k.score > 0], np.float64)
    (x0, y0), (x1, y1) = found.min(axis=0), found.max(axis=0)
    return x0, y0, x1 - x0, y1 - y0


def test_detections_carry_the_boxes_ids_and_scores_of_persons(vrig):
    stamp = 1_700_000_100_000_000_000
    vrig.send(image_msg(BASKETBALL, stamp, frame_id="front_camera_optical_frame"))
    persons = vrig.output_for(stamp)
    dets = vrig.stamped(vrig.detections, stamp)
    assert dets.header.frame_id == "front_camera_optical_frame"
    assert len(dets.detections) == len(persons.persons) == 2
    for det, person in zip(dets.detections, persons.persons):
        assert det.header == persons.header
        assert det.id == person.id and det.id, "Detection2D.id is the track id"
        assert len(det.results) == 1
        hypothesis = det.results[0].hypothesis
        assert hypothesis.class_id == "0"
        assert np.float32(hypothesis.score) == np.float32(person.score)
        x, y, w, h = _tight_box(person)
        box = det.bbox
        assert box.center.position.x == pytest.approx(x + w / 2, abs=1e-3)
        assert box.center.position.y == pytest.approx(y + h / 2, abs=1e-3)
        assert (box.size_x, box.size_y) == pytest.approx((w, h), abs=1e-3)
        assert box.center.theta == 0.0
        roi = person.bbox  # the integer box of persons covers the float box
        assert roi.x_offset <= x and x + w <= roi.x_offset + roi.width
        assert roi.y_offset <= y and y + h <= roi.y_offset + roi.height

    # label_info is latched: maps the class id used above to "person", with the score threshold.
    assert vrig.ros.spin_until(lambda: any(m.header.frame_id == "front_camera_optical_frame"
                                           for m in vrig.label_info))
    info = vrig.label_info[-1]
    assert [(c.class_id, c.class_name) for c in info.class_map] == [(0, "person")]
    assert info.threshold == pytest.approx(vrig.pose.get_parameter("min_person_score").value)


def test_label_info_reaches_a_late_subscriber(vrig):
    late = vrig.ros.node("late_label_subscriber")
    infos: list = []
    late.create_subscription(vision_msgs.LabelInfo, "label_info", infos.append, LATCHED)
    assert vrig.ros.spin_until(lambda: bool(infos))
    assert infos[0].class_map[0].class_name == "person"


def test_image_markers_draw_the_persons_and_clear_when_nobody_is_seen(vrig):
    stamp = 1_700_000_101_000_000_000
    vrig.send(image_msg(BASKETBALL, stamp))
    persons = vrig.output_for(stamp)
    limbs, joints = vrig.stamped(vrig.limbs, stamp), vrig.stamped(vrig.joints, stamp)
    assert (limbs.type, joints.type) == (ImageMarker.LINE_LIST, ImageMarker.POINTS)

    found = [[k for k in p.keypoints if k.score > 0] for p in persons.persons]
    assert len(joints.points) == sum(len(f) for f in found)
    assert len(joints.outline_colors) == len(joints.points)
    expected = sorted((round(k.x + VIEWER_OFFSET_PX, 3), round(k.y + VIEWER_OFFSET_PX, 3)) for f in found for k in f)
    assert sorted((round(p.x, 3), round(p.y, 3)) for p in joints.points) == expected

    both = sum(p.keypoints[a].score > 0 and p.keypoints[b].score > 0
               for p in persons.persons for a, b in COCO18.limbs)
    assert len(limbs.points) == 2 * both > 0
    assert len(limbs.outline_colors) == both, "one colour per segment"
    assert len({(c.r, c.g, c.b) for c in limbs.outline_colors}) > 5, "limbs keep their own colours"
    assert limbs.scale >= 1.0 and joints.scale > limbs.scale

    # Nobody has 19 of 18 parts: the next frame publishes empty markers, clearing the overlay.
    assert vrig.pose.set_parameters([Parameter("min_parts", value=19)])[0].successful
    empty_stamp = stamp + 1_000_000_000
    vrig.send(image_msg(BASKETBALL, empty_stamp))
    assert vrig.output_for(empty_stamp).persons == []
    assert vrig.stamped(vrig.limbs, empty_stamp).points == []
    assert vrig.stamped(vrig.joints, empty_stamp).points == []
    assert vrig.stamped(vrig.detections, empty_stamp).detections == []


def test_publish_detections_false_stops_only_the_detections(vrig):
    assert vrig.pose.set_parameters([Parameter("publish_detections", value=False)])[0].successful
    off = 1_700_000_102_000_000_000
    vrig.send(image_msg(BASKETBALL, off))
    assert len(vrig.output_for(off).persons) == 2
    vrig.stamped(vrig.limbs, off)
    assert vrig.pose.set_parameters([Parameter("publish_detections", value=True)])[0].successful
    on = off + 1_000_000_000
    vrig.send(image_msg(BASKETBALL, on))
    vrig.stamped(vrig.detections, on)
    # One reliable writer keeps its order: had the first frame been published, it came first.
    assert [_ns(m) for m in vrig.detections] == [on]


_WITHOUT_VISION_MSGS = """
import sys
sys.modules["vision_msgs"] = None        # what an install without vision_msgs looks like to import
sys.modules["vision_msgs.msg"] = None
import rclpy
from pose_ros.ros.pose_node.node import PoseNode
rclpy.init()
node = PoseNode()
topics = " ".join(name for name, _ in node.get_topic_names_and_types())
print("DETECTIONS_PUB", node._detections_pub, "detections" in topics, "image_markers/limbs" in topics)
node.destroy_node()
rclpy.try_shutdown()
"""


def test_without_vision_msgs_the_node_runs_and_says_once_why_there_are_no_detections():
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", _WITHOUT_VISION_MSGS], cwd=root, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "DETECTIONS_PUB None False True" in out.stdout, out.stdout
    log = out.stdout + out.stderr
    assert log.count("vision_msgs is not installed") == 1, log
    assert "apt install ros-$ROS_DISTRO-vision-msgs" in log
