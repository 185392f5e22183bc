"""Merging the people of the coarse pass and the zoom passes: nobody comes out twice, a
piece of a person gives way to the whole, and people side by side stay two people.

People are real detections of the default model on Debian opencv-doc samples and dev-set
vtest.avi frames (bench/devset, labelled by hand).
"""

from __future__ import annotations

import numpy as np
import pytest
from labelled_frames import matches, vtest_frames
from pose_ros.core.merge import merge_passes, same_person
from pose_ros.core.persons import Person
from pose_ros.estimators.zoom_passes import shifted
from sample_media import sample_image




@pytest.fixture(scope="module")
def players(coarse):
    persons = coarse.infer(sample_image("basketball1.png")).persons
    assert len(persons) == 2
    return sorted(persons, key=lambda p: p.bbox[0])          # left (facing us), right


def test_no_person_comes_out_twice_across_passes(coarse, zoomed):
    twins_seen = 0
    for _, image, labels in vtest_frames(4):
        before = coarse.infer(image).persons
        after = zoomed.infer(image).persons
        assert zoomed.describe()["zoom"]["last_frame"]["crops"] >= 1
        # the zoom passes found people the coarse pass had found too ...
        twins_seen += sum(any(same_person(p, q) for q in after) for p in before)
        # ... and each comes out once: no two outputs are one person, no label is matched twice
        for i, p in enumerate(after):
            assert not any(same_person(p, q) for q in after[i + 1:])
        assert (matches(after, zoomed.skeleton, labels).sum(axis=0) <= 1).all()
    assert twins_seen >= 2, "the frames must hold people both passes found, or nothing was merged"


def test_the_same_people_from_two_passes_come_out_once(players):
    again = [shifted(p, 1.0, 1.0) for p in players]          # a finer pass's slightly different copy
    merged = merge_passes([players, again])
    assert len(merged) == 2
    assert all(any(m is p for p in players) for m in merged), "the first pass is trusted"
    assert all(any(m is p for p in again) for m in merge_passes([again, players]))


def test_a_piece_of_a_person_gives_way_to_the_whole(players, coarse):
    whole = players[0]
    assert whole.num_detected >= 14
    legs = [coarse.skeleton.index(n) for n in ("RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle")]
    kp = np.zeros_like(whole.keypoints)
    kp[legs] = whole.keypoints[legs] + np.array([2.0, -1.0, 0.0], np.float32)   # a crop's view of the legs
    piece = Person(keypoints=kp, score=whole.score * 0.8)
    for passes in ([[whole], [piece]], [[piece], [whole]]):   # the whole also replaces a trusted piece
        merged = merge_passes(passes)
        assert len(merged) == 1 and merged[0] is whole


def test_people_side_by_side_stay_apart(players):
    left, right = players
    assert not same_person(left, right)
    assert len(merge_passes([[left], [right]])) == 2
    assert len(merge_passes([players, [shifted(right, 1.0, 0.0)]])) == 2
