"""2D persons and skeletons as ROS messages, and back.

Uses message classes only (no rclpy node), so it is exercised by the node tests and by
the recorder alike.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sensor_msgs.msg import RegionOfInterest
from std_msgs.msg import Header

from pose_ros.core.persons import Person
from pose_ros.core.skeletons import Skeleton
from pose_ros_msgs.msg import Keypoint2D, PersonKeypoints, PersonKeypointsArray
from pose_ros_msgs.msg import Skeleton as SkeletonMsg


def skeleton_to_msg(skeleton: Skeleton) -> SkeletonMsg:
    return SkeletonMsg(name=skeleton.name, keypoint_names=list(skeleton.keypoint_names),
                       edges=skeleton.flat_edges())


def _roi(bbox: Sequence[float], width: int, height: int) -> RegionOfInterest:
    """Integer ROI that covers the float box, clipped to the image."""
    x, y, w, h = bbox
    x0 = int(np.clip(np.floor(x), 0, max(width - 1, 0)))
    y0 = int(np.clip(np.floor(y), 0, max(height - 1, 0)))
    x1 = int(np.clip(np.ceil(x + w), x0, width))
    y1 = int(np.clip(np.ceil(y + h), y0, height))
    return RegionOfInterest(x_offset=x0, y_offset=y0, width=x1 - x0, height=y1 - y0)


def person_to_msg(person: Person, width: int, height: int) -> PersonKeypoints:
    kp = person.keypoints
    return PersonKeypoints(
        id=person.track_id,
        score=float(person.score),
        bbox=_roi(person.bbox, width, height),
        keypoints=[Keypoint2D(x=float(x), y=float(y), score=float(s)) for x, y, s in kp.tolist()],
    )


def persons_to_msg(persons: Sequence[Person], header: Header, skeleton: str,
                   width: int, height: int) -> PersonKeypointsArray:
    return PersonKeypointsArray(
        header=header, skeleton=skeleton, image_width=int(width), image_height=int(height),
        persons=[person_to_msg(p, width, height) for p in persons])


def msg_to_persons(msg: PersonKeypointsArray) -> list[Person]:
    """Inverse of :func:`persons_to_msg` (bbox comes back as the integer ROI)."""
    out = []
    for p in msg.persons:
        kp = np.array([(k.x, k.y, k.score) for k in p.keypoints], dtype=np.float32).reshape(-1, 3)
        bbox = (float(p.bbox.x_offset), float(p.bbox.y_offset), float(p.bbox.width), float(p.bbox.height))
        out.append(Person(keypoints=kp, score=p.score, bbox=bbox, track_id=p.id))
    return out
