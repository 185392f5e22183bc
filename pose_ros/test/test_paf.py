"""OpenPose parsing on synthetic maps rendered from known skeletons
(54x46 maps, the output size of a 432x368 input)."""

from typing import List

import numpy as np
import pytest
from pose_ros.core.geometry import compute_letterbox, map_to_net
from pose_ros.core.paf import DecodeParams, decode, decode_output, find_peaks
from pose_ros.core.persons import Person, bbox_from_keypoints
from pose_ros.core.skeletons import BODY25, COCO18, MPI15
from pose_ros.core.synthetic import cut_to_map, random_people, render_maps, template

W, H = 54, 46
K = COCO18.num_keypoints


def person_at(x: float, y: float, height: float, skeleton=COCO18) -> np.ndarray:
    """Upright template person, top of the head at (x, y), ``height`` cells tall."""
    xy = template(skeleton) * height + (x, y)
    return np.column_stack([xy, np.ones(len(xy))]).astype(np.float32)


def assert_matches(persons: List[Person], truth: List[np.ndarray], tol: float = 1.0) -> None:
    """One decoded person per truth person, same visible parts, each within ``tol``."""
    assert len(persons) == len(truth), f"decoded {len(persons)} people, truth has {len(truth)}"
    used = set()
    for tr in truth:
        vis = tr[:, 2] > 0

        def cost(i: int) -> float:
            return float(np.hypot(*(persons[i].keypoints[vis, :2] - tr[vis, :2]).T).mean())

        best = min(range(len(persons)), key=cost)
        assert best not in used, "two truth people matched the same decoded person"
        used.add(best)
        kp = persons[best].keypoints
        np.testing.assert_array_equal(kp[:, 2] > 0, vis)
        err = np.hypot(*(kp[vis, :2] - tr[vis, :2]).T)
        assert err.max() < tol, f"max keypoint error {err.max():.2f} cells"
        assert (kp[~vis] == 0).all()


def decode_truth(truth, skeleton=COCO18, params=None, **render):
    heat, pafs = render_maps(truth, skeleton, W, H, **render)
    return decode(heat, pafs, skeleton, params)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_person(seed):
    truth = random_people(np.random.default_rng(seed), 1, COCO18, W, H)
    persons = decode_truth(truth)
    assert_matches(persons, truth)
    assert persons[0].score > 0.8


@pytest.mark.parametrize("seed", [3, 4])
def test_two_people(seed):
    truth = random_people(np.random.default_rng(seed), 2, COCO18, W, H)
    assert_matches(decode_truth(truth), truth)


@pytest.mark.parametrize("seed", [5, 6])
def test_ten_people(seed):
    truth = random_people(np.random.default_rng(seed), 10, COCO18, W, H)
    assert_matches(decode_truth(truth), truth)


def test_crossing_forearms():
    a = person_at(14, 3, 36)
    b = person_at(36, 3, 36)
    n = COCO18.index
    # A's left forearm and B's right forearm cross near (25, 17)
    a[n("LElbow"), :2] = (21, 13)
    a[n("LWrist"), :2] = (30, 21)
    b[n("RElbow"), :2] = (29, 13)
    b[n("RWrist"), :2] = (20, 21)
    truth = [a, b]
    assert_matches(decode_truth(truth), truth)


def test_touching_hands():
    a = person_at(16, 4, 34)
    b = person_at(33, 4, 34)
    n = COCO18.index
    a[n("LElbow"), :2] = (22, 14)
    a[n("LWrist"), :2] = (23.5, 19)        # wrists 1.5 cells apart
    b[n("RElbow"), :2] = (27, 14)
    b[n("RWrist"), :2] = (25, 19)
    truth = [a, b]
    assert_matches(decode_truth(truth), truth)


def test_people_cut_by_the_border():
    legs_out = cut_to_map(person_at(14, 12, 50), W, H)      # ankles/knees below the map
    arm_out = cut_to_map(person_at(52, 2, 30), W, H)       # left side beyond the right edge
    assert (legs_out[:, 2] == 0).sum() >= 2 and (arm_out[:, 2] == 0).sum() >= 2
    truth = [legs_out, arm_out]
    assert_matches(decode_truth(truth), truth)


def test_missing_parts_come_back_empty():
    truth = random_people(np.random.default_rng(7), 2, COCO18, W, H)
    n = COCO18.index
    for name in ("LWrist", "RAnkle", "REye"):
        truth[0][n(name), 2] = 0
    truth[1][n("LEar"), 2] = 0
    persons = decode_truth(truth)
    assert_matches(persons, truth)
    assert sorted(p.num_detected for p in persons) == [15, 17]


def test_missing_neck_splits_the_person():
    """Bottom-up parsing cannot join body parts whose only link is missing."""
    truth = person_at(20, 3, 40)
    truth[COCO18.index("Neck"), 2] = 0
    persons = decode_truth([truth], params=DecodeParams(min_parts=2))
    # head+shoulders+arms (through the shoulder-ear limbs) and each leg separately
    assert sorted(p.num_detected for p in persons) == [3, 3, 11]
    found = np.concatenate([p.keypoints[p.keypoints[:, 2] > 0, :2] for p in persons])
    assert len(found) == K - 1


def test_a_peak_is_matched_once_per_limb():
    """One nose, two neck candidates that both pass the PAF test: only the better
    pair is kept, the other neck stays unassigned."""
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    heat = np.zeros((K, H, W), np.float32)
    nose, neck, far_neck = (20.0, 5.0), (20.0, 10.0), (20.0, 14.0)
    for k, (x, y) in ((0, nose), (1, neck), (1, far_neck)):
        heat[k] = np.maximum(heat[k], np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / 2))
    pafs = np.zeros((2 * len(COCO18.limbs), H, W), np.float32)
    cx, cy = COCO18.paf_channels[COCO18.limbs.index((1, 0))]
    column = (np.abs(xs - 20) <= 1) & (ys >= 4) & (ys <= 15)
    pafs[cy][column] = -1.0                      # unit vector neck -> nose points up
    pafs[cy][column & (ys > 10.5)] = -0.5        # weaker below the near neck
    persons = decode(heat, pafs, COCO18, DecodeParams(min_parts=2))
    assert len(persons) == 1
    kp = persons[0].keypoints
    assert persons[0].num_detected == 2
    np.testing.assert_allclose(kp[[0, 1], :2], [nose, neck], atol=0.05)


def test_limb_needs_enough_aligned_samples():
    """A field on only half of the limb gives a positive mean but too few aligned
    samples: rejected at min_paf_fraction 0.8, accepted at 0.4."""
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    heat = np.zeros((K, H, W), np.float32)
    for k, y in ((0, 5.0), (1, 25.0)):           # nose above neck, 20 cells apart
        heat[k] = np.exp(-((xs - 20) ** 2 + (ys - y) ** 2) / 2)
    pafs = np.zeros((2 * len(COCO18.limbs), H, W), np.float32)
    _, cy = COCO18.paf_channels[COCO18.limbs.index((1, 0))]
    pafs[cy][(np.abs(xs - 20) <= 1) & (ys >= 15) & (ys <= 26)] = -1.0   # neck half only
    strict = DecodeParams(min_parts=2, min_paf_fraction=0.8)
    loose = DecodeParams(min_parts=2, min_paf_fraction=0.4)
    assert decode(heat, pafs, COCO18, strict) == []
    assert len(decode(heat, pafs, COCO18, loose)) == 1


def test_limb_between_two_people_does_not_share_a_peak():
    """A (redundant) shoulder-ear limb that links Y's shoulder to X's ear must not
    hand X's ear to Y too, nor merge the two people (both have a neck)."""
    n = COCO18.index
    x = person_at(12, 3, 36)
    y = person_at(38, 3, 36)
    y[n("REar"), 2] = 0
    link = np.zeros_like(x)
    link[n("RShoulder")] = y[n("RShoulder")]
    link[n("REar")] = x[n("REar")]
    heat, pafs = render_maps([x, y], COCO18, W, H)
    _, link_pafs = render_maps([link], COCO18, W, H)
    cx, cy = COCO18.paf_channels[COCO18.limbs.index((2, 16))]
    pafs[[cx, cy]] = link_pafs[[cx, cy]]           # only the cross-person limb has a field
    persons = decode(heat, pafs, COCO18)
    assert_matches(persons, [x, y])
    ears = [tuple(p.keypoints[n("REar")]) for p in persons if p.detected(n("REar"))]
    assert len(ears) == 1


def test_empty_maps_give_no_people():
    heat = np.zeros((K + 1, H, W), np.float32)
    heat[K] = 1.0
    pafs = np.zeros((2 * len(COCO18.limbs), H, W), np.float32)
    assert decode(heat, pafs, COCO18) == []


def test_lonely_peaks_without_paf_give_no_people():
    people = random_people(np.random.default_rng(8), 3, COCO18, W, H)
    heat, pafs = render_maps(people, COCO18, W, H)
    assert decode(heat, np.zeros_like(pafs), COCO18) == []


@pytest.mark.parametrize("where", ["heatmaps", "pafs"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_raise(where, bad):
    people = random_people(np.random.default_rng(9), 1, COCO18, W, H)
    heat, pafs = render_maps(people, COCO18, W, H)
    (heat if where == "heatmaps" else pafs)[3, 10, 10] = bad
    with pytest.raises(ValueError, match=f"{where} contain NaN or inf"):
        decode(heat, pafs, COCO18)


def test_bad_channel_counts_raise():
    people = random_people(np.random.default_rng(10), 1, COCO18, W, H)
    heat, pafs = render_maps(people, COCO18, W, H)
    with pytest.raises(ValueError, match="18 or 19 heatmap channels, got 17"):
        decode(heat[:17], pafs, COCO18)
    with pytest.raises(ValueError, match="38 PAF channels, got 36"):
        decode(heat, pafs[:36], COCO18)
    with pytest.raises(ValueError, match="differ in size"):
        decode(heat, pafs[:, :-1], COCO18)
    out = np.concatenate([heat, pafs])[None]
    with pytest.raises(ValueError, match="expects 57 output channels .* got 56"):
        decode_output(out[:, 1:], COCO18)
    with pytest.raises(ValueError, match="expects 78 output channels .* got 57"):
        decode_output(out, BODY25)


def test_decode_output_splits_the_blob_like_decode():
    truth = random_people(np.random.default_rng(11), 3, COCO18, W, H)
    heat, pafs = render_maps(truth, COCO18, W, H)
    out = np.concatenate([heat, pafs])
    for blob in (out, out[None]):
        persons = decode_output(blob, COCO18)
        assert_matches(persons, truth)
    # the background channel is optional for decode
    a = decode(heat, pafs, COCO18)
    b = decode(heat[:K], pafs, COCO18)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.keypoints, q.keypoints)


def test_transform_maps_to_source_pixels_and_clips():
    truth = random_people(np.random.default_rng(12), 2, COCO18, W, H)
    t = compute_letterbox(640, 480, 432, 368)
    # one keypoint in the top padding rows (map y < 22/8 - 0.5)
    truth[0][COCO18.index("Nose"), :2] = (truth[0][COCO18.index("Nose"), 0], 1.0)
    heat, pafs = render_maps(truth, COCO18, W, H)
    in_map = decode(heat, pafs, COCO18)
    in_src = decode(heat, pafs, COCO18, transform=t)
    assert len(in_src) == len(in_map) == 2
    for pm, ps in zip(in_map, in_src):
        np.testing.assert_array_equal(pm.keypoints[:, 2], ps.keypoints[:, 2])
        found = pm.keypoints[:, 2] > 0
        expected = t.net_to_source(map_to_net(pm.keypoints[found, :2], W, H, 432, 368))
        expected = np.clip(expected, 0, [639, 479])
        np.testing.assert_allclose(ps.keypoints[found, :2], expected, atol=1e-3)
        assert ps.bbox[0] >= 0 and ps.bbox[1] >= 0
        assert ps.bbox[0] + ps.bbox[2] <= 639 + 1e-3 and ps.bbox[1] + ps.bbox[3] <= 479 + 1e-3
    nose_y = [p.keypoints[COCO18.index("Nose"), 1] for p in in_src]
    assert 0.0 in nose_y                   # the nose in the padding was clipped to row 0


def test_sorted_by_score_and_max_persons():
    truth = random_people(np.random.default_rng(13), 4, COCO18, W, H)
    heat, pafs = render_maps(truth, COCO18, W, H)
    for k, tr in enumerate(truth):          # weaker heatmaps for later people
        vis = tr[:, 2] > 0
        for kp in np.flatnonzero(vis):
            x, y = np.round(tr[kp, :2]).astype(int)
            heat[kp, max(y - 2, 0):y + 3, max(x - 2, 0):x + 3] *= 1.0 - 0.2 * k
    persons = decode(heat, pafs, COCO18)
    scores = [p.score for p in persons]
    assert len(persons) == 4 and scores == sorted(scores, reverse=True)
    top2 = decode(heat, pafs, COCO18, DecodeParams(max_persons=2))
    assert [p.score for p in top2] == scores[:2]
    above = scores[0] + 1e-3
    none = decode(heat, pafs, COCO18, DecodeParams(min_person_score=above, min_score_many_parts=above))
    assert none == []


def test_whole_persons_need_only_the_lower_score_fragments_the_full_one():
    whole = person_at(5, 3, 40)
    fragment = person_at(32, 3, 40)
    fragment[:, 2] = 0
    for name in ("RHip", "RKnee", "RAnkle", "LHip"):
        fragment[COCO18.index(name), 2] = 1
    heat, pafs = render_maps([whole, fragment], COCO18, W, H)
    heat[:K] *= 0.2                                     # weak peaks: low person scores
    params = dict(heatmap_threshold=0.05, min_parts=3)
    found = decode(heat, pafs, COCO18, DecodeParams(min_person_score=0.0, **params))
    assert len(found) == 2
    big = max(found, key=lambda p: p.num_detected)
    small = min(found, key=lambda p: p.num_detected)
    assert big.num_detected >= 10 > small.num_detected >= 3
    cut = max(big.score, small.score) + 0.01
    low = min(big.score, small.score) - 0.01
    kept = decode(heat, pafs, COCO18, DecodeParams(min_person_score=cut, min_score_many_parts=low,
                                                   many_parts=10, **params))
    assert [p.num_detected for p in kept] == [big.num_detected]   # the whole one stays
    strict = decode(heat, pafs, COCO18, DecodeParams(min_person_score=cut, min_score_many_parts=cut, **params))
    assert strict == []


def test_min_parts_drops_small_fragments():
    p = person_at(20, 3, 40)
    p[:, 2] = 0
    for name in ("RHip", "RKnee", "RAnkle"):   # just one leg
        p[COCO18.index(name), 2] = 1
    assert len(decode_truth([p], params=DecodeParams(min_parts=3))) == 1
    assert decode_truth([p], params=DecodeParams(min_parts=4)) == []


def test_min_keypoint_score_outputs_weak_keypoints_as_not_detected():
    truth = [person_at(20, 3, 40)]
    heat, pafs = render_maps(truth, COCO18, W, H)
    weak = [COCO18.index("LWrist"), COCO18.index("RKnee")]
    for kp in weak:                                   # peaks of 0.2 instead of 1
        heat[kp] *= 0.2
    full = decode(heat, pafs, COCO18)
    floored = decode(heat, pafs, COCO18, DecodeParams(min_keypoint_score=0.3))
    assert len(full) == len(floored) == 1
    assert all(full[0].detected(k) for k in weak)
    assert not any(floored[0].detected(k) for k in weak)
    np.testing.assert_array_equal(floored[0].keypoints[weak], 0.0)
    others = [k for k in range(K) if k not in weak]
    np.testing.assert_array_equal(floored[0].keypoints[others], full[0].keypoints[others])
    assert floored[0].score == full[0].score          # assembly and score still used them
    np.testing.assert_allclose(floored[0].bbox, bbox_from_keypoints(floored[0].keypoints), atol=1e-4)


def test_a_person_left_with_too_few_keypoints_by_the_floor_is_dropped():
    p = person_at(20, 3, 40)
    p[:, 2] = 0
    for name in ("RHip", "RKnee", "RAnkle"):
        p[COCO18.index(name), 2] = 1
    heat, pafs = render_maps([p], COCO18, W, H)
    heat[COCO18.index("RAnkle")] *= 0.2
    assert len(decode(heat, pafs, COCO18, DecodeParams(min_parts=3))) == 1
    assert decode(heat, pafs, COCO18, DecodeParams(min_parts=3, min_keypoint_score=0.3)) == []


@pytest.mark.parametrize("skeleton", [BODY25, MPI15])
def test_other_skeletons(skeleton):
    truth = random_people(np.random.default_rng(14), 2, skeleton, W, H)
    heat, pafs = render_maps(truth, skeleton, W, H)
    assert heat.shape == (skeleton.heatmap_channels, H, W)
    assert pafs.shape == (2 * len(skeleton.limbs), H, W)
    assert_matches(decode_output(np.concatenate([heat, pafs]), skeleton), truth)


def test_find_peaks_sub_pixel_and_threshold():
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    maps = np.zeros((3, H, W), np.float32)
    maps[0] = np.exp(-((xs - 10.3) ** 2 + (ys - 7.8) ** 2) / 2)
    maps[0] += 0.5 * np.exp(-((xs - 40.5) ** 2 + (ys - 30.0) ** 2) / 2)   # second, exact tie in x
    maps[1] = 0.05 * np.exp(-((xs - 20) ** 2 + (ys - 20) ** 2) / 2)      # below threshold
    maps[2, 0, 0] = 0.9                                                   # corner peak
    peaks = find_peaks(maps, 0.1)
    assert [len(p) for p in peaks] == [2, 0, 1]
    p0 = peaks[0][np.argsort(-peaks[0][:, 2])]
    np.testing.assert_allclose(p0[0, :2], [10.3, 7.8], atol=0.1)
    np.testing.assert_allclose(p0[1, :2], [40.5, 30.0], atol=0.1)      # a flat top gives one peak
    assert p0[0, 2] == pytest.approx(maps[0, 8, 10])
    np.testing.assert_allclose(peaks[2], [[0.0, 0.0, 0.9]], rtol=1e-6)
    assert all(p.dtype == np.float32 for p in peaks)


@pytest.mark.parametrize("field,value", [
    ("heatmap_threshold", -0.1), ("heatmap_threshold", 1.0), ("paf_threshold", 1.5),
    ("paf_samples", 1), ("paf_samples", 2.5), ("min_paf_fraction", 1.1), ("min_parts", 0),
    ("min_person_score", float("nan")), ("max_persons", -1), ("min_keypoint_score", -0.1),
    ("min_keypoint_score", 1.5), ("min_score_many_parts", float("inf")), ("many_parts", 0),
])
def test_params_validate(field, value):
    p = DecodeParams(**{field: value})
    with pytest.raises(ValueError, match=field):
        p.validate()
    with pytest.raises(ValueError, match=field):
        decode(np.zeros((K, H, W)), np.zeros((38, H, W)), COCO18, p)


def test_default_params_are_valid():
    DecodeParams().validate()
