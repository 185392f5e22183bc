"""Camera on one host, pose node on another, over a shaped link: raw vs JPEG.

Two network namespaces joined by a veth pair (as in pose_ros/test/test_cross_host.py, whose
TwoHosts this reuses), the camera side's egress rate-limited with ``tc tbf`` (a token bucket;
``netem``, which would add delay, is not in every kernel: not in this project's machines).
image_source publishes vtest.avi (768x576) at ``--rate`` Hz; the pose node subscribes raw
``image_raw`` or ``image_raw/compressed`` (JPEG at ``--quality``). Measured on the inference
host: persons messages per second, latency from the image stamp to the persons message
(one machine, one clock), camera frames that arrived of those published, and Mbit/s on the
link. Needs root (network namespaces); prints a markdown table.

    python bench/bench_cross_host.py [--seconds 20] [--rate 30] [--quality 80]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "pose_ros" / "test"))
from test_cross_host import VIDEO, TwoHosts, _dds_env  # noqa: E402

PROBE = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import QoSProfile
    from diagnostic_msgs.msg import DiagnosticArray
    from pose_ros_msgs.msg import PersonKeypointsArray

    seconds = float(sys.argv[1])
    rclpy.init()
    node = Node("far_side_probe")
    lat, persons, received = [], [0], []
    def on_persons(m):
        now = node.get_clock().now().nanoseconds
        lat.append((now - (m.header.stamp.sec * 10**9 + m.header.stamp.nanosec)) / 1e6)
        persons[0] += 1
    node.create_subscription(PersonKeypointsArray, "/persons", on_persons, QoSProfile(depth=10))
    # Images that reached the node: its own count (a second image subscriber here would double
    # the traffic on the link).
    def on_diagnostics(m):
        for s in m.status:
            values = {kv.key: kv.value for kv in s.values}
            if "frames_received" in values:
                received.append((time.monotonic(), int(values["frames_received"])))
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, QoSProfile(depth=10))
    while persons[0] == 0:                        # warm-up: the node has its model and the link works
        rclpy.spin_once(node, timeout_sec=0.1)
    lat.clear(); persons[0] = 0; received.clear()
    t0 = time.monotonic()
    print("start", flush=True)
    while time.monotonic() - t0 < seconds:
        rclpy.spin_once(node, timeout_sec=0.05)
    dt = time.monotonic() - t0
    (ta, a), (tb, b) = received[0], received[-1]
    print(json.dumps({"fps": persons[0] / dt, "images_per_s": (b - a) / max(tb - ta, 1e-3),
                      "p50": float(np.percentile(lat, 50)) if lat else None,
                      "p95": float(np.percentile(lat, 95)) if lat else None}), flush=True)
""")

LINKS = [("unshaped", None), ("100 Mbit/s", "100mbit"), ("20 Mbit/s", "20mbit")]


def run_case(link: Optional[str], transport: str, seconds: float, rate: float, quality: int) -> Dict[str, float]:
    hosts = TwoHosts()
    reason = hosts.make()
    if reason:
        hosts.remove()
        raise SystemExit(f"cannot run: {reason}")
    try:
        if link is not None:   # 100 ms of queue at the link rate, as a switch port would hold
            done = subprocess.run(["ip", "netns", "exec", hosts.ns["cam"], "tc", "qdisc", "add", "dev",
                                   hosts.link[0], "root", "tbf", "rate", link, "burst", "256kb",
                                   "latency", "100ms"], capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"tc failed: {done.stderr.strip()}")
        env = _dds_env()
        logs = Path(os.environ.get("TMPDIR", "/tmp"))
        hosts.start("cam", [sys.executable, "-m", "pose_ros.apps.image_source", "--ros-args", "-p",
                            f"source:={VIDEO}", "-p", "loop:=true", "-p", f"rate_hz:={rate}", "-p",
                            f"jpeg_quality:={quality}"], env, logs / "bench_cross_cam.log")
        hosts.start("infer", [sys.executable, "-m", "pose_ros.ros.pose_node.node", "--ros-args",
                              "-r", "image:=image_raw", "-r", "image/compressed:=image_raw/compressed",
                              "-p", f"image_transport:={transport}"], env, logs / "bench_cross_node.log")
        probe = subprocess.Popen(["ip", "netns", "exec", hosts.ns["infer"], sys.executable, "-c", PROBE,
                                  str(seconds)], cwd=ROOT / "pose_ros", env=env,
                                 stdout=subprocess.PIPE, text=True)
        assert probe.stdout.readline().strip() == "start", "no persons arrived during the warm-up"
        rx0, t0 = hosts.rx_bytes("infer"), time.monotonic()
        result = json.loads(probe.stdout.readline())
        result["mbit_s"] = (hosts.rx_bytes("infer") - rx0) * 8 / (time.monotonic() - t0) / 1e6
        probe.wait(timeout=30)
        result["lost_pct"] = max(0.0, 100.0 * (1 - result["images_per_s"] / rate))
        return result
    finally:
        hosts.remove()


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--rate", type=float, default=30.0, help="camera rate, Hz")
    p.add_argument("--quality", type=int, default=80, help="JPEG quality of the compressed runs")
    args = p.parse_args(argv)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"CPU: {cpu}, {os.cpu_count()} cores; camera 768x576 at {args.rate:g} Hz; {args.seconds:g} s per row\n")
    print("| link | images | fps out | latency p50 / p95 ms | camera frames lost | Mbit/s on the link |")
    print("|---|---|---|---|---|---|")
    for name, link in LINKS:
        for transport in ("raw", "compressed"):
            r = run_case(link, transport, args.seconds, args.rate, args.quality)
            label = "raw bgr8" if transport == "raw" else f"JPEG q{args.quality}"
            lat = f"{r['p50']:.0f} / {r['p95']:.0f}" if r["p50"] is not None else "n/a"
            print(f"| {name} | {label} | {r['fps']:.1f} | {lat} | {r['lost_pct']:.0f} % | {r['mbit_s']:.1f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
