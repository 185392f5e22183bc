"""Real sample media for tests (Debian's opencv-doc data) and reading back what we wrote."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

SAMPLE_DATA = Path("/usr/share/doc/opencv-doc/examples/data")


def sample_image(name: str) -> np.ndarray:
    image = cv2.imread(str(SAMPLE_DATA / name), cv2.IMREAD_COLOR)
    assert image is not None, f"{SAMPLE_DATA / name} missing: run `make setup` (installs opencv-doc)"
    return image


def video_frame_shapes(path) -> list:
    """Shape of every frame a video file decodes to (asserts the file opens)."""
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), f"{path} is not readable"
    shapes = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        shapes.append(frame.shape)
    cap.release()
    return shapes


#: Estimator options for one full-frame f32 pass: what tests comparing runtimes or maps use.
#: The defaults' zoom passes and time budget follow measured times (so the people found depend
#: on the machine's load), and precision auto picks bf16 on AMX CPUs.
SINGLE_F32_PASS = {"precision": "f32", "zoom": False, "frame_budget_ms": 0}
