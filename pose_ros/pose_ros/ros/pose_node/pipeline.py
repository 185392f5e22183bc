"""Everything between *configure* and *cleanup*: the estimator, the publishers, the intake and the worker.

*configure* builds a :class:`Pipeline` (parameters read, model loaded, publishers made);
:meth:`Pipeline.start` (*activate*) subscribes and starts the worker thread; :meth:`Pipeline.stop`
(*deactivate*) undoes exactly that, and :meth:`Pipeline.close` (*cleanup*) destroys the publishers;
dropping the pipeline then frees the model.

Publishers are plain ones, made in configure, not ``create_lifecycle_publisher``: the only things
that publish are the worker thread and the depth callback, and both exist only while active, so
an inactive node is silent without them. rclpy's lifecycle publishers would add a second gate that
fails silently (they drop every message unless ``on_activate`` reaches them through the parent's
``on_activate``): a missed call would look like "no people seen". The lifecycle tests check that
output stops on deactivate and resumes on activate.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Dict, Optional

from rclpy.node import Node

from pose_ros.core.postprocess import PersonStream
from pose_ros.ros import parameters
from pose_ros.ros.pose_node.depth3d import Depth3D
from pose_ros.ros.pose_node.diagnostics import THROTTLE_S, FrameCounters, collect_stats
from pose_ros.ros.pose_node.entities import EntityMark
from pose_ros.ros.pose_node.input_watch import InputWatch
from pose_ros.ros.pose_node.intake import Intake
from pose_ros.ros.pose_node.outputs import Outputs
from pose_ros.ros.pose_node.worker import EstimatorLoader, Frame, Worker
from pose_ros.ros.qos import RELIABILITY, PublisherEventCallbacks, incompatible_qos_logger, keep_last

WORKER_STOP_S = 10.0  # deactivate waits this long for the frame in progress (a huge input takes seconds)


class ModelNotLoaded(RuntimeError):
    """Configure of a managed node (``autostart:=false``) found no usable estimator; the message says why."""


class Pipeline:
    """The configured node's parts; made by configure, started by activate."""

    def __init__(self, node: Node, require_model: bool) -> None:
        self._node = node
        self._made = EntityMark(node)   # cleanup destroys what configure made
        self._active: Optional[EntityMark] = None
        self.counters = FrameCounters()
        self.stream = PersonStream()
        self.loader = EstimatorLoader(node, on_reload=self.stream.reset)
        self.loader.ensure(log_failure=not require_model)   # a failed configure says it itself
        if require_model and self.loader.estimator is None:
            raise ModelNotLoaded(self.loader.cause)

        try:
            self._make_parts()
        except Exception:
            self._made.destroy()   # a failed configure leaves nothing behind
            raise

    def _make_parts(self) -> None:
        node = self._node
        p = partial(parameters.get, node)
        out_qos = keep_last(p("output_depth"), RELIABILITY[p("output_reliability")])
        qos_error = incompatible_qos_logger(node, "check input_reliability/output_reliability", THROTTLE_S)
        self.depth3d = Depth3D(node, out_qos)
        self.outputs = Outputs(node, out_qos, PublisherEventCallbacks(incompatible_qos=qos_error))
        self.intake = Intake(node, self.counters, qos_error)
        self.inputs = InputWatch(node, lambda: self.intake.topic, lambda: self.depth3d.depth_topic)
        self.worker = Worker(node, self.intake.slot, self.loader, self.counters, self.stream,
                             image_topic=lambda: self.intake.topic, on_time_jump=self.depth3d.clear,
                             deliver=self._deliver)

    @property
    def active(self) -> bool:
        return self._active is not None

    def start(self) -> None:
        """Activate: subscriptions, the input watch and the worker thread."""
        self._active = EntityMark(self._node)
        self.intake.start()
        self.depth3d.start()
        self.inputs.start()
        self.outputs.start()
        self.worker.start()

    def stop(self) -> None:
        """Deactivate: no frame is published once this returns; the model stays loaded."""
        if self._active is None:
            return
        mark, self._active = self._active, None
        mark.destroy()   # subscriptions (re-created ones too), their QoS timers, the input watch
        if not self.worker.stop(WORKER_STOP_S):
            self._node.get_logger().warning(
                f"the worker is still busy with a frame after {WORKER_STOP_S:.0f} s; it stops after that frame")
        self.intake.slot.clear()   # a frame from before deactivate is not processed after activate
        self.depth3d.clear()
        self.inputs.stop()

    def close(self) -> None:
        """Cleanup: stop, then destroy the publishers and the ``~/enable`` service."""
        self.stop()
        self.intake.slot.close()
        self.worker.join(timeout_s=WORKER_STOP_S)
        self._made.destroy()

    def _deliver(self, frame: Frame) -> None:
        """2D persons first, then their 3D part (never delayed by drawing), then the views."""
        self.outputs.publish_persons(frame)
        self.depth3d.offer(frame)
        self.outputs.publish_views(frame)

    def stats(self) -> Dict[str, Any]:
        stats = collect_stats(self.intake, self.worker, self.counters, self.loader, self.depth3d, self.stream)
        return {**stats, "inputs_missing": self.inputs.missing}
