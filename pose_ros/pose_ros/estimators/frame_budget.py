"""The estimator's side of the time budget: measure forward passes, keep the cost model
current, and choose the coarse input size and the zoom passes' share from it.

Why measured, not configured: the same defaults run on a 2-core laptop with or without AMX
and on a workstation; timing the network here, at start-up and on every pass while
running, lets each machine spend exactly its budget (:mod:`pose_ros.core.budget`).
"""

from __future__ import annotations

import time
from typing import Callable, Optional, Tuple

import numpy as np

from pose_ros.core import budget

#: Default time per frame for the whole ``infer`` (coarse pass, zoom passes, parsing). 50 ms
#: leaves a 30 fps camera's node 16 ms of its 66 ms per output at 15 fps for image
#: conversion, publishing and the frame that waits (goal of issue 21: >= 15 fps out,
#: latency p95 <= 150 ms, on 2 cores).
DEFAULT_FRAME_BUDGET_MS = 50.0
#: Time a pass needs beyond its forward call (letterbox, blob, parsing), measured 1-3 ms.
PASS_EXTRA_MS = 1.5
#: The coarse pass keeps its input while predicted at up to this many budgets: it carries
#: the near people (a smaller input loses them: basketball/messi AP 0.56 -> 0.03 at 320x240),
#: and a start-up measurement on a busy machine must not shrink it (one read 2x the quiet
#: cost while another process ran a benchmark). A runtime clearly too slow (cv2.dnn: 2-3x
#: the budget) still gets a smaller input; the zoom passes absorb smaller overruns.
COARSE_OVERRUN = 1.5
#: Network inputs timed at start-up besides the coarse pass: a large and a small crop
#: (the small one pins down the per-pass overhead, which decides when crops merge).
CALIBRATION_CROPS = ((224, 288), (128, 128))


class FrameBudget:
    """Budget state of one estimator: the cost model and the coarse input chosen from it."""

    def __init__(self, budget_ms: float, max_size: Tuple[int, int], stride: int, min_side: int) -> None:
        self.budget_ms = float(budget_ms)
        self.max_size = tuple(max_size)
        self.candidates = budget.scaled_inputs(max_size[0], max_size[1], stride, min_side)
        self.model: Optional[budget.CostModel] = None
        self._shapes: set = set()     # network inputs run at least once
        self.size: Tuple[int, int] = self.max_size
        self.why = "not measured yet: the largest input"

    @property
    def enabled(self) -> bool:
        return self.budget_ms > 0

    def calibrate(self, forward: Callable[[np.ndarray], np.ndarray], sizes) -> None:
        """Time ``forward`` at each (w, h) in ``sizes`` and fit the model: one pass per shape
        to prepare it, then three rounds over the shapes in turn, the fastest per shape
        (drops most of what other processes add). In turn, because that is how the coarse
        pass and the crops run, and a pass at another shape than the last costs about 2 ms
        more on OpenVINO (measured: a 128x128 pass 2.5 ms back to back, 4.4 ms in turn)."""
        blobs = [np.zeros((1, 3, h, w), np.float32) for w, h in sizes]
        for blob in blobs:
            forward(blob)
            self._shapes.add((blob.shape[3], blob.shape[2]))
        best = [float("inf")] * len(blobs)
        for _ in range(3):
            for i, blob in enumerate(blobs):
                t0 = time.perf_counter()
                forward(blob)
                best[i] = min(best[i], (time.perf_counter() - t0) * 1e3)
        self.model = budget.fit_cost([(w * h, ms) for (w, h), ms in zip(sizes, best)])

    def observe(self, width: int, height: int, ms: float) -> None:
        """A timed forward pass at ``width x height``. The first pass at a shape is not
        counted: OpenVINO prepares kernels then, and it cost 2-5x the later ones."""
        if (width, height) not in self._shapes:
            self._shapes.add((width, height))
        elif self.model is not None:
            self.model.observe(width * height, ms)

    def pass_ms(self, pixels: int, typical: bool = True) -> float:
        """Predicted ms of one whole pass (forward + extra) over ``pixels`` network pixels;
        ``typical`` False: on the machine without other load (see CostModel)."""
        return (self.model.predict(pixels, typical) if self.model else 0.0) + PASS_EXTRA_MS

    def choose(self, net_size: Callable[[int, int], Tuple[int, int]]) -> Tuple[int, int]:
        """The largest input box whose coarse pass fits :data:`COARSE_OVERRUN` budgets;
        ``net_size(max_w, max_h)`` is the network input that box gives the current frame
        (padding trimmed)."""
        if not self.enabled or self.model is None:
            return self.size

        def cost(box):
            w, h = net_size(*box)
            return self.pass_ms(w * h, typical=False)
        self.size, why = budget.choose_input(self.candidates, cost, COARSE_OVERRUN * self.budget_ms,
                                             current=self.size)
        self.why = f"{why}; the coarse pass may take {COARSE_OVERRUN:g}x the {self.budget_ms:g} ms frame budget"
        return self.size

    def remaining_ms(self, coarse_pixels: int) -> float:
        """Budget left for zoom passes after a coarse pass over ``coarse_pixels``, as the
        model predicts it with the typical (median) load of the last passes.

        Predicted, not read off the clock: a burst of load in one frame (another process
        waking up) then does not cancel that frame's zoom, so the people found do not
        flicker with the machine's load; a lasting slow-down moves the median within
        :data:`pose_ros.core.budget.WINDOW` passes and the zoom shrinks with it."""
        return self.budget_ms - self.pass_ms(coarse_pixels)

    def describe(self) -> dict:
        return {"frame_budget_ms": self.budget_ms, "input_choice": self.why,
                "max_input_size": list(self.max_size),
                "cost_model": self.model.as_dict() if self.model else None}
