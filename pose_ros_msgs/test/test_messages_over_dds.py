"""The message contract survives a real DDS round trip between two rclpy nodes."""

import math
import time

import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from geometry_msgs.msg import Point

from pose_ros_msgs.msg import (Keypoint2D, Keypoint3D, PersonKeypoints, PersonKeypoints3D,
                               PersonKeypoints3DArray, PersonKeypointsArray, Skeleton)


@pytest.fixture
def ctx():
    context = Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    yield context, executor
    executor.shutdown()
    rclpy.shutdown(context=context)


def _spin_until(executor, predicate, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    return predicate()


def _person(pid: str, offset: float) -> PersonKeypoints:
    p = PersonKeypoints()
    p.id = pid
    p.score = 0.5 + offset / 1024.0  # exactly representable in float32
    p.bbox.x_offset, p.bbox.y_offset = int(offset), int(offset) + 1
    p.bbox.width, p.bbox.height = 40, 90
    p.bbox.do_rectify = True
    p.keypoints = [Keypoint2D(x=offset + i + 0.25, y=2 * i + 0.5, score=(i % 3) / 2.0)
                   for i in range(18)]
    return p


def test_person_keypoints_array_with_two_persons_survives_dds(ctx):
    context, executor = ctx
    pub_node = rclpy.create_node("kp_pub", context=context)
    sub_node = rclpy.create_node("kp_sub", context=context)
    executor.add_node(pub_node)
    executor.add_node(sub_node)
    received = []
    sub_node.create_subscription(PersonKeypointsArray, "persons", received.append, 10)
    pub = pub_node.create_publisher(PersonKeypointsArray, "persons", 10)

    msg = PersonKeypointsArray()
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1700000000, 123456789
    msg.header.frame_id = "camera_optical_frame"
    msg.skeleton = "coco18"
    msg.image_width, msg.image_height = 640, 480
    msg.persons = [_person("7", 10.0), _person("", 300.0)]

    assert _spin_until(executor, lambda: pub.get_subscription_count() > 0)
    assert _spin_until(executor, lambda: (pub.publish(msg), bool(received))[1])
    got = received[0]
    assert got.header.stamp.sec == 1700000000 and got.header.stamp.nanosec == 123456789
    assert got.header.frame_id == "camera_optical_frame"
    assert got.skeleton == "coco18"
    assert (got.image_width, got.image_height) == (640, 480)
    assert [p.id for p in got.persons] == ["7", ""]
    for sent, back in zip(msg.persons, got.persons):
        assert math.isclose(back.score, sent.score, rel_tol=1e-6)
        assert (back.bbox.x_offset, back.bbox.y_offset, back.bbox.width, back.bbox.height,
                back.bbox.do_rectify) == (sent.bbox.x_offset, sent.bbox.y_offset, 40, 90, True)
        assert len(back.keypoints) == 18
        for a, b in zip(sent.keypoints, back.keypoints):
            assert (b.x, b.y, b.score) == pytest.approx((a.x, a.y, a.score), abs=1e-6)
    assert got == msg


def test_skeleton_reaches_a_late_subscriber_on_transient_local(ctx):
    context, executor = ctx
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    pub_node = rclpy.create_node("sk_pub", context=context)
    pub = pub_node.create_publisher(Skeleton, "skeleton", latched)
    sent = Skeleton(name="coco18", keypoint_names=["Nose", "Neck"], edges=[0, 1])
    pub.publish(sent)  # published before anyone listens

    sub_node = rclpy.create_node("sk_sub", context=context)
    executor.add_node(pub_node)
    executor.add_node(sub_node)
    received = []
    sub_node.create_subscription(Skeleton, "skeleton", received.append, latched)
    assert _spin_until(executor, lambda: bool(received))
    assert received[0].name == "coco18"
    assert list(received[0].keypoint_names) == ["Nose", "Neck"]
    assert list(received[0].edges) == [0, 1]


def test_keypoint_fields_have_documented_types():
    kp = Keypoint2D()
    assert (kp.x, kp.y, kp.score) == (0.0, 0.0, 0.0)
    with pytest.raises((AssertionError, OverflowError)):
        Skeleton(edges=[70000])  # uint16 bounds are enforced by the generated class


def test_person_keypoints_3d_array_survives_dds(ctx):
    context, executor = ctx
    pub_node = rclpy.create_node("kp3_pub", context=context)
    sub_node = rclpy.create_node("kp3_sub", context=context)
    executor.add_node(pub_node)
    executor.add_node(sub_node)
    received = []
    sub_node.create_subscription(PersonKeypoints3DArray, "persons_3d", received.append, 10)
    pub = pub_node.create_publisher(PersonKeypoints3DArray, "persons_3d", 10)

    msg = PersonKeypoints3DArray(skeleton="coco18")
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1700000001, 5
    msg.header.frame_id = "camera_color_optical_frame"
    kps = [Keypoint3D(position=Point(x=0.1 * i, y=-0.2, z=1.5 + i), score=0.5 if i % 2 else 0.0)
           for i in range(18)]
    msg.persons = [PersonKeypoints3D(id="4", score=0.75, keypoints=kps)]

    assert _spin_until(executor, lambda: pub.get_subscription_count() > 0)
    assert _spin_until(executor, lambda: (pub.publish(msg), bool(received))[1])
    got = received[0]
    assert (got.header.stamp.sec, got.header.stamp.nanosec) == (1700000001, 5)
    assert got.header.frame_id == "camera_color_optical_frame" and got.skeleton == "coco18"
    assert [p.id for p in got.persons] == ["4"] and got.persons[0].score == 0.75
    back = got.persons[0].keypoints
    assert len(back) == 18
    assert [(k.position.x, k.position.y, k.position.z, k.score) for k in back] == \
        [(k.position.x, k.position.y, k.position.z, k.score) for k in kps]  # float64 positions: exact
