"""The ``openvino`` runtime: Intel OpenVINO on CPU, and GPU/NPU where OpenVINO lists them.

OpenVINO reads TensorFlow frozen graphs, ONNX and TFLite files directly (no conversion
step) and runs this project's default model 2-3x faster than cv2.dnn on x86 CPUs with
the same output (bench/RESULTS.md). Measured traps, and what this class does about them:

* On CPUs with AMX the default inference precision is bf16: about 2x faster again, but
  it changes the maps (max diff 0.27; 3 persons became 2). We always pass
  ``INFERENCE_PRECISION_HINT`` (f32 unless asked otherwise) and report the precision
  read back from the compiled model.
* ``PERFORMANCE_HINT=THROUGHPUT`` with one request was 1.5x slower than ``LATENCY``; the
  node runs one frame at a time on all cores, so LATENCY with
  ``INFERENCE_NUM_THREADS`` = the cores this process may use.

* Each input shape the CPU plugin runs leaves its prepared primitives in a cache of 5000
  entries by default. The zoom passes run a new crop shape most frames: 140-160 shapes over
  a vtest.avi loop took the process from 180 to 658-677 MB. ``CPU_RUNTIME_CACHE_CAPACITY``
  of :data:`CPU_CACHE_ENTRIES` (500) kept it at 376 MB, with passes over 8 shapes in turn as
  fast as the default (interleaved rounds: 74.0 / 70.7 ms against 68.9 / 71.5 ms); 200
  entries: 322 MB, 7-13 % slower; 0: 290 MB, 25 % slower (every pass re-prepared).

The network is compiled once with its dynamic input shape, so any camera size runs
without recompiling; ``CACHE_DIR`` (inside the model cache) keeps the compiled blob so a
restart does not recompile. Layout conversion (NCHW blob -> the graph's NHWC and back)
is done inside the compiled graph by OpenVINO's pre/post-processor.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Optional

import numpy as np

from pose_ros.runtimes import NetworkModel, Runtime, RuntimeUnavailable

log = logging.getLogger(__name__)

#: Entries of the CPU plugin's cache of prepared primitives (see the module doc).
CPU_CACHE_ENTRIES = 500
_CPU_CACHE_KEY = "CPU_RUNTIME_CACHE_CAPACITY"

_core = None
_core_lock = threading.Lock()
_PRECISION_HINTS = {"f32": "f32", "f16": "f16", "bf16": "bf16"}


def _openvino():
    # `import openvino` imports its model converter (openvino.tools.ovc), which starts
    # openvino_telemetry: on by default without a consent file, it writes ~/intel/openvino_ga_cid
    # and counts runs in ~/intel/stats. A robot's perception node must not write to the home
    # directory nor collect usage data. OpenVINO's converter ships its own fallback for an
    # environment without the telemetry package (telemetry_stub, taken on ImportError), and a
    # None in sys.modules is Python's documented way to make an import fail: so this process
    # runs OpenVINO as if openvino-telemetry were not installed. Unless something imported it first.
    sys.modules.setdefault("openvino_telemetry", None)
    import openvino  # noqa: PLC0415 - optional dependency, imported on first use

    return openvino


def core():
    """The process-wide ``openvino.Core`` (one per process, as OpenVINO recommends)."""
    global _core
    with _core_lock:
        if _core is None:
            _core = _openvino().Core()
        return _core


def _first_line(error: Exception) -> str:
    """OpenVINO's messages start with the reason and go on with a C++ trace."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset:
    """The ISA flags of the first CPU in ``cpuinfo`` (empty where there is no such file)."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def native_bf16(flags: Optional[frozenset] = None) -> bool:
    """Whether the CPU computes bf16 in hardware matrix units (Intel AMX, ``amx_bf16``).

    Only there does bf16 pay: measured on 2 cores of a Sapphire Rapids Xeon, OpenVINO bf16
    runs mobilenet_thin 2.1-2.5x faster than f32. AVX512_BF16 alone (AMD EPYC Zen 4) only
    converts; there bf16 was slower than f32 (issue 21).
    """
    return "amx_bf16" in (cpu_flags() if flags is None else flags)


def device_name(device: str) -> str:
    """OpenVINO's spelling of a device (``cpu`` -> ``CPU``, ``gpu.1`` -> ``GPU.1``)."""
    return (device or "cpu").strip().upper()


def _listed(device: str, available: list) -> bool:
    """Whether ``device`` (``GPU`` or ``GPU.1``) is among OpenVINO's available devices."""
    return any(d == device or d.split(".")[0] == device for d in available)


class OpenVinoRuntime(Runtime):
    """OpenVINO: TensorFlow (.pb), ONNX, TFLite and OpenVINO IR (.xml) models."""

    formats = ("tensorflow", "onnx", "tflite", "openvino")
    install_hint = "pip install openvino"
    # OpenVINO's plugins; AUTO, HETERO and MULTI pick among them ("hetero:gpu,cpu").
    devices = ("cpu", "gpu", "npu", "auto", "hetero", "multi")

    @classmethod
    def unavailable_reason(cls) -> Optional[str]:
        try:
            _openvino()
        except Exception as e:  # noqa: BLE001 - ImportError, or a broken native library
            return f"{type(e).__name__}: {e}"
        return None

    def __init__(self, model: NetworkModel, device: str = "cpu", precision: str = "f32",
                 threads: int = 0, strict: bool = False) -> None:
        super().__init__(model, device, precision, threads, strict)
        if precision not in _PRECISION_HINTS:
            raise RuntimeUnavailable(f"openvino runtime: precision {precision!r} unknown; "
                                     f"choose one of {', '.join(_PRECISION_HINTS)}")
        if model.format not in self.formats:
            raise RuntimeUnavailable(f"openvino runtime cannot load {model.format} models "
                                     f"(it loads: {', '.join(self.formats)})")
        ov = _openvino()
        self._core = core()
        self._version = ov.get_version()
        self.fallback_reason: Optional[str] = None
        self._wanted = device_name(device)
        self._device = self._wanted
        available = list(self._core.available_devices)
        if not _listed(self._wanted, available):
            self._fall_back(f"OpenVINO {self._version.split('-')[0]} lists no device {self._wanted} "
                            f"(available: {', '.join(available) or 'none'})")
        self._lock = threading.Lock()
        self._compiled = self._compile(ov)
        self._request = self._compiled.create_infer_request()

    def _fall_back(self, reason: str) -> None:
        if self.strict or self._wanted == "CPU":
            raise RuntimeUnavailable(f"openvino device {self._wanted!r} is not usable: {reason}")
        log.warning("openvino runtime: device %r is not usable, FALLING BACK TO CPU: %s", self._wanted, reason)
        self.fallback_reason = reason
        self._device = "CPU"

    def _read(self, ov):
        try:
            network = self._core.read_model(str(self.model.weights))
        except Exception as e:  # noqa: BLE001 - OpenVINO raises its own RuntimeError subclasses
            raise RuntimeUnavailable(f"OpenVINO could not read {self.model.weights} as a {self.model.format} "
                                     f"model: {_first_line(e)}") from e
        if len(network.inputs) != 1:
            raise RuntimeUnavailable(f"{self.model.weights}: expected one input, found {len(network.inputs)}")
        output = self._pick_output(network)
        shape = network.inputs[0].get_partial_shape()
        if shape.rank.is_dynamic or shape.rank.get_length() != 4:
            raise RuntimeUnavailable(f"{self.model.weights}: input must be 4-D, got {shape}")
        ppp = ov.preprocess.PrePostProcessor(network)
        last = shape[3]
        if last.is_static and last.get_length() == 3:      # a TensorFlow-style NHWC graph
            ppp.input().tensor().set_layout(ov.Layout("NCHW"))
            ppp.input().model().set_layout(ov.Layout("NHWC"))
            ppp.output(output).model().set_layout(ov.Layout("NHWC"))
            ppp.output(output).tensor().set_layout(ov.Layout("NCHW"))
        return ppp.build(), output

    def _pick_output(self, network) -> int:
        """Index of the output to return: the named one, else the only one."""
        names = [set(o.get_names()) for o in network.outputs]
        if self.model.output:
            wanted = {self.model.output, self.model.output + ":0"}
            for i, tensor_names in enumerate(names):
                if wanted & tensor_names:
                    return i
            raise RuntimeUnavailable(f"{self.model.weights} has no output {self.model.output!r} "
                                     f"(outputs: {', '.join(sorted(n for s in names for n in s))})")
        if len(names) != 1:
            raise RuntimeUnavailable(f"{self.model.weights} has {len(names)} outputs; name one (model output)")
        return 0

    def _config(self) -> dict:
        supported = set(self._core.get_property(self._device.split(".")[0], "SUPPORTED_PROPERTIES"))
        config = {"PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_PRECISION_HINT": _PRECISION_HINTS[self.requested_precision]}
        if "INFERENCE_NUM_THREADS" in supported:
            config["INFERENCE_NUM_THREADS"] = self.threads
        if self.model.cache_dir is not None:
            config["CACHE_DIR"] = str(self.model.cache_dir)
        unsupported = [k for k in config if k != "CACHE_DIR" and k not in supported]
        if "INFERENCE_PRECISION_HINT" in unsupported and self.requested_precision != "f32":
            raise RuntimeUnavailable(f"OpenVINO device {self._device} takes no INFERENCE_PRECISION_HINT, "
                                     f"so precision {self.requested_precision!r} cannot be set")
        return {k: v for k, v in config.items() if k not in unsupported}

    def _compile(self, ov):
        network, self._output = self._read(ov)
        if self.model.cache_dir is not None:
            self.model.cache_dir.mkdir(parents=True, exist_ok=True)
        config = self._config()
        if self._device == "CPU":
            config[_CPU_CACHE_KEY] = str(CPU_CACHE_ENTRIES)
        try:
            try:
                return self._core.compile_model(network, self._device, config)
            except Exception as e:  # noqa: BLE001 - an OpenVINO without the key: its default cache
                if _CPU_CACHE_KEY not in str(e):
                    raise
                log.info("OpenVINO does not know %s; its default cache size applies", _CPU_CACHE_KEY)
                return self._core.compile_model(network, self._device, self._config())
        except RuntimeUnavailable:
            raise
        except Exception as e:  # noqa: BLE001 - device plugins fail with RuntimeError and others
            if self._device == "CPU":
                raise RuntimeUnavailable(f"OpenVINO could not compile {self.model.weights} for CPU: "
                                         f"{_first_line(e)}") from e
            self._fall_back(f"compiling for {self._device} failed: {_first_line(e)}")
            return self._core.compile_model(network, self._device, self._config())

    def forward(self, blob: np.ndarray) -> np.ndarray:
        with self._lock:
            try:
                result = self._request.infer({0: blob})
            except Exception as e:  # noqa: BLE001 - OpenVINO raises RuntimeError for bad shapes etc.
                raise RuntimeUnavailable(f"OpenVINO forward pass on {self._device} failed: "
                                         f"{_first_line(e)}") from e
            # A copy: the request reuses its output buffer, and callers may keep several maps.
            return np.array(result[self._compiled.outputs[self._output]], copy=True)

    def _property(self, name: str):
        try:
            return self._compiled.get_property(name)
        except Exception:  # noqa: BLE001 - not every device reports every property
            return None

    def describe(self) -> dict:
        precision = self._property("INFERENCE_PRECISION_HINT")
        devices = self._property("EXECUTION_DEVICES")
        return {
            "runtime": "openvino",
            "device": self._device.lower(),     # the node's spelling; OpenVINO's is in execution_devices
            "requested_device": self._wanted.lower(),
            "precision": precision.get_type_name() if hasattr(precision, "get_type_name") else str(precision),
            "fallback_reason": self.fallback_reason,
            "execution_devices": list(devices) if devices else [self._device],
            "performance_hint": str(self._property("PERFORMANCE_HINT")),
            "threads": self._property("INFERENCE_NUM_THREADS") or self.threads,
            "cache_dir": str(self.model.cache_dir) if self.model.cache_dir else None,
            "version": f"OpenVINO {self._version.split('-')[0]}",
        }
