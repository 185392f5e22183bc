"""The lookout (pose_ros.core.lookout): scan tiles that cover the frame in turn, people
followed across frames and forgotten after missing them, nothing extra on a camera's first
frame; then, with the real model on real video, far people found that no still-image pass
finds, kept per camera, and a scan that followed people cannot starve.

Images: the dev set's far mosaic (bench/devset: vtest.avi frames at half size, people 27-57
px tall) and the frames before it; Debian opencv-doc samples.
"""

from __future__ import annotations

import numpy as np
import pytest
from labelled_frames import far_sequence, found
from pose_ros.core.lookout import Lookout, LookoutParams, follow_crop, scan_tiles
from pose_ros.core.zoom import SHAPE_QUANTUM
from pose_ros.estimators.frame_budget import FrameBudget
from pose_ros.estimators.openpose_dnn import OpenPoseDnnEstimator
from sample_media import sample_image

PARAMS = LookoutParams()


@pytest.mark.parametrize("size", [(768, 576), (768, 288), (640, 480), (100, 60), (1920, 1080)])
def test_scan_tiles_cover_the_image_with_overlap(size):
    w, h = size
    tiles = scan_tiles(w, h, PARAMS)
    covered = np.zeros((h, w), bool)
    for t in tiles:
        assert 0 <= t.x0 < t.x1 <= w and 0 <= t.y0 < t.y1 <= h
        assert t.net_w <= PARAMS.tile and t.net_h <= PARAMS.tile
        assert t.net_w % SHAPE_QUANTUM == 0 and t.net_h % SHAPE_QUANTUM == 0
        covered[t.y0:t.y1, t.x0:t.x1] = True
    assert covered.all()
    # a far person as tall as the overlap lies whole in some tile, wherever they stand
    span = PARAMS.tile / PARAMS.scale
    side = int(span * PARAMS.overlap) - 1
    for x in range(0, max(1, w - side), 7):
        for y in range(0, max(1, h - side), 11):
            assert any(t.x0 <= x and x + side <= t.x1 and t.y0 <= y and y + side <= t.y1 for t in tiles), (x, y)


def test_the_first_frame_runs_nothing_then_tiles_go_round_in_turn():
    look = Lookout(PARAMS)
    look.start_frame(768, 576)
    assert not look.scan_due and look.tiles(lambda crops: True) == [] and look.follow(np.zeros((0, 5))) == []
    look.remember([])
    every = scan_tiles(768, 576, PARAMS)
    seen = []
    for _ in range(len(every) + 2):
        look.start_frame(768, 576)
        assert look.scan_due
        seen += look.tiles(lambda crops: len(crops) <= 1)
        look.remember([])
    assert seen == list(every) + list(every[:2])
    look.start_frame(768, 576)
    assert look.tiles(lambda crops: True) == list(every[2:]) + list(every[:2]), "at most one cycle a frame"


def test_followed_people_are_kept_until_missed_follow_frames_times():
    look = Lookout(PARAMS)
    look.start_frame(768, 576)
    look.remember([(400, 100, 20, 50)])
    for missed in range(PARAMS.follow_frames):
        look.start_frame(768, 576)
        crops = look.follow(np.zeros((0, 5)))
        assert len(crops) == 1, missed
        c = crops[0]
        assert c.x0 <= 400 and 420 <= c.x1 and c.y0 <= 100 and 150 <= c.y1
        assert c.net_h >= (c.y1 - c.y0) * PARAMS.scale - 1
        look.remember([])
    look.start_frame(768, 576)
    assert look.follow(np.zeros((0, 5))) == []


def test_a_person_found_again_replaces_the_old_box_and_evidence_takes_over():
    look = Lookout(PARAMS)
    look.start_frame(768, 576)
    look.remember([(400, 100, 20, 50)])
    look.start_frame(768, 576)
    look.remember([(405, 102, 20, 50)])                     # walked a little
    look.start_frame(768, 576)
    assert look.followed == 1
    evidence = np.array([[380, 80, 450, 170, 0.3]])         # the coarse pass sees them now
    assert look.follow(evidence) == []


def test_a_new_frame_size_starts_over():
    look = Lookout(PARAMS)
    look.start_frame(768, 576)
    look.remember([(400, 100, 20, 50)])
    look.start_frame(640, 480)
    assert look.followed == 0 and look.tiles(lambda crops: True) == []


def test_follow_crops_stay_inside_the_image():
    for box in [(0, 0, 10, 30), (750, 550, 18, 26), (300, 200, 40, 90)]:
        c = follow_crop(box, 768, 576, PARAMS)
        assert 0 <= c.x0 < c.x1 <= 768 and 0 <= c.y0 < c.y1 <= 576


@pytest.mark.parametrize("field, value", [("scale", 0), ("tile", 100), ("overlap", 0.95), ("follow_frames", -1),
                                          ("follow_margin", -0.1), ("scan_every", 1.5)])
def test_bad_params_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        LookoutParams(**{field: value}).validate()


# ---------------------------------------------------------------------- the real model on video

@pytest.fixture(scope="module")
def far():
    return far_sequence(12)


def test_on_video_the_lookout_finds_far_people_no_still_pass_finds(model_file, far):
    frames, labelled, labels = far
    est = OpenPoseDnnEstimator(frame_budget_ms=0)            # every tile each frame: no load dependence
    still = est.infer(labelled).persons
    first = est.infer(labelled, stream="cam").persons
    assert [p.keypoints.tolist() for p in first] == [p.keypoints.tolist() for p in still], \
        "a camera's first frame gives the still image's people"
    for frame in frames:
        est.infer(frame, stream="cam")
    on_video = est.infer(labelled, stream="cam").persons
    # measured: 0 of 11 as a still, 9 of 11 on video
    assert found(still, est.skeleton, labels) == 0
    hits = found(on_video, est.skeleton, labels)
    assert hits >= len(labels) // 2, (hits, len(labels))
    again = est.infer(labelled).persons                      # a still: no lookout
    assert [p.keypoints.tolist() for p in again] == [p.keypoints.tolist() for p in still]


def test_each_camera_has_its_own_lookout(model_file, far):
    frames, labelled, labels = far
    est = OpenPoseDnnEstimator(frame_budget_ms=0)
    for frame in frames[-4:]:
        est.infer(frame, stream="far_camera")
    assert est.describe()["lookout"]["last_frame"]["followed"] > 0
    est.infer(labelled, stream="other_camera")              # its first frame: nothing followed, nothing scanned
    h, w = labelled.shape[:2]
    assert est.describe()["lookout"]["last_frame"] == {"followed": 0, "scan_tiles": 0,
                                                        "tiles_per_cycle": len(scan_tiles(w, h, PARAMS))}


class FixedCostBudget(FrameBudget):
    """The real budget logic with a cost model that ignores measured times (this test is about
    the order in which the budget is spent, not about this machine's speed)."""

    def observe(self, width, height, ms):
        pass


def test_followed_people_do_not_starve_the_scan(model_file, far):
    frames, _, _ = far
    est = OpenPoseDnnEstimator()
    budget = FixedCostBudget(50.0, est._budget.max_size, 8, 64)
    budget.calibrate(lambda blob: None, [(432, 168), (320, 320), (128, 128)])
    budget.model.overhead_ms, budget.model.ms_per_mpx = 3.0, 100.0   # bf16 on 2 AMX cores, roughly
    est._budget = budget
    tiles = 0
    for frame in frames:
        est.infer(frame, stream="cam")
        last = est.describe()["lookout"]["last_frame"]
        tiles += last["scan_tiles"]
    assert last["followed"] > 0
    assert tiles >= len(frames) - 1, "a tile every frame after the first"


def test_an_empty_scene_runs_scan_tiles_only(model_file):
    image = sample_image("aero1.jpg")                        # an aeroplane in the sky
    est = OpenPoseDnnEstimator(frame_budget_ms=0)
    calls = []
    est._zoom._passes._forward = lambda blob: calls.append(blob.shape) or est._runtime.forward(blob)
    est.infer(image, stream="sky")
    assert calls == [], "first frame: the coarse pass only"
    est.infer(image, stream="sky")
    last = est.describe()
    assert last["zoom"]["last_frame"]["crops"] == 0 and last["lookout"]["last_frame"]["followed"] == 0
    assert len(calls) == last["lookout"]["last_frame"]["scan_tiles"] == last["lookout"]["last_frame"]["tiles_per_cycle"]
