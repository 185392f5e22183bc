#!/usr/bin/env python3
"""End-to-end benchmark over ROS 2, between processes, on vtest.avi.

``image_source`` (video -> ``image_raw`` at ``rate_hz``) and ``pose_node`` run as
separate processes; this process subscribes ``persons`` and ``/diagnostics``. Measured:

* output fps: persons messages per second between the first and the last one;
* latency: receipt of ``persons`` here minus the image header stamp (image_source
  stamps with the system clock at publication; same host, same clock), p50/p95/max;
* drop rate: 1 - outputs / frames published (the node keeps only the newest frame,
  so with input faster than the node most frames are dropped by design);
* CPU % of the pose_node process between the first and the last output (100 % = one
  core) and its peak RSS (VmHWM), both read from /proc.

Each run gets its own ROS_DOMAIN_ID (215-232, a range the tests do not use), a private
namespace and localhost-only discovery, so it cannot talk to anything else running on
the machine. The nodes run from this source tree (``python -m pose_ros.<node>``).

Run: ``python bench/bench_e2e.py [--quick] [--rates 15 30] [--seconds 40]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

_REPO = Path(__file__).resolve().parent.parent
_PKG = str(_REPO / "pose_ros")
if _PKG not in sys.path:
    sys.path.insert(0, _PKG)

VIDEO = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
READY_TIMEOUT_S = 90.0
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_run_counter = itertools.count()


# --------------------------------------------------------------------------- /proc

def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (fields 14 and 15 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        after_name = f.read().rsplit(")", 1)[1].split()
    return (int(after_name[11]) + int(after_name[12])) / _CLK_TCK


def status_kb(pid: int, key: str) -> int:
    """A ``kB`` field of /proc/<pid>/status, e.g. VmRSS or VmHWM (peak RSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(f"{key} not in /proc/{pid}/status")


# --------------------------------------------------------------------------- processes

def ros_env(domain_id: int) -> Dict[str, str]:
    """Environment of the node processes: this source tree first, private domain."""
    env = dict(os.environ)
    env["PYTHONPATH"] = _PKG + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["ROS_DOMAIN_ID"] = str(domain_id)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def spawn(module: str, ros_args: Sequence[str], env: Dict[str, str], log: Path) -> subprocess.Popen:
    """Start ``python -m module --ros-args ...`` (or ``python module`` when it is a .py
    path) with stdout+stderr to ``log``."""
    out = open(log, "wb")
    target = [module] if module.endswith(".py") else ["-m", module]
    try:
        return subprocess.Popen([sys.executable, *target, "--ros-args", *ros_args],
                                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=str(_REPO))
    finally:
        out.close()  # the child holds its own descriptor


def stop(proc: Optional[subprocess.Popen], timeout_s: float = 10.0) -> Optional[int]:
    """SIGINT (clean ROS shutdown), then SIGKILL if it does not exit; the exit status."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def log_problems(log: Path) -> List[str]:
    """Lines of a node log that report an error."""
    if not log.exists():
        return []
    text = log.read_text(errors="replace").splitlines()
    return [line for line in text if "[ERROR]" in line or "Traceback" in line or "[FATAL]" in line]


# --------------------------------------------------------------------------- collector

@dataclass
class Observed:
    """What the bench process saw during one run."""

    recv_ns: List[int] = field(default_factory=list)
    stamp_ns: List[int] = field(default_factory=list)
    persons: List[int] = field(default_factory=list)
    node_cpu_s: List[float] = field(default_factory=list)    # pose_node CPU time at each output
    source_cpu_s: List[float] = field(default_factory=list)  # image_source CPU time at each output
    diagnostics: List[Dict[str, str]] = field(default_factory=list)
    rss_kb: List[Tuple[float, int]] = field(default_factory=list)  # (s since first output, VmRSS)


class RosProbe:
    """One node of the bench's own in a private rclpy context (no signal handlers: the bench
    handles Ctrl-C), spun until a condition holds; the benches' collectors build on it."""

    def __init__(self, domain_id: int, namespace: str, name: str) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        self._rclpy = rclpy
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node(name, namespace=namespace, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, predicate, timeout_s: float, step_s: float = 0.05) -> bool:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                return False
            self.executor.spin_once(timeout_sec=step_s)
        return True

    def close(self) -> None:
        self.executor.remove_node(self.node)
        self.node.destroy_node()
        self.executor.shutdown()
        self._rclpy.try_shutdown(context=self.context)


class Collector(RosProbe):
    """rclpy side of the bench: subscribes persons + /diagnostics in a private context."""

    def __init__(self, domain_id: int, namespace: str) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

        from pose_ros_msgs.msg import PersonKeypointsArray

        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        super().__init__(domain_id, namespace, "bench_collector")
        self.seen = Observed()
        self.node_pid: Optional[int] = None
        self.source_pid: Optional[int] = None
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(PersonKeypointsArray, "persons", self._on_persons, qos)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)

    def _on_persons(self, msg) -> None:
        now = time.time_ns()
        s = self.seen
        s.recv_ns.append(now)
        s.stamp_ns.append(msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec)
        s.persons.append(len(msg.persons))
        for pid, out in ((self.node_pid, s.node_cpu_s), (self.source_pid, s.source_cpu_s)):
            try:
                out.append(cpu_seconds(pid) if pid else float("nan"))
            except (OSError, IndexError):
                out.append(float("nan"))

    def _on_diag(self, msg) -> None:
        for status in msg.status:
            if status.name.endswith("pose_node: pose"):
                values = {kv.key: kv.value for kv in status.values}
                values["_level"] = str(int.from_bytes(status.level, "little")
                                       if isinstance(status.level, bytes) else int(status.level))
                values["_message"] = status.message
                self.seen.diagnostics.append(values)


# --------------------------------------------------------------------------- one run

def _pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def run(rate_hz: float, seconds: float, width: int = 432, height: int = 368, video: str = VIDEO,
        node_env: Optional[Dict[str, str]] = None, rss_every_s: float = 0.0,
        label: str = "", node_params: Optional[Dict[str, str]] = None,
        both_env: Optional[Dict[str, str]] = None,
        estimator_options: Optional[Dict[str, object]] = None) -> Dict[str, object]:
    """Stream ``rate_hz * seconds`` frames through image_source -> pose_node -> here.

    ``node_env`` adds environment variables to the pose_node process only (e.g.
    OPENCV_FOR_THREADS_NUM), ``both_env`` to the camera and the node (e.g. the Fast DDS
    profile's opt-out), ``node_params`` ROS parameters (e.g. ``{"runtime": "opencv"}``).
    ``rss_every_s`` > 0 samples the node's VmRSS that often
    (for the soak test). ``estimator_options`` are merged into the built-in estimator's
    options (``bench/e2e_node.py``), for options the node has no parameter for.
    Returns the metrics; ``errors`` lists anything that went wrong.
    """
    n = next(_run_counter)
    domain_id = 215 + (os.getpid() + n) % 18
    namespace = f"/bench_{os.getpid()}_{n}"
    frames = max(1, int(round(rate_hz * seconds)))
    logdir = Path(tempfile.mkdtemp(prefix="pose_ros_bench_"))
    env = dict(ros_env(domain_id), **(both_env or {}))
    errors: List[str] = []
    node = source = None
    collector = Collector(domain_id, namespace)
    seen = collector.seen
    node_module, node_extra_env = "pose_ros.ros.pose_node.node", {}
    if estimator_options:
        node_module = str(Path(__file__).resolve().parent / "e2e_node.py")
        node_extra_env = {"POSE_ROS_BENCH_OPTIONS": json.dumps(estimator_options)}
    try:
        node = spawn(node_module, [
            "-r", f"__ns:={namespace}", "-r", "image:=image_raw",
            "-p", f"input_width:={width}", "-p", f"input_height:={height}",
            "-p", "publish_annotated:=false",
            *[arg for k, v in (node_params or {}).items() for arg in ("-p", f"{k}:={v}")]],
            {**env, **(node_env or {}), **node_extra_env}, logdir / "pose_node.log")
        collector.node_pid = node.pid
        # The node's 1 Hz diagnostics timer first fires once spinning, i.e. after the
        # model is loaded and warmed up: the first message means "ready".
        if not collector.spin_until(lambda: bool(seen.diagnostics) or node.poll() is not None,
                                    READY_TIMEOUT_S):
            raise RuntimeError(f"pose_node sent no diagnostics within {READY_TIMEOUT_S:.0f} s")
        if node.poll() is not None:
            raise RuntimeError(f"pose_node exited with {node.returncode} at start")
        source = spawn("pose_ros.apps.image_source", [
            "-r", f"__ns:={namespace}", "-p", f"source:={video}", "-p", f"rate_hz:={float(rate_hz)}",
            "-p", "loop:=true", "-p", f"max_frames:={frames}", "-p", "wait_for_subscribers:=1"],
            env, logdir / "image_source.log")
        collector.source_pid = source.pid
        next_rss = [0.0]

        def streaming_done() -> bool:
            if rss_every_s and seen.recv_ns:
                t = (time.time_ns() - seen.recv_ns[0]) / 1e9
                if t >= next_rss[0]:
                    seen.rss_kb.append((t, status_kb(node.pid, "VmRSS")))
                    next_rss[0] = t + rss_every_s
            return source.poll() is not None or node.poll() is not None

        if not collector.spin_until(streaming_done, seconds * 1.5 + 60.0):
            errors.append("image_source did not finish in time")
        if source.poll() not in (None, 0):
            errors.append(f"image_source exited with {source.returncode}")
        # The node finishes the frame it holds: wait until outputs stop coming.
        quiet_s = 2.0
        if len(seen.recv_ns) > 2:
            quiet_s = max(quiet_s, 3.0 * float(np.median(np.diff(seen.recv_ns))) / 1e9)
        collector.spin_until(lambda: node.poll() is not None or
                             (time.time_ns() - (seen.recv_ns[-1] if seen.recv_ns else 0)) / 1e9 > quiet_s,
                             30.0)
        # Final counters: a diagnostics message that has seen every output.
        collector.spin_until(lambda: node.poll() is not None or (seen.diagnostics and int(
            seen.diagnostics[-1].get("frames_processed", -1)) >= len(seen.recv_ns)), 5.0)
        if node.poll() is not None:
            errors.append(f"pose_node died with status {node.returncode}")
            peak_kb = 0
        else:  # VmHWM is kept from per-CPU counters: never report less than a sample saw
            peak_kb = max([status_kb(node.pid, "VmHWM")] + [kb for _, kb in seen.rss_kb])
    except RuntimeError as exc:
        errors.append(str(exc))
        peak_kb = 0
    finally:
        source_rc = stop(source)
        node_rc = stop(node)
        collector.close()
    if node_rc not in (0, None, -signal.SIGINT):
        errors.append(f"pose_node exit status {node_rc} after SIGINT")
    problems = log_problems(logdir / "pose_node.log") + log_problems(logdir / "image_source.log")
    if problems:
        errors.append(f"{len(problems)} error line(s) in the node logs, first: {problems[0].strip()}")
    if errors:
        errors.append(f"node logs kept in {logdir}")
    else:
        shutil.rmtree(logdir, ignore_errors=True)
    return summarise(seen, rate_hz, frames, width, height, peak_kb, errors, label, source_rc)


def summarise(seen: Observed, rate_hz: float, frames: int, width: int, height: int, peak_kb: int,
              errors: List[str], label: str, source_rc: Optional[int]) -> Dict[str, object]:
    recv = np.asarray(seen.recv_ns, dtype=np.int64)
    latency_ms = (recv - np.asarray(seen.stamp_ns, dtype=np.int64)) / 1e6
    outputs = len(recv)
    span_s = (recv[-1] - recv[0]) / 1e9 if outputs > 1 else float("nan")
    gaps_s = np.diff(recv) / 1e9 if outputs > 1 else np.zeros(0)

    def cpu_pct(samples: List[float]) -> float:
        """CPU % between the first and the last output at which the process was alive."""
        ok = np.flatnonzero(np.isfinite(np.asarray(samples, dtype=np.float64)))
        if len(ok) < 2 or recv[ok[-1]] == recv[ok[0]]:
            return float("nan")
        return 100.0 * (samples[ok[-1]] - samples[ok[0]]) / ((recv[ok[-1]] - recv[ok[0]]) / 1e9)

    last = seen.diagnostics[-1] if seen.diagnostics else {}
    in_fps = [float(d["input_fps"]) for d in seen.diagnostics if d.get("input_fps") not in (None, "n/a")]
    in_fps = [v for v in in_fps if v > 0]
    return {
        "label": label, "rate_hz": rate_hz, "frames_published": frames, "width": width, "height": height,
        "outputs": outputs,
        "output_fps": float((outputs - 1) / span_s) if outputs > 1 else 0.0,
        "input_fps_node": float(np.median(in_fps)) if in_fps else float("nan"),
        "latency_p50_ms": _pct(latency_ms, 50), "latency_p95_ms": _pct(latency_ms, 95),
        "latency_max_ms": float(latency_ms.max()) if outputs else float("nan"),
        "max_gap_s": float(gaps_s.max()) if len(gaps_s) else float("nan"),
        "drop_rate": 1.0 - outputs / frames,
        "node_cpu_pct": cpu_pct(seen.node_cpu_s), "source_cpu_pct": cpu_pct(seen.source_cpu_s),
        "node_peak_rss_mb": peak_kb / 1024.0,
        "persons_mean": float(np.mean(seen.persons)) if outputs else 0.0,
        "node_frames_received": int(last.get("frames_received", -1)),
        "node_frames_processed": int(last.get("frames_processed", -1)),
        "node_inference_p50_ms": float(last["inference_ms"]) if last.get("inference_ms", "n/a") != "n/a"
        else float("nan"),
        "node_bad_input": int(last.get("bad_input", -1)),
        "node_estimator_errors": int(last.get("estimator_errors", -1)),
        "node_diag_level": int(last.get("_level", -1)),
        "node_runtime": f"{last.get('runtime', '?')}/{last.get('device', '?')} {last.get('precision', '')}".strip(),
        "rss_kb": list(seen.rss_kb), "source_exit": source_rc,
        "errors": errors,
    }


def describe(r: Dict[str, object]) -> str:
    return (f"{r['label'] or 'e2e'} {r['width']}x{r['height']} input {r['rate_hz']:g} fps: "
            f"output {r['output_fps']:.2f} fps ({r['outputs']} of {r['frames_published']} frames, "
            f"drop {r['drop_rate'] * 100:.1f}%), latency p50 {r['latency_p50_ms']:.0f} ms p95 "
            f"{r['latency_p95_ms']:.0f} ms, pose_node CPU {r['node_cpu_pct']:.0f}% peak RSS "
            f"{r['node_peak_rss_mb']:.0f} MB, image_source CPU {r['source_cpu_pct']:.0f}%, "
            f"in-node inference p50 {r['node_inference_p50_ms']:.0f} ms"
            + (f"; ERRORS: {r['errors']}" if r["errors"] else ""))


def compare(variants: Dict[str, Optional[Dict[str, str]]], rate_hz: float, seconds: float, rounds: int = 2,
            width: int = 432, height: int = 368, video: str = VIDEO,
            both: bool = False) -> Dict[str, Dict[str, object]]:
    """A/B(/C...) of pose_node environments (e.g. OPENCV_FOR_THREADS_NUM; with ``both`` the
    camera's too), run in interleaved rounds so that load from other processes hits every
    variant alike. Per variant: the runs, and output fps / latency p50, p95 / in-node
    inference p50 averaged over the rounds."""
    runs: Dict[str, List[Dict[str, object]]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, env in variants.items():
            runs[name].append(run(rate_hz, seconds, width, height, video, label=name,
                                  **({"both_env": env} if both else {"node_env": env})))
    out: Dict[str, Dict[str, object]] = {}
    for name, rs in runs.items():
        out[name] = {
            "runs": rs, "rounds": rounds,
            "output_fps": float(np.mean([r["output_fps"] for r in rs])),
            "output_fps_each": [r["output_fps"] for r in rs],
            "latency_p95_ms": float(np.mean([r["latency_p95_ms"] for r in rs])),
            "latency_p50_ms": float(np.mean([r["latency_p50_ms"] for r in rs])),
            "node_inference_p50_ms": float(np.mean([r["node_inference_p50_ms"] for r in rs])),
            "node_cpu_pct": float(np.mean([r["node_cpu_pct"] for r in rs])),
            "errors": [e for r in rs for e in r["errors"]],
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="12 s per rate instead of 40 s")
    ap.add_argument("--rates", type=float, nargs="+", default=[15.0, 30.0], help="input fps values")
    ap.add_argument("--seconds", type=float, help="streaming time per rate (default 40, quick 12)")
    ap.add_argument("--width", type=int, default=432)
    ap.add_argument("--height", type=int, default=368)
    ap.add_argument("--threads", type=int, default=0,
                    help="OPENCV_FOR_THREADS_NUM for pose_node (0 = OpenCV's default)")
    ap.add_argument("--video", default=VIDEO)
    ap.add_argument("--runtime", default="", help="pose_node runtime parameter (default: the node's, auto)")
    args = ap.parse_args()
    seconds = args.seconds or (12.0 if args.quick else 40.0)
    node_env = {"OPENCV_FOR_THREADS_NUM": str(args.threads)} if args.threads else None
    failed = False
    for rate in args.rates:
        r = run(rate, seconds, args.width, args.height, args.video, node_env=node_env,
                node_params={"runtime": args.runtime} if args.runtime else None)
        print(describe(r), flush=True)
        failed |= bool(r["errors"])
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
