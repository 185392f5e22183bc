"""The image_source node as users run it: a real process publishing a real video (or a
folder of images) over DDS to a subscriber in this test, checked for content, sizes,
frame ids, stamps, rate, camera_info, and its exit status."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import cv2
import numpy as np
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_testing import RosHarness
from sensor_msgs.msg import CameraInfo, Image

PKG_ROOT = Path(__file__).resolve().parents[1]
VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def start_source(*params: str) -> subprocess.Popen:
    """``python -m pose_ros.apps.image_source --ros-args -p ...`` from the source tree."""
    cmd = [sys.executable, "-m", "pose_ros.apps.image_source", "--ros-args"]
    for p in params:
        cmd += ["-p", p]
    return subprocess.Popen(cmd, cwd=PKG_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def finish(proc: subprocess.Popen, timeout_s: float = 10.0) -> tuple:
    """(exit status, output); the process is killed if it overstays."""
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out


class Collector:
    """Subscribes to image_raw and camera_info and records what arrives, and when."""

    def __init__(self, ros: RosHarness, name: str) -> None:
        self.node = ros.node(name)
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.images: List[Image] = []
        self.arrivals: List[float] = []
        self.infos: List[CameraInfo] = []
        self.node.create_subscription(Image, "image_raw", self._on_image, qos)
        self.node.create_subscription(CameraInfo, "camera_info", self.infos.append, qos)

    def _on_image(self, msg: Image) -> None:
        self.images.append(msg)
        self.arrivals.append(time.monotonic())


@pytest.fixture
def ros():
    harness = RosHarness()
    yield harness
    harness.close()


def _stamp_ns(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def _first_video_frame() -> np.ndarray:
    cap = cv2.VideoCapture(str(VIDEO))
    ok, frame = cap.read()
    cap.release()
    assert ok, f"{VIDEO} unreadable: run `make setup` (installs opencv-doc)"
    return frame


def test_video_is_published_at_the_requested_rate_then_the_node_exits_cleanly(ros) -> None:
    frames, rate_hz = 26, 20.0
    rx = Collector(ros, "video_collector")
    proc = start_source(f"source:={VIDEO}", f"rate_hz:={rate_hz}", f"max_frames:={frames}",
                        "frame_id:=test_cam_optical", "fov_deg:=90.0", "wait_for_subscribers:=1")
    try:
        got_all = ros.spin_until(lambda: len(rx.images) >= frames and len(rx.infos) >= frames, 15.0)
        status, out = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert got_all, f"received {len(rx.images)} images, {len(rx.infos)} infos; node said:\n{out}"
    assert status == 0, out
    assert f"max_frames={frames}" in out and "Traceback" not in out
    assert len(rx.images) == frames  # exactly: wait_for_subscribers + reliable + acked exit

    for msg in rx.images:
        assert (msg.encoding, msg.width, msg.height, msg.step) == ("bgr8", 768, 576, 768 * 3)
        assert msg.header.frame_id == "test_cam_optical"
        assert len(msg.data) == 576 * 768 * 3
    first = np.frombuffer(bytes(rx.images[0].data), np.uint8).reshape(576, 768, 3)
    np.testing.assert_array_equal(first, _first_video_frame())

    stamps = [_stamp_ns(m) for m in rx.images]
    assert all(b > a for a, b in zip(stamps, stamps[1:])), "stamps must strictly increase"
    # Mean period over 20 frames after start-up, on both clocks: within 25 % of 1/rate.
    want = 1.0 / rate_hz
    stamp_period = (stamps[-1] - stamps[-21]) / 20 / 1e9
    arrival_period = (rx.arrivals[-1] - rx.arrivals[-21]) / 20
    assert stamp_period == pytest.approx(want, rel=0.25)
    assert arrival_period == pytest.approx(want, rel=0.25)

    infos = {_stamp_ns(i): i for i in rx.infos}
    for msg in rx.images:
        info = infos[_stamp_ns(msg)]  # one camera_info per image, same header
        assert info.header.frame_id == msg.header.frame_id
        assert (info.width, info.height) == (msg.width, msg.height)
    info = infos[stamps[0]]
    # 90 degree horizontal FOV over 768 px: fx = 384 / tan(45 deg) = 384.
    assert list(info.k) == pytest.approx([384.0, 0, 383.5, 0, 384.0, 287.5, 0, 0, 1])
    assert info.distortion_model == "plumb_bob" and list(info.d) == [0.0] * 5
    assert list(info.p)[:3] == pytest.approx([384.0, 0, 383.5])


def test_image_folder_is_resized_played_once_in_order_and_ends_with_status_0(ros, tmp_path) -> None:
    shades = (30, 90, 150)
    for i, shade in enumerate(shades, start=1):
        img = np.zeros((60, 80, 3), np.uint8)
        img[:, :, 1] = shade  # green channel, so a BGR/RGB mix-up would show
        cv2.imwrite(str(tmp_path / f"img{i}.png"), img)
    rx = Collector(ros, "folder_collector")
    proc = start_source(f"source:={tmp_path}", "rate_hz:=30.0", "width:=40", "height:=30",
                        "wait_for_subscribers:=1")
    try:
        got_all = ros.spin_until(lambda: len(rx.images) >= 3 and len(rx.infos) >= 3, 15.0)
        status, out = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert got_all, out
    assert status == 0, out
    assert "end of" in out and "after 3 frames" in out
    assert len(rx.images) == 3
    for msg, shade in zip(rx.images, shades):
        assert (msg.width, msg.height, msg.encoding) == (40, 30, "bgr8")
        assert msg.header.frame_id == "camera_optical_frame"  # REP-103 default
        pixels = np.frombuffer(bytes(msg.data), np.uint8).reshape(30, 40, 3)
        assert (pixels[:, :, 1] == shade).all() and not pixels[:, :, 0].any()
    assert all((i.width, i.height) == (40, 30) for i in rx.infos)


@pytest.mark.parametrize("params, words", [
    (["source:=/no/such/video.avi"], "does not exist"),
    (["source:=/etc/hostname"], "cannot decode video file"),
    ([f"source:={VIDEO}", "reliability:=sometimes"], "reliability"),
    ([f"source:={VIDEO}", "rate_hz:=-5.0"], "rate_hz"),
])
def test_bad_configuration_exits_nonzero_with_a_clear_message(params: list, words: str) -> None:
    status, out = finish(start_source(*params))
    assert status != 0
    assert words in out
    assert "Traceback" not in out
