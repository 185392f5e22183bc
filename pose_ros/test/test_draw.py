"""Drawing persons: what is detected is drawn, what is missing is not."""

import numpy as np
import pytest
from pose_ros.core.draw import draw_persons, keypoint_colors, limb_colors, line_thickness, person_color
from pose_ros.core.persons import Person
from pose_ros.core.skeletons import BODY25, COCO18, MPI15

H, W = 480, 640
NECK, RSHO, RELB, LSHO, LELB = (COCO18.index(n) for n in
                                ("Neck", "RShoulder", "RElbow", "LShoulder", "LElbow"))


def _person(track_id: str = "") -> Person:
    """Neck and both shoulders detected on a horizontal line; LElbow placed but score 0."""
    kp = np.zeros((COCO18.num_keypoints, 3), np.float32)
    kp[NECK] = (320, 100, 0.9)
    kp[RSHO] = (220, 100, 0.8)
    kp[LSHO] = (420, 100, 0.8)
    kp[RELB] = (220, 220, 0.7)
    kp[LELB] = (420, 300, 0.0)  # where it would be, but not detected
    return Person(kp, 0.8, track_id=track_id)


def _limb_color(a: int, b: int):
    return np.array(limb_colors(COCO18)[COCO18.limbs.index((a, b))])


def _blank() -> np.ndarray:
    return np.full((H, W, 3), 17, np.uint8)


@pytest.mark.parametrize("skeleton", [COCO18, BODY25, MPI15])
def test_palettes_are_distinct_deterministic_and_sized(skeleton):
    colors = limb_colors(skeleton)
    assert len(colors) == len(skeleton.limbs)
    assert len(set(colors)) == len(colors)
    assert colors == limb_colors(skeleton)
    assert all(0 <= c <= 255 and isinstance(c, int) for col in colors for c in col)
    assert len(set(keypoint_colors(skeleton))) == skeleton.num_keypoints


def test_limb_is_drawn_along_its_length_in_its_colour():
    out = draw_persons(_blank(), [_person()], COCO18)
    # Midpoints of neck-rshoulder, neck-lshoulder and the vertical rshoulder-relbow.
    np.testing.assert_array_equal(out[100, 270], _limb_color(NECK, RSHO))
    np.testing.assert_array_equal(out[100, 370], _limb_color(NECK, LSHO))
    np.testing.assert_array_equal(out[160, 220], _limb_color(RSHO, RELB))
    # Off the limb, the background is untouched.
    np.testing.assert_array_equal(out[140, 270], [17, 17, 17])


def test_keypoints_drawn_as_circles_in_keypoint_colour():
    out = draw_persons(_blank(), [_person()], COCO18)
    r = line_thickness(out.shape) + 2
    for k in (NECK, RSHO, LSHO, RELB):
        x, y = (int(v) for v in _person().keypoints[k, :2])
        np.testing.assert_array_equal(out[y, x], keypoint_colors(COCO18)[k])
        # A point inside the disc but off every limb (diagonal offset) is coloured too.
        np.testing.assert_array_equal(out[y + r // 2, x + r // 2], keypoint_colors(COCO18)[k])


def test_missing_keypoint_and_its_limbs_are_not_drawn():
    out = draw_persons(_blank(), [_person()], COCO18)
    np.testing.assert_array_equal(out[300, 420], [17, 17, 17])  # LElbow would-be spot
    np.testing.assert_array_equal(out[200, 420], [17, 17, 17])  # middle of LShoulder-LElbow
    # The same person with the elbow detected draws both.
    p = _person()
    p.keypoints[LELB, 2] = 0.5
    drawn = draw_persons(_blank(), [p], COCO18)
    np.testing.assert_array_equal(drawn[200, 420], _limb_color(LSHO, LELB))
    np.testing.assert_array_equal(drawn[300, 420], keypoint_colors(COCO18)[LELB])


def test_copy_true_leaves_input_and_copy_false_draws_in_place():
    img = _blank()
    out = draw_persons(img, [_person()], COCO18)
    assert out is not img
    assert (img == 17).all()
    same = draw_persons(img, [_person()], COCO18, copy=False)
    assert same is img
    np.testing.assert_array_equal(img, out)


def test_in_place_on_a_padded_row_view():
    backing = np.full((H, W + 8, 3), 17, np.uint8)
    view = backing[:, :W]
    draw_persons(view, [_person()], COCO18, copy=False)
    np.testing.assert_array_equal(backing[100, 270], _limb_color(NECK, RSHO))
    assert (backing[:, W:] == 17).all()


def test_empty_persons_returns_identical_image():
    img = _blank()
    img[10:20, 10:20] = 200
    out = draw_persons(img, [], COCO18)
    assert out is not img
    np.testing.assert_array_equal(out, img)
    assert draw_persons(img, [], COCO18, copy=False) is img


def test_person_without_detections_draws_nothing():
    empty = Person(np.zeros((COCO18.num_keypoints, 3), np.float32), 0.0, track_id="3")
    out = draw_persons(_blank(), [empty], COCO18, draw_boxes=True)
    assert (out == 17).all()


def test_boxes_only_when_asked():
    p = _person()
    x, y, w, h = p.bbox
    corner_edge = (int(y + h), int(x + w / 4))  # bottom edge, away from limbs and keypoints
    plain = draw_persons(_blank(), [p], COCO18, draw_boxes=False)
    boxed = draw_persons(_blank(), [p], COCO18, draw_boxes=True)
    np.testing.assert_array_equal(plain[corner_edge], [17, 17, 17])
    np.testing.assert_array_equal(boxed[corner_edge], person_color("0"))


def test_ids_drawn_above_the_box_only_when_set_and_asked():
    with_id = draw_persons(_blank(), [_person("42")], COCO18)
    no_flag = draw_persons(_blank(), [_person("42")], COCO18, draw_ids=False)
    no_id = draw_persons(_blank(), [_person("")], COCO18)
    np.testing.assert_array_equal(no_flag, no_id)
    changed = np.argwhere((with_id != no_flag).any(axis=2))
    assert len(changed) > 20
    # The label sits above the top of the box (y = 100), starting at its left edge (x = 220).
    assert changed[:, 0].max() < 100 and changed[:, 1].min() >= 215


def test_thickness_scales_with_image_size():
    assert line_thickness((240, 320, 3)) == 1
    assert line_thickness((1080, 1920, 3)) > line_thickness((480, 640, 3)) > 1
    big = np.full((1080, 1920, 3), 17, np.uint8)
    p = _person()
    out = draw_persons(big, [p], COCO18)
    column = (out[80:121, 270] != 17).any(axis=1)  # across the neck-rshoulder limb
    assert column.sum() >= line_thickness(big.shape)
    small = draw_persons(_blank()[:240, :], [p], COCO18)
    assert (small[80:121, 270] != 17).any(axis=1).sum() < column.sum()


def test_far_outside_coordinates_do_not_crash():
    p = _person()
    p.keypoints[RELB, :2] = (1e12, -1e12)
    out = draw_persons(_blank(), [p], COCO18)
    np.testing.assert_array_equal(out[100, 270], _limb_color(NECK, RSHO))


@pytest.mark.parametrize("bad", [np.zeros((H, W), np.uint8), np.zeros((H, W, 1), np.uint8),
                                 np.zeros((H, W, 3), np.float32), np.zeros((H, W, 4), np.uint8)])
def test_non_bgr_images_are_refused(bad):
    with pytest.raises(ValueError, match="BGR uint8"):
        draw_persons(bad, [_person()], COCO18)


def test_read_only_image_needs_copy():
    img = _blank()
    img.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        draw_persons(img, [_person()], COCO18, copy=False)
    out = draw_persons(img, [_person()], COCO18)
    np.testing.assert_array_equal(out[100, 270], _limb_color(NECK, RSHO))


def test_keypoint_count_must_match_skeleton():
    with pytest.raises(ValueError, match="skeleton 'body25' has 25"):
        draw_persons(_blank(), [_person()], BODY25)
