"""Helpers for tests that talk over real DDS: a private rclpy context per test,
spinning until a condition holds (never sleeping as synchronisation), and real
sample images from Debian's opencv-doc package.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import Image


class RosHarness:
    """A context + executor owned by one test; nodes added here are spun together."""

    def __init__(self) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.nodes = []

    def add(self, node):
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def node(self, name: str, **kwargs):
        return self.add(rclpy.create_node(name, context=self.context, **kwargs))

    def spin_until(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                return False
            self.executor.spin_once(timeout_sec=0.02)
        return True

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.02)

    def close(self) -> None:
        for node in reversed(self.nodes):
            self.executor.remove_node(node)
            node.destroy_node()
        self.executor.shutdown()
        rclpy.try_shutdown(context=self.context)


def image_msg(image: np.ndarray, stamp_ns: int, frame_id: str = "camera_optical_frame",
              encoding: str = "bgr8") -> Image:
    msg = Image()
    msg.header.stamp = Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
    msg.header.frame_id = frame_id
    msg.height, msg.width = image.shape[:2]
    msg.encoding = encoding
    msg.step = image.shape[1] * (image.shape[2] if image.ndim == 3 else 1)
    msg.data = np.ascontiguousarray(image).tobytes()
    return msg


#: The pose node's parameters for one full-frame f32 pass. Tests that count the people of an image
#: use them: the default zoom passes and frame budget follow the forward times measured on the
#: machine, so under load they find a different number of people (the defaults' own test is
#: test_node.py::test_the_default_zoom_and_budget_find_the_players).
SINGLE_PASS = {"zoom": False, "frame_budget_ms": 0.0, "precision": "f32"}
