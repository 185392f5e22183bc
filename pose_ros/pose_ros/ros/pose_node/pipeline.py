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
from typing import Any, Dict, List, Optional

from rclpy.node import Node

from pose_ros.ros import parameters
from pose_ros.ros.pose_node.camera import Camera
from pose_ros.ros.pose_node.diagnostics import THROTTLE_S
from pose_ros.ros.pose_node.entities import EntityMark
from pose_ros.ros.pose_node.intake import FUTURE_STAMP_TOLERANCE_S, EnableSwitch
from pose_ros.ros.pose_node.parameters import camera_names
from pose_ros.ros.pose_node.worker import EstimatorLoader, Worker
from pose_ros.ros.qos import RELIABILITY, incompatible_qos_logger, keep_last
from pose_ros.streams.fair_take import OldestFirst

WORKER_STOP_S = 10.0  # deactivate waits this long for the frame in progress (a huge input takes seconds)


class ModelNotLoaded(RuntimeError):
    """Configure of a managed node (``autostart:=false``) found no usable estimator; the message says why."""


class Pipeline:
    """The configured node's parts; made by configure, started by activate. One estimator and one
    worker for all cameras (:mod:`.camera`); ``cameras[0]``'s parts also go by their old names
    (``intake``, ``outputs`` ...), the only camera of a node without ``cameras``."""

    def __init__(self, node: Node, require_model: bool) -> None:
        self._node = node
        self.names = camera_names(node)   # checked before anything is loaded: a typo fails fast
        self._made = EntityMark(node)   # cleanup destroys what configure made
        self._active: Optional[EntityMark] = None
        self.cameras: List[Camera] = []
        self.loader = EstimatorLoader(node, on_reload=self._reset_streams)
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
        self.slots: OldestFirst = OldestFirst(len(self.names), future_tolerance_s=FUTURE_STAMP_TOLERANCE_S)
        self.switch = EnableSwitch(node, self.slots.slots)
        self.cameras = [Camera(node, name, slot, self.switch, out_qos, qos_error)
                        for name, slot in zip(self.names, self.slots.slots)]
        self.worker = Worker(node, [c.lane for c in self.cameras], self.slots, self.loader)
        first = self.cameras[0]
        self.intake, self.outputs, self.depth3d = first.intake, first.outputs, first.depth3d
        self.stream, self.counters, self.inputs = first.stream, first.counters, first.inputs

    @property
    def multi(self) -> bool:
        """Named cameras (``cameras`` set): per-camera namespaces and diagnostics."""
        return self.names != [""]

    def _reset_streams(self) -> None:
        """A new estimator: every camera's tracks start again."""
        for camera in self.cameras:
            camera.stream.reset()

    @property
    def active(self) -> bool:
        return self._active is not None

    def start(self) -> None:
        """Activate: subscriptions, the input watch and the worker thread."""
        self._active = EntityMark(self._node)
        for camera in self.cameras:
            camera.start()
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
        for camera in self.cameras:
            camera.stop()

    def close(self) -> None:
        """Cleanup: stop, then destroy the publishers and the ``~/enable`` service."""
        self.stop()
        self.slots.close()
        self.worker.join(timeout_s=WORKER_STOP_S)
        self._made.destroy()

    def stats(self) -> Dict[str, Any]:
        """One camera: its counters, as before ``cameras`` existed. Several: the shared estimator's
        numbers, totals, and each camera's counters under ``cameras``."""
        if not self.multi:
            return self.cameras[0].stats(self.loader)
        per_camera = {c.name: c.stats(self.loader) for c in self.cameras}
        return {"output_fps": sum(c["output_fps"] for c in per_camera.values()),
                "frames_processed": sum(c["frames_processed"] for c in per_camera.values()),
                "inference_ms": self.worker.inference.percentile(50),
                "last_error": self.loader.error, "enabled": self.switch.enabled, "cameras": per_camera}
