"""A do-nothing estimator showing the whole plugin contract in a few lines.

A real plugin would load its network in ``__init__`` (raising EstimatorError with a
useful message when it cannot) and run it in ``infer``.
"""

from __future__ import annotations

import time

import numpy as np
from pose_ros.estimators import COCO18, COMMON_OPTIONS, Estimator, EstimatorError, PoseResult, Skeleton, as_bgr


class FixedEstimator(Estimator):
    """Finds nobody, quickly. Option ``label`` is echoed by describe()."""

    api_version = 1
    OPTIONS = ("label",) + COMMON_OPTIONS  # the node passes the common ones; this plugin ignores them

    def __init__(self, **options) -> None:
        super().__init__(**options)
        unknown = sorted(set(options) - set(self.OPTIONS))
        if unknown:
            raise EstimatorError(f"fixed_example: unknown option(s) {unknown}; accepted: {self.OPTIONS}")
        self.label = str(options.get("label", "none"))

    @property
    def skeleton(self) -> Skeleton:
        return COCO18

    def infer(self, image: np.ndarray) -> PoseResult:
        t0 = time.perf_counter()
        bgr = as_bgr(image)   # same input validation as the built-in estimator
        h, w = bgr.shape[:2]
        return PoseResult(persons=[], skeleton=COCO18.name, image_width=w, image_height=h,
                          timings_ms={"total": (time.perf_counter() - t0) * 1e3})

    def describe(self) -> dict:
        return {"estimator": "fixed_example", "model": self.label, "backend": "none",
                "target": "none", "input_size": None}
