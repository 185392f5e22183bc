"""Depth lifting on synthetic RGB-D scenes with known geometry."""

import cv2
import numpy as np
import pytest
from pose_ros.core.lifting import (DepthError, LiftParams, back_project, depth_to_metres, intrinsics_for, lift_persons,
                                   no_3d_reason)
from pose_ros.core.persons import Person
from pose_ros.core.skeletons import COCO18

W, H = 640, 480
K = np.array([[525.0, 0.0, 319.5], [0.0, 525.0, 239.5], [0.0, 0.0, 1.0]])
PERSON_M, WALL_M = 1.5, 3.0

# A COCO-18 figure in units of its height, origin at the top centre (as in test_tracking).
_TEMPLATE = {
    "Nose": (0.0, 0.06), "Neck": (0.0, 0.16), "RShoulder": (-0.12, 0.16), "RElbow": (-0.15, 0.32),
    "RWrist": (-0.16, 0.46), "LShoulder": (0.12, 0.16), "LElbow": (0.15, 0.32), "LWrist": (0.16, 0.46),
    "RHip": (-0.07, 0.52), "RKnee": (-0.07, 0.74), "RAnkle": (-0.07, 0.97), "LHip": (0.07, 0.52),
    "LKnee": (0.07, 0.74), "LAnkle": (0.07, 0.97), "REye": (-0.03, 0.04), "LEye": (0.03, 0.04),
    "REar": (-0.06, 0.05), "LEar": (0.06, 0.05),
}
_SHAPE = np.array([_TEMPLATE[n] for n in COCO18.keypoint_names])


def _person(x=320.0, y=40.0, height=400.0, track_id="1") -> Person:
    kp = np.zeros((COCO18.num_keypoints, 3), np.float32)
    kp[:, :2] = _SHAPE * height + (x, y)
    kp[:, 2] = 0.8
    return Person(kp, 0.8, track_id=track_id)


def _scene(persons, thickness=24) -> np.ndarray:
    """16UC1 millimetres: a wall at 3 m and each person's limbs drawn thick at 1.5 m."""
    mm = np.full((H, W), int(WALL_M * 1000), np.uint16)
    for p in persons:
        pts = np.rint(p.keypoints[:, :2]).astype(int)
        for a, b in COCO18.limbs:
            cv2.line(mm, tuple(pts[a]), tuple(pts[b]), int(PERSON_M * 1000), thickness)
        for pt in pts:
            cv2.circle(mm, tuple(pt), thickness // 2, int(PERSON_M * 1000), -1)
    return mm


def _metres(mm: np.ndarray) -> np.ndarray:
    return depth_to_metres(mm.tobytes(), mm.shape[1], mm.shape[0], mm.shape[1] * 2, "16UC1")


def _expected(person: Person, z: float) -> np.ndarray:
    return back_project(person.keypoints[:, :2], np.full(len(person.keypoints), z), K)


def test_back_projection_matches_hand_computed_points():
    k = np.array([[500.0, 0, 320], [0, 400.0, 240], [0, 0, 1]])
    pts = back_project(np.array([[320.0, 240.0], [420.0, 140.0], [0.0, 480.0]]), np.array([1.0, 2.0, 4.0]), k)
    np.testing.assert_allclose(pts, [[0, 0, 1], [0.4, -0.5, 2.0], [-2.56, 2.4, 4.0]])


def test_person_on_a_wall_is_lifted_to_its_own_depth():
    p = _person()
    out = lift_persons([p], _metres(_scene([p])), K, (W, H))
    assert len(out) == 1 and out[0].track_id == "1" and out[0].score == pytest.approx(0.8)
    assert out[0].num_valid == COCO18.num_keypoints
    np.testing.assert_allclose(out[0].points, _expected(p, PERSON_M), atol=1e-6)
    np.testing.assert_allclose(out[0].scores, 0.8)


def test_keypoint_on_the_silhouette_edge_takes_the_person_not_the_wall():
    p = _person()
    mm = _scene([p], thickness=4)
    # Move the right wrist 2 px off its limb: its 7x7 window now holds mostly wall.
    p.keypoints[4, 0] -= 3
    window = mm[int(p.keypoints[4, 1]) - 3:int(p.keypoints[4, 1]) + 4,
                int(p.keypoints[4, 0]) - 3:int(p.keypoints[4, 0]) + 4]
    assert (window == WALL_M * 1000).sum() > window.size / 2  # the plain median would say 3 m
    out = lift_persons([p], _metres(mm), K, (W, H))[0]
    assert out.scores[4] > 0
    assert out.points[4, 2] == pytest.approx(PERSON_M)


def test_keypoint_far_from_the_person_is_rejected_not_guessed():
    p = _person()
    mm = _scene([p])
    p.keypoints[7, :2] = (600, 60)  # a false left wrist out on the wall
    out = lift_persons([p], _metres(mm), K, (W, H))[0]
    assert out.scores[7] == 0 and (out.points[7] == 0).all()
    assert out.num_valid == COCO18.num_keypoints - 1


def test_holes_and_nans_give_score_zero_only_where_no_reading_is_left():
    p = _person()
    metres = _metres(_scene([p]))
    nose, neck = np.rint(p.keypoints[0, :2]).astype(int), np.rint(p.keypoints[1, :2]).astype(int)
    metres[nose[1] - 10:nose[1] + 11, nose[0] - 10:nose[0] + 11] = np.nan   # a full hole
    metres[neck[1] - 1:neck[1] + 2, neck[0] - 1:neck[0] + 2] = np.nan       # a partial one
    out = lift_persons([p], metres, K, (W, H))[0]
    assert out.scores[0] == 0 and (out.points[0] == 0).all()
    assert out.scores[1] > 0 and out.points[1, 2] == pytest.approx(PERSON_M)
    # zeros in a 16UC1 image are holes too (REP-118)
    mm = _scene([p])
    mm[nose[1] - 10:nose[1] + 11, nose[0] - 10:nose[0] + 11] = 0
    assert lift_persons([p], _metres(mm), K, (W, H))[0].scores[0] == 0


def test_half_resolution_depth_gives_the_same_points():
    p = _person()
    mm = _scene([p])
    half = cv2.resize(mm, (W // 2, H // 2), interpolation=cv2.INTER_NEAREST)
    out = lift_persons([p], _metres(half), K, (W, H))[0]
    assert out.num_valid == COCO18.num_keypoints
    np.testing.assert_allclose(out.points, _expected(p, PERSON_M), atol=1e-6)


def test_two_people_at_different_depths_and_undetected_keypoints():
    a, b = _person(x=180, track_id="1"), _person(x=470, height=300, track_id="2")
    mm = _scene([a])
    pts = np.rint(b.keypoints[:, :2]).astype(int)
    for i, j in COCO18.limbs:
        cv2.line(mm, tuple(pts[i]), tuple(pts[j]), 2200, 24)
    b.keypoints[10] = 0  # right ankle not detected
    out = lift_persons([a, b], _metres(mm), K, (W, H))
    assert [o.track_id for o in out] == ["1", "2"]
    np.testing.assert_allclose(out[0].points[:, 2], PERSON_M)
    assert out[1].scores[10] == 0 and (out[1].points[10] == 0).all()
    np.testing.assert_allclose(np.delete(out[1].points[:, 2], 10), 2.2)


def test_keypoint_outside_the_image_gets_no_depth():
    p = _person()
    p.keypoints[0, :2] = (W + 5, 10)
    assert lift_persons([p], _metres(_scene([p])), K, (W, H))[0].scores[0] == 0


def test_depth_of_another_aspect_ratio_is_refused():
    with pytest.raises(DepthError, match="aspect"):
        lift_persons([_person()], np.ones((480, 848), np.float32), K, (W, H))
    assert lift_persons([], np.ones((240, 320), np.float32), K, (W, H)) == []


def test_depth_encodings_padding_and_byte_order():
    mm = np.array([[0, 1500], [3000, 65535]], np.uint16)
    padded = np.zeros((2, 6), np.uint8)
    padded[:, :4] = mm.view(np.uint8)
    m = depth_to_metres(padded.tobytes(), 2, 2, 6, "16UC1")
    np.testing.assert_allclose(m, [[np.nan, 1.5], [3.0, 65.535]], rtol=1e-6)
    big = depth_to_metres(mm.byteswap().tobytes(), 2, 2, 4, "16UC1", is_bigendian=True)
    np.testing.assert_allclose(big, m, rtol=1e-6)
    f = np.array([[np.nan, 1.25], [0.0, -1.0]], np.float32)
    np.testing.assert_allclose(depth_to_metres(f.tobytes(), 2, 2, 8, "32FC1"),
                               [[np.nan, 1.25], [np.nan, np.nan]])


@pytest.mark.parametrize("args, match", [
    ((b"\0" * 8, 2, 2, 4, "rgb8"), "encoding"),
    ((b"\0" * 6, 2, 2, 4, "16UC1"), "bytes"),
    ((b"\0" * 8, 2, 2, 2, "16UC1"), "step"),
    ((b"", 0, 0, 0, "16UC1"), "empty"),
])
def test_bad_depth_buffers_are_refused_with_the_reason(args, match):
    with pytest.raises(DepthError, match=match):
        depth_to_metres(*args)


def test_intrinsics_are_scaled_to_the_image_size_and_need_a_focal_length():
    k = intrinsics_for([1000.0, 0, 639.5, 0, 1000.0, 359.5, 0, 0, 1], (1280, 720), (640, 360))
    np.testing.assert_allclose(k, [[500, 0, 319.5], [0, 500, 179.5], [0, 0, 1]])
    same = intrinsics_for(K.ravel(), (0, 0), (W, H))
    np.testing.assert_allclose(same, K)
    with pytest.raises(DepthError, match="focal"):
        intrinsics_for([0.0] * 9, (W, H), (W, H))


def test_bad_lift_parameters():
    for params in (LiftParams(window_px=0), LiftParams(outlier_m=0), LiftParams(min_m=5, max_m=1)):
        with pytest.raises(ValueError):
            params.validate()


@pytest.mark.parametrize("entry, value", [(0, np.nan), (2, np.nan), (4, np.inf), (5, -np.inf)])
def test_a_k_that_is_not_finite_is_refused(entry, value):
    """fx = NaN used to pass (NaN <= 0 is False) and give [nan, -0.466, 2.0] with score > 0."""
    k = K.copy().ravel()
    k[entry] = value
    with pytest.raises(DepthError, match="not finite"):
        intrinsics_for(k, (W, H), (W, H))


def test_a_camera_info_of_another_aspect_ratio_is_refused():
    with pytest.raises(DepthError, match="another aspect ratio"):
        intrinsics_for(K.ravel(), (640, 360), (W, H))
    intrinsics_for(K.ravel(), (1280, 960), (W, H))   # the same view at twice the size is fine


def test_no_non_finite_point_leaves_with_a_score():
    person = _person()
    k = K.copy()
    k[0, 2] = np.nan   # what a NaN cx would do if it got past intrinsics_for
    lifted = lift_persons([person], depth_to_metres(_scene([person]).tobytes(), W, H, W * 2, "16UC1"), k, (W, H))
    assert lifted[0].num_valid == 0
    assert np.isfinite(lifted[0].points).all() and not lifted[0].points.any()


@pytest.mark.parametrize("fill, words", [(np.nan, "no reading in 0.1..20 m: "), (np.inf, "no reading"),
                                         (-2.0, "no reading"), (50.0, "readings 50.00..50.00 m")])
def test_depth_without_a_usable_reading_says_why_3d_is_empty(fill, words):
    person = _person()
    depth = np.full((H, W), fill, np.float32)
    lifted = lift_persons([person], depth, K, (W, H))
    assert lifted[0].num_valid == 0
    assert words in no_3d_reason([person], lifted, depth)


def test_no_3d_reason_is_empty_when_3d_came_out_or_nobody_is_there():
    person = _person()
    depth = depth_to_metres(_scene([person]).tobytes(), W, H, W * 2, "16UC1")
    assert no_3d_reason([person], lift_persons([person], depth, K, (W, H)), depth) == ""
    assert no_3d_reason([], [], np.full((H, W), np.nan, np.float32)) == ""
    far = _person(x=100.0)
    wall_only = np.full((H, W), 3.0, np.float32)
    wall_only[:, :50] = np.nan
    # readings exist but none near the keypoints (all masked as not detected)
    far.keypoints[:, 2] = 0.0
    assert "no detected keypoint" in no_3d_reason([far], lift_persons([far], wall_only, K, (W, H)), wall_only)
