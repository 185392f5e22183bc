"""Invariants of the parser over random, overlapping, partly hidden people."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pose_ros.core.geometry import compute_letterbox
from pose_ros.core.paf import DecodeParams, _peaks_flat, _score_pairs, decode, find_peaks
from pose_ros.core.skeletons import COCO18
from pose_ros.core.synthetic import cut_to_map, random_people, render_maps

W, H = 54, 46


@st.composite
def scenes(draw):
    """Random people anywhere (overlaps and border cuts included), some parts hidden."""
    seed = draw(st.integers(0, 2 ** 32 - 1))
    n = draw(st.integers(0, 6))
    hide = draw(st.floats(0.0, 0.4))
    rng = np.random.default_rng(seed)
    people = random_people(rng, n, COCO18, W, H, separated=False, height_range=(8, 40))
    people = [cut_to_map(p, W, H) for p in people]
    for p in people:
        p[rng.random(len(p)) < hide, 2] = 0
    sigma = draw(st.floats(0.7, 2.0))
    return render_maps(people, COCO18, W, H, sigma=sigma)


params_st = st.builds(DecodeParams,
                      heatmap_threshold=st.floats(0.05, 0.5),
                      min_paf_fraction=st.floats(0.5, 1.0),
                      paf_samples=st.integers(2, 20),
                      min_parts=st.integers(1, 6),
                      min_person_score=st.floats(0.0, 0.6),
                      max_persons=st.integers(0, 4))


@settings(max_examples=60, deadline=None)
@given(scene=scenes(), params=params_st)
def test_no_peak_is_shared_and_all_stay_in_the_map(scene, params):
    heat, pafs = scene
    persons = decode(heat, pafs, COCO18, params)
    peaks = find_peaks(heat[:COCO18.num_keypoints], params.heatmap_threshold)
    seen = set()
    for p in persons:
        kp = p.keypoints
        found = kp[:, 2] > 0
        assert found.sum() >= params.min_parts
        assert p.score >= params.min_person_score
        assert (kp[~found] == 0).all()
        assert (kp[found, 0] >= 0).all() and (kp[found, 0] <= W - 1).all()
        assert (kp[found, 1] >= 0).all() and (kp[found, 1] <= H - 1).all()
        for k in np.flatnonzero(found):
            # every keypoint is one of the peaks of its own heatmap ...
            assert (peaks[k] == kp[k]).all(axis=1).any()
            # ... and no peak belongs to two people
            key = (int(k), float(kp[k, 0]), float(kp[k, 1]))
            assert key not in seen
            seen.add(key)
    scores = [p.score for p in persons]
    assert scores == sorted(scores, reverse=True)
    if params.max_persons:
        assert len(persons) <= params.max_persons


@settings(max_examples=40, deadline=None)
@given(scene=scenes(), src_w=st.integers(32, 2000), src_h=st.integers(32, 2000))
def test_keypoints_inside_the_source_image(scene, src_w, src_h):
    heat, pafs = scene
    t = compute_letterbox(src_w, src_h, 432, 368)
    for p in decode(heat, pafs, COCO18, DecodeParams(min_parts=1, min_person_score=0.0),
                    transform=t):
        found = p.keypoints[:, 2] > 0
        xy = p.keypoints[found, :2]
        assert (xy >= 0).all()
        assert (xy[:, 0] <= src_w - 1).all() and (xy[:, 1] <= src_h - 1).all()
        x, y, w, h = p.bbox
        assert x >= 0 and y >= 0 and x + w <= src_w - 1 + 1e-3 and y + h <= src_h - 1 + 1e-3


def reference_pairs(peaks, heat_pafs, params):
    """Per-pair, per-sample loop version of the limb scoring (the definition)."""
    _, pafs = heat_pafs
    _, h, w = pafs.shape
    t = np.linspace(0.0, 1.0, params.paf_samples, dtype=np.float32)
    out = {}
    for li, ((a, b), (cx, cy)) in enumerate(zip(COCO18.limbs, COCO18.paf_channels)):
        for pa in peaks[a]:
            for pb in peaks[b]:
                dx, dy = pb[0] - pa[0], pb[1] - pa[1]
                length = np.sqrt(dx * dx + dy * dy)
                if length <= 1e-6:
                    continue
                dots = []
                for ti in t:
                    xi = int(np.clip(pa[0] + ti * dx, 0.0, w - 1.0) + 0.5)
                    yi = int(np.clip(pa[1] + ti * dy, 0.0, h - 1.0) + 0.5)
                    dots.append(pafs[cx, yi, xi] * dx / length + pafs[cy, yi, xi] * dy / length)
                dots = np.array(dots)
                score = dots.mean() + min(0.5 * h / length - 1.0, 0.0)
                passed = (dots > params.paf_threshold).sum() / params.paf_samples
                if passed >= params.min_paf_fraction and score > 0:
                    out[(li, tuple(pa[:2]), tuple(pb[:2]))] = score
    return out


@settings(max_examples=25, deadline=None)
@given(scene=scenes(), samples=st.integers(2, 15), fraction=st.floats(0.0, 1.0))
def test_vectorised_limb_scoring_matches_the_loop_definition(scene, samples, fraction):
    heat, pafs = scene
    params = DecodeParams(paf_samples=samples, min_paf_fraction=fraction)
    ch, flat = _peaks_flat(heat[:COCO18.num_keypoints], params.heatmap_threshold)
    bounds = np.searchsorted(ch, np.arange(COCO18.num_keypoints + 1))
    limb, ga, gb, score = _score_pairs(flat, bounds, pafs, COCO18, params)
    got = {(int(li), tuple(flat[i, :2]), tuple(flat[j, :2])): s
           for li, i, j, s in zip(limb, ga, gb, score)}
    want = reference_pairs(find_peaks(heat[:COCO18.num_keypoints], params.heatmap_threshold),
                           scene, params)
    assert got.keys() == want.keys()
    for k, s in got.items():
        assert abs(s - want[k]) < 1e-4
    # within a limb, best first
    for li in set(limb.tolist()):
        s = score[limb == li]
        assert (np.diff(s) <= 0).all()
