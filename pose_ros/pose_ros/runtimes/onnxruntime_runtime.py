"""The ``onnxruntime`` runtime: ONNX Runtime on the CPU, CUDA and TensorRT execution providers.

Why: PyPI's OpenCV has no CUDA and OpenVINO's GPU is Intel graphics, so on a Jetson or an
NVIDIA card the network ran on the CPU. ONNX Runtime reaches CUDA and TensorRT from Python
(``onnxruntime-gpu`` on x86, NVIDIA's wheels on Jetson) and is 1.75x cv2.dnn on a CPU.

It loads ``.onnx`` files; a TensorFlow model (the default ``mobilenet_thin``) runs from the
ONNX export pose_ros makes itself, once, beside the cached weights
(:mod:`pose_ros.models.onnx_export`). Devices: ``cpu``, ``cuda`` and ``tensorrt`` (``cuda:1``
picks a GPU). ``precision="f16"`` runs a float16 copy of the graph on CUDA and lets TensorRT
build fp16 engines. What really runs is read back from the session
(``session.get_providers()``): ONNX Runtime itself falls back to the CPU with only a log
line when a provider cannot start, so this class checks before and after, logs a WARNING
with the reason (``tensorrt`` -> ``cuda`` -> ``cpu``) and records it as ``fallback_reason``,
or refuses under ``strict``.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from pose_ros.models import onnx_export
from pose_ros.runtimes import NetworkModel, Runtime, RuntimeUnavailable

log = logging.getLogger(__name__)

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
             "tensorrt": "TensorrtExecutionProvider"}
#: Where a device falls back to, in order.
FALLBACKS = {"tensorrt": ("tensorrt", "cuda", "cpu"), "cuda": ("cuda", "cpu"), "cpu": ("cpu",)}
GPU_WHEELS = ("NVIDIA GPUs on x86: `pip install onnxruntime-gpu` instead of onnxruntime; "
              "Jetson: NVIDIA's onnxruntime-gpu wheel for your JetPack, see doc/runtimes.md")


def _ort():
    import onnxruntime  # noqa: PLC0415 - optional dependency, imported on first use

    return onnxruntime


def cuda_device_count() -> Tuple[int, str]:
    """(CUDA devices the driver shows this process, why none) through libcuda itself: ONNX
    Runtime lists its CUDA provider whether or not a GPU and driver are there."""
    for lib in ("libcuda.so.1", "libcuda.so"):
        try:
            cuda = ctypes.CDLL(lib)
            break
        except OSError:
            continue
    else:
        return 0, "no NVIDIA driver on this machine (libcuda.so.1 not found)"
    count = ctypes.c_int(0)
    status = cuda.cuInit(0)
    if status == 0:
        status = cuda.cuDeviceGetCount(ctypes.byref(count))
    if status != 0:
        return 0, f"the NVIDIA driver does not start (CUDA error {status}; driver, CUDA_VISIBLE_DEVICES?)"
    return count.value, "" if count.value else "the NVIDIA driver sees no CUDA device (CUDA_VISIBLE_DEVICES?)"


def parse_device(device: str) -> Tuple[str, int]:
    """``cuda:1`` / ``cuda.1`` / ``CUDA`` -> (``cuda``, 1) / (``cuda``, 0)."""
    text = (device or "cpu").strip().lower().replace(".", ":")
    kind, _, index = text.partition(":")
    if kind not in PROVIDERS or (index and not index.isdigit()) or (index and kind == "cpu"):
        raise RuntimeUnavailable(f"onnxruntime runtime: device {device!r} unknown; choose one of "
                                 f"{', '.join(PROVIDERS)} (a GPU index as cuda:1)")
    return kind, int(index or 0)


def provider_missing(kind: str) -> bool:
    """Whether this ONNX Runtime build lacks the execution provider of ``kind`` (the wheel is wrong)."""
    return PROVIDERS[kind] not in _ort().get_available_providers()


def device_problem(kind: str, index: int = 0) -> Optional[str]:
    """Why ONNX Runtime cannot run on device ``kind`` here, or None if it should."""
    if kind == "cpu":
        return None
    if provider_missing(kind):
        ort = _ort()
        return (f"ONNX Runtime {ort.__version__} ({ort.get_device()} build) has no {PROVIDERS[kind]} "
                f"(it has: {', '.join(ort.get_available_providers())})")
    count, why = cuda_device_count()
    if not count:
        return why
    return f"no CUDA device {index}: the driver shows {count}" if index >= count else None


class OnnxRuntime(Runtime):
    """ONNX Runtime: ``.onnx`` models, and TensorFlow graphs through pose_ros' own ONNX export."""

    formats = ("onnx", "tensorflow")
    install_hint = "pip install onnxruntime"
    devices = tuple(PROVIDERS)

    @classmethod
    def unavailable_reason(cls) -> Optional[str]:
        try:
            _ort()
        except Exception as e:  # noqa: BLE001 - ImportError, or a broken native library
            return f"{type(e).__name__}: {e}; {GPU_WHEELS}"
        return None

    @classmethod
    def device_problem(cls, device: str) -> Optional[str]:
        """Why ``device`` cannot run here (None: it should): ``auto`` asks before choosing."""
        kind, index = parse_device(device)
        problem = device_problem(kind, index)
        return f"{problem}; {GPU_WHEELS}" if problem and provider_missing(kind) else problem

    def __init__(self, model: NetworkModel, device: str = "cpu", precision: str = "f32",
                 threads: int = 0, strict: bool = False) -> None:
        super().__init__(model, device, precision, threads, strict)
        self._wanted, self._index = parse_device(device)
        if precision not in ("f32", "f16"):
            raise RuntimeUnavailable(f"onnxruntime runtime: precision {precision!r} unknown; use f32, or f16 on "
                                     "cuda and tensorrt")
        if precision == "f16" and self._wanted == "cpu":
            raise RuntimeUnavailable("onnxruntime runtime: precision 'f16' runs on cuda and tensorrt; the CPU "
                                     "provider runs f32")
        self._ort = _ort()
        self._path, self._export = self._onnx_file()
        self._lock = threading.Lock()
        self.fallback_reason: Optional[str] = None
        self._reasons: List[str] = []
        self._hint = ""
        self._start(FALLBACKS[self._wanted])

    # ------------------------------------------------------------------ the model file

    def _onnx_file(self) -> Tuple[Path, Optional[str]]:
        """The ``.onnx`` to load, and the source it was exported from (None: the user's own ONNX)."""
        weights = Path(self.model.weights)
        if self.model.format == "onnx":
            return weights, None
        if self.model.format != "tensorflow":
            raise RuntimeUnavailable(f"onnxruntime runtime cannot load {self.model.format} models "
                                     f"(it loads: {', '.join(self.formats)})")
        try:
            return onnx_export.ensure_export(weights, self.model.output), weights.name
        except onnx_export.ExportError as e:
            raise RuntimeUnavailable(f"onnxruntime runtime: no ONNX export of {weights}: {e}") from e
        except OSError as e:
            raise RuntimeUnavailable(f"onnxruntime runtime: cannot write the ONNX export of {weights} ({e}); "
                                     f"run `pose_ros_models export-onnx` where the model cache is writable") from e

    def _model_for(self, kind: str):
        """What the session loads: the file, or (CUDA, f16) a float16 copy of it in memory."""
        if kind != "cuda" or self.requested_precision != "f16":
            return str(self._path)
        try:
            return onnx_export.float16_bytes(self._path)
        except onnx_export.ExportError as e:
            raise RuntimeUnavailable(f"onnxruntime runtime: precision f16 on cuda: {e}; use f32, or "
                                     "tensorrt (which builds its own fp16 engine)") from e

    # ------------------------------------------------------------------ sessions and fallback

    def _provider(self, kind: str):
        cache = self.model.cache_dir
        if kind == "tensorrt":
            options = {"device_id": self._index, "trt_fp16_enable": self.requested_precision == "f16"}
            if cache is not None:   # engines take minutes to build: keep them beside OpenVINO's blobs
                (cache / "tensorrt").mkdir(parents=True, exist_ok=True)
                options.update(trt_engine_cache_enable=True, trt_engine_cache_path=str(cache / "tensorrt"),
                               trt_timing_cache_enable=True, trt_timing_cache_path=str(cache / "tensorrt"))
            return PROVIDERS[kind], options
        if kind == "cuda":
            return PROVIDERS[kind], {"device_id": self._index}
        return PROVIDERS[kind]

    def _session(self, kind: str):
        options = self._ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        chain = [self._provider(k) for k in FALLBACKS[kind]]   # the CPU last: nodes a GPU provider lacks
        return self._ort.InferenceSession(self._model_for(kind), sess_options=options, providers=chain)

    def _start(self, kinds) -> None:
        """A session on the first of ``kinds`` that really runs; each one passed over is a reason."""
        for kind in kinds:
            problem = device_problem(kind, self._index)
            if problem is None:
                try:
                    session = self._session(kind)
                except RuntimeUnavailable:
                    raise
                except Exception as e:  # noqa: BLE001 - ORT raises its own Fail/RuntimeException types
                    if kind == "cpu":
                        raise RuntimeUnavailable(f"ONNX Runtime could not load {self._path}: "
                                                 f"{str(e).strip().splitlines()[0]}") from e
                    problem = f"starting {PROVIDERS[kind]} failed: {str(e).strip().splitlines()[0]}"
                else:
                    running = session.get_providers()[0]
                    if running == PROVIDERS[kind]:
                        self._use(session, kind)
                        return
                    problem = f"ONNX Runtime did not start {PROVIDERS[kind]} (it runs {running})"
            self._fall_back(kind, problem)
        raise RuntimeUnavailable(f"onnxruntime runtime: no device could run {self._path}")

    def _fall_back(self, kind: str, problem: str) -> None:
        hint = f"; {GPU_WHEELS}" if provider_missing(kind) else ""
        if self.strict:
            raise RuntimeUnavailable(f"onnxruntime device {kind!r} is not usable: {problem}{hint}")
        log.warning("onnxruntime runtime: device %r is not usable, FALLING BACK: %s%s", kind, problem, hint)
        self._reasons.append(f"{kind}: {problem}")
        self._hint = self._hint or hint       # which wheel to install: said once, at the end
        self.fallback_reason = "; ".join(self._reasons) + self._hint

    def _use(self, session, kind: str) -> None:
        self._sess = session
        self._device = kind
        self._input = session.get_inputs()[0].name
        self._output = self._pick_output([o.name for o in session.get_outputs()])

    def _pick_output(self, names: List[str]) -> str:
        wanted = self.model.output
        if not wanted:
            if len(names) != 1:
                raise RuntimeUnavailable(f"{self._path} has {len(names)} outputs; name one (model output)")
            return names[0]
        for name in names:
            if name in (wanted, wanted + ":0") or onnx_export.plain_name(name) == onnx_export.plain_name(wanted):
                return name
        raise RuntimeUnavailable(f"{self._path} has no output {wanted!r} (outputs: {', '.join(names)})")

    # ------------------------------------------------------------------ Runtime API

    def forward(self, blob: np.ndarray) -> np.ndarray:
        with self._lock:
            try:
                return self._sess.run([self._output], {self._input: blob})[0]
            except Exception as e:  # noqa: BLE001 - ORT raises its own exception types
                problem = f"forward pass on {self._device} failed: {str(e).strip().splitlines()[0]}"
                if self._device == "cpu" or self.strict:
                    raise RuntimeUnavailable(f"onnxruntime {problem}") from e
                self._fall_back(self._device, problem)
                self._start(("cpu",))
            return self._sess.run([self._output], {self._input: blob})[0]

    def describe(self) -> dict:
        gpu = self._device != "cpu"
        return {
            "runtime": "onnxruntime",
            "device": f"{self._device}:{self._index}" if gpu and self._index else self._device,
            "requested_device": self.requested_device,
            "precision": self.requested_precision if gpu else "f32",
            "fallback_reason": self.fallback_reason,
            "providers": list(self._sess.get_providers()),
            "threads": self.threads,
            "model_file": str(self._path),
            "exported_from": self._export,
            "version": f"ONNX Runtime {self._ort.__version__}",
        }
