#!/usr/bin/env python3
"""Soak test: image_source -> pose_node -> this process for a long time at 30 fps input.

Same set-up as ``bench_e2e.py`` (separate processes, private ROS domain), plus the
pose_node's VmRSS sampled every few seconds. Checks, reported (exit status 1 if one
fails when run on its own):

* RSS growth < 5 %: mean of the first 3 samples after the warm-up (the larger of 10 s
  and 15 % of the run, at most a third of it) vs. mean of the last 3 samples;
* no dropped outputs: every ``persons`` message the node counted as published
  (``frames_processed`` in its final /diagnostics) arrived here, and outputs never
  stopped for more than 5 s;
* no errors: no bad input or estimator error in /diagnostics, no ERROR/Traceback line
  in the node logs, clean exit of both processes.

The issue asks for 10 minutes (the default); ``make bench`` runs a shorter soak and
says so in RESULTS.md.

Run: ``python bench/soak.py [--seconds 600] [--rate 30]`` (``--quick``: 60 s).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_e2e  # noqa: E402

MAX_RSS_GROWTH = 0.05
MAX_GAP_S = 5.0


def run(seconds: float = 600.0, rate_hz: float = 30.0, width: int = 432, height: int = 368,
        video: str = bench_e2e.VIDEO, sample_s: float = 0.0) -> Dict[str, object]:
    """Soak for ``seconds``; ``sample_s`` = RSS sampling period (0: about 60 samples, 0.5-5 s)."""
    sample_s = sample_s or min(5.0, max(0.5, seconds / 60.0))
    r = bench_e2e.run(rate_hz, seconds, width, height, video, rss_every_s=sample_s, label="soak")
    # warm-up: 10 s or 15 % of the run, but never more than a third of a short run
    warm_s = min(max(10.0, 0.15 * seconds), seconds / 3.0)
    samples = [(t, kb) for t, kb in r["rss_kb"] if t >= warm_s]
    if len(samples) >= 6:
        start = float(np.mean([kb for _, kb in samples[:3]]))
        end = float(np.mean([kb for _, kb in samples[-3:]]))
        growth = (end - start) / start
    else:
        start = end = growth = float("nan")
    lost = r["node_frames_processed"] - r["outputs"]
    checks = {
        "rss_growth_ok": bool(np.isfinite(growth) and growth < MAX_RSS_GROWTH),
        "no_dropped_outputs": bool(r["node_frames_processed"] >= 0 and lost == 0 and r["outputs"] > 0
                                   and r["max_gap_s"] < MAX_GAP_S),
        "no_errors": bool(not r["errors"] and r["node_bad_input"] == 0 and r["node_estimator_errors"] == 0),
    }
    return {**r, "seconds": seconds, "warmup_s": warm_s, "rss_start_mb": start / 1024.0,
            "rss_end_mb": end / 1024.0, "rss_growth": growth, "outputs_lost": lost,
            "rss_samples": len(samples), **checks, "ok": all(checks.values())}


def describe(r: Dict[str, object]) -> str:
    return (f"soak {r['seconds']:.0f} s at {r['rate_hz']:g} fps: {r['outputs']} outputs "
            f"({r['output_fps']:.2f} fps), lost {r['outputs_lost']}, max gap {r['max_gap_s']:.2f} s; "
            f"RSS {r['rss_start_mb']:.1f} -> {r['rss_end_mb']:.1f} MB ({r['rss_growth'] * 100:+.2f}%, "
            f"after {r['warmup_s']:.0f} s warm-up), peak {r['node_peak_rss_mb']:.1f} MB; "
            f"latency p95 {r['latency_p95_ms']:.0f} ms; errors: {r['errors'] or 'none'} -> "
            f"rss {'OK' if r['rss_growth_ok'] else 'FAIL'}, outputs "
            f"{'OK' if r['no_dropped_outputs'] else 'FAIL'}, errors {'OK' if r['no_errors'] else 'FAIL'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, help="soak duration (default 600; --quick 60)")
    ap.add_argument("--quick", action="store_true", help="60 s instead of 10 minutes")
    ap.add_argument("--rate", type=float, default=30.0, help="input fps")
    ap.add_argument("--width", type=int, default=432)
    ap.add_argument("--height", type=int, default=368)
    ap.add_argument("--video", default=bench_e2e.VIDEO)
    args = ap.parse_args()
    seconds = args.seconds or (60.0 if args.quick else 600.0)
    r = run(seconds, args.rate, args.width, args.height, args.video)
    print(describe(r))
    sys.exit(0 if r["ok"] else 1)


if __name__ == "__main__":
    main()
