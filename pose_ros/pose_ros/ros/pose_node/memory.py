"""Giving a freed model's memory back to the system, so *cleanup* shows in the process's RSS.

Dropping the estimator frees its buffers inside the process only: glibc keeps freed heap pages
for reuse, and reference cycles (plugin objects, runtime handles) wait for the garbage collector.
A node cleaned up by a lifecycle manager to make room for another should really shrink.
Measured here (mobilenet_thin, 432x368, after two frames): cv2.dnn's RSS went 180 -> 137 MB with
the trim and not down at all without it; OpenVINO's 300 -> 235 MB either way (its own allocator).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from typing import Optional

_libc: Optional[ctypes.CDLL] = None


def _malloc_trim() -> bool:
    """glibc's ``malloc_trim(0)``: free heap pages go back to the kernel. False where there is none (musl, macOS)."""
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        if name is None:
            return False
        _libc = ctypes.CDLL(name)
    trim = getattr(_libc, "malloc_trim", None)
    return bool(trim is not None and trim(0))


def release_freed_memory() -> None:
    """Collect cycles, then return free heap pages to the system."""
    gc.collect()
    _malloc_trim()
