"""Recorded depth for RGB-D replay: the reader alone, and image_source publishing it over DDS."""

from __future__ import annotations

from typing import List

import cv2
import numpy as np
import pytest
from pose_ros.core.lifting import depth_to_metres
from pose_ros.media.depth_frames import DepthFrames, DepthSourceError
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_testing import RosHarness
from sensor_msgs.msg import Image
from test_image_source import finish, start_source


def _mm(value: int, shape=(30, 40)) -> np.ndarray:
    return np.full(shape, value, np.uint16)


def test_folder_of_16bit_pngs_plays_in_natural_order_and_cycles(tmp_path):
    for i, mm in ((10, 3000), (2, 2000), (1, 1000)):
        cv2.imwrite(str(tmp_path / f"depth{i}.png"), _mm(mm))
    frames = DepthFrames(tmp_path)
    assert len(frames) == 3
    got = [int(frames.frame(i)[0][0, 0]) for i in range(5)]
    assert got == [1000, 2000, 3000, 1000, 2000]
    assert frames.frame(0)[1] == "16UC1"


def test_numpy_files_in_millimetres_or_metres(tmp_path):
    np.save(tmp_path / "one.npy", _mm(1500))
    np.save(tmp_path / "many.npy", np.stack([np.full((4, 6), z, np.float32) for z in (1.0, 2.5)]))
    one = DepthFrames(tmp_path / "one.npy")
    assert len(one) == 1 and one.frame(7)[1] == "16UC1"
    many = DepthFrames(tmp_path / "many.npy")
    array, encoding = many.frame(1)
    assert encoding == "32FC1" and array[0, 0] == 2.5


@pytest.mark.parametrize("make, match", [
    (lambda d: np.save(d / "x.npy", np.zeros((2, 2), np.int32)), "uint16"),
    (lambda d: np.save(d / "x.npy", np.zeros((2, 2, 2, 2), np.uint16)), "shape"),
    (lambda d: cv2.imwrite(str(d / "x.png"), np.zeros((4, 4), np.uint8)), "16-bit"),
    (lambda d: (d / "x.txt").write_text("no"), "expected"),
])
def test_unusable_depth_sources_are_refused_with_the_reason(tmp_path, make, match):
    make(tmp_path)
    target = next(tmp_path.iterdir())
    with pytest.raises(DepthSourceError, match=match):
        DepthFrames(target).frame(0)


def test_empty_folder_is_refused(tmp_path):
    with pytest.raises(DepthSourceError, match="no .png"):
        DepthFrames(tmp_path)


def test_image_source_publishes_depth_with_the_colour_frames_header(tmp_path):
    color = np.zeros((30, 40, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "color.png"), color)
    depth = np.stack([_mm(1000 + 250 * i) for i in range(2)])
    depth[0, 0, 0] = 0  # a hole stays a hole
    np.save(tmp_path / "depth.npy", depth)
    ros = RosHarness()
    images: List[Image] = []
    depths: List[Image] = []
    qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
    node = ros.node("rgbd_collector")
    node.create_subscription(Image, "image_raw", images.append, qos)
    node.create_subscription(Image, "depth/image_raw", depths.append, qos)
    proc = start_source(f"source:={tmp_path / 'color.png'}", "loop:=true", "max_frames:=3",
                        "rate_hz:=20.0", f"depth_source:={tmp_path / 'depth.npy'}",
                        "wait_for_subscribers:=1")
    try:
        got = ros.spin_until(lambda: len(images) >= 3 and len(depths) >= 3, 15.0)
        status, out = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        ros.close()
    assert got, f"{len(images)} images, {len(depths)} depth frames; node said:\n{out}"
    assert status == 0, out
    for i, (img, d) in enumerate(zip(images, depths)):
        assert d.header == img.header
        assert (d.encoding, d.width, d.height, d.step) == ("16UC1", 40, 30, 80)
        metres = depth_to_metres(bytes(d.data), d.width, d.height, d.step, d.encoding)
        assert np.nanmax(metres) == pytest.approx(1.0 + 0.25 * (i % 2))
    first = depth_to_metres(bytes(depths[0].data), 40, 30, 80, "16UC1")
    assert np.isnan(first[0, 0])


def test_image_source_with_an_unreadable_depth_source_exits_with_status_1(tmp_path):
    cv2.imwrite(str(tmp_path / "color.png"), np.zeros((30, 40, 3), np.uint8))
    proc = start_source(f"source:={tmp_path / 'color.png'}", f"depth_source:={tmp_path / 'nothing.npy'}")
    status, out = finish(proc)
    assert status == 1 and "nothing.npy" in out and "Traceback" not in out
