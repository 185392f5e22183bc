"""PersonStream, the tracking + smoothing that the node and pose_ros_infer share, on synthetic
people whose true keypoints are known (the COCO18 template scaled to pixels)."""

from __future__ import annotations

import numpy as np
import pytest
from pose_ros.core.persons import Person
from pose_ros.core.postprocess import PersonStream, StreamParams
from pose_ros.core.skeletons import COCO18
from pose_ros.core.smoothing import OneEuroParams
from pose_ros.core.synthetic import template

HEIGHT_PX = 200.0


def person_at(x: float, y: float, noise_px: float = 0.0, rng: np.random.Generator | None = None) -> Person:
    """An upright 200 px person whose head top is at (x, y), every keypoint detected."""
    xy = template(COCO18) * HEIGHT_PX + (x, y)
    if noise_px:
        xy = xy + rng.normal(0.0, noise_px, xy.shape)
    kp = np.concatenate([xy, np.full((len(xy), 1), 0.9)], axis=1)
    return Person(kp, score=0.9)


def truth_at(x: float, y: float) -> np.ndarray:
    return template(COCO18) * HEIGHT_PX + (x, y)


def test_ids_stay_with_their_person_over_frames_whatever_the_detection_order():
    stream = PersonStream()
    rng = np.random.default_rng(1)
    ids_of_left, ids_of_right = set(), set()
    for i in range(30):  # 3 s at 10 fps; they walk apart at 50 px/s each
        left, right = person_at(200 - 5 * i, 100), person_at(400 + 5 * i, 100)
        frame = [left, right] if rng.random() < 0.5 else [right, left]
        out = stream.update(frame, 10.0 + i / 10)
        assert len(out) == 2 and all(p.track_id for p in out)
        ids_of_left.add(left.track_id)
        ids_of_right.add(right.track_id)
    assert len(ids_of_left) == len(ids_of_right) == 1
    assert ids_of_left != ids_of_right


def test_frames_without_stamps_are_tracked_by_frame_count():
    stream = PersonStream()
    ids = {stream.update([person_at(300 + 3 * i, 100)], None)[0].track_id for i in range(10)}
    assert len(ids) == 1 and "" not in ids


def _track_error_px(stream: PersonStream, noise_px: float, frames: int = 90) -> tuple[float, float]:
    """Mean distance to the truth of the raw and of the streamed keypoints of a still, noisy person
    (30 fps), after the first second (the filter's start)."""
    rng = np.random.default_rng(7)
    raw_err, out_err = [], []
    truth = truth_at(300, 100)
    for i in range(frames):
        person = person_at(300, 100, noise_px, rng)
        raw = person.keypoints[:, :2].copy()
        out = stream.update([person], 5.0 + i / 30)[0]
        if i >= 30:
            raw_err.append(np.hypot(*(raw - truth).T).mean())
            out_err.append(np.hypot(*(out.keypoints[:, :2] - truth).T).mean())
    return float(np.mean(raw_err)), float(np.mean(out_err))


def test_smoothing_brings_a_jittery_still_person_closer_to_the_truth_and_reports_it():
    stream = PersonStream()
    raw_err, smoothed_err = _track_error_px(stream, noise_px=3.0)
    assert smoothed_err < 0.6 * raw_err, (raw_err, smoothed_err)
    jitter = stream.jitter()
    assert jitter["smoothed_accel_px"] < 0.5 * jitter["raw_accel_px"], jitter
    assert jitter["raw_accel_px"] > 3.0  # about sqrt(6) * 3 px * sqrt(pi/2) for white noise


def test_smoothing_off_tracks_but_leaves_keypoints_alone():
    stream = PersonStream(StreamParams(smoothing=False))
    raw_err, out_err = _track_error_px(stream, noise_px=3.0)
    assert out_err == pytest.approx(raw_err)
    assert np.isnan(stream.jitter()["raw_accel_px"]), "nothing smoothed, nothing measured"


def test_one_euro_parameters_given_by_set_params_take_effect():
    loose = PersonStream()
    loose.set_params(StreamParams(one_euro=OneEuroParams(min_cutoff_hz=50.0, beta=0.0)))  # above the frame rate
    raw_err, loose_err = _track_error_px(loose, noise_px=3.0)
    _, default_err = _track_error_px(PersonStream(), noise_px=3.0)
    assert loose_err > 0.9 * raw_err > default_err


def test_reset_forgets_the_tracks_so_the_same_person_gets_a_new_id():
    stream = PersonStream()
    first = {stream.update([person_at(300, 100)], 1.0 + i / 10)[0].track_id for i in range(5)}
    stream.reset()
    after = {stream.update([person_at(300, 100)], 1.5 + i / 10)[0].track_id for i in range(5)}
    assert len(first) == len(after) == 1
    assert first != after, "ids are never reused after a reset"


def test_tracking_off_passes_persons_through_untouched():
    stream = PersonStream(StreamParams(tracking=False))
    rng = np.random.default_rng(3)
    for i in range(10):
        persons = [person_at(300, 100, 3.0, rng), person_at(500, 100, 3.0, rng)]
        before = [p.keypoints.copy() for p in persons]
        out = stream.update(persons, 1.0 + i / 30)
        assert out is persons
        assert [p.track_id for p in out] == ["", ""]
        assert all(np.array_equal(p.keypoints, b) for p, b in zip(out, before))
