"""Overlay geometry (ROS-free) and its conversion to ImageMarker / ImageAnnotations / vision_msgs."""

from __future__ import annotations

import numpy as np
import pytest
from pose_ros.core.draw import keypoint_colors, limb_colors
from pose_ros.core.overlay import VIEWER_OFFSET_PX, skeleton_overlay
from pose_ros.core.persons import Person
from pose_ros.core.skeletons import COCO18
from pose_ros.ros.convert.image_markers import (
    load_foxglove_msgs,
    overlay_to_image_annotations,
    overlay_to_image_markers,
)
from std_msgs.msg import Header
from visualization_msgs.msg import ImageMarker


def _person(found: dict) -> Person:
    kp = np.zeros((COCO18.num_keypoints, 3), np.float32)
    for index, (x, y) in found.items():
        kp[index] = (x, y, 0.9)
    return Person(keypoints=kp, score=0.8, track_id="3")


def _limb_index(a: int, b: int) -> int:
    return list(COCO18.limbs).index((a, b))


def test_only_limbs_with_both_ends_detected_are_drawn_in_their_colours():
    # neck(1)-right shoulder(2)-right elbow(3); right wrist (4) not found.
    p = _person({1: (100.0, 50.0), 2: (80.0, 52.0), 3: (70.0, 90.0)})
    ov = skeleton_overlay([p], COCO18, 640, 480)
    assert ov.segments.shape == (2, 2, 2)
    starts = {tuple(s[0] - VIEWER_OFFSET_PX) for s in ov.segments}
    assert starts == {(100.0, 50.0), (80.0, 52.0)}
    bgr = limb_colors(COCO18)[_limb_index(1, 2)]
    neck_seg = [i for i, s in enumerate(ov.segments) if tuple(s[0] - VIEWER_OFFSET_PX) == (100.0, 50.0)][0]
    assert ov.segment_colors[neck_seg] == pytest.approx([bgr[2] / 255, bgr[1] / 255, bgr[0] / 255, 1.0])
    assert ov.joints.shape == (3, 2)
    assert ov.joint_colors[0][:3] == pytest.approx(np.array(keypoint_colors(COCO18)[1][::-1]) / 255)


def test_non_finite_keypoints_are_not_drawn():
    p = _person({1: (100.0, 50.0), 2: (80.0, 52.0)})
    p.keypoints[2, 0] = np.nan
    ov = skeleton_overlay([p], COCO18, 640, 480)
    assert ov.segments.shape == (0, 2, 2) and ov.joints.shape == (1, 2)


def test_nobody_gives_an_empty_overlay_and_empty_markers():
    ov = skeleton_overlay([], COCO18, 640, 480)
    assert ov.empty and ov.segments.shape == (0, 2, 2) and ov.joints.shape == (0, 2)
    limbs, joints = overlay_to_image_markers(ov, Header(frame_id="cam"))
    assert limbs.points == [] and joints.points == [] and limbs.outline_colors == []
    assert (limbs.action, joints.action) == (ImageMarker.ADD, ImageMarker.ADD)


def test_keypoints_of_another_skeleton_are_refused():
    p = Person(keypoints=np.ones((5, 3), np.float32), score=1.0)
    with pytest.raises(ValueError, match="5 keypoints"):
        skeleton_overlay([p], COCO18, 640, 480)


def test_image_markers_keep_the_header_and_one_colour_per_segment():
    persons = [_person({1: (10.0, 10.0), 2: (20.0, 12.0), 5: (0.0, 12.0)}),
               _person({8: (300.0, 200.0), 9: (302.0, 260.0)})]
    ov = skeleton_overlay(persons, COCO18, 1280, 720)
    header = Header(frame_id="cam")
    header.stamp.sec = 42
    limbs, joints = overlay_to_image_markers(ov, header)
    assert limbs.header == header and joints.header == header
    assert limbs.type == ImageMarker.LINE_LIST and joints.type == ImageMarker.POINTS
    assert len(limbs.points) == 2 * 3 and len(limbs.outline_colors) == 3
    assert len(joints.points) == len(joints.outline_colors) == 5
    assert (limbs.points[0].x, limbs.points[0].y) == (10.5, 10.5)
    assert limbs.scale == 3.0  # line_thickness of a 720p image, as image_annotated draws it
    assert limbs.ns != joints.ns


def test_foxglove_image_annotations_when_foxglove_msgs_is_installed():
    msg, why = load_foxglove_msgs()
    if msg is None:
        assert "foxglove_msgs" in why
        pytest.skip(why)
    ov = skeleton_overlay([_person({1: (10.0, 10.0), 2: (20.0, 12.0)})], COCO18, 640, 480)
    ann = overlay_to_image_annotations(ov, Header(), msg)
    limbs, joints = ann.points
    assert limbs.type == msg.PointsAnnotation.LINE_LIST and len(limbs.points) == 2
    assert len(limbs.outline_colors) == 1
    assert joints.type == msg.PointsAnnotation.POINTS and len(joints.points) == 2


def test_detection_box_is_centre_and_size_of_the_person_box():
    detections_convert = pytest.importorskip("pose_ros.ros.convert.detections")
    person = Person(keypoints=np.zeros((18, 3), np.float32), score=0.75, bbox=(10.0, 20.0, 30.0, 60.0),
                    track_id="7")
    header = Header(frame_id="cam")
    array = detections_convert.persons_to_detections([person], header)
    det = array.detections[0]
    assert array.header == header and det.header == header and det.id == "7"
    assert (det.bbox.center.position.x, det.bbox.center.position.y) == (25.0, 50.0)
    assert (det.bbox.size_x, det.bbox.size_y) == (30.0, 60.0)
    assert det.results[0].hypothesis.class_id == str(detections_convert.PERSON_CLASS_ID)
    assert det.results[0].hypothesis.score == 0.75
    info = detections_convert.label_info(header, 0.3)
    assert [(c.class_id, c.class_name) for c in info.class_map] == [(detections_convert.PERSON_CLASS_ID, "person")]
