"""A per-frame time budget: predict what a network pass costs, and choose what fits.

Why a model of the cost instead of a fixed input size: the same default must keep up with a
30 fps camera on a 2-core laptop and see as far as it can on a workstation. A forward pass
costs about ``overhead + rate * pixels`` (measured with mobilenet_thin on OpenVINO, 2 cores:
2-3 ms per call plus 0.115 us per input pixel in bf16, 0.25 us in f32; bench/RESULTS.md,
"Accuracy at speed"), so passes timed at start-up give both numbers, and the times seen
while running keep them current.

Pure logic: no clocks here. The estimator measures and calls :meth:`CostModel.observe`.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, Tuple

#: Passes remembered for the load factors (about two seconds of video at 15 fps).
WINDOW = 30
#: One observation's ratio to the prediction is clipped to these bounds.
RATIO_LIMITS = (0.25, 8.0)


@dataclass
class CostModel:
    """Predicted ms of one forward pass: ``(overhead_ms + ms_per_mpx * Mpx) * load``.

    ``overhead_ms`` and ``ms_per_mpx`` come from passes timed at start-up (:func:`fit_cost`);
    the load is the ratio of observed to predicted times over the last :data:`WINDOW` passes
    (1.0 before any). Two readings of it, for two uses:

    * ``typical`` (the median): what the next pass will likely cost now, to plan this
      frame's zoom passes against the time left in it;
    * not typical (the fastest): what the machine can do when nothing else runs on it, to
      choose the input size. A burst of load from another process then does not shrink
      the input (and change the people found) for a while; a slower machine or runtime does.
    """

    overhead_ms: float
    ms_per_mpx: float
    ratios: deque = field(default_factory=lambda: deque(maxlen=WINDOW), repr=False)

    def base(self, pixels: float) -> float:
        """The start-up prediction for ``pixels`` network-input pixels (width x height)."""
        return self.overhead_ms + self.ms_per_mpx * pixels / 1e6

    def load(self, typical: bool = True) -> float:
        if not self.ratios:
            return 1.0
        return float(statistics.median(self.ratios)) if typical else float(min(self.ratios))

    def predict(self, pixels: float, typical: bool = True) -> float:
        """Expected ms of a pass over ``pixels`` network-input pixels (see class doc)."""
        return self.base(pixels) * self.load(typical)

    def observe(self, pixels: float, ms: float) -> None:
        """Remember a measured pass (its ratio to the start-up prediction)."""
        base = self.base(pixels)
        if base > 0 and math.isfinite(ms) and ms > 0:
            self.ratios.append(min(max(ms / base, RATIO_LIMITS[0]), RATIO_LIMITS[1]))

    def as_dict(self) -> dict:
        return {"overhead_ms": round(self.overhead_ms, 2), "ms_per_mpx": round(self.ms_per_mpx, 1),
                "load_typical": round(self.load(True), 2), "load_fastest": round(self.load(False), 2)}


def fit_cost(samples: Sequence[Tuple[float, float]]) -> CostModel:
    """A CostModel from ``(pixels, ms)`` pairs: least squares over two or more input sizes.

    One size alone (or sizes too close to tell apart) cannot separate the per-call overhead
    from the per-pixel rate; it is then all rate (overhead 0), which overestimates small
    passes, never underestimates them. The overhead is never negative.
    """
    if not samples:
        raise ValueError("fit_cost needs at least one (pixels, ms) sample")
    for px, ms in samples:
        if not (px > 0 and ms > 0 and math.isfinite(px) and math.isfinite(ms)):
            raise ValueError(f"samples must be positive finite (pixels, ms), got {(px, ms)}")
    mpx = [px / 1e6 for px, _ in samples]
    ms = [m for _, m in samples]
    n = len(samples)
    mean_x, mean_y = sum(mpx) / n, sum(ms) / n
    var = sum((x - mean_x) ** 2 for x in mpx)
    if var < 1e-6 * max(mean_x, 1e-9) ** 2:
        return CostModel(0.0, mean_y / mean_x)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(mpx, ms)) / var
    overhead = mean_y - slope * mean_x
    if overhead < 0 or slope <= 0:   # noise: fall back to a line through the origin
        return CostModel(0.0, sum(ms) / sum(mpx))
    return CostModel(overhead, slope)


def scaled_inputs(max_w: int, max_h: int, stride: int, min_side: int, steps: int = 12) -> list:
    """Input sizes to choose from, largest first: ``max_w x max_h`` and smaller ones at the
    same aspect, each side a multiple of ``stride`` and at least ``min_side``.

    Steps of about 8 % in side length (15 % in pixels, roughly 15 % in time): fine enough
    that the budget is used, few enough to try them all."""
    sizes, seen = [], set()
    for k in range(steps + 1):
        f = 0.92 ** k
        w = max(min_side, int(round(max_w * f / stride)) * stride)
        h = max(min_side, int(round(max_h * f / stride)) * stride)
        if (w, h) not in seen and w <= max_w and h <= max_h:
            seen.add((w, h))
            sizes.append((w, h))
    return sizes


def choose_input(candidates: Sequence[Tuple[int, int]], cost_ms: Callable[[Tuple[int, int]], float],
                 budget_ms: float, current: Optional[Tuple[int, int]] = None,
                 hysteresis: float = 0.15) -> Tuple[Tuple[int, int], str]:
    """The largest candidate whose predicted cost fits ``budget_ms``, and why (for diagnostics).

    ``candidates`` come largest first (:func:`scaled_inputs`). With nothing fitting, the
    smallest. ``current`` is kept while its cost stays within ``budget * (1 + hysteresis)``
    and no larger candidate fits with ``hysteresis`` to spare, so that a noisy measurement
    does not flip the input size (and the people found) from frame to frame.
    """
    if not candidates:
        raise ValueError("choose_input needs at least one candidate")
    if budget_ms <= 0:
        return tuple(candidates[0]), "no budget: the largest input"
    fitting = next((c for c in candidates if cost_ms(c) <= budget_ms), None)
    if current is not None and tuple(current) in [tuple(c) for c in candidates]:
        current = tuple(current)
        keep = cost_ms(current) <= budget_ms * (1.0 + hysteresis)
        larger = [c for c in candidates[:list(map(tuple, candidates)).index(current)]
                  if cost_ms(c) <= budget_ms * (1.0 - hysteresis)]
        if keep and not larger:
            return current, _why(current, cost_ms(current), budget_ms, "kept")
    if fitting is None:
        smallest = tuple(candidates[-1])
        return smallest, _why(smallest, cost_ms(smallest), budget_ms, "smallest; nothing fits")
    return tuple(fitting), _why(tuple(fitting), cost_ms(fitting), budget_ms, "largest that fits")


def _why(size: Tuple[int, int], ms: float, budget_ms: float, reason: str) -> str:
    return f"{size[0]}x{size[1]}: predicted {ms:.0f} ms of a {budget_ms:.0f} ms budget ({reason})"
