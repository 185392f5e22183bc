"""QoS shared by the nodes, so parameters say "reliable"/"best_effort" and every node maps
them the same way (no magic integers), and an ``auto`` input reliability that follows the
publishers of a topic.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

try:  # Jazzy and newer
    from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import PublisherEventCallbacks, SubscriptionEventCallbacks

__all__ = ["AUTO", "LATCHED", "RELIABILITY", "MatchedSubscription", "PublisherEventCallbacks",
           "SubscriptionEventCallbacks", "incompatible_qos_logger", "keep_last", "matching_reliability"]

RELIABILITY = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}
AUTO = "auto"
RECHECK_S = 2.0  # how often an auto subscription looks at its publishers again

# A late subscriber still gets the last message (skeleton, label_info).
LATCHED = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


def keep_last(depth: int, reliability: ReliabilityPolicy) -> QoSProfile:
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=reliability)


def matching_reliability(node: Node, topic: str, wanted: str) -> ReliabilityPolicy:
    """``wanted`` ("reliable", "best_effort"), or for "auto" the one that matches the publishers:
    reliable only when every publisher of ``topic`` offers it (Fast DDS loses most large
    best-effort samples of a reliable writer), else best effort, which matches them all."""
    if wanted != AUTO:
        return RELIABILITY[wanted]
    offered = [info.qos_profile.reliability for info in node.get_publishers_info_by_topic(topic)]
    if offered and all(r == ReliabilityPolicy.RELIABLE for r in offered):
        return ReliabilityPolicy.RELIABLE
    return ReliabilityPolicy.BEST_EFFORT


def incompatible_qos_logger(node: Node, hint: str, throttle_s: float) -> Callable[[Any], None]:
    """An ``incompatible_qos`` event callback that says what it means: no data on that connection."""
    def log(event: Any) -> None:
        node.get_logger().error(
            f"incompatible QoS with a peer (policy {event.last_policy_kind}, {event.total_count} so far): "
            f"no data will flow on that connection; {hint}", throttle_duration_sec=throttle_s)
    return log


class MatchedSubscription:
    """A subscription whose reliability is ``reliability`` or, for "auto", follows the
    publishers: re-checked every :data:`RECHECK_S` and re-created only when it changes."""

    def __init__(self, node: Node, msg_type: type, name: str, callback: Callable, depth: int, reliability: str,
                 event_callbacks: Optional[SubscriptionEventCallbacks] = None,
                 on_change: Optional[Callable[[str, QoSProfile], None]] = None) -> None:
        self._node, self._msg_type, self._name, self._callback = node, msg_type, name, callback
        self._depth, self._reliability, self._events, self._on_change = depth, reliability, event_callbacks, on_change
        self.topic = node.resolve_topic_name(name)
        self.subscription = None
        self.refresh()
        if reliability == AUTO:
            node.create_timer(RECHECK_S, self.refresh)

    def refresh(self) -> None:
        reliability = matching_reliability(self._node, self.topic, self._reliability)
        if self.subscription is not None:
            if self.subscription.qos_profile.reliability == reliability:
                return
            self._node.destroy_subscription(self.subscription)
        qos = keep_last(self._depth, reliability)
        extra = {"event_callbacks": self._events} if self._events is not None else {}
        self.subscription = self._node.create_subscription(self._msg_type, self._name, self._callback, qos, **extra)
        if self._on_change is not None:
            self._on_change(self.topic, qos)
