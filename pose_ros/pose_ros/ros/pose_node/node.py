"""The pose_ros ROS 2 node: camera images in, PersonKeypointsArray + annotated image out.

A managed (lifecycle) node, wired here from parts that each do one job (this package):

- :mod:`.parameters`: the parameter table and the check of every value;
- :mod:`.pipeline`: what *configure* makes and *cleanup* frees (estimator, publishers, intake,
  worker), started by *activate* and stopped by *deactivate*, with the parts:
- :mod:`.intake`: the image subscription (QoS matched to the camera), ``~/enable`` and the
  newest-frame slot, so the output never lags behind the camera by more than one processing time;
- :mod:`.worker`: the thread that (re)loads the estimator plugin, runs each frame through it,
  checks and counts the result, and tracks and smooths the persons
  (:class:`~pose_ros.core.postprocess.PersonStream`);
- :mod:`.outputs`: persons, skeleton, annotated image, detections, image markers;
- :mod:`.depth3d`: depth + camera_info, stamp pairing, 3D persons and RViz markers;
- :mod:`.diagnostics`: counters, ``stats()`` and /diagnostics (in every lifecycle state);
- :mod:`.input_watch`: input topics nobody publishes, said in the log and the diagnostics;
- :mod:`.camera`: one camera's topics and parts; with ``cameras:=[front, rear]`` the node serves
  several cameras with one estimator and one worker (``front/image`` in, ``front/persons`` out),
  the camera that waited longest first (:mod:`pose_ros.streams.fair_take`).

With ``autostart`` (the default) the node configures and activates itself while it is built, so
it runs like a plain node; a model that cannot be loaded yet (not fetched) does not fail that
configure: the worker retries it every 10 s while frames come, as before lifecycle. With
``autostart:=false`` it waits unconfigured for a lifecycle manager, and there configure fails
(back to unconfigured, reason logged and in /diagnostics) when the model cannot be loaded.

Nothing that arrives on a topic may stop the node: every per-frame failure is
logged (throttled) with its reason and counted, and the next good frame is processed.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Optional

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from pose_ros.ros import parameters
from pose_ros.ros.node_runner import run
from pose_ros.ros.pose_node.diagnostics import Diagnostics
from pose_ros.ros.pose_node.memory import release_freed_memory
from pose_ros.ros.pose_node.parameters import PARAMS, ParameterCheck
from pose_ros.ros.pose_node.pipeline import Pipeline
from pose_ros.ros.pose_node.worker import EstimatorLoader, expected_forward_memory_mb

__all__ = ["PARAMS", "PoseNode", "expected_forward_memory_mb", "main"]

SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE


def _part(part: str, attribute: str) -> property:
    """Read-only view of a pipeline part's attribute under the node's old name (tests and tools use them)."""
    return property(lambda node: getattr(getattr(node._pipeline, part), attribute))


class PoseNode(LifecycleNode):
    """Subscribes ``image``; publishes ``persons``, ``skeleton``, ``image_annotated``, ``/diagnostics``,
    ``detections`` + ``label_info`` (vision_msgs), ``image_markers/*`` and ``image_annotations``;
    with ``depth`` + ``camera_info`` also ``persons_3d`` and ``persons_markers``. Lifecycle services
    ``~/change_state``, ``~/get_state`` and friends."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("pose_node", **kwargs)
        self._param_check = ParameterCheck(self)
        self._pipeline: Optional[Pipeline] = None
        self._configure_error = ""
        self._diagnostics = Diagnostics(self, self.stats, lambda: self._loader)
        if parameters.get(self, "autostart", bool):
            if self.trigger_configure() == SUCCESS:
                self.trigger_activate()
        else:
            self.get_logger().info("autostart is false: unconfigured, waiting for a lifecycle manager "
                                   f"(ros2 lifecycle set {self.get_fully_qualified_name()} configure)")

    # The parts' handles under the names they had before the split.
    _image_sub = _part("intake", "subscription")
    _annotated_pub = _part("outputs", "annotated_pub")
    _detections_pub = _part("outputs", "detections_pub")
    _limbs_pub = _part("outputs", "limbs_pub")
    _joints_pub = _part("outputs", "joints_pub")
    _estimator = _part("loader", "estimator")
    _inference = _part("worker", "inference")
    _depth_sub = _part("depth3d", "depth_subscription")
    _markers_pub = _part("depth3d", "markers_pub")
    _camera_info = _part("depth3d", "camera_info")

    @property
    def _loader(self) -> Optional[EstimatorLoader]:
        return None if self._pipeline is None else self._pipeline.loader

    @property
    def lifecycle_state(self) -> str:
        """The state ``~/get_state`` answers (rclpy has no public getter, on Humble or Jazzy)."""
        return self._state_machine.current_state[1]

    def stats(self) -> dict:
        """Counters and rates shown in /diagnostics (also read by tests and the demo); while
        unconfigured only the state and why configure failed."""
        head = {"lifecycle_state": self.lifecycle_state}
        if self._pipeline is None:
            return {**head, "last_error": self._configure_error}
        return {**head, **self._pipeline.stats()}

    # -- lifecycle transitions (rclpy turns an exception into ERROR and hides it: each says why itself)

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        def configure() -> None:
            self._param_check.locked = True   # "restart" parameters are read now, and fixed until cleanup
            self._pipeline = Pipeline(self, require_model=not parameters.get(self, "autostart", bool))
            self._configure_error = ""
        return self._transition("configure", configure, undo=self._free)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        def activate() -> None:
            self._pipeline.start()
            cameras = self._pipeline.cameras
            if len(cameras) == 1:
                self.get_logger().info(f"active: listening for images, publishing "
                                       f"{self._pipeline.outputs.persons_pub.topic_name} and "
                                       f"{self._pipeline.outputs.annotated_pub.topic_name}")
            else:
                self.get_logger().info(f"active: {len(cameras)} cameras, one estimator: " + "; ".join(
                    f"{c.intake.topic} -> {c.outputs.persons_pub.topic_name}" for c in cameras))
        return self._transition("activate", activate, undo=self._pipeline.stop)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._transition("deactivate", self._pipeline.stop)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._transition("cleanup", self._free)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._transition("shutdown", self._free)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """After an unexpected error in a transition: drop everything, back to unconfigured."""
        return self._transition("error recovery", self._free)

    def _transition(self, name: str, step: Callable[[], None],
                    undo: Optional[Callable[[], None]] = None) -> TransitionCallbackReturn:
        try:
            step()
        except Exception as exc:  # a plugin, a runtime or rclpy: the node must say why and stay usable
            reason = str(exc) or type(exc).__name__
            if name == "configure":
                self._configure_error = reason
            self.get_logger().error(f"{name} failed: {reason}")
            if undo is not None:
                undo()
            return FAILURE
        self.get_logger().info(f"{name}: done, now {self._goal(name)}")
        return SUCCESS

    @staticmethod
    def _goal(transition: str) -> str:
        return {"configure": "inactive", "activate": "active", "deactivate": "inactive",
                "cleanup": "unconfigured", "shutdown": "finalized"}.get(transition, "unconfigured")

    def _free(self) -> None:
        """Stop and destroy the pipeline, then give the model's memory back (cleanup, shutdown)."""
        pipeline, self._pipeline = self._pipeline, None
        self._param_check.locked = False
        if pipeline is not None:
            pipeline.close()
            del pipeline
            release_freed_memory()

    def destroy_node(self) -> None:
        # Not the shutdown transition: a signal may have shut the context down already.
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            pipeline.slots.close()
            pipeline.worker.join(timeout_s=5.0)
        super().destroy_node()


def main(args: Optional[list] = None) -> int:
    """Spin the node; Ctrl-C or SIGTERM at any moment exits 0 quietly (see node_runner)."""
    return run(PoseNode, args=args, name="pose_node", large_images=True)


if __name__ == "__main__":
    sys.exit(main())
