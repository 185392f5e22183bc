"""Camera images in: the subscription (QoS matched to the camera), ~/enable, and the newest-frame slot.

The callback only stores the newest frame (:class:`~pose_ros.streams.frame_slot.LatestFrameSlot`);
the worker takes it, so the output never lags behind the camera by more than one processing time.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import SetBool

from pose_ros.ros import parameters
from pose_ros.ros.convert.images import stamp_ns
from pose_ros.ros.pose_node.diagnostics import THROTTLE_S, FrameCounters
from pose_ros.ros.qos import MatchedSubscription, SubscriptionEventCallbacks
from pose_ros.streams.frame_slot import LatestFrameSlot
from pose_ros.streams.rate_stats import RateMeter

FUTURE_STAMP_TOLERANCE_S = 0.25   # stamps further ahead of the node's clock are reported


class Intake:
    """Subscribes ``image`` (or ``image/compressed``) while active; serves ``~/enable`` while configured."""

    def __init__(self, node: Node, counters: FrameCounters, on_incompatible_qos: Callable[[Any], None]) -> None:
        self._node, self._counters, self._on_incompatible_qos = node, counters, on_incompatible_qos
        self.slot: LatestFrameSlot = LatestFrameSlot(future_tolerance_s=FUTURE_STAMP_TOLERANCE_S)
        self.in_rate = RateMeter()
        self.enabled = True
        compressed = parameters.get(node, "image_transport") == "compressed"
        self._msg_type, self._name = (CompressedImage, "image/compressed") if compressed else (Image, "image")
        self.topic = node.resolve_topic_name(self._name)
        self._images: Optional[MatchedSubscription] = None
        node.create_service(SetBool, "~/enable", self._on_enable)

    def start(self) -> None:
        """Subscribe (activate); the lifecycle's entity mark destroys the subscription and its QoS timer."""
        p = parameters.get
        self._images = MatchedSubscription(
            self._node, self._msg_type, self._name, self._on_image, p(self._node, "input_depth"),
            p(self._node, "input_reliability"), SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible_qos),
            on_change=self._log_subscribed)

    @property
    def subscription(self) -> Any:
        """The current subscription (replaced when the camera's QoS changes); None before activation."""
        return None if self._images is None else self._images.subscription

    def _log_subscribed(self, topic: str, qos: QoSProfile) -> None:
        self._node.get_logger().info(
            f"listening on {topic} ({qos.reliability.name.lower()}, depth {qos.depth}, "
            f"input_reliability={parameters.get(self._node, 'input_reliability')})")

    def _on_image(self, msg: Any) -> None:
        self.in_rate.tick(time.monotonic())
        if not self.enabled:
            self._counters.count("ignored_disabled")
            return
        future_before = self.slot.counters.future
        stamp, now = stamp_ns(msg.header), self._node.get_clock().now().nanoseconds
        self.slot.put(msg, stamp, now)
        if self.slot.counters.future != future_before:
            self._node.get_logger().warning(
                f"image stamped {(stamp - now) / 1e9:.3f} s ahead of this node's clock (more than "
                f"{FUTURE_STAMP_TOLERANCE_S} s): processed, but not used to order frames; check the "
                "camera's clock (NTP, use_sim_time)", throttle_duration_sec=THROTTLE_S)

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        self.enabled = bool(request.data)
        if not self.enabled:
            self.slot.clear()
        response.success = True
        response.message = "enabled" if self.enabled else "disabled"
        self._node.get_logger().info(f"pose estimation {response.message}")
        return response
