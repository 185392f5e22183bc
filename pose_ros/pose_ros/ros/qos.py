"""QoS names shared by the nodes, so parameters say "reliable"/"best_effort" and
every node maps them the same way (no magic integers)."""

from rclpy.qos import ReliabilityPolicy

RELIABILITY = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}
