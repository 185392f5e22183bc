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

Far people (issue 21): the network sees people best at 100-300 input pixels, so one pass at
the default 432x368 misses most pedestrians of a 768x576 camera, and a large input loses
the near ones. By default the coarse pass is followed by zoom passes on crops around the
evidence it saw (``pose_ros.core.zoom``), their people merged (``pose_ros.core.merge``), all
within ``frame_budget_ms`` as measured on this machine (``frame_budget``). Dev-set AP and
end-to-end fps of each lever: bench/RESULTS.md, "Accuracy at speed".
"""

from __future__ import annotations

import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Hashable, Optional, Tuple

import cv2
import numpy as np

from pose_ros import models, runtimes
from pose_ros.core import input_size, map_fusion
from pose_ros.core.geometry import apply_letterbox, compute_letterbox, trimmed_input_size
from pose_ros.core.lookout import LookoutParams
from pose_ros.core.paf import DecodeParams, decode_output
from pose_ros.core.persons import PoseResult
from pose_ros.core.skeletons import Skeleton, get_skeleton
from pose_ros.core.zoom import ZoomParams
from pose_ros.estimators import Estimator, EstimatorError, as_bgr
from pose_ros.estimators.frame_budget import CALIBRATION_CROPS, DEFAULT_FRAME_BUDGET_MS, FrameBudget
from pose_ros.estimators.zoom_passes import ZoomPasses, ZoomStage
from pose_ros.runtimes.opencv_dnn import BACKENDS, LEGACY_BACKENDS
from pose_ros.runtimes.openvino_runtime import native_bf16

DEFAULT_MODEL = "mobilenet_thin"
DEFAULT_DEVICE = "cpu"
#: ``precision`` default: bf16 where it is native (OpenVINO on a CPU with AMX), else f32.
AUTO_PRECISION = "auto"
#: Compiled networks (OpenVINO's CACHE_DIR) live beside the models, under this folder.
COMPILED_CACHE = "compiled"
# Custom model files: OpenPose networks have an output stride of 8.
CUSTOM_INPUT_MULTIPLE = input_size.NET_STRIDE
CUSTOM_INPUT_SIZE = (368, 368)

_SUFFIX_FORMATS = {".pb": "tensorflow", ".caffemodel": "caffe", ".onnx": "onnx", ".tflite": "tflite",
                   ".xml": "openvino"}
_OPTIONS = ("model", "model_format", "skeleton", "config", "output", "input_width", "input_height",
            "backend", "runtime", "device", "precision", "strict_backend", "decode_params", "scale", "mean",
            "swap_rb", "warmup", "trim_padding", "scales", "flip", "zoom", "zoom_scale", "scan_scale",
            "frame_budget_ms")
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


def _number(options: dict, key: str, default: float) -> float:
    """A float option; None or "" = the default."""
    value = options.get(key)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise EstimatorError(f"{key} must be a number, got {value!r}") from None
    if not np.isfinite(number) or number < 0:
        raise EstimatorError(f"{key} must be a finite number >= 0, got {value!r}")
    return number


def resolve_precision(requested: str, runtime: str, device: str) -> tuple[str, str]:
    """(precision to load, why) for the ``precision`` option; ``auto`` measures nothing itself,
    it applies what bench/RESULTS.md measured: bf16 only where the CPU has AMX and the runtime
    is OpenVINO on that CPU (2.1-2.5x faster there; dev-set AP within noise), else f32."""
    if requested != AUTO_PRECISION:
        return requested, "requested"
    if runtime == "openvino" and device.split(".")[0] == "cpu" and native_bf16():
        return "bf16", "auto: bf16 (OpenVINO on a CPU with AMX, amx_bf16)"
    return "f32", f"auto: f32 ({runtime} on {device}{' without AMX' if runtime == 'openvino' else ''})"


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
      precision      auto | f32 | f16 | bf16 (default auto: bf16 where the CPU has AMX and the
                     runtime is OpenVINO, else f32; see ``resolve_precision``)
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
      zoom           zoom passes on crops around small people and weak evidence of the
                     coarse pass (default True; ``pose_ros.core.zoom``)
      zoom_scale     network pixels per source pixel in the zoom passes (default 1.25)
      scan_scale     the lookout's scale (default 2.0; 0 = no lookout): on a camera's frames
                     (``infer(image, stream=...)``) the zoom also follows the small people of
                     the last frames and scans the frame a tile at a time for people too far
                     to leave evidence (``pose_ros.core.lookout``)
      frame_budget_ms  time for one whole ``infer`` (default 50; 0 = no budget): the coarse
                     input is the largest up to input_width x input_height whose measured
                     cost fits, the zoom passes get what is left (``frame_budget``)
    """

    api_version = 1
    accepts_runtime_options = True
    accepts_stream = True

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
        self._budget = FrameBudget(_number(options, "frame_budget_ms", DEFAULT_FRAME_BUDGET_MS),
                                   (self._input_w, self._input_h), self._input_multiple, input_size.MIN_INPUT_SIDE)
        self._zoom = self._zoom_stage(options)
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

    def _zoom_stage(self, options: dict):
        """The zoom passes (None when ``zoom`` is off); they share the coarse pass's forward."""
        if not _flag(options, "zoom", True):
            return None
        scan_scale = _number(options, "scan_scale", LookoutParams.scale)
        params = ZoomParams(scale=_number(options, "zoom_scale", ZoomParams.scale))
        lookout = LookoutParams(scale=scan_scale) if scan_scale > 0 else None
        passes = ZoomPasses(self._forward, self._skeleton, self._scale, self._mean, self._swap_rb)
        try:
            return ZoomStage(params, passes, self._skeleton, lookout)     # it validates both
        except ValueError as e:
            raise EstimatorError(str(e)) from None

    def _start_runtime(self, options: dict) -> runtimes.Runtime:
        """Choose and load the runtime; the legacy ``backend`` option means cv2.dnn's device names."""
        backend = options.get("backend")
        requested = str(options.get("runtime") or ("opencv" if backend else runtimes.AUTO)).lower()
        device = str(options.get("device") or backend or DEFAULT_DEVICE).lower()
        precision = str(options.get("precision") or AUTO_PRECISION).lower()
        if precision not in runtimes.PRECISIONS + (AUTO_PRECISION,):
            raise EstimatorError(f"precision {precision!r} unknown; choose one of "
                                 f"{', '.join((AUTO_PRECISION,) + runtimes.PRECISIONS)}")
        if backend and str(backend).lower() not in BACKENDS:
            raise EstimatorError(f"backend {backend!r} unknown; choose one of {', '.join(LEGACY_BACKENDS)}")
        name, self._runtime_choice = runtimes.choose_runtime(requested, self._format, device)
        self._requested = {"runtime": requested, "device": device, "precision": precision}
        precision, self._precision_choice = resolve_precision(precision, name, device)
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
        self._calibrate()

    def _calibrate(self) -> None:
        """Time the network for the budget and the zoom planner (at start-up, or at the first
        frame when ``warmup`` is off): the coarse pass of a 4:3 camera and a typical crop."""
        if (self._budget.enabled or self._zoom is not None) and self._budget.model is None:
            extra = self._zoom.calibration_sizes() if self._zoom is not None else []
            self._budget.calibrate(self._forward, [self._warm_up_size(), *CALIBRATION_CROPS, *extra])
            self._budget.choose(lambda mw, mh: self._trimmed(640, 480, mw, mh))

    # ------------------------------------------------------------------ Estimator API

    @property
    def skeleton(self) -> Skeleton:
        return self._skeleton

    def prepare(self, image: np.ndarray):
        """(letterboxed image, network blob, letterbox transform) of the coarse pass for
        ``image``: exactly what ``infer`` feeds the runtime first, so benchmarks and tests can
        run the runtime alone."""
        bgr = as_bgr(image)
        h, w = bgr.shape[:2]
        net_w, net_h = self.network_input_size(w, h)
        transform = compute_letterbox(w, h, net_w, net_h)
        boxed = apply_letterbox(bgr, transform, pad_value=0)
        blob = cv2.dnn.blobFromImage(boxed, self._scale, (net_w, net_h), self._mean, self._swap_rb, False)
        return boxed, blob, transform

    def infer(self, image: np.ndarray, stream: Optional[Hashable] = None) -> PoseResult:
        """``stream``: the camera the image comes from (the lookout remembers each camera's
        last frames); None: a still image, nothing remembered."""
        t0 = time.perf_counter()
        bgr = as_bgr(image)
        h, w = bgr.shape[:2]
        self._calibrate()
        self._budget.choose(lambda mw, mh: self._trimmed(w, h, mw, mh))
        boxed, blob, transform = self.prepare(bgr)
        t1 = time.perf_counter()
        single = self._scales == (1.0,) and not self._flip
        out = self._forward(blob) if single else self._passes(boxed, blob)
        t2 = time.perf_counter()
        if single:
            self._budget.observe(blob.shape[3], blob.shape[2], (t2 - t1) * 1e3)
        persons = decode_output(out, self._skeleton, self.decode_params, transform)
        t3 = time.perf_counter()
        timings = {"preprocess": (t1 - t0) * 1e3, "forward": (t2 - t1) * 1e3, "parse": (t3 - t2) * 1e3}
        if self._zoom is not None:
            passes = sum(s * s for s in self._scales) * (2 if self._flip else 1)
            persons = self._zoom.apply(bgr, out, transform, persons, self.decode_params, self._budget,
                                       int(blob.shape[2] * blob.shape[3] * passes), stream)
            timings["zoom"] = (time.perf_counter() - t3) * 1e3
        return PoseResult(persons=persons, skeleton=self._skeleton.name, image_width=w, image_height=h,
                          timings_ms=timings)

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
        """The coarse pass's network input for an image of this size: the input box the
        frame budget chose (at most input_width x input_height), padding trimmed."""
        return self._trimmed(image_w, image_h, *self._budget.size)

    def _trimmed(self, image_w: int, image_h: int, box_w: int, box_h: int) -> tuple[int, int]:
        if not self._trim_padding:
            return box_w, box_h
        return trimmed_input_size(image_w, image_h, box_w, box_h, self._input_multiple)

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
            "precision_choice": self._precision_choice,
            # pose_ros 0.1 names, kept for diagnostics readers: the device really in use
            "backend": run.get("device"),
            "target": run.get("target", run.get("device")),
            "requested_backend": self._requested["device"],
            "input_size": list(self._budget.size),
            **self._budget.describe(),
            **(self._zoom.describe() if self._zoom is not None
               else {"zoom": {"enabled": False}, "lookout": {"enabled": False}}),
            "trim_padding": self._trim_padding,
            "scales": list(self._scales),
            "flip": self._flip,
            "output": self._output,
            "preprocessing": {"scale": self._scale, "mean": list(self._mean), "swap_rb": self._swap_rb},
            "decode_params": asdict(self.decode_params),
            "opencv": cv2.__version__,
        }
