"""COCO-18/BODY-25 persons -> COCO-17 keypoint results, checked by name and through pycocotools."""

import contextlib
import io

import numpy as np
import pytest
from pose_ros.core.persons import Person
from pose_ros.core.skeletons import BODY25, COCO18, MPI15
from pose_ros.formats.coco_format import COCO17_NAMES, coco17_indices, coco17_keypoints, coco_name, coco_results, oks


def _person(skeleton, rng, missing=()):
    kp = np.zeros((skeleton.num_keypoints, 3), np.float32)
    kp[:, 0] = rng.uniform(50, 600, skeleton.num_keypoints)
    kp[:, 1] = rng.uniform(50, 400, skeleton.num_keypoints)
    kp[:, 2] = rng.uniform(0.2, 1.0, skeleton.num_keypoints)
    for name in missing:
        kp[skeleton.index(name)] = 0.0
    return Person(keypoints=kp, score=0.7)


def test_names_convert_to_coco_style():
    assert coco_name("LShoulder") == "left_shoulder"
    assert coco_name("REye") == "right_eye"
    assert coco_name("Nose") == "nose"
    assert coco_name("LBigToe") == "left_big_toe"
    assert coco_name("MidHip") == "mid_hip"


@pytest.mark.parametrize("skeleton", [COCO18, BODY25])
def test_every_coco17_keypoint_is_taken_from_the_keypoint_of_the_same_name(skeleton):
    rng = np.random.default_rng(3)
    person = _person(skeleton, rng)
    kp = coco17_keypoints(person, skeleton)
    for i, name in enumerate(COCO17_NAMES):
        src = next(j for j, n in enumerate(skeleton.keypoint_names) if coco_name(n) == name)
        np.testing.assert_allclose(kp[i], person.keypoints[src], rtol=1e-6)
    # COCO-18's Neck (index 1) is not a COCO-17 keypoint: nothing reads it
    assert 1 not in coco17_indices(COCO18).tolist()


def test_a_missing_keypoint_is_absent_not_a_point_at_the_origin():
    person = _person(COCO18, np.random.default_rng(4), missing=("LWrist", "REar"))
    kp = coco17_keypoints(person, COCO18)
    for name in ("left_wrist", "right_ear"):
        assert kp[COCO17_NAMES.index(name)].tolist() == [0.0, 0.0, 0.0]
    assert (kp[:, 2] > 0).sum() == 15


def test_keypoints_a_skeleton_lacks_are_absent():
    kp = coco17_keypoints(_person(MPI15, np.random.default_rng(5)), MPI15)
    present = {COCO17_NAMES[i] for i in np.flatnonzero(kp[:, 2] > 0)}
    assert "nose" not in present and "left_eye" not in present    # MPI has "Head", no face
    assert {"left_shoulder", "right_ankle"} <= present


def test_results_skip_persons_with_no_coco17_keypoint():
    rng = np.random.default_rng(6)
    neck_only = np.zeros((18, 3), np.float32)
    neck_only[1] = (100, 100, 0.9)
    res = coco_results([_person(COCO18, rng), Person(keypoints=neck_only, score=0.5)], COCO18, image_id=7)
    assert len(res) == 1
    assert res[0]["image_id"] == 7 and res[0]["category_id"] == 1 and len(res[0]["keypoints"]) == 51


def _gt(kp17, image_id=1):
    vis = [2 if v > 0 else 0 for v in kp17[:, 2]]
    flat = [float(x) for row in zip(kp17[:, 0], kp17[:, 1], vis) for x in row]
    xs, ys = kp17[kp17[:, 2] > 0, 0], kp17[kp17[:, 2] > 0, 1]
    box = [float(xs.min()), float(ys.min()), float(np.ptp(xs)), float(np.ptp(ys))]
    return {"id": image_id, "image_id": image_id, "category_id": 1, "keypoints": flat,
            "num_keypoints": sum(v > 0 for v in vis), "bbox": box, "area": box[2] * box[3], "iscrowd": 0}


def _ap(gt_anns, results):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    coco = COCO()
    coco.dataset = {"images": [{"id": 1, "width": 640, "height": 480}], "annotations": gt_anns,
                    "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17_NAMES)}]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(results), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats[0]


def test_pycocotools_scores_an_exact_conversion_ap_1_and_a_left_right_swap_lower():
    pytest.importorskip("pycocotools")
    person = _person(COCO18, np.random.default_rng(8))
    gt = _gt(coco17_keypoints(person, COCO18))
    assert _ap([gt], coco_results([person], COCO18, 1)) == pytest.approx(1.0)
    swapped = person.keypoints.copy()
    for right, left in COCO18.left_right:
        swapped[[right, left]] = swapped[[left, right]]
    assert _ap([gt], coco_results([Person(keypoints=swapped, score=0.7)], COCO18, 1)) < 0.5


def test_oks_is_cocos_keypoint_similarity():
    label = np.zeros((17, 3))
    label[:, :2] = np.arange(34).reshape(17, 2) * 10.0
    label[:5, 2] = 2                                   # five labelled keypoints
    assert oks(label, label, area=100 * 200) == pytest.approx(1.0)
    missing = label.copy()
    missing[0, 2] = 0                                  # one the detection lacks counts 0
    assert oks(missing, label, area=100 * 200) == pytest.approx(0.8)
    far = label.copy()
    far[:, :2] += 500.0
    assert oks(far, label, area=100 * 200) < 1e-6
    assert oks(label, np.zeros((17, 3)), area=1.0) == 0.0   # nothing labelled
