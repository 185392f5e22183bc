"""A node started by a launcher ends when the launcher dies, even by SIGKILL or SIGTERM.

``ros2 launch`` handles SIGINT only (ros2/launch#666): SIGTERM, what systemd and operators
send, kills it with status 143 and leaves every node running with PPID 1. Linux can tie a
process to its parent: ``PR_SET_PDEATHSIG`` makes the kernel send the child a signal when
the parent dies, and pose_ros' nodes treat SIGTERM as a clean Ctrl-C.

Only processes that a pose_ros launcher started ask for it (:data:`ENV_FLAG` in their
environment, set by the launch plans and the demo): a node started by hand from a shell,
``nohup`` or ``setsid`` must be free to outlive that shell. Linux only; elsewhere a no-op.
"""

from __future__ import annotations

import ctypes
import os
import signal
from typing import Mapping, Optional

#: Set to "1" in a child's environment by whoever starts it and wants it gone with itself.
ENV_FLAG = "POSE_ROS_DIE_WITH_PARENT"
_PR_SET_PDEATHSIG = 1   # <linux/prctl.h>


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Ask the kernel for ``sig`` when this process's parent dies; True when it is in force.

    Also handles the race where the parent died before the request took effect (this
    process was already re-parented): then ``sig`` is sent at once.
    """
    parent = os.getppid()
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):   # not Linux
        return False
    prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    prctl.restype = ctypes.c_int
    if prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if os.getppid() != parent:
        os.kill(os.getpid(), sig)
    return True


def requested(environ: Optional[Mapping[str, str]] = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get(ENV_FLAG, "") == "1"
