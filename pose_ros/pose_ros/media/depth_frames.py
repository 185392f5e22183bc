"""Recorded depth frames (a folder of 16-bit PNGs, one PNG, or a numpy file) for replay.

Why: an RGB-D demo or test should run without an RGB-D camera. ``image_source`` publishes
depth frame ``i`` with colour frame ``i`` (same header), cycling when there are fewer depth
frames than colour frames, so one depth image serves a whole still scene.

Units follow REP-118: ``uint16`` arrays are millimetres (published as ``16UC1``),
``float32`` arrays are metres (``32FC1``); 0 or NaN = no reading.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple, Union

import cv2
import numpy as np

from pose_ros.media.source_kinds import list_images


class DepthSourceError(ValueError):
    """A depth source that cannot be read, with the reason."""


ENCODING = {np.dtype(np.uint16): "16UC1", np.dtype(np.float32): "32FC1"}


def _check(array: np.ndarray, what: str) -> np.ndarray:
    if array.ndim != 2 or min(array.shape) == 0:
        raise DepthSourceError(f"{what}: a depth frame must be 2D (H, W), got shape {array.shape}")
    if array.dtype not in ENCODING:
        raise DepthSourceError(f"{what}: depth must be uint16 millimetres or float32 metres, "
                               f"got {array.dtype}")
    return np.ascontiguousarray(array)


class DepthFrames:
    """Depth frames in order; ``frame(i)`` cycles through them."""

    def __init__(self, source: Union[str, Path]) -> None:
        path = Path(source)
        self.path = path
        self._files: List[Path] = []
        self._arrays: List[np.ndarray] = []
        if path.is_dir():
            self._files = [p for p in list_images(path) if p.suffix.lower() == ".png"]
            if not self._files:
                raise DepthSourceError(f"{path}: no .png depth images in this folder")
        elif path.suffix.lower() == ".png":
            self._files = [path]
        elif path.suffix.lower() == ".npy":
            try:
                data = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise DepthSourceError(f"{path}: cannot read: {exc}") from exc
            frames = data[None] if data.ndim == 2 else data
            if frames.ndim != 3:
                raise DepthSourceError(f"{path}: expected (H, W) or (N, H, W), got shape {data.shape}")
            self._arrays = [_check(f, str(path)) for f in frames]
        else:
            raise DepthSourceError(f"{source}: expected a folder of 16-bit PNGs, a .png or a .npy file")
        if self._files and not self._files[0].is_file():
            raise DepthSourceError(f"{self._files[0]}: no such file")

    def __len__(self) -> int:
        return len(self._files) or len(self._arrays)

    def frame(self, index: int) -> Tuple[np.ndarray, str]:
        """(array, encoding) of frame ``index`` modulo the number of frames."""
        i = index % len(self)
        if self._arrays:
            array = self._arrays[i]
        else:
            array = cv2.imread(str(self._files[i]), cv2.IMREAD_UNCHANGED)
            if array is None:
                raise DepthSourceError(f"{self._files[i]}: cannot decode")
            if array.dtype != np.uint16:
                raise DepthSourceError(f"{self._files[i]}: a depth PNG must be 16-bit (millimetres), "
                                       f"got {array.dtype}")
            array = _check(array, str(self._files[i]))
        return array, ENCODING[array.dtype]
