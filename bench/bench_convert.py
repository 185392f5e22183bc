#!/usr/bin/env python3
"""Image message -> BGR conversion (pose_ros.media.image_convert.raw_to_bgr) per encoding.

The payload is what rclpy hands a callback for ``sensor_msgs/Image.data`` (an
``array.array('B')``). For ``bgr8`` the converter returns a view of it (zero copy); the
"naive copy" rows are what a node does without that path: ``np.array(msg.data)`` reshaped
(one copy) and ``bytes(msg.data)`` then ``frombuffer(...).copy()`` (two copies). The other
encodings always convert into a new array.

Run: ``python bench/bench_convert.py [--repeats 200] [--quick]``. ``run(repeats)`` returns the
table rows for other scripts.
"""

from __future__ import annotations

import argparse
import array
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, List, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pose_ros"))

from pose_ros.media.image_convert import packed_step, raw_to_bgr  # noqa: E402

SIZES = ((640, 480), (1280, 720))
ENCODINGS = ("bgr8", "rgb8", "yuyv", "mono16", "rgb16", "bayer_rggb8", "bayer_rggb16", "nv21", "nv24")
Row = Tuple[str, str, float, float]  # case, size, median ms, p95 ms


def _payload(encoding: str, width: int, height: int) -> Tuple[array.array, int]:
    step = packed_step(encoding, width)
    planes = {"nv21": 1.5, "nv24": 3.0}.get(encoding, 1.0)
    data = array.array("B")
    rng = np.random.default_rng(0)
    data.frombytes(rng.integers(0, 256, int(step * height * planes), dtype=np.uint8).tobytes())
    return data, step


def _time(fn: Callable[[], object], repeats: int) -> Tuple[float, float]:
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def run(repeats: int = 200) -> List[Row]:
    rows: List[Row] = []
    for width, height in SIZES:
        size = f"{width}x{height}"
        data, step = _payload("bgr8", width, height)
        cases = [
            ("bgr8 zero-copy view (raw_to_bgr)", lambda: raw_to_bgr(data, width, height, step, "bgr8")),
            ("bgr8 private copy (raw_to_bgr copy=True)",
             lambda: raw_to_bgr(data, width, height, step, "bgr8", copy=True)),
            ("bgr8 naive: np.array(msg.data).reshape", lambda: np.array(data).reshape(height, width, 3)),
            ("bgr8 naive: frombuffer(bytes(msg.data)).copy",
             lambda: np.frombuffer(bytes(data), np.uint8).reshape(height, width, 3).copy()),
        ]
        for name, fn in cases:
            rows.append((name, size, *_time(fn, repeats)))
        for encoding in ENCODINGS[1:]:
            enc_data, enc_step = _payload(encoding, width, height)
            rows.append((f"{encoding} -> bgr8", size, *_time(
                lambda: raw_to_bgr(enc_data, width, height, enc_step, encoding), repeats)))
    return rows


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="30 repeats")
    args = parser.parse_args(argv)
    rows = run(30 if args.quick else args.repeats)
    print("| case | size | median ms | p95 ms |\n|---|---|---|---|")
    for case, size, median, p95 in rows:
        print(f"| {case} | {size} | {median:.3f} | {p95:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
