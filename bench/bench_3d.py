#!/usr/bin/env python3
"""3D lifting and keypoint smoothing: what they cost per frame and what smoothing buys.

* ``lifting_cost``: :func:`pose_ros.core.lifting.lift_persons` for 10 people (COCO-18) on a
  640x480 depth image (a synthetic scene: people at 1.5-4 m in front of a wall, with holes),
  plus the One Euro smoothing of the same 10 people, in ms per frame (p50, p95).
* ``vtest_jitter``: the default model on vtest.avi (pedestrians, 10 fps video), tracked
  with stamps at the video's rate; keypoint jitter (mean second difference of a tracked
  keypoint, :func:`pose_ros.core.smoothing.keypoint_jitter_px`) and mean frame-to-frame step,
  raw and One Euro smoothed with the node's defaults. Once at every frame (10 fps) and
  once at every third frame (about what a 2-core CPU processes, ~3 fps).

Run: ``python bench/bench_3d.py [--quick]`` (after ``source tools/env.sh``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np

_PKG = str(Path(__file__).resolve().parent.parent / "pose_ros")
if _PKG not in sys.path:
    sys.path.insert(0, _PKG)

from pose_ros.core.lifting import LiftParams, lift_persons  # noqa: E402
from pose_ros.core.persons import Person  # noqa: E402
from pose_ros.core.skeletons import COCO18  # noqa: E402
from pose_ros.core.smoothing import KeypointSmoother, keypoint_jitter_px  # noqa: E402
from pose_ros.core.tracking import PersonTracker  # noqa: E402
from pose_ros.estimators import load_estimator  # noqa: E402

VIDEO = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
W, H = 640, 480
K = np.array([[525.0, 0.0, 319.5], [0.0, 525.0, 239.5], [0.0, 0.0, 1.0]])


def _scene(people: int, seed: int = 0):
    """``people`` standing figures side by side and their depth image (mm -> metres)."""
    rng = np.random.default_rng(seed)
    shape = np.stack([np.linspace(-0.15, 0.15, COCO18.num_keypoints),
                      np.linspace(0.05, 0.95, COCO18.num_keypoints)], axis=1)
    mm = np.full((H, W), 5000, np.uint16)
    persons = []
    for i in range(people):
        height = rng.uniform(120, 300)
        x, y = 40 + i * (W - 80) / max(people - 1, 1), rng.uniform(20, H - height - 10)
        kp = np.zeros((COCO18.num_keypoints, 3), np.float32)
        kp[:, :2] = shape * height + (x, y)
        kp[:, 2] = rng.uniform(0.3, 0.9, COCO18.num_keypoints)
        pts = np.rint(kp[:, :2]).astype(int)
        z = int(rng.uniform(1500, 4000))
        for a, b in COCO18.limbs:
            cv2.line(mm, tuple(pts[a]), tuple(pts[b]), z, 12)
        persons.append(Person(kp, 0.7, track_id=str(i + 1)))
    holes = rng.random((H, W)) < 0.05
    mm[holes] = 0
    depth = mm.astype(np.float32) / 1000.0
    depth[mm == 0] = np.nan
    return persons, depth


def lifting_cost(repeats: int = 300, people: int = 10) -> Dict[str, float]:
    persons, depth = _scene(people)
    params = LiftParams()
    for _ in range(10):
        lift_persons(persons, depth, K, (W, H), params)
    lift_ms: List[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = lift_persons(persons, depth, K, (W, H), params)
        lift_ms.append((time.perf_counter() - t0) * 1e3)
    smoother = KeypointSmoother()
    smooth_ms: List[float] = []
    for i in range(repeats):
        frame = [Person(p.keypoints.copy(), p.score, p.bbox, p.track_id) for p in persons]
        t0 = time.perf_counter()
        smoother.update(frame, i / 30.0)
        smooth_ms.append((time.perf_counter() - t0) * 1e3)
    valid = sum(o.num_valid for o in out) / (people * COCO18.num_keypoints)
    return {"people": people, "repeats": repeats,
            "lift_p50_ms": float(np.percentile(lift_ms, 50)), "lift_p95_ms": float(np.percentile(lift_ms, 95)),
            "smooth_p50_ms": float(np.percentile(smooth_ms, 50)),
            "smooth_p95_ms": float(np.percentile(smooth_ms, 95)), "valid_fraction": valid}


def vtest_jitter(frames: int = 150) -> List[Dict[str, float]]:
    cap = cv2.VideoCapture(VIDEO)
    if not cap.isOpened():
        raise SystemExit(f"cannot open {VIDEO} (Debian package opencv-doc provides it)")
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    estimator = load_estimator("openpose_dnn", model="mobilenet_thin", input_width=432, input_height=368)
    detections = []  # per video frame: the persons of the raw estimate
    for _ in range(frames):
        ok, image = cap.read()
        if not ok:
            break
        detections.append(estimator.infer(image).persons)
    cap.release()
    results = []
    for stride in (1, 3):
        tracker, smoother = PersonTracker(), KeypointSmoother()
        raw, smoothed = [], []
        for i in range(0, len(detections), stride):
            t = i / fps
            persons = [Person(p.keypoints.copy(), p.score, p.bbox) for p in detections[i]]
            tracker.update(persons, t)
            raw.append({p.track_id: p.keypoints.copy() for p in persons})
            smoother.update(persons, t)
            smoothed.append({p.track_id: p.keypoints.copy() for p in persons})
        before, after = keypoint_jitter_px(raw), keypoint_jitter_px(smoothed)
        results.append({"rate_hz": fps / stride, "frames": len(raw), "video_frames": len(detections),
                        "raw_accel_px": before["accel_px"], "smoothed_accel_px": after["accel_px"],
                        "raw_step_px": before["step_px"], "smoothed_step_px": after["step_px"]})
    return results


def describe_lifting(r: Dict[str, float]) -> str:
    return (f"lift {r['people']} people: p50 {r['lift_p50_ms']:.3f} ms, p95 {r['lift_p95_ms']:.3f} ms; "
            f"smooth: p50 {r['smooth_p50_ms']:.3f} ms, p95 {r['smooth_p95_ms']:.3f} ms "
            f"({r['repeats']} runs, {r['valid_fraction']:.0%} keypoints with depth)")


def describe_jitter(r: Dict[str, float]) -> str:
    return (f"vtest at {r['rate_hz']:.2f} fps ({r['frames']} frames): jitter {r['raw_accel_px']:.2f} -> "
            f"{r['smoothed_accel_px']:.2f} px ({r['smoothed_accel_px'] / r['raw_accel_px'] - 1:+.0%}), "
            f"step {r['raw_step_px']:.2f} -> {r['smoothed_step_px']:.2f} px")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and video frames")
    args = parser.parse_args()
    print(describe_lifting(lifting_cost(100 if args.quick else 300)))
    for r in vtest_jitter(60 if args.quick else 150):
        print(describe_jitter(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
