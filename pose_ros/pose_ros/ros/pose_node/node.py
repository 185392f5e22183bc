"""The pose_ros ROS 2 node: camera images in, PersonKeypointsArray + annotated image out.

A thin adapter, wired here from parts that each do one job (this package):

- :mod:`.parameters`: the parameter table and the check of every value;
- :mod:`.intake`: the image subscription (QoS matched to the camera), ``~/enable`` and the
  newest-frame slot, so the output never lags behind the camera by more than one processing time;
- :mod:`.worker`: the thread that (re)loads the estimator plugin, runs each frame through it,
  checks and counts the result, and tracks and smooths the persons
  (:class:`~pose_ros.core.postprocess.PersonStream`);
- :mod:`.outputs`: persons, skeleton, annotated image, detections, image markers;
- :mod:`.depth3d`: depth + camera_info, stamp pairing, 3D persons and RViz markers;
- :mod:`.diagnostics`: counters, ``stats()`` and /diagnostics;
- :mod:`.input_watch`: input topics nobody publishes, said in the log and the diagnostics.

Nothing that arrives on a topic may stop the node: every per-frame failure is
logged (throttled) with its reason and counted, and the next good frame is processed.
"""

from __future__ import annotations

import sys
from functools import partial
from typing import Any, Optional

from rclpy.node import Node

from pose_ros.core.postprocess import PersonStream
from pose_ros.ros import parameters
from pose_ros.ros.node_runner import run
from pose_ros.ros.pose_node.depth3d import Depth3D
from pose_ros.ros.pose_node.diagnostics import THROTTLE_S, Diagnostics, FrameCounters, collect_stats
from pose_ros.ros.pose_node.input_watch import InputWatch
from pose_ros.ros.pose_node.intake import Intake
from pose_ros.ros.pose_node.outputs import Outputs
from pose_ros.ros.pose_node.parameters import PARAMS, ParameterCheck
from pose_ros.ros.pose_node.worker import EstimatorLoader, Frame, Worker, expected_forward_memory_mb
from pose_ros.ros.qos import RELIABILITY, PublisherEventCallbacks, incompatible_qos_logger, keep_last

__all__ = ["PARAMS", "PoseNode", "expected_forward_memory_mb", "main"]


def _part(part: str, attribute: str) -> property:
    """Read-only view of a part's attribute under the node's old name (tests and tools use them)."""
    return property(lambda node: getattr(getattr(node, part), attribute))


class PoseNode(Node):
    """Subscribes ``image``; publishes ``persons``, ``skeleton``, ``image_annotated``, ``/diagnostics``,
    ``detections`` + ``label_info`` (vision_msgs), ``image_markers/*`` and ``image_annotations``;
    with ``depth`` + ``camera_info`` also ``persons_3d`` and ``persons_markers``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("pose_node", **kwargs)
        self._param_check = ParameterCheck(self)
        self._counters = FrameCounters()
        self._stream = PersonStream()
        self._loader = EstimatorLoader(self, on_reload=self._stream.reset)

        p = partial(parameters.get, self)
        out_qos = keep_last(p("output_depth"), RELIABILITY[p("output_reliability")])
        qos_error = incompatible_qos_logger(self, "check input_reliability/output_reliability", THROTTLE_S)
        self._3d = Depth3D(self, out_qos)
        self._outputs = Outputs(self, out_qos, PublisherEventCallbacks(incompatible_qos=qos_error))
        self._intake = Intake(self, self._counters, qos_error)
        self._inputs = InputWatch(self, lambda: self._intake.topic, lambda: self._3d.depth_topic)
        self._diagnostics = Diagnostics(self, self.stats, self._loader)

        self._loader.ensure()
        self._worker = Worker(self, self._intake.slot, self._loader, self._counters, self._stream,
                              image_topic=lambda: self._intake.topic, on_time_jump=self._3d.clear,
                              deliver=self._deliver)
        self._worker.start()
        self.get_logger().info(
            f"publishing {self._outputs.persons_pub.topic_name} and {self._outputs.annotated_pub.topic_name}")

    # The parts' handles under the names they had before the split.
    _image_sub = _part("_intake", "subscription")
    _annotated_pub = _part("_outputs", "annotated_pub")
    _detections_pub = _part("_outputs", "detections_pub")
    _limbs_pub = _part("_outputs", "limbs_pub")
    _joints_pub = _part("_outputs", "joints_pub")
    _estimator = _part("_loader", "estimator")
    _inference = _part("_worker", "inference")
    _depth_sub = _part("_3d", "depth_subscription")
    _markers_pub = _part("_3d", "markers_pub")
    _camera_info = _part("_3d", "camera_info")

    def _deliver(self, frame: Frame) -> None:
        """2D persons first, then their 3D part (never delayed by drawing), then the views."""
        self._outputs.publish_persons(frame)
        self._3d.offer(frame)
        self._outputs.publish_views(frame)

    def stats(self) -> dict:
        """Counters and rates shown in /diagnostics (also read by tests and the demo)."""
        stats = collect_stats(self._intake, self._worker, self._counters, self._loader, self._3d, self._stream)
        return {**stats, "inputs_missing": self._inputs.missing}

    def destroy_node(self) -> None:
        self._intake.slot.close()
        self._worker.join(timeout_s=5.0)
        super().destroy_node()


def main(args: Optional[list] = None) -> int:
    """Spin the node; Ctrl-C or SIGTERM at any moment exits 0 quietly (see node_runner)."""
    return run(PoseNode, args=args, name="pose_node", large_images=True)


if __name__ == "__main__":
    sys.exit(main())
