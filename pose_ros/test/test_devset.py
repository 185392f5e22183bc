"""The hand-labelled accuracy dev set (bench/devset): labels readable, COCO json up to date,
the ``original`` and ``far`` subsets kept apart."""

import json

import cv2
import labelled_frames
import numpy as np
import pytest

DEVSET = labelled_frames.DEVSET


@pytest.fixture(scope="module")
def devset():
    return labelled_frames.devset()


@pytest.fixture(scope="module")
def built(devset):
    """Both subsets."""
    return devset.build_coco("all")


def _subset(gt, name):
    ids = {i["id"] for i in gt["images"] if i["subset"] == name}
    return ([i for i in gt["images"] if i["id"] in ids],
            [a for a in gt["annotations"] if a["image_id"] in ids and not a["iscrowd"]])


@pytest.mark.parametrize("subset", ["original", "far"])
def test_the_committed_coco_json_is_built_from_the_label_files(devset, subset):
    committed = json.loads(devset.COCO_JSONS[subset].read_text())
    assert committed == json.loads(json.dumps(devset.build_coco(subset))), \
        f"bench/devset/{devset.COCO_JSONS[subset].name} is stale: run python bench/devset/devset.py build"


def test_the_dev_set_has_the_size_the_issue_asks_for(built):
    images, people = _subset(built, "original")
    vtest = [i for i in images if i["file_name"].startswith("vtest.avi#")]
    assert len(people) >= 60
    assert len(vtest) >= 20
    for still in ("basketball1.png", "basketball2.png", "messi5.jpg"):
        assert any(i["file_name"] == still for i in images)


def test_the_far_subset_holds_small_people_seen_at_the_originals_scale(built):
    """What makes it "far": people 20-60 px tall in 768-wide images (letterboxed width-bound
    like the 768x576 frames, so the estimator sees them at half the size of the original
    pedestrians, not upscaled back), and no more people per image than COCO's 20 detections."""
    images, people = _subset(built, "far")
    assert len(people) >= 25
    assert all(i["width"] == 768 and i["height"] <= 576 for i in images)
    heights = np.array([a["bbox"][3] for a in people])
    assert ((heights >= 20) & (heights <= 60)).all(), sorted(heights)
    original = np.array([a["bbox"][3] for a in _subset(built, "original")[1]])
    assert np.median(heights) < 0.6 * np.median(original)
    for image in built["images"]:
        assert sum(a["image_id"] == image["id"] and not a["iscrowd"] for a in built["annotations"]) <= 20


def test_subsets_load_apart_and_together_with_disjoint_ids(devset, built):
    original, far, both = (devset.load_coco(s) for s in ("original", "far", "all"))
    assert {i["subset"] for i in original["images"]} == {"original"}
    assert {i["subset"] for i in far["images"]} == {"far"}
    assert both["images"] == original["images"] + far["images"]
    assert both["annotations"] == original["annotations"] + far["annotations"]
    assert len({i["id"] for i in both["images"]}) == len(both["images"])
    assert len({a["id"] for a in both["annotations"]}) == len(both["annotations"])
    assert json.loads(json.dumps(built))["images"] == both["images"]
    with pytest.raises(ValueError, match="subset"):
        devset.load_coco("near")


def test_a_mosaic_is_its_frames_at_half_size_side_by_side(devset):
    name = "vtest.avi#700+740"
    frames = devset.load_images(["vtest.avi#700", "vtest.avi#740"])
    image = devset.load_images([name])[name]
    h, w = frames["vtest.avi#700"].shape[:2]
    assert image.shape == (h // 2, w, 3)
    half = (w // 2, h // 2)
    left = cv2.resize(frames["vtest.avi#700"], half, interpolation=cv2.INTER_AREA)
    right = cv2.resize(frames["vtest.avi#740"], half, interpolation=cv2.INTER_AREA)
    assert np.array_equal(image[:, :w // 2], left)
    assert np.array_equal(image[:, w // 2:], right)
    assert not np.array_equal(left, right)
    with pytest.raises(ValueError, match="even"):
        devset.mosaic([frames["vtest.avi#700"]] * 3)


def test_every_labelled_keypoint_lies_in_its_image_and_near_its_box(built):
    images = {i["id"]: i for i in built["images"]}
    for a in built["annotations"]:
        kp = np.array(a["keypoints"], float).reshape(17, 3)
        img = images[a["image_id"]]
        if a["iscrowd"]:
            assert a["num_keypoints"] == 0 and not kp.any()
            continue
        labelled = kp[kp[:, 2] > 0]
        assert a["num_keypoints"] == len(labelled) >= 4, a["note"]
        assert set(kp[:, 2]) <= {0, 1, 2}
        assert (labelled[:, 0] >= 0).all() and (labelled[:, 0] < img["width"]).all()
        assert (labelled[:, 1] >= 0).all() and (labelled[:, 1] < img["height"]).all()
        x, y, w, h = a["bbox"]
        assert w > 0 and h > 0 and a["area"] == pytest.approx(w * h)
        margin = 0.15 * max(w, h)
        assert ((labelled[:, 0] >= x - margin) & (labelled[:, 0] <= x + w + margin)).all(), a["note"]
        assert ((labelled[:, 1] >= y - margin) & (labelled[:, 1] <= y + h + margin)).all(), a["note"]


def test_labels_are_upright_people(built):
    """Shoulders above hips above ankles wherever both are labelled: catches x/y typed the
    wrong way round, or a keypoint given to the wrong person."""
    order = [(5, 11), (6, 12), (11, 15), (12, 16), (0, 11), (0, 12)]
    for a in built["annotations"]:
        kp = np.array(a["keypoints"], float).reshape(17, 3)
        for top, bottom in order:
            if kp[top, 2] > 0 and kp[bottom, 2] > 0:
                assert kp[top, 1] < kp[bottom, 1], (a["note"], top, bottom)


@pytest.fixture(scope="module")
def accuracy(devset):
    pytest.importorskip("pycocotools")
    import sys
    bench = str(DEVSET.parent)
    if bench not in sys.path:
        sys.path.insert(0, bench)
    import bench_accuracy
    return bench_accuracy


def _results_from_labels(gt, transform=None):
    out = []
    for a in gt["annotations"]:
        if a["iscrowd"]:
            continue
        kp = np.array(a["keypoints"], float).reshape(17, 3)
        kp[:, 2] = np.where(kp[:, 2] > 0, 0.9, 0.0)
        if transform is not None:
            kp = transform(kp)
        out.append({"image_id": a["image_id"], "category_id": 1, "keypoints": kp.ravel().tolist(), "score": 0.8})
    return out


def test_the_accuracy_metrics_score_the_labels_themselves_perfectly(accuracy, built):
    m = accuracy.score(built, _results_from_labels(built))
    people = sum(1 for a in built["annotations"] if not a["iscrowd"])
    assert m["AP"] == pytest.approx(1.0) and m["AR"] == pytest.approx(1.0)
    assert (m["PCK"], m["found"], m["people"], m["swaps"], m["FP"]) == (1.0, people, people, 0, 0)


def test_the_accuracy_metrics_count_left_right_swaps_and_false_positives(accuracy, built):
    def swap(kp):
        kp = kp.copy()
        for left, right in accuracy.LEFT_RIGHT:
            kp[[left, right]] = kp[[right, left]]
        return kp
    swapped = accuracy.match_metrics(built, _results_from_labels(built, swap))
    assert swapped["swaps"] > 0.5 * swapped["pairs"] > 0
    img = built["images"][0]
    stray = {"image_id": img["id"], "category_id": 1, "score": 0.5,
             "keypoints": [v for _ in range(17) for v in (img["width"] - 2.0, img["height"] - 2.0, 0.5)]}
    extra = accuracy.match_metrics(built, _results_from_labels(built) + [stray])
    assert extra["FP"] == 1 and extra["found"] == extra["people"]
    ignore = next(a for a in built["annotations"] if a["iscrowd"])
    x, y, w, h = ignore["bbox"]
    in_crowd = {"image_id": ignore["image_id"], "category_id": 1, "score": 0.5,
                "keypoints": [v for _ in range(17) for v in (x + w / 2, y + h / 2, 0.5)]}
    assert accuracy.match_metrics(built, _results_from_labels(built) + [in_crowd])["FP"] == 0
