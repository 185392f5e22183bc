"""The ``opencv`` runtime: cv2.dnn with every backend/target it offers.

Devices are chosen by name (``cpu``, ``opencl``, ``cuda``; ``cpu_fp16`` and
``cuda_fp16`` or ``precision="f16"`` for half precision). OpenCV itself falls back to
the CPU with only a console warning when a target is unusable, so this class checks
first and reports what really runs in ``describe()``: a fallback is logged as a warning
and recorded as ``fallback_reason``, or refused with ``strict=True``. A forward pass
that fails on a non-CPU target falls back the same way, once.
"""

from __future__ import annotations

import logging
import threading
from typing import Dict, Optional, Tuple

import cv2
import numpy as np

from pose_ros.runtimes import NetworkModel, Runtime, RuntimeUnavailable, opencv_support

log = logging.getLogger(__name__)

#: Device names -> (cv2.dnn backend constant, cv2.dnn target constant), looked up by
#: name so an OpenCV that lacks one is detected instead of failing on a raw integer.
BACKENDS: Dict[str, Tuple[str, str]] = {
    "cpu": ("DNN_BACKEND_OPENCV", "DNN_TARGET_CPU"),
    "cpu_fp16": ("DNN_BACKEND_OPENCV", "DNN_TARGET_CPU_FP16"),
    "opencl": ("DNN_BACKEND_OPENCV", "DNN_TARGET_OPENCL"),
    "opencl_fp16": ("DNN_BACKEND_OPENCV", "DNN_TARGET_OPENCL_FP16"),
    "cuda": ("DNN_BACKEND_CUDA", "DNN_TARGET_CUDA"),
    "cuda_fp16": ("DNN_BACKEND_CUDA", "DNN_TARGET_CUDA_FP16"),
}
#: The node's ``dnn_backend`` choices of pose_ros 0.1 (still accepted as devices).
LEGACY_BACKENDS = ("cpu", "cpu_fp16", "opencl", "cuda", "cuda_fp16")


def backend_problem(name: str, capabilities: dict) -> Optional[str]:
    """Why device ``name`` cannot run here, or None if OpenCV says it can."""
    backend_const, target_const = BACKENDS[name]
    version = capabilities.get("version", cv2.__version__)
    missing = [c for c in (backend_const, target_const) if not hasattr(cv2.dnn, c)]
    if missing:
        return f"OpenCV {version} has no cv2.dnn.{missing[0]}"
    if name.startswith("cuda"):
        if not capabilities["cuda_build"]:
            return (f"OpenCV {version} was built without CUDA (pip's opencv-python wheels never "
                    "have it); build OpenCV with WITH_CUDA=ON, WITH_CUDNN=ON, OPENCV_DNN_CUDA=ON")
        if capabilities["cuda_devices"] <= 0:
            return "OpenCV was built with CUDA but sees no CUDA device (driver, CUDA_VISIBLE_DEVICES?)"
    if name.startswith("opencl") and not capabilities["opencl"]:
        return "no usable OpenCL device or runtime (cv2.ocl.haveOpenCL() is False)"
    backend, target = getattr(cv2.dnn, backend_const), getattr(cv2.dnn, target_const)
    try:
        offered = [int(t) for t in cv2.dnn.getAvailableTargets(backend)]
    except (AttributeError, cv2.error):
        return None   # old OpenCV without the query: trust the checks above
    if target not in offered:
        names = {getattr(cv2.dnn, t): t for _, t in BACKENDS.values() if hasattr(cv2.dnn, t)}
        note = " (OpenCV runs DNN_TARGET_CPU_FP16 on ARMv8 CPUs only)" if name == "cpu_fp16" else ""
        return (f"cv2.dnn does not offer {target_const} with {backend_const} on this machine"
                f"{note}; offered: {', '.join(names.get(t, str(t)) for t in offered) or 'none'}")
    return None


def device_name(device: str, precision: str) -> str:
    """The BACKENDS key for a device and precision (``cuda`` + ``f16`` -> ``cuda_fp16``)."""
    device = (device or "cpu").strip().lower()
    if precision == "f16" and not device.endswith("_fp16"):
        device += "_fp16"
    if device not in BACKENDS:
        raise RuntimeUnavailable(f"opencv runtime: device {device!r} unknown; choose one of {', '.join(BACKENDS)}")
    return device


def _last_line(error: Exception) -> str:
    return str(error).strip().splitlines()[-1]


class OpenCvRuntime(Runtime):
    """cv2.dnn: TensorFlow, Caffe (OpenCV 4.x), ONNX and TFLite models."""

    devices = tuple(BACKENDS)

    formats = ("tensorflow", "caffe", "onnx", "tflite")
    install_hint = "pip install opencv-python-headless"

    def __init__(self, model: NetworkModel, device: str = "cpu", precision: str = "f32",
                 threads: int = 0, strict: bool = False) -> None:
        super().__init__(model, device, precision, threads, strict)
        if precision == "bf16":
            raise RuntimeUnavailable("opencv runtime: precision 'bf16' is not supported by cv2.dnn; use f32 or f16")
        self._wanted = device_name(device, precision)
        self._caps = opencv_support.opencv_capabilities()
        self._lock = threading.Lock()
        self.fallback_reason: Optional[str] = None
        self._net = self._read_net()
        problem = backend_problem(self._wanted, self._caps)
        if problem:
            self._fall_back(problem)
        else:
            self._apply(self._wanted)

    def _read_net(self):
        fmt, weights, config = self.model.format, str(self.model.weights), self.model.config
        problem = opencv_support.format_support_error(fmt, self._caps)
        if problem:
            raise RuntimeUnavailable(problem)
        try:
            if fmt == "tensorflow":
                return cv2.dnn.readNetFromTensorflow(weights, str(config)) if config else \
                    cv2.dnn.readNetFromTensorflow(weights)
            if fmt == "caffe":
                return cv2.dnn.readNetFromCaffe(str(config), weights)
            if fmt == "onnx":
                return cv2.dnn.readNetFromONNX(weights)
            return cv2.dnn.readNetFromTFLite(weights)
        except cv2.error as e:
            raise RuntimeUnavailable(f"OpenCV {self._caps['version']} could not load {weights} as a "
                                     f"{fmt} model: {_last_line(e)}") from e

    def _apply(self, name: str) -> None:
        backend_const, target_const = BACKENDS[name]
        self._net.setPreferableBackend(getattr(cv2.dnn, backend_const))
        self._net.setPreferableTarget(getattr(cv2.dnn, target_const))
        self._device = name

    def _fall_back(self, reason: str) -> None:
        if self.strict:
            raise RuntimeUnavailable(f"backend {self._wanted!r} is not usable: {reason}")
        log.warning("opencv runtime: backend %r is not usable, FALLING BACK TO CPU: %s", self._wanted, reason)
        self.fallback_reason = reason
        self._apply("cpu")

    def _run(self, blob: np.ndarray) -> np.ndarray:
        with self._lock:
            self._net.setInput(blob)
            return self._net.forward(self.model.output) if self.model.output else self._net.forward()

    def forward(self, blob: np.ndarray) -> np.ndarray:
        try:
            return self._run(blob)
        except cv2.error as e:
            if self._device == "cpu":
                raise RuntimeUnavailable(f"forward pass of {self.model.name or self.model.weights} fails: "
                                         f"{_last_line(e)}") from e
            self._fall_back(f"forward pass on {self._device} failed: {_last_line(e)}")
        try:
            return self._run(blob)
        except cv2.error as e:
            raise RuntimeUnavailable(f"forward pass of {self.model.name or self.model.weights} fails on cpu "
                                     f"too, after {self.fallback_reason}: {_last_line(e)}") from e

    def describe(self) -> dict:
        backend_const, target_const = BACKENDS[self._device]
        return {
            "runtime": "opencv",
            "device": self._device,
            "requested_device": self._wanted,
            "precision": "f16" if self._device.endswith("_fp16") else "f32",
            "fallback_reason": self.fallback_reason,
            "target": target_const,
            "dnn_backend": backend_const,
            "threads": cv2.getNumThreads(),
            "version": f"OpenCV {self._caps['version']}",
        }
