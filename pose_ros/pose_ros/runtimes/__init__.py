"""Inference runtimes: the forward pass of a network, as plugins.

An estimator owns a model family's pre- and post-processing (letterbox, blob, PAF
parsing); a runtime owns only "NCHW float32 blob in, NCHW float32 maps out" on some
device. Keeping the two apart lets the same OpenPose estimator run on cv2.dnn, on
OpenVINO (2-3x faster on x86 CPUs, measured in bench/RESULTS.md), on ONNX Runtime
(CUDA and TensorRT on NVIDIA GPUs and Jetson) or on a third party's package, found
through the ``pose_ros.runtimes`` entry-point group exactly like the built-in ones::

    entry_points={"pose_ros.runtimes": ["my_rt = my_pkg.module:MyRuntime"]}

A runtime states the model formats it loads (:attr:`Runtime.formats`) and reports in
:meth:`Runtime.describe` the device and precision really in use, after any fallback.
"""

from __future__ import annotations

import abc
import importlib.metadata as md
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Set, Tuple

import numpy as np

from pose_ros.plugins import EstimatorError, PluginRegistry

ENTRY_POINT_GROUP = "pose_ros.runtimes"
API_VERSION = 1
AUTO = "auto"
#: ``auto`` prefers these, in order, when installed and able to load the model's format.
AUTO_PREFERENCE = ("openvino", "opencv", "onnxruntime")
#: ``auto`` for an NVIDIA device: ONNX Runtime's CUDA / TensorRT providers first (PyPI's OpenCV
#: has no CUDA, OpenVINO's GPU is Intel graphics).
AUTO_PREFERENCE_CUDA = ("onnxruntime", "opencv", "openvino")
CUDA_DEVICES = ("cuda", "cuda_fp16", "tensorrt")
PRECISIONS = ("f32", "f16", "bf16")


class RuntimeUnavailable(EstimatorError):
    """A runtime cannot be found, imported, or run this model on this machine; says why."""


@dataclass(frozen=True)
class NetworkModel:
    """What a runtime needs to load a network.

    ``output`` names the output layer (cv2.dnn) or tensor (OpenVINO, with or without
    TensorFlow's ``:0``); None means the network's only / last output. ``cache_dir`` is
    where a runtime may keep compiled networks between runs (None: no caching).
    """

    format: str                   # tensorflow | caffe | onnx | tflite | openvino
    weights: Path
    config: Optional[Path] = None
    output: Optional[str] = None
    name: str = ""
    cache_dir: Optional[Path] = None


def usable_cpu_count() -> int:
    """Cores this process may run on (its affinity mask, not the machine's core count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class Runtime(abc.ABC):
    """Base class of runtime plugins: one loaded network on one device.

    ``forward`` is called from one thread at a time. Constructors raise
    :class:`RuntimeUnavailable` with the reason when they cannot run the model.
    """

    api_version = 1
    #: Model formats this runtime can load (see :class:`NetworkModel`).
    formats: Tuple[str, ...] = ()
    #: Shown in the error when the runtime's library is missing, e.g. ``pip install openvino``.
    install_hint: str = ""
    #: Device names it understands, lower case, without an index (``gpu`` covers ``GPU.1``); a
    #: launch refuses others before starting anything. Empty: not checked (older plugins).
    devices: Tuple[str, ...] = ()

    @classmethod
    def unavailable_reason(cls) -> Optional[str]:
        """Why this runtime cannot run at all here (library missing), or None if it can."""
        return None

    def __init__(self, model: NetworkModel, device: str = "cpu", precision: str = "f32",
                 threads: int = 0, strict: bool = False) -> None:
        """``threads`` 0 = every usable core; ``strict`` refuses a device fallback instead of logging it."""
        self.model = model
        self.requested_device = device
        self.requested_precision = precision
        self.threads = threads or usable_cpu_count()
        self.strict = strict

    @abc.abstractmethod
    def forward(self, blob: np.ndarray) -> np.ndarray:
        """Run the network on an NCHW float32 blob; return the output as NCHW float32."""

    @abc.abstractmethod
    def describe(self) -> dict:
        """What really runs: at least ``runtime``, ``device``, ``precision``, ``fallback_reason``."""


# --------------------------------------------------------------------------- discovery

_registry = PluginRegistry(ENTRY_POINT_GROUP, "runtime")


def available_runtimes() -> Dict[str, md.EntryPoint]:
    """Installed runtime plugins by name (importable or not: see :func:`runtime_class`)."""
    return _registry.available()


def known_devices(runtime: str) -> Set[str]:
    """Device names ``runtime`` (or, for ``auto``, any installed runtime) understands; empty = unchecked."""
    names = sorted(available_runtimes()) if runtime == AUTO else [runtime]
    known: Set[str] = set()
    for name in names:
        try:   # the class only: its library (openvino) is not imported for a name check
            cls = _registry.load_class(name, Runtime, API_VERSION, RuntimeUnavailable)
        except RuntimeUnavailable:   # a broken plugin: it cannot be the one that runs
            continue
        if not cls.devices:
            return set()
        known |= set(cls.devices)
    return known


def clear_discovery_cache() -> None:
    """Forget the scan, e.g. after installing a runtime into a running interpreter."""
    _registry.clear()


def runtime_class(name: str) -> type:
    """The class of runtime ``name``; RuntimeUnavailable (naming the install command) if it cannot run."""
    cls = _registry.load_class(name, Runtime, API_VERSION, RuntimeUnavailable)
    reason = cls.unavailable_reason()
    if reason:
        hint = f"; install it with `{cls.install_hint}`" if cls.install_hint else ""
        raise RuntimeUnavailable(f"runtime {name!r} is not available: {reason}{hint}")
    return cls


def _base_device(device: str) -> str:
    """``cuda:1`` / ``GPU.1`` -> ``cuda`` / ``gpu`` (the names in :attr:`Runtime.devices`)."""
    return (device or "cpu").strip().lower().split(":")[0].split(".")[0]


def _device_ready(name: str, model_format: str, device: str) -> Optional[str]:
    """Why runtime ``name`` cannot run ``device`` with this format here; None if it says it can.
    Only a runtime with a ``device_problem(device)`` classmethod can say so."""
    cls = runtime_class(name)
    if model_format not in cls.formats or _base_device(device) not in cls.devices:
        return f"{name} does not run {model_format} models on {device}"
    probe = getattr(cls, "device_problem", None)
    return probe(device) if probe else f"{name} cannot tell whether {device} is usable"


def choose_runtime(requested: str, model_format: str, device: str = "cpu") -> Tuple[str, str]:
    """The runtime to use for ``requested`` (a name or ``auto``), a model format and a device, and why.

    ``auto`` takes the first of :data:`AUTO_PREFERENCE` that is installed, importable and
    loads the format. For an NVIDIA device (:data:`CUDA_DEVICES`) it first takes a runtime
    of :data:`AUTO_PREFERENCE_CUDA` that says the device is usable here, else the first of
    that list installed (which then falls back loudly, saying what to install). A named
    runtime must load the format or this raises.
    """
    requested = (requested or AUTO).strip().lower()
    if requested != AUTO:
        cls = runtime_class(requested)
        if model_format not in cls.formats:
            raise RuntimeUnavailable(f"runtime {requested!r} cannot load {model_format} models "
                                     f"(it loads: {', '.join(cls.formats)})")
        return requested, "requested"
    skipped = []
    order = AUTO_PREFERENCE
    if _base_device(device) in CUDA_DEVICES:
        order = AUTO_PREFERENCE_CUDA
        for name in order:
            try:
                problem = _device_ready(name, model_format, device)
            except RuntimeUnavailable as e:
                problem = str(e)
            if problem is None:
                return name, f"auto ({device} is usable through {name})"
            skipped.append(f"{name}: {problem}")
    for name in order:
        try:
            cls = runtime_class(name)
        except RuntimeUnavailable as e:
            if f"{name}: {e}" not in skipped:    # said once, in the NVIDIA pass above
                skipped.append(str(e))
            continue
        if order is AUTO_PREFERENCE_CUDA and cls.devices and _base_device(device) not in cls.devices:
            continue     # e.g. cuda_fp16, a cv2.dnn name: not ONNX Runtime's (said in the pass above)
        if model_format in cls.formats:
            why = "auto" + (f" ({'; '.join(skipped)})" if skipped else "")
            return name, why
        skipped.append(f"{name} does not load {model_format} models")
    raise RuntimeUnavailable(f"no installed runtime loads {model_format} models: {'; '.join(skipped)}")


def fold_legacy_backend(runtime: str, device: str, dnn_backend: str) -> Tuple[str, str]:
    """(runtime, device) with pose_ros 0.1's ``dnn_backend`` folded in.

    ``dnn_backend`` named cv2.dnn targets. Its old default ``cpu`` (in every params file
    written for 0.1) now means no preference; any other value (``cuda``, ``opencl``,
    ``cpu_fp16`` ...) asks for cv2.dnn on that target, so it selects the opencv runtime
    when ``runtime`` is ``auto`` and becomes the device when ``device`` is left at ``cpu``.
    """
    runtime, device = (runtime or AUTO).strip().lower(), (device or "cpu").strip().lower()
    legacy = (dnn_backend or "cpu").strip().lower()
    if legacy != "cpu":
        if runtime == AUTO:
            runtime = "opencv"
        if device == "cpu":
            device = legacy
    return runtime, device


def opencv_threads_beside(runtime: str, environ=os.environ) -> Optional[int]:
    """The ``cv2.setNumThreads`` value for a process whose network runs on ``runtime``, or
    None to leave OpenCV alone.

    A runtime with its own thread pool (OpenVINO) shares the cores with OpenCV's pool, which
    the process still uses for resizing and blobs; OpenCV's idle pool threads then compete
    with the network's. Measured on 2 cores, pose_node at 30 fps, interleaved: 17.6 fps with
    OpenCV on 1 thread against 16.1 fps with its default pool. cv2.dnn runs the network in
    OpenCV's pool, so it gets the default back (-1). A user's OPENCV_FOR_THREADS_NUM wins.
    """
    if "OPENCV_FOR_THREADS_NUM" in environ:
        return None
    return -1 if runtime == "opencv" else 1


def load_runtime(name: str, model: NetworkModel, **options) -> Runtime:
    """Construct runtime ``name`` (not ``auto``: see :func:`choose_runtime`) for ``model``."""
    cls = runtime_class(name)
    return _registry.construct(name, cls, RuntimeUnavailable, model=model, **options)
