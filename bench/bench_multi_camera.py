#!/usr/bin/env python3
"""Several cameras: one pose node with ``cameras:=[...]`` against one pose node per camera.

For 1, 2 and 4 cameras, each an ``image_source`` process replaying vtest.avi at 15 fps, the
same cameras are served either by one node (one model, one worker, oldest-waiting camera
first) or by one node per camera (a model each, competing for the same cores). Measured:

* total output fps (persons messages of all cameras per second) and each camera's share of
  them (fair: every share within 10 % of 1/N), while every camera streams (from the moment all
  have an output until the first stream ends);
* latency p95: receipt here minus the image stamp (same host, same clock);
* total RSS (sum of VmRSS at the end, and of the peaks VmHWM) and CPU % (100 % = one core) of
  the pose process(es).

Each run has its own ROS_DOMAIN_ID and namespace, localhost-only discovery (helpers shared
with ``bench_e2e.py``). Prints a markdown table with the CPU model.

Run: ``python bench/bench_multi_camera.py [--cameras 1 2 4] [--seconds 30] [--rate 15]``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_e2e import VIDEO, RosProbe, cpu_seconds, log_problems, ros_env, spawn, status_kb, stop  # noqa: E402

READY_TIMEOUT_S = 180.0
_runs = itertools.count()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


class Collector(RosProbe):
    """Subscribes every camera's persons and /diagnostics in a private context."""

    def __init__(self, domain_id: int, namespace: str, cameras: Sequence[str]) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        from pose_ros_msgs.msg import PersonKeypointsArray

        super().__init__(domain_id, namespace, "bench_multi_camera")
        self.recv: Dict[str, List[int]] = {c: [] for c in cameras}
        self.stamps: Dict[str, List[int]] = {c: [] for c in cameras}
        self.diag_names: set = set()
        self.diag_values: Dict[str, Dict[str, str]] = {}   # the newest values of each pose status
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        for camera in cameras:
            self.node.create_subscription(PersonKeypointsArray, f"{camera}/persons",
                                          lambda msg, c=camera: self._on_persons(c, msg), qos)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)

    def _on_persons(self, camera: str, msg) -> None:
        self.recv[camera].append(time.time_ns())
        self.stamps[camera].append(msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec)

    def _on_diag(self, msg) -> None:
        for status in msg.status:
            if "pose_node: pose" in status.name:
                self.diag_names.add(status.name)
                self.diag_values[status.name] = {kv.key: kv.value for kv in status.values}


def run(count: int, one_node: bool, seconds: float, rate_hz: float, video: str = VIDEO) -> Dict[str, object]:
    """``count`` cameras at ``rate_hz`` for ``seconds``, served by one node or by one node each."""
    n = next(_runs)
    domain_id = 215 + (os.getpid() + n) % 18
    namespace = f"/bench_mc_{os.getpid()}_{n}"
    cameras = [f"cam{i}" for i in range(count)]
    logdir = Path(tempfile.mkdtemp(prefix="pose_ros_bench_mc_"))
    env = ros_env(domain_id)
    collector = Collector(domain_id, namespace, cameras)
    nodes, sources, errors = [], [], []
    common = ["-p", "publish_annotated:=false"]
    try:
        if one_node:
            remaps = [a for c in cameras for a in ("-r", f"{c}/image:={c}/image_raw")]
            nodes.append(spawn("pose_ros.ros.pose_node.node", [
                "-r", f"__ns:={namespace}", "-p", f"cameras:=[{', '.join(cameras)}]", *remaps, *common],
                env, logdir / "pose_node.log"))
            wanted = {f"{namespace}/pose_node: pose {c}" for c in cameras}
        else:
            for c in cameras:
                nodes.append(spawn("pose_ros.ros.pose_node.node", [
                    "-r", f"__ns:={namespace}/{c}", "-r", "image:=image_raw", *common], env, logdir / f"pose_{c}.log"))
            wanted = {f"{namespace}/{c}/pose_node: pose" for c in cameras}
        if not collector.spin_until(lambda: wanted <= collector.diag_names or any(p.poll() is not None for p in nodes),
                                    READY_TIMEOUT_S):
            raise RuntimeError(f"the pose node(s) did not report ready within {READY_TIMEOUT_S:.0f} s")
        if any(p.poll() is not None for p in nodes):
            raise RuntimeError("a pose node exited at start")
        frames = int(round(rate_hz * seconds))
        for c in cameras:
            sources.append(spawn("pose_ros.apps.image_source", [
                "-r", f"__ns:={namespace}/{c}", "-p", f"source:={video}", "-p", f"rate_hz:={float(rate_hz)}",
                "-p", "loop:=true", "-p", f"max_frames:={frames}", "-p", "wait_for_subscribers:=1"],
                env, logdir / f"source_{c}.log"))
        first = lambda: all(collector.recv[c] for c in cameras)  # noqa: E731
        if not collector.spin_until(lambda: first() or any(p.poll() is not None for p in nodes), 120.0):
            raise RuntimeError("not every camera got an output within 120 s")
        t0, cpu0 = time.time_ns(), sum(cpu_seconds(p.pid) for p in nodes)
        # Until the first camera ends: the sources start a little apart, and a camera streaming
        # alone at the end would get every frame then (that is no unfairness of the node).
        collector.spin_until(lambda: any(s.poll() is not None for s in sources)
                             or any(p.poll() is not None for p in nodes), seconds * 1.5 + 60.0)
        t1, cpu1 = time.time_ns(), sum(cpu_seconds(p.pid) for p in nodes)
        rss_mb = sum(status_kb(p.pid, "VmRSS") for p in nodes) / 1024
        peak_mb = sum(status_kb(p.pid, "VmHWM") for p in nodes) / 1024
    except (RuntimeError, OSError) as exc:
        errors.append(str(exc))
        t0 = t1 = 0
        cpu0 = cpu1 = rss_mb = peak_mb = float("nan")
    finally:
        for proc in sources + nodes:
            stop(proc)
        collector.close()
    for log in sorted(logdir.glob("*.log")):
        problems = log_problems(log)
        if problems:
            errors.append(f"{log.name}: {problems[0].strip()}")
    if errors:
        errors.append(f"logs kept in {logdir}")
    else:
        shutil.rmtree(logdir, ignore_errors=True)
    window_s = max((t1 - t0) / 1e9, 1e-9)
    counts, latency = {}, []
    for c in cameras:
        recv, stamps = np.asarray(collector.recv[c]), np.asarray(collector.stamps[c])
        inside = (recv >= t0) & (recv <= t1)
        counts[c] = int(inside.sum())
        latency += list((recv[inside] - stamps[inside]) / 1e6)
    total = sum(counts.values())
    return {"cameras": count, "mode": "one node" if one_node else "node per camera",
            "fps": total / window_s if t1 else float("nan"),
            "shares": [counts[c] / total if total else 0.0 for c in cameras],
            "latency_p95_ms": float(np.percentile(latency, 95)) if latency else float("nan"),
            "rss_mb": rss_mb, "peak_rss_mb": peak_mb, "cpu_pct": (cpu1 - cpu0) / window_s * 100 if t1 else float("nan"),
            "errors": errors}


def table(results: List[Dict[str, object]], rate_hz: float, seconds: float) -> str:
    lines = [f"Several cameras at {rate_hz:g} fps each, {seconds:g} s, vtest.avi; {cpu_model()}, "
             f"{os.cpu_count()} cores",
             "", "| cameras | served by | total fps | share per camera (fair = 1/N) | fair within 10 % "
             "| latency p95 ms | RSS MB (peak) | CPU % |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        shares = r["shares"]
        fair = all(abs(s * len(shares) - 1) <= 0.10 for s in shares) if shares else False
        lines.append(f"| {r['cameras']} | {r['mode']} | {r['fps']:.1f} | {' / '.join(f'{s:.0%}' for s in shares)} "
                     f"| {'yes' if fair else 'NO'} | {r['latency_p95_ms']:.0f} | {r['rss_mb']:.0f} "
                     f"({r['peak_rss_mb']:.0f}) | {r['cpu_pct']:.0f} |")
    for r in results:
        for e in r["errors"]:
            lines.append(f"\n{r['cameras']} cameras, {r['mode']}: {e}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=15.0)
    parser.add_argument("--video", default=VIDEO)
    args = parser.parse_args()
    results = []
    for count in args.cameras:
        for one_node in ((True,) if count == 1 else (True, False)):
            r = run(count, one_node, args.seconds, args.rate, args.video)
            print(f"{count} camera(s), {r['mode']}: {r['fps']:.1f} fps, shares "
                  f"{[round(s, 3) for s in r['shares']]}, p95 {r['latency_p95_ms']:.0f} ms, RSS {r['rss_mb']:.0f} MB, "
                  f"CPU {r['cpu_pct']:.0f} %{'; ' + '; '.join(r['errors']) if r['errors'] else ''}", flush=True)
            results.append(r)
    print()
    print(table(results, args.rate, args.seconds))


if __name__ == "__main__":
    main()
