"""What the installed OpenCV can load and run, for errors and ``describe()``."""

from __future__ import annotations

from typing import Optional

_READERS = {"tensorflow": "readNetFromTensorflow", "caffe": "readNetFromCaffe",
            "onnx": "readNetFromONNX", "tflite": "readNetFromTFLite"}


def _cuda_devices(cv2) -> int:
    try:
        return int(cv2.cuda.getCudaEnabledDeviceCount())
    except Exception:  # noqa: BLE001 - no cv2.cuda module, or no driver
        return 0


def _build_has_cuda(cv2) -> bool:
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("NVIDIA CUDA:"):
            return "YES" in line
    return False


def opencv_capabilities() -> dict:
    """What the installed OpenCV can load and run: used in errors and ``describe()``."""
    import cv2

    try:
        opencl = bool(cv2.ocl.haveOpenCL())
    except (AttributeError, cv2.error):
        opencl = False
    cuda_build, cuda_devices = _build_has_cuda(cv2), _cuda_devices(cv2)
    return {
        "version": cv2.__version__,
        "formats": {fmt: hasattr(cv2.dnn, reader) for fmt, reader in _READERS.items()},
        "cuda_build": cuda_build,
        "cuda_devices": cuda_devices,
        "cuda": cuda_build and cuda_devices > 0,
        "opencl": opencl,
    }


def format_support_error(fmt: str, capabilities: dict) -> Optional[str]:
    """Why a model of format ``fmt`` cannot be loaded with these capabilities, or None if it can.

    A pure function of the capability dict so the OpenCV-5-without-Caffe case is testable
    on any installation.
    """
    if fmt not in _READERS:
        return f"unknown model format {fmt!r}; known: {', '.join(_READERS)}"
    if capabilities["formats"].get(fmt):
        return None
    version = capabilities.get("version", "?")
    reader = _READERS[fmt]
    if fmt == "caffe":
        return (f"Caffe models need cv2.dnn.{reader}, which this OpenCV {version} does not have "
                "(OpenCV 5 removed the Caffe importer). Install OpenCV 4.x, e.g. "
                "`pip install \"opencv-python-headless<5\"` or apt's python3-opencv (4.x), "
                "or use a TensorFlow/ONNX model such as mobilenet_thin.")
    return (f"{fmt} models need cv2.dnn.{reader}, which this OpenCV {version} does not have; "
            "install an OpenCV build with the dnn module, e.g. `pip install opencv-python-headless`.")
