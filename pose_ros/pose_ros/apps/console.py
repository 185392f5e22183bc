"""The console scripts' entry points: a Ctrl-C while a node is still importing is a quiet exit.

A node module imports rclpy, OpenCV and numpy (about a second) before its ``main()`` can
install the handlers of :mod:`pose_ros.ros.node_runner`. A SIGINT in that second gave a
KeyboardInterrupt traceback from deep inside importlib, and a SIGTERM killed the process
with status -15. Here, before anything heavy is imported, both signals are recorded in
:data:`signalled` (a handler that raised could be dropped in a weakref callback), and one
that came while importing ends the process with status 0: nothing had started yet.
``main()`` then installs its own handlers, which also read this record.
"""

from __future__ import annotations

import importlib
import signal
import sys


signalled = False


def _record(signum, frame) -> None:
    global signalled
    signalled = True


def _start(module: str) -> int:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _record)
    main = importlib.import_module(module).main
    if signalled:
        return 0
    return main()


def pose_node() -> int:
    return _start("pose_ros.ros.pose_node.node")


def image_source() -> int:
    return _start("pose_ros.apps.image_source")


def pose_recorder() -> int:
    return _start("pose_ros.apps.recorder")


if __name__ == "__main__":
    sys.exit(_start(sys.argv.pop(1)))
