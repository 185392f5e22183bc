"""Persons as ``vision_msgs`` detections, the type trackers, fusion and safety nodes take.

vision_msgs is an optional run-time dependency (apt: ``ros-$ROS_DISTRO-vision-msgs``; the pip
set-up builds a stand-in with the same definitions), so this module is imported by the node
inside ``try``; it needs message classes only, no node.

Class ids follow vision_msgs' documentation: ``ObjectHypothesis.class_id`` is the id of the
class, whose name a listener looks up in the pipeline's ``LabelInfo``; LabelInfo's
``VisionClass.class_id`` is a uint16. So the one class of this pipeline is id 0, written "0"
in the hypotheses and mapped to "person" in ``label_info``.
"""

from __future__ import annotations

from typing import Sequence, Tuple

from std_msgs.msg import Header
from vision_msgs.msg import (
    BoundingBox2D,
    Detection2D,
    Detection2DArray,
    LabelInfo,
    ObjectHypothesis,
    ObjectHypothesisWithPose,
    VisionClass,
)

from pose_ros.core.persons import Person

PERSON_CLASS_ID = 0
PERSON_CLASS_NAME = "person"


def box_center_size(bbox: Sequence[float]) -> Tuple[float, float, float, float]:
    """(x, y, w, h) with (x, y) the top-left corner -> (centre x, centre y, w, h), same pixels."""
    x, y, w, h = (float(v) for v in bbox)
    return x + w / 2.0, y + h / 2.0, w, h


def person_to_detection(person: Person, header: Header) -> Detection2D:
    """One person: its box in source pixels, its track id, its score as the person hypothesis."""
    cx, cy, w, h = box_center_size(person.bbox)
    det = Detection2D(header=header, id=person.track_id)
    det.bbox = BoundingBox2D(size_x=w, size_y=h)
    det.bbox.center.position.x = cx
    det.bbox.center.position.y = cy
    # The pose stays zero (2D only); vision_msgs leaves it to the producer.
    det.results = [ObjectHypothesisWithPose(
        hypothesis=ObjectHypothesis(class_id=str(PERSON_CLASS_ID), score=float(person.score)))]
    return det


def persons_to_detections(persons: Sequence[Person], header: Header) -> Detection2DArray:
    """Every person of one frame, in the order of ``persons`` (best first), with the image's header."""
    return Detection2DArray(header=header, detections=[person_to_detection(p, header) for p in persons])


def label_info(header: Header, threshold: float) -> LabelInfo:
    """The class map of ``detections`` ("0" = person) and the person-score threshold in use."""
    return LabelInfo(header=header, threshold=float(threshold),
                     class_map=[VisionClass(class_id=PERSON_CLASS_ID, class_name=PERSON_CLASS_NAME)])
