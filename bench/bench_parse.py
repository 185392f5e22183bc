#!/usr/bin/env python3
"""Benchmark of the OpenPose output parser (pose_ros.core.paf.decode_output).

Synthetic network outputs (57 x 46 x 54, COCO-18, as mobilenet_thin gives for a
432x368 input) with 1, 5, 10 and 20 people are parsed by

* ours: peaks at map resolution with sub-pixel refinement, all limb candidates
  scored in one numpy pass, greedy assembly, mapped back to a 640x480 source;
* a baseline in the style of the classic OpenCV OpenPose tutorial: every
  heatmap and PAF upsampled to the 640x480 source with cv2.resize, peaks from
  threshold + contours + minMaxLoc per blob, limb candidates scored with Python
  loops over each pair and its interpolated samples, then grouped.

Single thread (cv2.setNumThreads(1), BLAS/OpenMP pinned to one thread). The
baseline is much slower, so it runs ``max(3, repeats // 10)`` times.

Run: ``python bench/bench_parse.py [--repeats 200]``. ``run(repeats)`` returns
the table rows for other scripts (``make bench``).
"""

from __future__ import annotations

import os
import sys

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Dict, List, Tuple  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pose_ros"))

from pose_ros.core.geometry import compute_letterbox  # noqa: E402
from pose_ros.core.paf import DecodeParams, decode_output  # noqa: E402
from pose_ros.core.skeletons import COCO18, Skeleton  # noqa: E402
from pose_ros.core.synthetic import random_people, render_maps  # noqa: E402

MAP_W, MAP_H = 54, 46
NET_W, NET_H = 432, 368
SRC_W, SRC_H = 640, 480
PEOPLE = (1, 5, 10, 20)


# --------------------------------------------------------------------------
# Baseline: the classic tutorial approach (full-resolution maps, Python loops)
# --------------------------------------------------------------------------

def baseline_parse(output: np.ndarray, skeleton: Skeleton, width: int, height: int,
                   threshold: float = 0.1, samples: int = 10, paf_th: float = 0.1,
                   frac_th: float = 0.7) -> List[np.ndarray]:
    """Tutorial-style parsing; returns people as (K, 3) arrays in source pixels."""
    out = output[0]
    n_kp = skeleton.num_keypoints
    candidates: List[List[Tuple[float, float, float, int]]] = []
    all_points: List[Tuple[float, float, float]] = []
    for k in range(n_kp):
        prob = cv2.resize(out[k], (width, height))
        smooth = cv2.GaussianBlur(prob, (3, 3), 0, 0)
        mask = np.uint8(smooth > threshold)
        contours, _ = cv2.findContours(mask, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
        found = []
        for cnt in contours:
            blob = np.zeros(mask.shape, np.uint8)
            cv2.fillConvexPoly(blob, cnt, 1)
            _, max_val, _, max_loc = cv2.minMaxLoc(smooth * blob)
            found.append((float(max_loc[0]), float(max_loc[1]), float(prob[max_loc[1], max_loc[0]]),
                          len(all_points)))
            all_points.append(found[-1][:3])
        candidates.append(found)

    pairs_per_limb: List[List[Tuple[int, int, float]]] = []
    base = skeleton.paf_offset
    for (a, b), (cx, cy) in zip(skeleton.limbs, skeleton.paf_channels):
        paf_x = cv2.resize(out[base + cx], (width, height))
        paf_y = cv2.resize(out[base + cy], (width, height))
        pairs = []
        used_b = set()
        for ca in candidates[a]:
            best, best_score = -1, -1.0
            for j, cb in enumerate(candidates[b]):
                dx, dy = cb[0] - ca[0], cb[1] - ca[1]
                norm = (dx * dx + dy * dy) ** 0.5
                if norm == 0:
                    continue
                ux, uy = dx / norm, dy / norm
                xs = np.linspace(ca[0], cb[0], samples)
                ys = np.linspace(ca[1], cb[1], samples)
                scores = []
                for x, y in zip(xs, ys):
                    xi, yi = int(round(x)), int(round(y))
                    scores.append(paf_x[yi, xi] * ux + paf_y[yi, xi] * uy)
                scores = np.array(scores)
                avg = float(scores.mean())
                if (scores > paf_th).sum() / samples > frac_th and avg > best_score:
                    best, best_score = j, avg
            if best >= 0 and best not in used_b:
                used_b.add(best)
                pairs.append((ca[3], candidates[b][best][3], best_score))
        pairs_per_limb.append(pairs)

    rows: List[np.ndarray] = []   # per person: K peak ids (-1 = none) + score
    for (a, b), pairs in zip(skeleton.limbs, pairs_per_limb):
        for ga, gb, s in pairs:
            for row in rows:
                if row[a] == ga:
                    row[b] = gb
                    row[-1] += all_points[gb][2] + s
                    break
            else:
                row = np.full(n_kp + 1, -1.0)
                row[a], row[b] = ga, gb
                row[-1] = all_points[ga][2] + all_points[gb][2] + s
                rows.append(row)
    people = []
    for row in rows:
        ids = row[:n_kp].astype(int)
        if (ids >= 0).sum() < 3:
            continue
        kp = np.zeros((n_kp, 3), np.float32)
        for k, g in enumerate(ids):
            if g >= 0:
                kp[k] = all_points[g]
        people.append(kp)
    return people


# --------------------------------------------------------------------------

def make_output(n: int, seed: int = 0) -> np.ndarray:
    """A (1, 57, 46, 54) synthetic network output with ``n`` people."""
    rng = np.random.default_rng(seed)
    people = random_people(rng, n, COCO18, MAP_W, MAP_H)
    heat, pafs = render_maps(people, COCO18, MAP_W, MAP_H)
    return np.concatenate([heat, pafs])[None].astype(np.float32)


def _time(fn: Callable[[], object], repeats: int) -> Tuple[float, float, object]:
    result = fn()  # warm-up (and the result to report)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times)), float(np.percentile(times, 95)), result


def run(repeats: int = 200) -> List[Dict[str, float]]:
    """Time ours and the baseline for each people count; one dict per count."""
    cv2.setNumThreads(1)
    transform = compute_letterbox(SRC_W, SRC_H, NET_W, NET_H)
    params = DecodeParams()
    rows = []
    for n in PEOPLE:
        output = make_output(n)
        ours_med, ours_p95, ours = _time(
            lambda: decode_output(output, COCO18, params, transform), repeats)
        base_reps = max(3, repeats // 10)
        base_med, base_p95, base = _time(
            lambda: baseline_parse(output, COCO18, SRC_W, SRC_H), base_reps)
        rows.append({
            "people": n, "ours_found": len(ours), "baseline_found": len(base),
            "ours_median_ms": ours_med, "ours_p95_ms": ours_p95, "ours_runs": repeats,
            "baseline_median_ms": base_med, "baseline_p95_ms": base_p95, "baseline_runs": base_reps,
            "ratio": ours_med / base_med, "speedup": base_med / ours_med,
        })
    return rows


def print_table(rows: List[Dict[str, float]]) -> None:
    print(f"OpenPose parsing, COCO-18, maps {MAP_W}x{MAP_H} (net {NET_W}x{NET_H}) -> source "
          f"{SRC_W}x{SRC_H}, single thread, cv2 {cv2.__version__}, numpy {np.__version__}")
    head = (f"{'people':>6} | {'found ours/base':>15} | {'ours med':>9} {'p95':>7} | "
            f"{'baseline med':>12} {'p95':>8} | {'ours/base':>9} {'speedup':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['people']:>6} | {r['ours_found']:>7}/{r['baseline_found']:<7} | "
              f"{r['ours_median_ms']:>7.2f}ms {r['ours_p95_ms']:>5.2f}ms | "
              f"{r['baseline_median_ms']:>10.1f}ms {r['baseline_p95_ms']:>6.1f}ms | "
              f"{r['ratio']:>9.4f} {r['speedup']:>7.1f}x")
    print(f"(ours: {rows[0]['ours_runs']} runs; baseline: {rows[0]['baseline_runs']} runs; "
          "times are per frame, median and 95th percentile)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=200, help="timed runs of our parser per case")
    args = ap.parse_args()
    print_table(run(args.repeats))


if __name__ == "__main__":
    main()
