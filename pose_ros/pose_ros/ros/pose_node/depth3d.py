"""3D keypoints from an aligned depth image: depth + camera_info in, persons_3d + RViz markers out.

3D never delays 2D: the worker publishes the 2D persons first and offers them here; their 3D
part is lifted and published when the depth frame with the matching stamp is known (at once,
usually), from the worker or from the depth callback. Any problem is said in the diagnostics.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, Optional, Tuple

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from visualization_msgs.msg import MarkerArray

from pose_ros.core.lifting import DepthError, LiftParams, intrinsics_for, lift_persons, no_3d_reason
from pose_ros.core.persons import Person
from pose_ros.ros import parameters
from pose_ros.ros.convert.images import depth_msg_to_metres, stamp_ns
from pose_ros.ros.convert.persons3d import persons3d_to_msg, skeleton_markers
from pose_ros.ros.pose_node.diagnostics import THROTTLE_S
from pose_ros.ros.pose_node.worker import Frame
from pose_ros.ros.qos import MatchedSubscription, keep_last
from pose_ros.streams.stamp_pairing import Pairing, StampPairer
from pose_ros_msgs.msg import PersonKeypoints3DArray


class Depth3D:
    """Pairs 2D results with depth frames by stamp, lifts them and publishes them in 3D."""

    def __init__(self, node: Node, out_qos: QoSProfile, prefix: str = "") -> None:
        """``prefix``: the camera's namespace ("front/"), "" for the node's single camera."""
        self._node, self._prefix = node, prefix
        self._pairer: StampPairer = StampPairer(tolerance_ns=self._tolerance_ns())
        self.camera_info: Optional[CameraInfo] = None
        self._lock = threading.Lock()
        self._counts = {"frames_3d": 0, "frames_without_3d": 0}
        self._status = "no depth image received yet"
        self._persons_3d_pub = node.create_publisher(PersonKeypoints3DArray, prefix + "persons_3d", out_qos)
        self.markers_pub = node.create_publisher(MarkerArray, prefix + "persons_markers", out_qos)
        self.depth_topic = node.resolve_topic_name(prefix + "depth")
        self.camera_info_topic = node.resolve_topic_name(prefix + "camera_info")
        self._depth: Optional[MatchedSubscription] = None

    def start(self) -> None:
        """Subscribe depth and camera_info (activate); the lifecycle's entity mark destroys them."""
        node = self._node
        # Best effort matches reliable and best-effort drivers; camera_info is small.
        node.create_subscription(CameraInfo, self._prefix + "camera_info", self._on_camera_info,
                                 keep_last(1, ReliabilityPolicy.BEST_EFFORT))
        # Like the image subscription: reliability follows the publishers in auto mode.
        self._depth = MatchedSubscription(node, Image, self._prefix + "depth", self._on_depth, 2,
                                          parameters.get(node, "input_reliability"))

    @property
    def depth_subscription(self) -> Any:
        return None if self._depth is None else self._depth.subscription

    def _p(self, name: str) -> Any:
        return parameters.get(self._node, name)

    def _tolerance_ns(self) -> int:
        return int(self._p("depth_tolerance_s") * 1e9)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self.camera_info = msg

    def clear(self) -> None:
        """Forget pending frames (stamps jumped back: a looped bag)."""
        self._pairer.clear()

    def offer(self, frame: Frame) -> None:
        """Called by the worker after the 2D persons went out; copies them (the outputs go on drawing)."""
        copies = [Person(p.keypoints.copy(), p.score, p.bbox, p.track_id) for p in frame.persons]
        height, width = frame.image.shape[:2]
        self._pairer.set_tolerance(self._tolerance_ns())
        for decision in self._pairer.add_result(stamp_ns(frame.header),
                                                (frame.header, copies, frame.skeleton, width, height)):
            self._finish(decision)

    def _on_depth(self, msg: Image) -> None:
        for decision in self._pairer.add_depth(stamp_ns(msg.header), msg):
            self._finish(decision)

    def _set_status(self, counter: str, status: str) -> None:
        with self._lock:
            self._counts[counter] += 1
            self._status = status

    def _finish(self, decision: Pairing) -> None:
        """Lift and publish one colour frame's persons; on any problem, say why in diagnostics."""
        header, persons, skeleton, width, height = decision.result
        try:
            lifted, empty_because = self._lift(decision, persons, width, height)
        except DepthError as exc:
            self._set_status("frames_without_3d", str(exc))
            # A 2D-only set-up (no depth publisher, none ever seen) is normal: diagnostics only.
            if self._pairer.depth_received or self._node.count_publishers(self.depth_topic):
                self._node.get_logger().warning(f"no 3D keypoints: {exc}", throttle_duration_sec=THROTTLE_S * 6)
            return
        except Exception as exc:  # a callback must never raise: one odd frame would stop 3D output
            self._set_status("frames_without_3d", f"3D lifting failed: {type(exc).__name__}: {exc}")
            self._node.get_logger().error(f"3D lifting failed: {type(exc).__name__}: {exc}",
                                          throttle_duration_sec=THROTTLE_S)
            return
        if not self._node.context.ok():
            return
        self._persons_3d_pub.publish(persons3d_to_msg(lifted, header, skeleton.name))
        if self._p("publish_markers") and self.markers_pub.get_subscription_count() > 0:
            self.markers_pub.publish(skeleton_markers(lifted, header, skeleton, self._p("marker_lifetime_s")))
        if empty_because:   # published (empty), but the status says why instead of "ok"
            self._set_status("frames_without_3d", empty_because)
            self._node.get_logger().warning(f"no 3D keypoints: {empty_because}",
                                            throttle_duration_sec=THROTTLE_S * 6)
            return
        self._set_status("frames_3d", "ok")

    def _lift(self, decision: Pairing, persons: list, width: int, height: int) -> Tuple[list, str]:
        """The lifted persons, and why none has a 3D keypoint ("" when some have)."""
        if decision.depth is None:
            raise DepthError(f"{decision.reason} on {self.depth_topic}")
        info = self.camera_info
        if info is None:
            raise DepthError(f"no camera_info received on {self.camera_info_topic}")
        k = intrinsics_for(info.k, (info.width, info.height), (width, height))
        depth_m = depth_msg_to_metres(decision.depth)
        params = LiftParams(window_px=self._p("depth_window_px"), outlier_m=self._p("depth_outlier_m"))
        lifted = lift_persons(persons, depth_m, k, (width, height), params)
        return lifted, no_3d_reason(persons, lifted, depth_m, params)

    def stats(self) -> Dict[str, Any]:
        with self._lock:
            counts, status = dict(self._counts), self._status
        return {**counts, "depth_received": self._pairer.depth_received, "status_3d": status}
