"""The whole runtime plugin contract in a few lines.

``ReadNetRuntime`` runs any model ``cv2.dnn.readNet`` understands on the CPU.
``MissingLibraryRuntime`` stands for a runtime whose library (TensorRT, say) is not
installed: it says so in ``unavailable_reason`` and pose_ros turns that into an error
naming ``install_hint``. Its library is fictional, so it is missing everywhere.
"""

from __future__ import annotations

import cv2
import numpy as np
from pose_ros.runtimes import Runtime, RuntimeUnavailable


class ReadNetRuntime(Runtime):
    """cv2.dnn.readNet on the CPU, nothing else."""

    api_version = 1
    formats = ("tensorflow", "onnx")

    def __init__(self, model, device="cpu", precision="f32", threads=0, strict=False) -> None:
        super().__init__(model, device, precision, threads, strict)
        if device != "cpu" or precision != "f32":
            raise RuntimeUnavailable(f"readnet_example runs cpu/f32 only, not {device}/{precision}")
        self._net = cv2.dnn.readNet(str(model.weights))

    def forward(self, blob: np.ndarray) -> np.ndarray:
        self._net.setInput(blob)
        return self._net.forward(self.model.output) if self.model.output else self._net.forward()

    def describe(self) -> dict:
        return {"runtime": "readnet_example", "device": "cpu", "precision": "f32", "fallback_reason": None}


class MissingLibraryRuntime(Runtime):
    """Needs the module ``pose_ros_example_accelerator``, which exists nowhere."""

    api_version = 1
    formats = ("onnx", "tensorflow")
    install_hint = "pip install pose-ros-example-accelerator"

    @classmethod
    def unavailable_reason(cls):
        try:
            import pose_ros_example_accelerator  # noqa: F401
        except ImportError as e:
            return str(e)
        return None

    def forward(self, blob: np.ndarray) -> np.ndarray:
        raise RuntimeUnavailable("never reached: pose_ros checks unavailable_reason before constructing")

    def describe(self) -> dict:
        return {"runtime": "missing_library_example", "device": "cpu", "precision": "f32",
                "fallback_reason": None}
