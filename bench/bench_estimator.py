#!/usr/bin/env python3
"""Estimator benchmark: forward-pass time of the default model on real video frames.

Three measurements, all in this process, on frames of vtest.avi (pedestrians):

* ``run``: forward / preprocess / parse ms (p50, p95) at several input sizes through
  the public estimator API (``load_estimator(...).infer``), after a warm-up.
* ``threads_experiment``: the same at one size for several ``cv2.setNumThreads``
  values, to see whether the default thread count is the right one on this machine.
* ``overlap_experiment``: a frame loop over decoded frames (copy + letterbox + blob,
  then forward + parse; the node gets decoded frames from its subscription too) run
  sequentially, then with the preprocessing of frame N+1 on a second thread while
  frame N runs through the network; the gain is bounded by the share of the frame
  time spent outside the forward pass.

Run: ``python bench/bench_estimator.py [--quick]`` (after ``source tools/env.sh``).
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

_PKG = str(Path(__file__).resolve().parent.parent / "pose_ros")
if _PKG not in sys.path:
    sys.path.insert(0, _PKG)

from pose_ros.core.geometry import apply_letterbox, compute_letterbox  # noqa: E402
from pose_ros.core.paf import decode_output  # noqa: E402
from pose_ros.estimators import load_estimator  # noqa: E402

VIDEO = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
SIZES: Tuple[Tuple[int, int], ...] = ((320, 240), (432, 368), (656, 368))
DEFAULT_SIZE = (432, 368)
MODEL = "mobilenet_thin"


def read_frames(video: str, count: int, stride: int = 7) -> List[np.ndarray]:
    """``count`` frames spread through the video (every ``stride``-th, wrapping around),
    so timings see varying content and numbers of people."""
    cap = cv2.VideoCapture(video)
    if not cap.isOpened():
        raise SystemExit(f"cannot open {video} (Debian package opencv-doc provides it)")
    frames: List[np.ndarray] = []
    index = 0
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            if index == 0:
                raise SystemExit(f"{video}: no frame could be decoded")
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            index = 0
            continue
        if index % stride == 0:
            frames.append(frame)
        index += 1
    cap.release()
    return frames


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def make_estimator(width: int, height: int, runtime: str = "opencv", **options):
    """The default model on ``runtime`` (cv2.dnn unless told: the thread experiments are about it)."""
    return load_estimator("openpose_dnn", model=MODEL, input_width=width, input_height=height,
                          runtime=runtime, **options)


def trim_experiment(runs: int = 10, size: Tuple[int, int] = DEFAULT_SIZE,
                    video: str = VIDEO) -> List[Dict[str, float]]:
    """Forward timings with the letterbox padding kept vs trimmed (``trim_padding``),
    interleaved frame by frame so load changes hit both alike."""
    frames = read_frames(video, min(runs, 20))
    variants = {False: make_estimator(*size, trim_padding=False), True: make_estimator(*size)}
    forward: Dict[bool, List[float]] = {k: [] for k in variants}
    for est in variants.values():
        est.infer(frames[0])
    for i in range(runs):
        for trim, est in variants.items():
            forward[trim].append(est.infer(frames[i % len(frames)]).timings_ms["forward"])
    h, w = frames[0].shape[:2]
    return [{"trim_padding": trim, "network_input": "x".join(map(str, est.network_input_size(w, h))),
             "runs": runs, "forward_p50_ms": pct(forward[trim], 50), "forward_p95_ms": pct(forward[trim], 95),
             "forward_fps": 1000.0 / pct(forward[trim], 50)} for trim, est in variants.items()]


def time_estimator(width: int, height: int, frames: Sequence[np.ndarray], runs: int,
                   warmup: int = 2, runtime: str = "opencv") -> Dict[str, float]:
    """Per-stage timings of ``runs`` calls of ``infer`` (cycling over ``frames``)."""
    est = make_estimator(width, height, runtime)
    for i in range(warmup):
        est.infer(frames[i % len(frames)])
    stages: Dict[str, List[float]] = {"preprocess": [], "forward": [], "parse": [], "total": []}
    persons: List[int] = []
    for i in range(runs):
        result = est.infer(frames[i % len(frames)])
        for key in ("preprocess", "forward", "parse"):
            stages[key].append(result.timings_ms[key])
        stages["total"].append(sum(result.timings_ms.values()))
        persons.append(len(result.persons))
    row: Dict[str, float] = {"width": width, "height": height, "runs": runs, "runtime": runtime,
                             "threads": cv2.getNumThreads(), "persons_mean": float(np.mean(persons))}
    for key, values in stages.items():
        row[f"{key}_p50_ms"] = pct(values, 50)
        row[f"{key}_p95_ms"] = pct(values, 95)
    row["forward_fps"] = 1000.0 / row["forward_p50_ms"]
    return row


def run(sizes: Sequence[Tuple[int, int]] = SIZES, runs: int = 20, warmup: int = 2,
        video: str = VIDEO, runtime: str = "opencv") -> List[Dict[str, float]]:
    """One row per input size."""
    frames = read_frames(video, min(runs, 20))
    return [time_estimator(w, h, frames, runs, warmup, runtime) for w, h in sizes]


def threads_experiment(values: Sequence[int], runs: int = 10, size: Tuple[int, int] = DEFAULT_SIZE,
                       video: str = VIDEO) -> List[Dict[str, float]]:
    """Forward timings with ``cv2.setNumThreads(n)`` for each n; restores the setting.

    The settings are interleaved (n1, n2, ... per round) on one estimator, so a load
    change on a shared machine hits every setting alike instead of biasing one.
    """
    frames = read_frames(video, min(runs, 20))
    before = cv2.getNumThreads()
    est = make_estimator(*size)
    forward: Dict[int, List[float]] = {n: [] for n in values}
    try:
        for n in values:  # warm-up per setting (thread pool creation)
            cv2.setNumThreads(n)
            est.infer(frames[0])
        for i in range(runs):
            for n in values:
                cv2.setNumThreads(n)
                forward[n].append(est.infer(frames[i % len(frames)]).timings_ms["forward"])
    finally:
        cv2.setNumThreads(before)
    return [{"width": size[0], "height": size[1], "runs": runs, "set_threads": n,
             "forward_p50_ms": pct(v, 50), "forward_p95_ms": pct(v, 95),
             "forward_fps": 1000.0 / pct(v, 50)} for n, v in forward.items()]


class _Stages:
    """The estimator's pipeline split into a preprocessing stage and a network+parse
    stage, built from public pieces (``describe()``, geometry, paf) so both loops of
    ``overlap_experiment`` run exactly the same work."""

    def __init__(self, width: int, height: int) -> None:
        est = make_estimator(width, height)
        info = est.describe()
        pre = info["preprocessing"]
        self.skeleton, self.params = est.skeleton, est.decode_params
        self.size = (width, height)
        self.scale, self.mean, self.swap_rb = pre["scale"], tuple(pre["mean"]), pre["swap_rb"]
        self.output = info["output"]
        self.net = cv2.dnn.readNetFromTensorflow(info["model_files"]["weights"])
        self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self.net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)

    def preprocess(self, frame: np.ndarray):
        transform = compute_letterbox(frame.shape[1], frame.shape[0], *self.size)
        boxed = apply_letterbox(frame, transform, pad_value=0)
        blob = cv2.dnn.blobFromImage(boxed, self.scale, self.size, self.mean, self.swap_rb, False)
        return blob, transform

    def infer(self, blob: np.ndarray, transform) -> int:
        self.net.setInput(blob)
        out = self.net.forward(self.output)
        return len(decode_output(out, self.skeleton, self.params, transform))


def _read_loop(video: str, frames: int):
    """Yield ``frames`` decoded frames, looping over the video."""
    cap = cv2.VideoCapture(video)
    produced = 0
    while produced < frames:
        ok, frame = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        produced += 1
        yield frame
    cap.release()


def overlap_experiment(frames: int = 20, size: Tuple[int, int] = DEFAULT_SIZE,
                       video: str = VIDEO, block: int = 5) -> Dict[str, float]:
    """fps of preprocess -> forward+parse, sequential vs. overlapped (2 threads).

    Blocks of ``block`` frames alternate between the two loops (same frames for both),
    so load changes on a shared machine do not favour either. fps = 1000 / median
    frame interval (time between consecutive results; robust to load spikes); the
    total-time fps is returned too.
    """
    stages = _Stages(*size)
    warm = next(_read_loop(video, 1))
    stages.infer(*stages.preprocess(warm))
    pre_ms: List[float] = []
    net_ms: List[float] = []

    def sequential(clip: List[np.ndarray]) -> List[float]:
        done = [time.perf_counter()]
        for frame in clip:
            a = time.perf_counter()
            item = stages.preprocess(frame.copy())
            b = time.perf_counter()
            stages.infer(*item)
            done.append(time.perf_counter())
            net_ms.append((done[-1] - b) * 1e3)
            pre_ms.append((b - a) * 1e3)
        return list(np.diff(done) * 1e3)

    def overlapped(clip: List[np.ndarray]) -> List[float]:
        slot: "queue.Queue" = queue.Queue(maxsize=1)

        def produce() -> None:
            for frame in clip:
                slot.put(stages.preprocess(frame.copy()))
            slot.put(None)

        done = [time.perf_counter()]
        producer = threading.Thread(target=produce, name="prefetch", daemon=True)
        producer.start()
        while (item := slot.get()) is not None:
            stages.infer(*item)
            done.append(time.perf_counter())
        producer.join()
        return list(np.diff(done) * 1e3)

    clip_source = _read_loop(video, max(block, frames))
    intervals: Dict[str, List[float]] = {"sequential": [], "overlapped": []}
    done = 0
    while done < frames:
        clip = [next(clip_source) for _ in range(min(block, frames - done))]
        intervals["sequential"] += sequential(clip)
        intervals["overlapped"] += overlapped(clip)
        done += len(clip)
    seq_fps = 1000.0 / pct(intervals["sequential"], 50)
    ovl_fps = 1000.0 / pct(intervals["overlapped"], 50)
    return {"width": size[0], "height": size[1], "frames": frames, "block": block,
            "preprocess_p50_ms": pct(pre_ms, 50), "forward_parse_p50_ms": pct(net_ms, 50),
            "sequential_fps": seq_fps, "overlapped_fps": ovl_fps, "gain": ovl_fps / seq_fps - 1.0,
            "sequential_total_fps": frames / (sum(intervals["sequential"]) / 1e3),
            "overlapped_total_fps": frames / (sum(intervals["overlapped"]) / 1e3),
            "bound": pct(pre_ms, 50) / (pct(pre_ms, 50) + pct(net_ms, 50))}


def _print(rows: List[Dict[str, float]], threads: List[Dict[str, float]], overlap: Optional[dict]) -> None:
    print(f"openpose_dnn {MODEL}, OpenCV {cv2.__version__}, cv2 threads {cv2.getNumThreads()}")
    print(f"{'input':>9} | {'forward p50':>11} {'p95':>7} | {'pre p50':>7} | {'parse p50':>9} | "
          f"{'fwd fps':>7} | persons")
    for r in rows:
        print(f"{r['width']}x{r['height']:<5} | {r['forward_p50_ms']:>9.1f}ms {r['forward_p95_ms']:>5.1f}ms | "
              f"{r['preprocess_p50_ms']:>5.1f}ms | {r['parse_p50_ms']:>7.2f}ms | "
              f"{r['forward_fps']:>7.2f} | {r['persons_mean']:.1f}")
    for r in threads:
        print(f"setNumThreads({r['set_threads']}) at {r['width']}x{r['height']}: forward p50 "
              f"{r['forward_p50_ms']:.1f} ms, p95 {r['forward_p95_ms']:.1f} ms ({r['runs']} interleaved runs)")
    if overlap:
        print(f"overlap {overlap['width']}x{overlap['height']}, {overlap['frames']} frames: sequential "
              f"{overlap['sequential_fps']:.2f} fps, overlapped {overlap['overlapped_fps']:.2f} fps "
              f"({overlap['gain'] * 100:+.1f}%, median frame interval); "
              f"preprocess {overlap['preprocess_p50_ms']:.1f} ms, "
              f"forward+parse {overlap['forward_parse_p50_ms']:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 runs per size, no overlap experiment")
    ap.add_argument("--runs", type=int, help="timed runs per size (default 20, quick 5)")
    ap.add_argument("--threads", type=int, nargs="*", default=None,
                    help="cv2.setNumThreads values to compare at 432x368 (default: 1 2 4)")
    ap.add_argument("--no-overlap", action="store_true", help="skip the overlap experiment")
    ap.add_argument("--video", default=VIDEO)
    args = ap.parse_args()
    runs = args.runs or (5 if args.quick else 20)
    rows = run(runs=runs, video=args.video)
    threads = threads_experiment(args.threads if args.threads is not None else (1, 2, 4),
                                 runs=max(3, runs // 2), video=args.video)
    overlap = None if (args.quick or args.no_overlap) else overlap_experiment(runs, video=args.video)
    _print(rows, threads, overlap)


if __name__ == "__main__":
    main()
