"""Skeleton overlays (:mod:`pose_ros.core.overlay`) as viewer messages.

* ``visualization_msgs/ImageMarker``: limbs as one LINE_LIST (one colour per segment, as the
  message's ``outline_colors`` is documented: a colour per line), joints as one POINTS. One
  marker per topic, because Foxglove's Image panel shows the latest message of each topic:
  a frame without people publishes empty markers, which clears the overlay.
* ``foxglove_msgs/ImageAnnotations`` (optional: only when ``foxglove_msgs`` imports) carries
  both in one message, as Foxglove's own schema.

Message classes only, no node.
"""

from __future__ import annotations

from types import ModuleType
from typing import List, Optional, Tuple

from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import ImageMarker

from pose_ros.core.overlay import Overlay

LIMBS_NS = "pose_limbs"
JOINTS_NS = "pose_joints"


def _colors(rgba) -> List[ColorRGBA]:
    return [ColorRGBA(r=r, g=g, b=b, a=a) for r, g, b, a in rgba.tolist()]


def _points(xy) -> List[Point]:
    return [Point(x=x, y=y) for x, y in xy.reshape(-1, 2).tolist()]


def overlay_to_image_markers(overlay: Overlay, header: Header) -> Tuple[ImageMarker, ImageMarker]:
    """(limbs LINE_LIST, joints POINTS) with the image's header; empty point lists when nobody is seen."""
    limbs = ImageMarker(header=header, ns=LIMBS_NS, id=0, type=ImageMarker.LINE_LIST,
                        action=ImageMarker.ADD, scale=float(overlay.line_width))
    limbs.points = _points(overlay.segments)
    limbs.outline_colors = _colors(overlay.segment_colors)
    joints = ImageMarker(header=header, ns=JOINTS_NS, id=0, type=ImageMarker.POINTS,
                         action=ImageMarker.ADD, scale=float(overlay.point_size), filled=1)
    joints.points = _points(overlay.joints)
    joints.outline_colors = _colors(overlay.joint_colors)
    if len(overlay.segments):
        limbs.outline_color = limbs.outline_colors[0]
    if len(overlay.joints):
        joints.outline_color = joints.fill_color = joints.outline_colors[0]
    return limbs, joints


def load_foxglove_msgs() -> Tuple[Optional[ModuleType], str]:
    """(foxglove_msgs.msg, "") when the package imports, else (None, why not)."""
    try:
        from foxglove_msgs import msg
    except ImportError as exc:
        return None, (f"foxglove_msgs is not installed ({exc}); image_annotations is not published "
                      "(apt install ros-$ROS_DISTRO-foxglove-msgs)")
    return msg, ""


def overlay_to_image_annotations(overlay: Overlay, header: Header, msg: ModuleType):
    """``foxglove_msgs/ImageAnnotations``: the limbs (LINE_LIST) and joints (POINTS) annotations.

    ``msg`` is the ``foxglove_msgs.msg`` module from :func:`load_foxglove_msgs`. Foxglove's
    ``outline_colors`` are per segment for LINE_LIST and per point for POINTS.
    """
    def colors(rgba):
        return [msg.Color(r=r, g=g, b=b, a=a) for r, g, b, a in rgba.tolist()]

    def points(xy):
        return [msg.Point2(x=x, y=y) for x, y in xy.reshape(-1, 2).tolist()]

    limbs = msg.PointsAnnotation(timestamp=header.stamp, type=msg.PointsAnnotation.LINE_LIST,
                                 points=points(overlay.segments), outline_colors=colors(overlay.segment_colors),
                                 thickness=float(overlay.line_width))
    joints = msg.PointsAnnotation(timestamp=header.stamp, type=msg.PointsAnnotation.POINTS,
                                  points=points(overlay.joints), outline_colors=colors(overlay.joint_colors),
                                  thickness=float(overlay.point_size))
    return msg.ImageAnnotations(points=[limbs, joints])
