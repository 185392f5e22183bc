"""The time budget: a cost model fitted to the real network's forward times, and the input
size chosen from it. A runtime that really does more work per frame must get a smaller input
under the same budget; a burst of load must not shrink it, a lasting slow-down must.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from pose_ros.core import budget
from pose_ros.estimators.openpose_dnn import OpenPoseDnnEstimator




def fastest_in_turn(forward, sizes, rounds: int = 7) -> list:
    """The fastest of ``rounds`` timed passes at each (w, h), the sizes taken in turn (so a
    burst of load from another process hits them all alike), after one pass per shape.
    ``forward`` is one function or one per size."""
    forwards = forward if isinstance(forward, list) else [forward] * len(sizes)
    blobs = [np.zeros((1, 3, h, w), np.float32) for w, h in sizes]
    for f, blob in zip(forwards, blobs):
        f(blob)
    best = [float("inf")] * len(blobs)
    for _ in range(rounds):
        for i, (f, blob) in enumerate(zip(forwards, blobs)):
            t0 = time.perf_counter()
            f(blob)
            best[i] = min(best[i], (time.perf_counter() - t0) * 1e3)
    return best


class SlowEstimator(OpenPoseDnnEstimator):
    """The same network, run three times per pass: a runtime three times slower, for real."""

    def _forward(self, blob):
        for _ in range(2):
            super()._forward(blob)
        return super()._forward(blob)


def test_the_cost_model_predicts_the_real_network(model_file):
    est = OpenPoseDnnEstimator(zoom=False, frame_budget_ms=0, precision="f32", warmup=False)
    sizes = [(432, 328), (224, 288), (128, 128), (320, 240)]
    times = fastest_in_turn(est._forward, sizes)
    model = budget.fit_cost([(w * h, ms) for (w, h), ms in zip(sizes[:3], times[:3])])
    assert model.overhead_ms >= 0 and model.ms_per_mpx > 0
    assert model.predict(320 * 240) == pytest.approx(times[3], rel=0.5)   # a size the fit never saw


def test_a_slow_runtime_picks_a_smaller_input(model_file):
    fast = OpenPoseDnnEstimator(zoom=False, frame_budget_ms=0, precision="f32", warmup=False)
    slow = SlowEstimator(zoom=False, frame_budget_ms=0, precision="f32", warmup=False)
    sizes = [(432, 328), (224, 288), (128, 128)]
    # both timed in the same rounds, so load from other processes hits them alike
    times = fastest_in_turn([fast._forward] * 3 + [slow._forward] * 3, sizes * 2)
    fast_ms, slow_ms = times[:3], times[3:]
    assert slow_ms[0] > 2.0 * fast_ms[0]
    candidates = budget.scaled_inputs(432, 368, 8, 64)
    budget_ms = 1.5 * fast_ms[0]              # the full input fits the network run once, not thrice
    chosen = {}
    for name, times, est in (("fast", fast_ms, fast), ("slow", slow_ms, slow)):
        model = budget.fit_cost([(w * h, ms) for (w, h), ms in zip(sizes, times)])
        net = {c: est._trimmed(640, 480, *c) for c in candidates}
        chosen[name], _ = budget.choose_input(candidates, lambda c: model.predict(net[c][0] * net[c][1]), budget_ms)
    assert chosen["fast"] == (432, 368)
    assert chosen["slow"][0] < 432 and chosen["slow"][1] < 368


def test_the_estimator_reports_its_measured_choice(model_file):
    est = OpenPoseDnnEstimator(zoom=False, frame_budget_ms=1e6, precision="f32")
    info = est.describe()
    assert info["input_size"] == [432, 368] and info["frame_budget_ms"] == 1e6
    assert "432x368: predicted" in info["input_choice"] and info["cost_model"]["ms_per_mpx"] > 0
    tight = OpenPoseDnnEstimator(zoom=False, frame_budget_ms=1, precision="f32")   # nothing fits 1 ms
    assert tight.describe()["input_size"] == [64, 64] or "nothing fits" in tight.describe()["input_choice"]
    assert tight.network_input_size(640, 480)[0] < 432
    assert len(tight.infer(np.zeros((480, 640, 3), np.uint8)).persons) == 0


def test_a_burst_of_load_keeps_the_input_and_a_lasting_one_shrinks_it():
    model = budget.CostModel(overhead_ms=2.3, ms_per_mpx=110.0)     # bf16 on 2 AMX cores, measured
    sizes = budget.scaled_inputs(656, 496, 8, 64)
    pixels = 656 * 496

    def cost(size):
        return model.predict(size[0] * size[1], typical=False)
    chosen, _ = budget.choose_input(sizes, cost, 45.0)
    assert chosen == (656, 496)
    for _ in range(10):                    # frames as fast as at start-up
        model.observe(pixels, model.base(pixels))
    for _ in range(5):                     # another process takes the cores for a moment
        model.observe(pixels, 3.0 * model.base(pixels))
    assert budget.choose_input(sizes, cost, 45.0, current=chosen)[0] == chosen
    for _ in range(budget.WINDOW):         # the machine is slower from now on
        model.observe(pixels, 2.0 * model.base(pixels))
    assert model.predict(pixels) == pytest.approx(2.0 * model.base(pixels))
    smaller, why = budget.choose_input(sizes, cost, 45.0, current=chosen)
    assert smaller[0] * smaller[1] < pixels and cost(smaller) <= 45.0, why


def test_hysteresis_keeps_a_choice_that_still_roughly_fits():
    sizes = budget.scaled_inputs(432, 368, 8, 64)
    costs = {s: s[0] * s[1] / 4000.0 for s in sizes}        # 432x368 -> 39.7 ms
    assert budget.choose_input(sizes, costs.get, 38.0)[0] != (432, 368)
    assert budget.choose_input(sizes, costs.get, 38.0, current=(432, 368))[0] == (432, 368)
    assert budget.choose_input(sizes, costs.get, 30.0, current=(432, 368))[0] != (432, 368)
    assert budget.choose_input(sizes, costs.get, 0.0)[0] == (432, 368), "no budget: the largest"


def test_fit_needs_positive_samples_and_never_a_negative_overhead():
    with pytest.raises(ValueError):
        budget.fit_cost([])
    with pytest.raises(ValueError):
        budget.fit_cost([(1000, -1.0)])
    noisy = budget.fit_cost([(100_000, 20.0), (400_000, 21.0), (50_000, 30.0)])
    assert noisy.overhead_ms >= 0 and noisy.ms_per_mpx > 0
