"""Camera images in: the subscription (QoS matched to the camera), ~/enable, and the newest-frame slot.

The callback only stores the newest frame (:class:`~pose_ros.streams.frame_slot.LatestFrameSlot`);
the worker takes it, so the output never lags behind the camera by more than one processing time.
"""

from __future__ import annotations

import time
from typing import Any, Callable, List, Optional

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

FUTURE_STAMP_TOLERANCE_S = 0.25   # stamps further ahead of the node's clock are reported (the slots' tolerance)


class EnableSwitch:
    """``~/enable`` (one per node, for all its cameras): disabling drops the pending frames."""

    def __init__(self, node: Node, slots: List[LatestFrameSlot]) -> None:
        self._node, self._slots = node, slots
        self.enabled = True
        node.create_service(SetBool, "~/enable", self._on_enable)

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        self.enabled = bool(request.data)
        if not self.enabled:
            for slot in self._slots:
                slot.clear()
        response.success = True
        response.message = "enabled" if self.enabled else "disabled"
        self._node.get_logger().info(f"pose estimation {response.message}")
        return response


class Intake:
    """Subscribes ``<prefix>image`` (or ``<prefix>image/compressed``) while active, into ``slot``."""

    def __init__(self, node: Node, counters: FrameCounters, on_incompatible_qos: Callable[[Any], None],
                 slot: LatestFrameSlot, switch: EnableSwitch, prefix: str = "") -> None:
        self._node, self._counters, self._on_incompatible_qos = node, counters, on_incompatible_qos
        self.slot, self._switch = slot, switch
        self.in_rate = RateMeter()
        compressed = parameters.get(node, "image_transport") == "compressed"
        name = "image/compressed" if compressed else "image"
        self._msg_type, self._name = (CompressedImage if compressed else Image), prefix + name
        self.topic = node.resolve_topic_name(self._name)
        self._images: Optional[MatchedSubscription] = None

    @property
    def enabled(self) -> bool:
        return self._switch.enabled

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
        if not self._switch.enabled:
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
