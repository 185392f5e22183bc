"""What the pose node reports: frame counters, ``stats()`` and the /diagnostics status.

Every frame that arrives ends in exactly one counter (processed, bad_input, estimator_errors,
ignored_disabled) or in the slot's dropped/stale counts, so the numbers add up.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

from pose_ros.ros import parameters

THROTTLE_S = 5.0  # repeated per-frame errors are logged at most this often


class FrameCounters:
    """Per-frame outcome counts and the last error, written from the callbacks and the worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = {"processed": 0, "bad_input": 0, "estimator_errors": 0, "ignored_disabled": 0}
        self._last_error = ""

    def count(self, counter: str) -> None:
        with self._lock:
            self._counts[counter] += 1

    def processed(self) -> None:
        """A published frame: it also clears the last error, the node works again."""
        with self._lock:
            self._counts["processed"] += 1
            self._last_error = ""

    def fail(self, counter: str, message: str) -> None:
        with self._lock:
            self._counts[counter] += 1
            self._last_error = message

    def snapshot(self) -> Tuple[Dict[str, int], str]:
        with self._lock:
            return dict(self._counts), self._last_error


def collect_stats(intake: Any, lane: Any, counters: FrameCounters, loader: Any, depth3d: Any,
                  stream: Any) -> Dict[str, Any]:
    """A camera's ``stats()``: counters and rates of every part, in the order /diagnostics lists them;
    ``lane``: the worker's meters of this camera."""
    now = time.monotonic()
    slot = intake.slot.snapshot()
    counts, last_error = counters.snapshot()
    jitter = stream.jitter()
    return {
        "input_fps": intake.in_rate.rate(now),
        "output_fps": lane.out_rate.rate(now),
        "latency_p50_ms": lane.latency.percentile(50),
        "latency_p95_ms": lane.latency.percentile(95),
        "inference_ms": lane.inference.percentile(50),
        "frames_received": slot["received"],
        "frames_processed": counts["processed"],
        "frames_dropped": slot["dropped"],
        "frames_stale": slot["stale"],
        "bad_input": counts["bad_input"],
        "estimator_errors": counts["estimator_errors"],
        "ignored_disabled": counts["ignored_disabled"],
        "time_jumps": slot["time_jumps"],
        "future_stamps": slot["future"],
        "last_error": last_error or loader.error,
        "enabled": intake.enabled,
        **depth3d.stats(),
        # mean |second difference| of a keypoint's position, before and after smoothing
        "jitter_raw_px": jitter["raw_accel_px"], "jitter_smoothed_px": jitter["smoothed_accel_px"],
    }


def lifecycle_status(state: str, configure_error: str) -> Tuple[int, str]:
    """Level and message of a node that is not active: it processes nothing, and says why."""
    if state == "unconfigured" and configure_error:
        return DiagnosticStatus.ERROR, f"unconfigured: configure failed: {configure_error}"
    if state == "unconfigured":
        return DiagnosticStatus.OK, "unconfigured (lifecycle): configure, then activate it to process images"
    if state == "inactive":
        return DiagnosticStatus.OK, "inactive (lifecycle): model loaded, no intake; activate it to process images"
    return DiagnosticStatus.OK, state   # finalized, or a transition in progress


class Diagnostics:
    """Publishes /diagnostics once a second, named after the node's fully qualified name, in every
    lifecycle state (all an inactive node publishes): ``<fqn>: pose`` for a node with one camera;
    with ``cameras``, ``<fqn>: pose <camera>`` for each camera plus ``<fqn>: pose`` for the shared
    estimator. ``stats()`` holds ``lifecycle_state``; ``loader()`` is None while unconfigured."""

    def __init__(self, node: Node, stats: Callable[[], Dict[str, Any]], loader: Callable[[], Optional[Any]]) -> None:
        self._node, self._stats, self._loader = node, stats, loader
        self.publisher = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.timer = node.create_timer(1.0, self.publish)

    def publish(self) -> None:
        s, loader = self._stats(), self._loader()
        # The fully qualified name: two nodes in different namespaces must not share a status.
        name = f"{self._node.get_fully_qualified_name()}: pose"
        if "cameras" not in s:
            statuses = [self._status(name, s, loader)]
        else:
            shared = {k: v for k, v in s.items() if k != "cameras"}
            statuses = [self._status(name, shared, loader, estimator_only=True)] + [
                self._status(f"{name} {camera}", {**values, "lifecycle_state": s["lifecycle_state"]}, loader)
                for camera, values in s["cameras"].items()]
        array = DiagnosticArray(status=statuses)
        array.header.stamp = self._node.get_clock().now().to_msg()
        self.publisher.publish(array)

    def _status(self, name: str, s: Dict[str, Any], loader: Optional[Any],
                estimator_only: bool = False) -> DiagnosticStatus:
        """One status: a camera's (its input and errors) or, ``estimator_only``, the shared estimator's."""
        node = self._node
        info = loader.info if loader is not None else {}
        p = parameters.get
        hardware = f"{info.get('runtime', p(node, 'estimator'))}/{info.get('device', info.get('backend', 'none'))}"
        status = DiagnosticStatus(name=name, hardware_id=hardware)
        if s["lifecycle_state"] != "active" or loader is None:
            status.level, status.message = lifecycle_status(s["lifecycle_state"], s.get("last_error", ""))
        elif loader.estimator is None or loader.error:
            status.level, status.message = DiagnosticStatus.ERROR, s["last_error"] or loader.error or "no estimator"
        elif s["last_error"]:
            status.level, status.message = DiagnosticStatus.ERROR, s["last_error"]
        elif info.get("fallback_reason"):  # for as long as the fallback estimator runs
            status.level = DiagnosticStatus.WARN
            status.message = (f"requested {info.get('requested_backend', p(node, 'dnn_backend'))!r} is not usable, "
                              f"running on {info.get('backend', 'cpu')}: {info['fallback_reason']}")
        elif not s["enabled"]:
            status.level, status.message = DiagnosticStatus.OK, "disabled"
        elif estimator_only:
            status.level, status.message = DiagnosticStatus.OK, "running"
        elif s["input_fps"] == 0.0:
            missing = s.get("inputs_missing")
            status.level = DiagnosticStatus.WARN
            status.message = f"no publisher on {missing}" if missing else "no images received"
        else:
            status.level, status.message = DiagnosticStatus.OK, "running"
        fmt = {float: lambda v: f"{v:.2f}", type(None): lambda v: "n/a"}
        values = {**s, "backend": info.get("backend", "none"), "target": info.get("target", "none"),
                  "runtime": info.get("runtime", "n/a"), "device": info.get("device", "n/a"),
                  "precision": info.get("precision", "n/a"),
                  "model": info.get("model", p(node, "model")), "estimator": p(node, "estimator"),
                  "fallback_reason": info.get("fallback_reason") or ""}
        status.values = [KeyValue(key=k, value=fmt.get(type(v), str)(v)) for k, v in values.items()]
        return status
