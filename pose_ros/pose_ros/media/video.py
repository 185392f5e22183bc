"""The annotated video file, written frame by frame: one writer for ``pose_ros_infer`` and the recorder.

A video file has one size and one frame rate, and neither is known before the first frame:
the file opens at the first frame, and frames of another size (a camera that changed
resolution) are resized to it. Without a given rate (the recorder does not know the
camera's), the first :data:`FPS_PROBE_FRAMES` frames are held back and the rate is estimated
from their stamps. Whether the file could be opened is kept in :attr:`VideoFile.error`: the
recorder logs it and records everything else, ``pose_ros_infer`` stops with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import cv2
import numpy as np

FOURCC_BY_SUFFIX = {".avi": "MJPG"}   # anything else (.mp4, .mov, .mkv) gets mp4v
DEFAULT_FPS = 10.0
FPS_PROBE_FRAMES = 10
_FPS_RANGE = (1.0, 60.0)   # an estimate outside it comes from odd stamps, not from the camera


class VideoFile:
    """``path`` written with ``fps`` frames per second (0: estimated from the stamps given to :meth:`add`)."""

    def __init__(self, path: Path, fps: float = 0.0) -> None:
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else 0.0
        self.size: Optional[Tuple[int, int]] = None
        self.frames = 0        # written to the file
        self.error = ""
        self._writer: Optional[cv2.VideoWriter] = None
        self._held: List[Tuple[Optional[float], np.ndarray]] = []

    @property
    def received(self) -> int:
        """Frames given to :meth:`add` so far (written or held back)."""
        return self.frames + len(self._held)

    def add(self, image: np.ndarray, stamp_s: Optional[float] = None) -> None:
        """One frame (BGR); ``stamp_s`` its time in seconds, used only to estimate a missing rate."""
        if self.error:
            return
        if self.size is None:
            self.size = (image.shape[1], image.shape[0])
        elif (image.shape[1], image.shape[0]) != self.size:
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        if self._writer is None:
            self._held.append((stamp_s, image))
            if self.fps > 0 or len(self._held) >= FPS_PROBE_FRAMES:
                self._open()
            return
        self._write(image)

    def close(self) -> None:
        """Write what is held back (a run shorter than the probe) and finish the file."""
        if self._writer is None and self._held and not self.error:
            self._open()
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def _estimate_fps(self) -> float:
        stamps = [s for s, _ in self._held if s is not None]
        span = stamps[-1] - stamps[0] if len(stamps) >= 2 else 0.0
        if span <= 0:
            return DEFAULT_FPS
        return round(float(np.clip((len(stamps) - 1) / span, *_FPS_RANGE)), 2)

    def _open(self) -> None:
        if self.fps <= 0:
            self.fps = self._estimate_fps()
        fourcc = FOURCC_BY_SUFFIX.get(self.path.suffix.lower(), "mp4v")
        self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*fourcc), self.fps, self.size)
        if not self._writer.isOpened():
            self._writer = None
            self.error = f"cannot write video {self.path} ({fourcc}; use an .mp4 or .avi name in a writable folder)"
            self._held.clear()
            return
        for _, image in self._held:
            self._write(image)
        self._held.clear()

    def _write(self, image: np.ndarray) -> None:
        self._writer.write(image)
        self.frames += 1
