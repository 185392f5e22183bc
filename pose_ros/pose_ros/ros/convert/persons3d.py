"""3D results as ROS messages: PersonKeypoints3DArray and RViz skeleton markers.

Message classes only (no rclpy node), like :mod:`pose_ros.ros.convert.persons`. The markers are
expressed in the colour camera's optical frame (the image header's frame_id), so RViz
places them with the TF it already has for the camera; the node needs no TF.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from pose_ros.core.draw import person_color
from pose_ros.core.lifting import Person3D
from pose_ros.core.skeletons import Skeleton
from pose_ros_msgs.msg import Keypoint3D, PersonKeypoints3D, PersonKeypoints3DArray

LINE_WIDTH_M = 0.02
JOINT_DIAMETER_M = 0.05
TEXT_HEIGHT_M = 0.08


def persons3d_to_msg(persons: Sequence[Person3D], header: Header, skeleton: str) -> PersonKeypoints3DArray:
    """Persons with at least one valid 3D keypoint, in the colour image's header."""
    out = PersonKeypoints3DArray(header=header, skeleton=skeleton)
    for p in persons:
        if p.num_valid == 0:
            continue
        kps = [Keypoint3D(position=Point(x=x, y=y, z=z), score=float(s))
               for (x, y, z), s in zip(p.points.tolist(), p.scores.tolist())]
        out.persons.append(PersonKeypoints3D(id=p.track_id, score=float(p.score), keypoints=kps))
    return out


def _color(track_id: str, index: int) -> ColorRGBA:
    b, g, r = person_color(track_id or str(index + 1))
    return ColorRGBA(r=r / 255.0, g=g / 255.0, b=b / 255.0, a=1.0)


def skeleton_markers(persons: Sequence[Person3D], header: Header, skeleton: Skeleton,
                     lifetime_s: float) -> MarkerArray:
    """A DELETEALL, then per person (namespace ``person_<id>``) its limbs as a LINE_LIST,
    its joints as a SPHERE_LIST and its id as text above the head.

    The DELETEALL first makes people who left vanish at once; the lifetime makes all of
    them vanish when the node stops publishing (the depth stream stopped)."""
    lifetime = Duration(sec=int(lifetime_s), nanosec=int(round((lifetime_s % 1.0) * 1e9)))
    markers = [Marker(header=header, action=Marker.DELETEALL)]
    for index, p in enumerate(persons):
        valid = p.scores > 0
        if not valid.any():
            continue
        ns = f"person_{p.track_id or index + 1}"
        color = _color(p.track_id, index)
        pts = p.points

        def marker(kind: int, mid: int, scale: float) -> Marker:
            m = Marker(header=header, ns=ns, id=mid, type=kind, action=Marker.ADD, lifetime=lifetime,
                       color=color)
            m.pose.orientation.w = 1.0
            m.scale.x = m.scale.y = m.scale.z = scale
            return m

        limbs = [(a, b) for a, b in skeleton.limbs if valid[a] and valid[b]]
        if limbs:
            lines = marker(Marker.LINE_LIST, 0, LINE_WIDTH_M)
            lines.points = [Point(x=x, y=y, z=z) for a, b in limbs for x, y, z in (pts[a], pts[b])]
            markers.append(lines)
        joints = marker(Marker.SPHERE_LIST, 1, JOINT_DIAMETER_M)
        joints.points = [Point(x=x, y=y, z=z) for x, y, z in pts[valid].tolist()]
        markers.append(joints)
        if p.track_id:
            top = pts[valid][np.argmin(pts[valid][:, 1])]  # optical frame: smallest y is highest
            text = marker(Marker.TEXT_VIEW_FACING, 2, TEXT_HEIGHT_M)
            text.pose.position = Point(x=float(top[0]), y=float(top[1]) - 0.15, z=float(top[2]))
            text.text = p.track_id
            markers.append(text)
    return MarkerArray(markers=markers)
