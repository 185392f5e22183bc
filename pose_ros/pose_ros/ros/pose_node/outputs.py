"""What the pose node publishes per frame in 2D: persons, the skeleton, the annotated image,
vision_msgs detections, image markers and foxglove image annotations.

Optional message packages (vision_msgs, foxglove_msgs) are imported when present; what is
missing is logged once, with the reason. Images and overlays are built only while someone
subscribes.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Optional

from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from visualization_msgs.msg import ImageMarker

from pose_ros.core.draw import draw_persons
from pose_ros.core.overlay import skeleton_overlay
from pose_ros.ros import parameters
from pose_ros.ros.convert.image_markers import (
    load_foxglove_msgs,
    overlay_to_image_annotations,
    overlay_to_image_markers,
)
from pose_ros.ros.convert.images import bgr_to_image_msg
from pose_ros.ros.convert.persons import persons_to_msg, skeleton_to_msg
from pose_ros.ros.pose_node.worker import Frame
from pose_ros.ros.qos import LATCHED, PublisherEventCallbacks
from pose_ros_msgs.msg import PersonKeypointsArray
from pose_ros_msgs.msg import Skeleton as SkeletonMsg


class Outputs:
    """The 2D publishers. ``publish_persons`` first (it is what consumers wait for), then
    ``publish_views``: drawings and overlays of the same persons."""

    def __init__(self, node: Node, out_qos: QoSProfile, events: PublisherEventCallbacks, prefix: str = "") -> None:
        """``prefix``: the camera's namespace ("front/"), "" for the node's single camera."""
        self._node, self._prefix = node, prefix
        self.persons_pub = node.create_publisher(PersonKeypointsArray, prefix + "persons", out_qos,
                                                 event_callbacks=events)
        self.annotated_pub = node.create_publisher(Image, prefix + "image_annotated", out_qos,
                                                   event_callbacks=events)
        self._skeleton_pub = node.create_publisher(SkeletonMsg, prefix + "skeleton", LATCHED)
        self._skeleton_published: Optional[str] = None
        self._create_vision_publishers(out_qos, events)

    def _p(self, name: str) -> Any:
        return parameters.get(self._node, name)

    def _create_vision_publishers(self, out_qos: QoSProfile, events: PublisherEventCallbacks) -> None:
        """detections + label_info when vision_msgs imports; image_markers/*; image_annotations
        when foxglove_msgs imports."""
        node, log, prefix = self._node, self._node.get_logger(), self._prefix
        pub = partial(node.create_publisher, qos_profile=out_qos, event_callbacks=events)
        self.detections_pub = self._label_info_pub = None
        self._label_info_key: Optional[tuple] = None
        try:
            from pose_ros.ros.convert import detections as detections_convert
        except ImportError as exc:
            self._detections_convert = None
            log.warning(f"vision_msgs is not installed ({exc}): detections and label_info are not "
                        "published (apt install ros-$ROS_DISTRO-vision-msgs)")
        else:
            self._detections_convert = detections_convert
            self.detections_pub = pub(detections_convert.Detection2DArray, prefix + "detections")
            self._label_info_pub = node.create_publisher(detections_convert.LabelInfo, prefix + "label_info", LATCHED)
        self.limbs_pub = pub(ImageMarker, prefix + "image_markers/limbs")
        self.joints_pub = pub(ImageMarker, prefix + "image_markers/joints")
        self._foxglove_msgs, why = load_foxglove_msgs()
        self._annotations_pub = None
        if self._foxglove_msgs is None:
            log.info(why)
        else:
            self._annotations_pub = node.create_publisher(
                self._foxglove_msgs.ImageAnnotations, prefix + "image_annotations", out_qos, event_callbacks=events)

    def start(self) -> None:
        """On activation: the latched class map, so a consumer has it before the first frame
        (an inactive node publishes nothing but diagnostics)."""
        if self._label_info_key is None:
            self._publish_label_info("")

    def publish_persons(self, frame: Frame) -> None:
        if self._skeleton_published != frame.skeleton.name:  # latched: once per skeleton
            self._skeleton_pub.publish(skeleton_to_msg(frame.skeleton))
            self._skeleton_published = frame.skeleton.name
        height, width = frame.image.shape[:2]
        self.persons_pub.publish(persons_to_msg(frame.persons, frame.header, frame.skeleton_name, width, height))

    def publish_views(self, frame: Frame) -> None:
        if self._p("publish_annotated") and self.annotated_pub.get_subscription_count() > 0:
            drawn = draw_persons(frame.image, frame.persons, frame.skeleton, draw_ids=self._p("tracking"),
                                 copy=not frame.image.flags.writeable)
            self.annotated_pub.publish(bgr_to_image_msg(drawn, frame.header))
        if self.detections_pub is not None and self._p("publish_detections"):
            self._publish_label_info(frame.header.frame_id)
            self.detections_pub.publish(self._detections_convert.persons_to_detections(frame.persons, frame.header))
        self._publish_image_markers(frame)

    def _publish_label_info(self, frame_id: str) -> None:
        """Latched class map; re-sent when the threshold or the camera frame changes."""
        threshold = float(self._p("min_person_score"))
        if self._label_info_pub is None or self._label_info_key == (threshold, frame_id):
            return
        header = Header(stamp=self._node.get_clock().now().to_msg(), frame_id=frame_id)
        self._label_info_pub.publish(self._detections_convert.label_info(header, threshold))
        self._label_info_key = (threshold, frame_id)

    def _publish_image_markers(self, frame: Frame) -> None:
        """Every frame, empty without people, so viewers drop stale skeletons."""
        pubs = [p for p in (self.limbs_pub, self.joints_pub, self._annotations_pub) if p is not None]
        if not self._p("publish_image_markers") or not any(p.get_subscription_count() for p in pubs):
            return
        height, width = frame.image.shape[:2]
        overlay = skeleton_overlay(frame.persons, frame.skeleton, width, height)
        limbs, joints = overlay_to_image_markers(overlay, frame.header)
        self.limbs_pub.publish(limbs)
        self.joints_pub.publish(joints)
        if self._annotations_pub is not None:
            self._annotations_pub.publish(overlay_to_image_annotations(overlay, frame.header, self._foxglove_msgs))
