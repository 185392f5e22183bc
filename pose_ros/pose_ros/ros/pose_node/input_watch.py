"""Which input topics nobody publishes: said in the log and in the diagnostics.

``rgbd.launch.py camera:=realsense`` with no driver running used to log "listening on ..." and
then nothing, ever. After a grace period this names every input topic without a publisher,
so a missing driver, a wrong remapping or a namespace typo shows in the first seconds.
Depth and camera_info are optional (2D works without them); they are named when the image
itself is missing, or when one of the pair is there and the other is not (3D cannot work).
"""

from __future__ import annotations

import time
from typing import Callable, List, Optional

from rclpy.node import Node

GRACE_S = 5.0     # drivers take a few seconds to start
REPEAT_S = 60.0   # while it lasts, say it again this often


def missing_inputs(publishers: Callable[[str], int], image: str, depth: str, camera_info: str) -> List[str]:
    """The topics (with their role) that need a publisher and have none."""
    has = {role: publishers(topic) > 0 for role, topic in (("image", image), ("depth", depth),
                                                           ("camera_info", camera_info))}
    topics = {"image": image, "depth": depth, "camera_info": camera_info}
    three_d_partly = has["depth"] != has["camera_info"]
    wanted = [role for role in topics if not has[role]
              and (role == "image" or not has["image"] or three_d_partly)]
    return [f"{topics[r]} ({r})" for r in wanted]


class InputWatch:
    """Checks once a second while active; warns after :data:`GRACE_S` and every :data:`REPEAT_S`
    while inputs are missing."""

    def __init__(self, node: Node, image_topic: Callable[[], str], depth_topic: Callable[[], str],
                 camera_info_topic: Callable[[], str]) -> None:
        self._node, self._image, self._depth, self._camera_info = node, image_topic, depth_topic, camera_info_topic
        self._start = time.monotonic()
        self._warned_at: Optional[float] = None
        self.missing = ""

    def start(self) -> None:
        """The grace period starts again with every activation; the lifecycle's entity mark destroys the timer."""
        self._start, self._warned_at, self.missing = time.monotonic(), None, ""
        self._node.create_timer(1.0, self.check)

    def stop(self) -> None:
        """An inactive node subscribes nothing, so nothing is missing."""
        self.missing = ""

    def check(self) -> None:
        node = self._node
        found = missing_inputs(node.count_publishers, self._image(), self._depth(),
                               self._camera_info())
        now = time.monotonic()
        self.missing = ", ".join(found) if now - self._start >= GRACE_S else ""
        if not self.missing:
            self._warned_at = None
            return
        if self._warned_at is None or now - self._warned_at >= REPEAT_S:
            self._warned_at = now
            node.get_logger().warning(f"no publisher on {self.missing}: is the camera driver running, "
                                      "and are the topics remapped to it?")
