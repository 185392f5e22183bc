"""One camera of the node: its topics, newest-frame slot, person stream, 3D pairing and counters.

A node serves one camera (``cameras`` empty: ``image`` in, ``persons`` out, as ever) or several
(``cameras:=[front, rear]``: ``front/image`` in, ``front/persons`` out, and so on). Every camera
has all of these parts of its own; only the estimator and the worker thread are shared
(:mod:`.pipeline`). Names stay relative, so the node's namespace and remappings apply to them.
"""

from __future__ import annotations

from typing import Any, Callable, Dict

from rclpy.node import Node
from rclpy.qos import QoSProfile

from pose_ros.core.postprocess import PersonStream
from pose_ros.ros.pose_node.depth3d import Depth3D
from pose_ros.ros.pose_node.diagnostics import FrameCounters, collect_stats
from pose_ros.ros.pose_node.input_watch import InputWatch
from pose_ros.ros.pose_node.intake import EnableSwitch, Intake
from pose_ros.ros.pose_node.outputs import Outputs
from pose_ros.ros.pose_node.worker import Frame, Lane
from pose_ros.ros.qos import PublisherEventCallbacks
from pose_ros.streams.frame_slot import LatestFrameSlot


def camera_prefix(name: str) -> str:
    """The relative namespace of a camera's topics: "" for the single unnamed camera, else "name/"."""
    return f"{name.strip('/')}/" if name.strip("/") else ""


class Camera:
    """The per-camera parts; ``lane`` is what the shared worker needs of it."""

    def __init__(self, node: Node, name: str, slot: LatestFrameSlot, switch: EnableSwitch, out_qos: QoSProfile,
                 qos_error: Callable[[Any], None]) -> None:
        self.name, prefix = name, camera_prefix(name)
        self.counters = FrameCounters()
        self.stream = PersonStream()
        self.depth3d = Depth3D(node, out_qos, prefix)
        self.outputs = Outputs(node, out_qos, PublisherEventCallbacks(incompatible_qos=qos_error), prefix)
        self.intake = Intake(node, self.counters, qos_error, slot, switch, prefix)
        self.inputs = InputWatch(node, lambda: self.intake.topic, lambda: self.depth3d.depth_topic,
                                 lambda: self.depth3d.camera_info_topic)
        self.lane = Lane(slot, self.counters, self.stream, self.intake.topic, self.depth3d.clear, self._deliver)

    def start(self) -> None:
        self.intake.start()
        self.depth3d.start()
        self.inputs.start()
        self.outputs.start()

    def stop(self) -> None:
        """After the subscriptions are gone and the worker stopped: forget what was pending."""
        self.intake.slot.clear()   # a frame from before deactivate is not processed after activate
        self.depth3d.clear()
        self.inputs.stop()

    def _deliver(self, frame: Frame) -> None:
        """2D persons first, then their 3D part (never delayed by drawing), then the views."""
        self.outputs.publish_persons(frame)
        self.depth3d.offer(frame)
        self.outputs.publish_views(frame)

    def stats(self, loader: Any) -> Dict[str, Any]:
        stats = collect_stats(self.intake, self.lane, self.counters, loader, self.depth3d, self.stream)
        return {**stats, "inputs_missing": self.inputs.missing}
