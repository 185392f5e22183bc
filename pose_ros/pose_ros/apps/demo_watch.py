"""What the demo itself sees on the topics: its progress line and pose_node's readiness.

A small rclpy node in the demo process counts camera_info and persons messages and reads
pose_node's /diagnostics; the exact numbers of the summary come from the recorder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import List, Optional

from pose_ros.apps.progress import ProgressLine, bar


@dataclass
class Watch:
    """What the demo itself sees on the topics: progress and the node's readiness."""

    frames_in: int = 0
    frames_out: int = 0
    people_last: int = 0
    out_times: List[float] = field(default_factory=list)
    first_out: float = 0.0                 # monotonic time of the first persons message
    node_status: Optional[object] = None   # the latest pose_node DiagnosticStatus

    def average_fps(self) -> float:
        if self.frames_out < 2 or not self.out_times:
            return 0.0
        return (self.frames_out - 1) / max(self.out_times[-1] - self.first_out, 1e-6)

    def fps(self, window_s: float = 3.0) -> float:
        """Outputs per second over the last ``window_s`` (or since the first output, if later)."""
        if not self.first_out:
            return 0.0
        now = time.monotonic()
        span = min(window_s, now - self.first_out)
        recent = sum(1 for t in self.out_times if now - t <= span)
        return recent / span if span >= 0.5 else 0.0


def make_watcher(context):
    """A small rclpy node in the demo process for the progress line.

    Counts camera_info (best effort: a progress display may miss one, the summary's
    exact numbers come from the recorder) and persons, and watches /diagnostics to
    know when pose_node has loaded its model.
    """
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo

    from pose_ros_msgs.msg import PersonKeypointsArray

    watch = Watch()
    node = rclpy.create_node("pose_demo", context=context)

    def on_info(_msg) -> None:
        watch.frames_in += 1

    def on_persons(msg) -> None:
        watch.frames_out += 1
        watch.first_out = watch.first_out or time.monotonic()
        watch.people_last = len(msg.persons)
        watch.out_times.append(time.monotonic())
        del watch.out_times[:-50]

    def on_diag(msg) -> None:
        for status in msg.status:
            if status.name.endswith("pose_node: pose"):   # "<fully qualified name>: pose"
                watch.node_status = status

    # Reliable like image_source's publisher: a best-effort reader lost samples here while
    # the node kept both cores busy, and the progress line fell behind the real count.
    node.create_subscription(CameraInfo, "camera_info", on_info,
                             QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
    node.create_subscription(PersonKeypointsArray, "persons", on_persons,
                             QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)
    return node, watch


class DemoProgress:
    """The demo's progress line: frames published by the camera and processed by the node."""

    def __init__(self, watch: Watch, total: int) -> None:
        self.watch = watch
        self.total = total
        self.line = ProgressLine(hz=4.0)

    def text(self, final: bool = False) -> str:
        w = self.watch
        head = (f"{bar(w.frames_in, self.total)} {w.frames_in}/{self.total} frames published" if self.total
                else f"{w.frames_in} frames published")
        fps = f"{w.average_fps():.1f} fps average" if final else f"{w.fps():.1f} fps"
        return (f"{head} | {w.frames_out} processed | {fps} | {w.people_last} people | "
                f"{time.monotonic() - self.line.start:.0f} s")

    def show(self, force: bool = False, final: bool = False) -> None:
        if force or final or self.line.due():
            self.line.show(self.text(final), force=True)

    def end(self) -> None:
        self.line.end()
