"""OpenPose-style estimator: heatmap + PAF networks, on any inference runtime.

Pipeline: letterbox to the network input (no squashing), ``blobFromImage`` with the
model's own preprocessing from the manifest, one forward pass through a
``pose_ros.runtimes`` plugin (cv2.dnn, OpenVINO, or a third party's), then the PAF
parser maps the keypoints back to source pixels. Pre- and post-processing live here
once, whatever runs the network.

``runtime="auto"`` (the default) takes OpenVINO when it imports and loads the model's
format, else cv2.dnn; the runtime reports the device and precision really in use, and
``describe()`` passes that on. The legacy ``backend`` option (cv2.dnn's ``cpu``,
``cpu_fp16``, ``opencl``, ``cuda``, ``cuda_fp16``) still works and implies the opencv
runtime.
"""

from __future__ import annotations

import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Tuple

import cv2
import numpy as np

from pose_ros import models, runtimes
from pose_ros.core import input_size, map_fusion
from pose_ros.core.geometry import apply_letterbox, compute_letterbox, trimmed_input_size
from pose_ros.core.paf import DecodeParams, decode_output
from pose_ros.core.persons import PoseResult
from pose_ros.core.skeletons import Skeleton, get_skeleton
from pose_ros.estimators import Estimator, EstimatorError, as_bgr
from pose_ros.runtimes.opencv_dnn import BACKENDS, LEGACY_BACKENDS

DEFAULT_MODEL = "mobilenet_thin"
DEFAULT_DEVICE = "cpu"
#: Compiled networks (OpenVINO's CACHE_DIR) live beside the models, under this folder.
COMPILED_CACHE = "compiled"
# Custom model files: OpenPose networks have an output stride of 8.
CUSTOM_INPUT_MULTIPLE = input_size.NET_STRIDE
CUSTOM_INPUT_SIZE = (368, 368)

_SUFFIX_FORMATS = {".pb": "tensorflow", ".caffemodel": "caffe", ".onnx": "onnx", ".tflite": "tflite",
                   ".xml": "openvino"}
_OPTIONS = ("model", "model_format", "skeleton", "config", "output", "input_width", "input_height",
            "backend", "runtime", "device", "precision", "strict_backend", "decode_params", "scale", "mean",
            "swap_rb", "warmup", "trim_padding", "scales", "flip")
_FILE_ONLY_OPTIONS = ("model_format", "skeleton", "config", "output")


def _input_size(options: dict, key: str, default: int, multiple: int) -> int:
    """An input dimension option; None, "" or 0 (what a ROS int parameter can say) = the default."""
    value = options.get(key)
    if value is None or value == "" or value == 0:
        return default
    try:
        number = int(value)
        if number != float(value):
            raise ValueError
    except (TypeError, ValueError):
        raise EstimatorError(f"{key} must be an integer, got {value!r}") from None
    if number <= 0 or number % multiple:
        hint = max(multiple, round(number / multiple) * multiple)
        raise EstimatorError(f"{key}={value!r} must be a positive multiple of {multiple} "
                             f"(the network's stride), e.g. {hint}")
    return number


def _flag(options: dict, key: str, default: bool) -> bool:
    """A boolean option; accepts the strings a launch file or CLI may pass ("false", "0")."""
    value = options.get(key)
    if value is None:
        return default
    try:
        return input_size.parse_flag(value)
    except ValueError as e:
        raise EstimatorError(f"{key} {e}") from None


def _scales(value) -> Tuple[float, ...]:
    """The ``scales`` option: network input sizes relative to input_width x input_height."""
    try:
        return input_size.parse_scales(value)
    except ValueError as e:
        raise EstimatorError(str(e)) from None


def _decode_params(value) -> DecodeParams:
    """Convert the option to DecodeParams; validation is set_decode_params' job."""
    if value is None:
        return DecodeParams()
    if isinstance(value, DecodeParams):
        return value
    if isinstance(value, dict):
        known = {f.name for f in fields(DecodeParams)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise EstimatorError(f"decode_params: unknown field(s) {unknown}; known: {sorted(known)}")
        return DecodeParams(**value)
    raise EstimatorError(f"decode_params must be a DecodeParams or a dict, got {type(value).__name__}")


class OpenPoseDnnEstimator(Estimator):
    """OpenPose heatmap + PAF networks, run by a ``pose_ros.runtimes`` plugin.

    Options:
      model          manifest name (default ``mobilenet_thin``) or a path to a model file
      model_format   tensorflow | caffe | onnx | tflite (model file only; default from suffix)
      skeleton       coco18 | body25 | mpi15 (model file only; default coco18)
      config         prototxt of a Caffe model file
      output         output layer name (model file only; default: the last layer)
      input_width, input_height   network input (0 = the manifest's); multiples of 8
      runtime        auto | opencv | openvino | a runtime plugin name (default auto: openvino
                     when it imports and loads the format, else opencv)
      device         the runtime's device: opencv cpu | opencl | cuda (| cpu_fp16 | cuda_fp16),
                     openvino cpu | gpu | npu | gpu.1 ... (default cpu)
      precision      f32 | f16 | bf16 (default f32: the other two change the maps)
      backend        legacy cv2.dnn device name (cpu, cpu_fp16, opencl, cuda, cuda_fp16);
                     given without ``runtime``, it selects the opencv runtime
      strict_backend raise instead of falling back to the CPU (default False)
      decode_params  DecodeParams or dict of its fields
      scale, mean, swap_rb   override the model's blobFromImage preprocessing
      warmup         run one forward pass at start (default True): checks the output
                     layout and the backend, at the input size a 4:3 frame uses (see
                     ``_warm_up_size``), so the first frame of such a camera is fast;
                     another input size costs one slower pass while cv2.dnn re-plans
      trim_padding   shrink the network input to the letterboxed image (default True):
                     same scale and detections, less padding to run the network on
                     (measured: 4:3 frames 206 -> 171 ms, 16:9 frames 206 -> 155 ms)
      scales         multi-scale inference: one pass per factor of the input size
                     (default [1.0]), maps averaged at the finest pass's resolution
                     (pose_ros.core.map_fusion); cost and gain in bench/RESULTS.md
      flip           also run each pass on the mirrored image and average (default False)
    """

    api_version = 1
    accepts_runtime_options = True

    def __init__(self, **options) -> None:
        super().__init__(**options)
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise EstimatorError(f"openpose_dnn: unknown option(s) {unknown}; accepted: {', '.join(_OPTIONS)}")
        self._strict = _flag(options, "strict_backend", False)
        self.set_decode_params(_decode_params(options.get("decode_params")))
        self._trim_padding = _flag(options, "trim_padding", True)
        self._scales = _scales(options.get("scales"))
        self._flip = _flag(options, "flip", False)
        self._configure_model(options)
        if self._scales != (1.0,):
            problem = input_size.scales_problem(self._scales, self._input_w, self._input_h)
            if problem:
                raise EstimatorError(problem)
        self._runtime = self._start_runtime(options)
        if _flag(options, "warmup", True):
            self._warm_up()

    # ------------------------------------------------------------------ set-up

    def _configure_model(self, options: dict) -> None:
        """Fill model name, files, format, skeleton, input size and preprocessing."""
        model = options.get("model") or DEFAULT_MODEL
        manifest = models.load_manifest()
        if model in manifest:
            clash = [k for k in _FILE_ONLY_OPTIONS if options.get(k)]
            if clash:
                raise EstimatorError(f"option(s) {clash} apply to a model file path, not to the "
                                     f"manifest model {model!r}")
            try:
                resolved = models.resolve(model)
            except models.ModelError as e:
                raise EstimatorError(str(e)) from e
            spec = resolved.spec
            self._model_name, self._files, self._model_state = model, dict(resolved.paths), resolved.state
            self._format, self._output = spec.format, spec.output
            skeleton_name, multiple = spec.skeleton, spec.input_multiple
            default_size = (spec.input_width, spec.input_height)
            pre = spec.preprocessing
            scale, mean, swap_rb = pre.scale, pre.mean, pre.swap_rb
        else:
            path = Path(str(model)).expanduser()
            if not path.is_file():
                raise EstimatorError(f"model {model!r} is neither a manifest model ({', '.join(manifest)}) "
                                     f"nor an existing file")
            fmt = options.get("model_format") or _SUFFIX_FORMATS.get(path.suffix.lower())
            if fmt is None:
                raise EstimatorError(f"cannot tell the format of {path}; set model_format "
                                     f"(one of {', '.join(sorted(set(_SUFFIX_FORMATS.values())))})")
            self._files = {"weights": path}
            if options.get("config"):
                self._files["config"] = Path(str(options["config"])).expanduser()
            if fmt == "caffe" and not self._files.get("config", Path()).is_file():
                raise EstimatorError("a Caffe model file needs the config option: path of its .prototxt")
            self._model_name, self._model_state = str(path), "user file"
            self._format, self._output = fmt, options.get("output") or None
            skeleton_name, multiple = options.get("skeleton") or "coco18", CUSTOM_INPUT_MULTIPLE
            default_size = CUSTOM_INPUT_SIZE
            scale, mean, swap_rb = 1.0, (0.0, 0.0, 0.0), False
        try:
            self._skeleton = get_skeleton(skeleton_name)
        except ValueError as e:
            raise EstimatorError(str(e)) from e
        self._input_multiple = multiple
        self._input_w = _input_size(options, "input_width", default_size[0], multiple)
        self._input_h = _input_size(options, "input_height", default_size[1], multiple)
        try:
            self._scale = float(options["scale"]) if options.get("scale") is not None else scale
            mean = options["mean"] if options.get("mean") is not None else mean
            mean = (float(mean),) * 3 if np.isscalar(mean) else tuple(float(m) for m in mean)
        except (TypeError, ValueError) as e:
            raise EstimatorError(f"scale and mean must be numbers: {e}") from None
        if len(mean) != 3:
            raise EstimatorError(f"mean needs 1 or 3 values, got {mean}")
        self._mean = mean
        self._swap_rb = _flag(options, "swap_rb", swap_rb)

    def _start_runtime(self, options: dict) -> runtimes.Runtime:
        """Choose and load the runtime; the legacy ``backend`` option means cv2.dnn's device names."""
        backend = options.get("backend")
        requested = str(options.get("runtime") or ("opencv" if backend else runtimes.AUTO)).lower()
        device = str(options.get("device") or backend or DEFAULT_DEVICE).lower()
        precision = str(options.get("precision") or "f32").lower()
        if precision not in runtimes.PRECISIONS:
            raise EstimatorError(f"precision {precision!r} unknown; choose one of {', '.join(runtimes.PRECISIONS)}")
        if backend and str(backend).lower() not in BACKENDS:
            raise EstimatorError(f"backend {backend!r} unknown; choose one of {', '.join(LEGACY_BACKENDS)}")
        name, self._runtime_choice = runtimes.choose_runtime(requested, self._format)
        self._requested = {"runtime": requested, "device": device, "precision": precision}
        network = runtimes.NetworkModel(
            format=self._format, weights=Path(self._files["weights"]), config=self._files.get("config"),
            output=self._output, name=self._model_name, cache_dir=models.cache_dir() / COMPILED_CACHE)
        return runtimes.load_runtime(name, network, device=device, precision=precision, strict=self._strict)

    def _forward(self, blob: np.ndarray) -> np.ndarray:
        """The one call site of the network (every scale, every flip goes through here)."""
        return self._runtime.forward(blob)

    def _warm_up_size(self) -> tuple[int, int]:
        """Network input of the warm-up pass: what a 4:3 camera (the common case) runs at,
        since cv2.dnn re-plans its buffers whenever the input shape changes."""
        return self.network_input_size(640, 480)

    def _warm_up(self) -> None:
        """One forward pass on a blank input: proves the backend works and the layout fits."""
        net_w, net_h = self._warm_up_size()
        out = self._forward(np.zeros((1, 3, net_h, net_w), np.float32))
        channels = out.shape[1] if out.ndim == 4 else -1
        if channels != self._skeleton.output_channels:
            raise EstimatorError(
                f"{self._model_name} outputs shape {tuple(out.shape)}, but skeleton {self._skeleton.name} "
                f"needs {self._skeleton.output_channels} channels; wrong skeleton or output option?")

    # ------------------------------------------------------------------ Estimator API

    @property
    def skeleton(self) -> Skeleton:
        return self._skeleton

    def prepare(self, image: np.ndarray):
        """(letterboxed image, network blob, letterbox transform) for ``image``: exactly what
        ``infer`` feeds the runtime, so benchmarks and tests can run the runtime alone."""
        bgr = as_bgr(image)
        h, w = bgr.shape[:2]
        net_w, net_h = self.network_input_size(w, h)
        transform = compute_letterbox(w, h, net_w, net_h)
        boxed = apply_letterbox(bgr, transform, pad_value=0)
        blob = cv2.dnn.blobFromImage(boxed, self._scale, (net_w, net_h), self._mean, self._swap_rb, False)
        return boxed, blob, transform

    def infer(self, image: np.ndarray) -> PoseResult:
        t0 = time.perf_counter()
        boxed, blob, transform = self.prepare(image)
        h, w = np.asarray(image).shape[:2]   # validated by prepare()
        t1 = time.perf_counter()
        out = self._forward(blob) if self._scales == (1.0,) and not self._flip else self._passes(boxed, blob)
        t2 = time.perf_counter()
        persons = decode_output(out, self._skeleton, self.decode_params, transform)
        t3 = time.perf_counter()
        return PoseResult(
            persons=persons, skeleton=self._skeleton.name, image_width=w, image_height=h,
            timings_ms={"preprocess": (t1 - t0) * 1e3, "forward": (t2 - t1) * 1e3,
                        "parse": (t3 - t2) * 1e3})

    def _passes(self, boxed: np.ndarray, blob: np.ndarray) -> np.ndarray:
        """Multi-scale and flip test: one forward pass per scale (and its mirror image),
        maps averaged at the resolution of the finest pass (pose_ros.core.map_fusion)."""
        net_h, net_w = boxed.shape[:2]
        m = self._input_multiple
        outs = []
        for s in self._scales:
            size = input_size.pass_size(net_w, net_h, s) if m == input_size.NET_STRIDE else \
                (max(m, round(net_w * s / m) * m), max(m, round(net_h * s / m) * m))
            b = blob if s == 1.0 else cv2.dnn.blobFromImage(boxed, self._scale, size, self._mean,
                                                            self._swap_rb, False)
            outs.append(self._forward(b))
            if self._flip:
                outs.append(map_fusion.unflip(self._forward(np.ascontiguousarray(b[..., ::-1])), self._skeleton))
        return map_fusion.fuse(outs, max(o.shape[-1] for o in outs), max(o.shape[-2] for o in outs))[None]

    def network_input_size(self, image_w: int, image_h: int) -> tuple[int, int]:
        """The network input used for an image of this size (see ``trim_padding``)."""
        if not self._trim_padding:
            return self._input_w, self._input_h
        return trimmed_input_size(image_w, image_h, self._input_w, self._input_h, self._input_multiple)

    def describe(self) -> dict:
        run = self._runtime.describe()
        return {
            "estimator": "openpose_dnn",
            "model": self._model_name,
            "model_files": {role: str(p) for role, p in self._files.items()},
            "model_state": self._model_state,
            "format": self._format,
            "skeleton": self._skeleton.name,
            **run,
            "runtime_choice": self._runtime_choice,
            "requested_runtime": self._requested["runtime"],
            "requested_precision": self._requested["precision"],
            # pose_ros 0.1 names, kept for diagnostics readers: the device really in use
            "backend": run.get("device"),
            "target": run.get("target", run.get("device")),
            "requested_backend": self._requested["device"],
            "input_size": [self._input_w, self._input_h],
            "trim_padding": self._trim_padding,
            "scales": list(self._scales),
            "flip": self._flip,
            "output": self._output,
            "preprocessing": {"scale": self._scale, "mean": list(self._mean), "swap_rb": self._swap_rb},
            "decode_params": asdict(self.decode_params),
            "opencv": cv2.__version__,
        }
