#!/usr/bin/env python3
"""Baseline: the classic OpenCV OpenPose tutorial loop, single-threaded Python.

What the tutorials do, per frame: ``VideoCapture.read``, ``blobFromImage`` (squashing
the frame to the network input), ``net.forward``, then upsample EVERY heatmap and PAF
to the frame size, find the peaks of each map and group them with the PAFs using
Python loops. The parsing half is ``baseline_parse`` from ``bench/bench_parse.py``
(the same baseline the parsing benchmark uses; not duplicated here).

Same model, same input size and the model's correct preprocessing (from the model
manifest: raw BGR, scale 1, mean 0, no swap for mobilenet_thin), so only the pipeline
differs. Our side runs the same frame loop with ``load_estimator(...).infer``. Blocks
of frames alternate between the two loops, so load changes on a shared machine do not
favour either.

Run: ``python bench/baseline_tutorial.py [--quick] [--frames N]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import cv2
import numpy as np

_HERE = Path(__file__).resolve().parent
for _p in (str(_HERE.parent / "pose_ros"), str(_HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from bench_parse import baseline_parse  # noqa: E402
from pose_ros.core.skeletons import get_skeleton  # noqa: E402
from pose_ros.estimators import load_estimator  # noqa: E402

from pose_ros import models  # noqa: E402

VIDEO = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
MODEL = "mobilenet_thin"


class TutorialPipeline:
    """The tutorial's per-frame code, with the model's own preprocessing."""

    def __init__(self, width: int, height: int, model: str = MODEL) -> None:
        resolved = models.resolve(model)
        spec = resolved.spec
        if spec.format != "tensorflow":
            raise SystemExit(f"the baseline loads TensorFlow graphs only; {model} is {spec.format}")
        self.net = cv2.dnn.readNetFromTensorflow(str(resolved.paths["weights"]))
        self.output = spec.output
        self.skeleton = get_skeleton(spec.skeleton)
        self.size = (width, height)
        pre = spec.preprocessing
        self.scale, self.mean, self.swap_rb = pre.scale, tuple(pre.mean), pre.swap_rb

    def process(self, frame: np.ndarray) -> Tuple[int, float, float]:
        """People found, forward ms, parse (upsample + peaks + grouping) ms."""
        t0 = time.perf_counter()
        blob = cv2.dnn.blobFromImage(frame, self.scale, self.size, self.mean, self.swap_rb, crop=False)
        self.net.setInput(blob)
        out = self.net.forward(self.output) if self.output else self.net.forward()
        t1 = time.perf_counter()
        people = baseline_parse(out, self.skeleton, frame.shape[1], frame.shape[0])
        t2 = time.perf_counter()
        return len(people), (t1 - t0) * 1e3, (t2 - t1) * 1e3


def _reader(video: str):
    cap = cv2.VideoCapture(video)
    if not cap.isOpened():
        raise SystemExit(f"cannot open {video} (Debian package opencv-doc provides it)")
    return cap


def _read(cap) -> np.ndarray:
    ok, frame = cap.read()
    if not ok:  # loop the video
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        ok, frame = cap.read()
    return frame


def run(frames: int = 20, width: int = 432, height: int = 368, video: str = VIDEO,
        block: int = 5, runtime: str = "opencv") -> Dict[str, float]:
    """fps of the tutorial loop (cv2.dnn) and of ours on ``runtime`` over the same frames (interleaved blocks)."""
    tutorial = TutorialPipeline(width, height)
    ours = load_estimator("openpose_dnn", model=MODEL, input_width=width, input_height=height,
                          runtime=runtime)
    cap_base, cap_ours = _reader(video), _reader(video)
    warm = _read(cap_base)
    _read(cap_ours)
    tutorial.process(warm)   # warm-up: first forward pass allocates
    ours.infer(warm)
    base_s = ours_s = 0.0
    fwd: List[float] = []
    parse: List[float] = []
    ours_parse: List[float] = []
    found_base = found_ours = 0
    done = 0
    while done < frames:
        n = min(block, frames - done)
        t0 = time.perf_counter()
        for _ in range(n):
            people, f_ms, p_ms = tutorial.process(_read(cap_base))
            fwd.append(f_ms)
            parse.append(p_ms)
            found_base += people
        t1 = time.perf_counter()
        for _ in range(n):
            result = ours.infer(_read(cap_ours))
            ours_parse.append(result.timings_ms["parse"])
            found_ours += len(result.persons)
        t2 = time.perf_counter()
        base_s += t1 - t0
        ours_s += t2 - t1
        done += n
    cap_base.release()
    cap_ours.release()
    return {
        "width": width, "height": height, "frames": frames,
        "frame_size": f"{warm.shape[1]}x{warm.shape[0]}",
        "baseline_fps": frames / base_s, "ours_fps": frames / ours_s,
        "speedup": base_s / ours_s,
        "baseline_forward_p50_ms": float(np.median(fwd)),
        "baseline_parse_p50_ms": float(np.median(parse)),
        "ours_parse_p50_ms": float(np.median(ours_parse)),
        "baseline_persons_mean": found_base / frames, "ours_persons_mean": found_ours / frames,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="6 frames instead of 20")
    ap.add_argument("--frames", type=int, help="frames per pipeline (default 20, quick 6)")
    ap.add_argument("--width", type=int, default=432)
    ap.add_argument("--height", type=int, default=368)
    ap.add_argument("--video", default=VIDEO)
    args = ap.parse_args()
    r = run(args.frames or (6 if args.quick else 20), args.width, args.height, args.video)
    print(f"{MODEL} at {r['width']}x{r['height']}, {r['frame_size']} frames of {args.video}, "
          f"{r['frames']} frames per pipeline, cv2 threads {cv2.getNumThreads()}")
    print(f"tutorial baseline: {r['baseline_fps']:.2f} fps (forward p50 {r['baseline_forward_p50_ms']:.0f} ms, "
          f"upsample+peaks+grouping p50 {r['baseline_parse_p50_ms']:.1f} ms, "
          f"{r['baseline_persons_mean']:.1f} people/frame)")
    print(f"ours (estimator.infer): {r['ours_fps']:.2f} fps (parse p50 {r['ours_parse_p50_ms']:.2f} ms, "
          f"{r['ours_persons_mean']:.1f} people/frame)")
    print(f"ours / baseline: {r['speedup']:.2f}x")


if __name__ == "__main__":
    main()
