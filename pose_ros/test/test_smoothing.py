"""One Euro keypoint smoothing on synthetic tracks with known motion and noise."""

import numpy as np
import pytest
from pose_ros.core.persons import Person
from pose_ros.core.smoothing import (
    JitterMeter,
    KeypointSmoother,
    OneEuroFilter,
    OneEuroParams,
    keypoint_jitter_px,
    smoothing_factor,
)

K = 18
DIAG_PX = 200.0  # person size used by the synthetic tracks (box diagonal)


def _person(center, track_id="1", rng=None, noise_px=0.0, valid=None) -> Person:
    """A person whose K keypoints sit on a fixed pattern around ``center``, box diagonal DIAG_PX."""
    pattern = np.stack([np.linspace(-60, 60, K), np.linspace(-80, 80, K)], axis=1)
    kp = np.zeros((K, 3), np.float32)
    kp[:, :2] = pattern + center
    if rng is not None:
        kp[:, :2] += rng.normal(0, noise_px, size=(K, 2))
    kp[:, 2] = 0.9
    if valid is not None:
        kp[~valid] = 0
    side = DIAG_PX / np.sqrt(2)
    return Person(kp, 0.9, bbox=(center[0] - side / 2, center[1] - side / 2, side, side), track_id=track_id)


def _run(smoother, centers, times, rng=None, noise_px=0.0):
    raw, out = [], []
    for c, t in zip(centers, times):
        p = _person(np.asarray(c, float), rng=rng, noise_px=noise_px)
        raw.append(p.keypoints.copy())
        smoother.update([p], t)
        out.append(p.keypoints.copy())
    return np.stack(raw), np.stack(out)


def test_still_keypoint_loses_at_least_half_its_jitter():
    rng = np.random.default_rng(0)
    times = np.arange(300) / 30.0
    raw, out = _run(KeypointSmoother(), [(320, 240)] * len(times), times, rng, noise_px=3.0)
    settled = slice(30, None)  # after the first second
    std_raw = raw[settled, :, :2].std(axis=0).mean()
    std_out = out[settled, :, :2].std(axis=0).mean()
    assert std_raw == pytest.approx(3.0, rel=0.15)
    assert std_out <= 0.5 * std_raw, (std_raw, std_out)


def test_fast_move_lags_by_at_most_a_small_bound():
    # 2 body diagonals per second (400 px/s) for one second, then still; no noise.
    times = np.arange(60) / 30.0
    x = 100 + 400 * np.clip(times - 0.3, 0, 1.0)
    raw, out = _run(KeypointSmoother(), [(xi, 240) for xi in x], times)
    lag = np.abs(out[:, :, 0] - raw[:, :, 0]).max()
    assert lag <= 18.0, lag  # 0.09 diagonals: under 1.5 frames' worth of this fast motion at 30 fps
    # and it catches up once the person stops
    np.testing.assert_allclose(out[-1, :, 0], raw[-1, :, 0], atol=1.0)


def test_results_do_not_depend_on_the_frame_rate():
    def walk(t):  # accelerate, cruise, stop: a smooth 300 px move
        return 100 + 300 * (0.5 - 0.5 * np.cos(np.pi * np.clip(t / 2.0, 0, 1)))
    common = np.arange(0, 3.0 + 1e-9, 0.2)  # every 5 fps stamp is also a 30 fps stamp
    results = {}
    for fps in (5, 30):
        times = np.round(np.arange(0, 3.0 + 1e-9, 1 / fps), 9)
        _, out = _run(KeypointSmoother(), [(walk(t), 240) for t in times], times)
        keep = np.isin(np.round(times, 6), np.round(common, 6))
        results[fps] = out[keep, :, 0]
    assert results[5].shape == results[30].shape
    raw = walk(common)[:, None] + np.linspace(-60, 60, K)[None]
    lag5, lag30 = np.abs(results[5] - raw).max(), np.abs(results[30] - raw).max()
    # Measured: under 4 px apart on this 300 px move; a filter that counted frames instead of
    # using the stamps' time deltas ends up 60 px apart.
    assert np.abs(results[5] - results[30]).max() <= 8.0, (lag5, lag30)


def test_new_track_starts_unsmoothed_and_old_track_state_is_its_own():
    smoother = KeypointSmoother()
    for i in range(10):
        smoother.update([_person((100.0, 100.0))], i / 30)
    # A new id at a far position: taken as is, not pulled towards track 1.
    p2 = _person((500.0, 100.0), track_id="2")
    smoother.update([p2], 10 / 30)
    np.testing.assert_allclose(p2.keypoints, _person((500.0, 100.0)).keypoints)
    assert smoother.num_tracks == 2


def test_keypoint_lost_for_a_while_restarts_but_a_short_loss_keeps_state():
    smoother = KeypointSmoother(reset_gap_s=0.5)
    for i in range(30):
        smoother.update([_person((100.0, 100.0))], i / 30)
    lost = np.ones(K, bool)
    lost[0] = False
    t = 30 / 30
    for i in range(30):  # keypoint 0 missing for a second
        p = _person((100.0, 100.0), valid=lost)
        smoother.update([p], t)
        assert p.keypoints[0, 2] == 0 and (p.keypoints[0, :2] == 0).all()  # passes through undetected
        t += 1 / 30
    back = _person((160.0, 100.0))  # everyone moved 60 px; keypoint 0 was away for > reset_gap_s
    smoother.update([back], t)
    assert back.keypoints[0, 0] == pytest.approx(_person((160.0, 100.0)).keypoints[0, 0])
    assert back.keypoints[1, 0] < _person((160.0, 100.0)).keypoints[1, 0] - 1.0


def test_time_jump_back_forgets_all_filters():
    smoother = KeypointSmoother()
    for i in range(10):
        smoother.update([_person((100.0, 100.0))], 50 + i / 30)
    p = _person((300.0, 100.0))
    smoother.update([p], 1.0)  # the bag looped
    np.testing.assert_allclose(p.keypoints, _person((300.0, 100.0)).keypoints)


def test_untracked_persons_pass_through_and_stale_tracks_are_forgotten():
    smoother = KeypointSmoother(forget_after_s=2.0)
    p = _person((100.0, 100.0), track_id="")
    before = p.keypoints.copy()
    smoother.update([p], 0.0)
    np.testing.assert_array_equal(p.keypoints, before)
    smoother.update([_person((100.0, 100.0))], 0.0)
    smoother.update([], 1.0)
    assert smoother.num_tracks == 1
    smoother.update([], 3.5)
    assert smoother.num_tracks == 0


def test_filter_equal_or_older_sample_time_restarts_that_point():
    f = OneEuroFilter(OneEuroParams())
    f(np.array([[0.0, 0.0]]), 1.0)
    out = f(np.array([[10.0, 0.0]]), 1.0)  # the same stamp again: no dt to filter with
    np.testing.assert_allclose(out, [[10.0, 0.0]])


def test_smoothing_factor_is_the_exact_first_order_low_pass():
    # Two half steps of a static cutoff equal one full step.
    a1 = smoothing_factor(2.0, 0.1)
    a_half = smoothing_factor(2.0, 0.05)
    assert (1 - a1) == pytest.approx((1 - a_half) ** 2)


@pytest.mark.parametrize("kwargs", [{"min_cutoff_hz": 0.0}, {"beta": -1.0}, {"d_cutoff_hz": 0.0}])
def test_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        OneEuroParams(**kwargs).validate()


def test_jitter_measure_separates_noise_from_steady_motion():
    steady = [{"1": _person((100.0 + 5 * i, 100.0)).keypoints} for i in range(10)]
    j = keypoint_jitter_px(steady)
    assert j["step_px"] == pytest.approx(5.0, abs=1e-4)
    assert j["accel_px"] == pytest.approx(0.0, abs=1e-4)
    rng = np.random.default_rng(3)
    noisy = [{"1": _person((100.0, 100.0), rng=rng, noise_px=2.0).keypoints} for _ in range(50)]
    assert keypoint_jitter_px(noisy)["accel_px"] > 2.0
    assert np.isnan(keypoint_jitter_px([])["step_px"])


def test_new_parameters_reach_existing_tracks():
    rng = np.random.default_rng(5)
    times = np.arange(90) / 30.0
    soft, stiff = KeypointSmoother(), KeypointSmoother()
    _run(soft, [(320, 240)] * 30, times[:30], rng, noise_px=3.0)
    _run(stiff, [(320, 240)] * 30, times[:30], rng, noise_px=3.0)
    stiff.set_params(OneEuroParams(min_cutoff_hz=1000.0, beta=0.0))  # no smoothing at all
    raw, out = _run(stiff, [(320, 240)] * 60, times[30:], rng, noise_px=3.0)
    np.testing.assert_allclose(out, raw, atol=1e-3)
    with pytest.raises(ValueError):
        soft.set_params(OneEuroParams(min_cutoff_hz=-1.0))


def test_jitter_meter_matches_the_batch_measure_and_shows_smoothing_working():
    rng = np.random.default_rng(7)
    smoother, meter = KeypointSmoother(), JitterMeter()
    raw_frames, smooth_frames = [], []
    for i in range(120):
        p = _person((100.0 + 2 * i, 200.0), rng=rng, noise_px=3.0)
        raw = {"1": p.keypoints.copy()}
        smoother.update([p], i / 30)
        meter.add(raw, {"1": p.keypoints})
        raw_frames.append(raw)
        smooth_frames.append({"1": p.keypoints.copy()})
    got = meter.summary()
    batch_raw, batch_smooth = keypoint_jitter_px(raw_frames), keypoint_jitter_px(smooth_frames)
    assert got["raw_accel_px"] == pytest.approx(batch_raw["accel_px"])
    assert got["smoothed_accel_px"] == pytest.approx(batch_smooth["accel_px"])
    assert got["raw_step_px"] == pytest.approx(batch_raw["step_px"])
    assert got["smoothed_accel_px"] < 0.5 * got["raw_accel_px"]
    assert np.isnan(JitterMeter().summary()["raw_accel_px"])


def test_smoothed_person_box_follows_its_smoothed_keypoints():
    from pose_ros.core.persons import bbox_from_keypoints
    smoother = KeypointSmoother()
    rng = np.random.default_rng(3)
    base = np.column_stack([rng.uniform(100, 200, 18), rng.uniform(50, 300, 18), np.ones(18)]).astype(np.float32)
    for i in range(10):
        kp = base.copy()
        kp[:, :2] += rng.normal(0, 4, (18, 2)).astype(np.float32)
        person = Person(kp, 0.9, track_id="1")
        raw_box = person.bbox
        (out,) = smoother.update([person], i / 30.0)
        assert out.bbox == bbox_from_keypoints(out.keypoints)
    assert out.bbox != raw_box, "the last frame's noise was smoothed away, so the box moved"
