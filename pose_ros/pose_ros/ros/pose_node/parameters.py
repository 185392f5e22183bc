"""The pose node's parameter table and the check every value passes, at start-up and at run time.

``applies`` says how a change takes effect: "decode" on the running estimator, "reload"
rebuilds it, "live" is read per frame, "restart" is read at start-up only.
"""

from __future__ import annotations

import os
from dataclasses import fields
from functools import partial
from typing import Any, Dict, List

from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

from pose_ros import runtimes
from pose_ros.core.input_size import MAX_INPUT_SIDE, MAX_SCALE, MIN_INPUT_SIDE, NET_STRIDE, scales_problem
from pose_ros.core.lifting import LiftParams
from pose_ros.core.lookout import LookoutParams
from pose_ros.core.paf import DecodeParams
from pose_ros.core.smoothing import OneEuroParams
from pose_ros.core.tracking import PersonTracker
from pose_ros.estimators import available_estimators
from pose_ros.estimators.frame_budget import DEFAULT_FRAME_BUDGET_MS
from pose_ros.estimators.openpose_dnn import AUTO_PRECISION
from pose_ros.media import image_convert
from pose_ros.models import load_manifest
from pose_ros.ros import parameters
from pose_ros.ros.parameters import Param
from pose_ros.ros.qos import RELIABILITY
from pose_ros.runtimes.opencv_dnn import LEGACY_BACKENDS

TRANSPORTS = ("raw", "compressed")
BUILTIN_ESTIMATOR = "openpose_dnn"
# scales/flip go to the estimator only when they differ from these defaults, so third-party
# estimators need not know them (numbers in bench/RESULTS.md, "Accuracy").
DEFAULT_SCALES = [1.0]
# ... and so do the far-people options (the estimator's own defaults).
ZOOM_DEFAULTS = {"zoom": True, "zoom_scale": 1.25, "scan_scale": LookoutParams.scale,
                 "frame_budget_ms": DEFAULT_FRAME_BUDGET_MS}
_DECODE, _ONE_EURO, _LIFT = DecodeParams(), OneEuroParams(), LiftParams()  # the core owns the defaults

PARAMS = (
    Param("estimator", BUILTIN_ESTIMATOR, "Estimator plugin name (entry-point group pose_ros.estimators).", "reload"),
    Param("model", "mobilenet_thin",
          "Model name from the manifest (see `pose_ros_models list`) or a path to a model file.", "reload"),
    Param("input_width", 432, "Largest network input width in pixels (multiple of 8). The image is "
          "scaled to fit input_width x input_height with its aspect ratio kept; the built-in estimator "
          "then trims the padding (a 16:9 camera runs at 432x248). Above 1312x736 the node warns with the "
          "expected memory (about 430 bytes per input pixel).", "reload", MIN_INPUT_SIDE, MAX_INPUT_SIDE, NET_STRIDE),
    Param("input_height", 368, "Largest network input height in pixels (multiple of 8).", "reload",
          MIN_INPUT_SIDE, MAX_INPUT_SIDE, NET_STRIDE),
    Param("runtime", runtimes.AUTO, "Inference runtime: auto (OpenVINO when it is installed and loads the "
          "model, else OpenCV DNN), opencv, openvino, or a runtime plugin name (entry-point group "
          "pose_ros.runtimes). The runtime, device and precision in use are reported in /diagnostics.",
          "reload"),
    Param("device", "cpu", "Device of the runtime: opencv cpu, opencl, cuda (cpu_fp16, cuda_fp16); openvino "
          "cpu, gpu, npu, gpu.1 ... An unusable device falls back to the CPU with a warning.", "reload"),
    Param("precision", AUTO_PRECISION, "Inference precision: auto (bf16 where OpenVINO runs on a CPU with AMX, "
          "2x faster there; else f32), f32, f16, bf16. bf16 moved one large person's keypoint on the dev set "
          "(bench/RESULTS.md, Accuracy at speed): f32 keeps the maps exact.", "reload",
          choices=(AUTO_PRECISION,) + runtimes.PRECISIONS),
    Param("dnn_backend", "cpu", "Deprecated (use runtime and device): a cv2.dnn target, cpu, cpu_fp16, opencl, "
          "cuda, cuda_fp16. Anything but cpu selects runtime opencv on that device.", "reload",
          choices=LEGACY_BACKENDS),
    Param("heatmap_threshold", _DECODE.heatmap_threshold, "Minimum heatmap peak for a keypoint candidate.",
          "decode", 0.0, 1.0),
    Param("paf_threshold", _DECODE.paf_threshold, "Minimum PAF alignment of one sample along a limb.",
          "decode", -1.0, 1.0),
    Param("min_parts", _DECODE.min_parts, "Drop persons with fewer detected keypoints.", "decode", 1, 25, 1),
    Param("min_person_score", _DECODE.min_person_score, "Drop persons with a lower mean keypoint/limb score "
          "(see min_score_many_parts).", "decode", 0.0, 1.0),
    Param("max_persons", _DECODE.max_persons, "Keep at most this many persons (best first); 0 = unlimited.",
          "decode", 0, 1000, 1),
    Param("tracking", True, "Give persons stable ids across frames (PersonKeypoints.id).", "live"),
    Param("publish_annotated", True,
          "Publish image_annotated (rendered only while someone subscribes).", "live"),
    Param("max_image_pixels", image_convert.MAX_PIXELS,
          "Reject larger images (width*height) with an error instead of running out of memory.", "live",
          1, 1 << 30, 1),
    Param("image_transport", "raw", "raw: subscribe sensor_msgs/Image on `image`; compressed: "
          "sensor_msgs/CompressedImage on `image/compressed`.", "restart", choices=TRANSPORTS),
    Param("input_reliability", "auto", "QoS reliability of the image subscription. auto: reliable "
          "when every publisher of the topic offers reliable, else best_effort (re-checked every "
          "2 s). Fast DDS loses most large best-effort images sent by a reliable camera (measured: "
          "1.2 of 15 Hz at 768x576), so matching the camera matters.", "restart",
          choices=("auto",) + tuple(RELIABILITY)),
    Param("input_depth", 1, "QoS history depth of the image subscription.", "restart", 1, 100, 1),
    Param("output_reliability", "reliable", "QoS reliability of the outputs.", "restart",
          choices=tuple(RELIABILITY)),
    Param("output_depth", 10, "QoS history depth of the outputs.", "restart", 1, 1000, 1),
    # -- vision_msgs detections and vector overlays
    Param("publish_detections", True, "Publish detections (vision_msgs/Detection2DArray, one per person) "
          "when vision_msgs is installed.", "live"),
    Param("publish_image_markers", True, "Publish the skeletons as image_markers/limbs and "
          "image_markers/joints (visualization_msgs/ImageMarker) and image_annotations "
          "(foxglove_msgs/ImageAnnotations, when installed); built only while someone subscribes.", "live"),
    # -- time smoothing, tracks in seconds, and 3D keypoints from an aligned depth image
    Param("track_max_age_s", PersonTracker().max_age_s, "A track unseen for longer (seconds of image "
          "stamps) is dropped; the person gets a new id when seen again.", "live", 0.0, 600.0),
    Param("smoothing", True, "One Euro filter per keypoint per track (needs tracking).", "live"),
    Param("smoothing_min_cutoff", _ONE_EURO.min_cutoff_hz, "One Euro cutoff of a still keypoint in Hz: "
          "lower = steadier, more lag when a move starts.", "live", 0.01, 100.0),
    Param("smoothing_beta", _ONE_EURO.beta, "One Euro speed coefficient per (person box diagonal per "
          "second): higher = less lag on fast moves, more jitter.", "live", 0.0, 1000.0),
    Param("depth_tolerance_s", 0.05, "Largest stamp difference between a colour image and the depth "
          "image paired with it.", "live", 0.0, 1.0),
    Param("depth_window_px", _LIFT.window_px, "Side of the window whose median depth a keypoint "
          "takes, in colour-image pixels (odd).", "live", 1, 51, 2),
    Param("depth_outlier_m", _LIFT.outlier_m, "A keypoint farther than this from its person's median "
          "depth uses only the readings near the person, or none.", "live", 0.05, 10.0),
    Param("publish_markers", True, "Publish persons_markers (RViz skeletons; built only while someone "
          "subscribes).", "live"),
    Param("marker_lifetime_s", 1.0, "Lifetime of the RViz markers, so people vanish when 3D output "
          "stops.", "live", 0.05, 60.0),
    # -- accuracy: score thresholds, multi-scale inference and the flip test
    Param("min_keypoint_score", _DECODE.min_keypoint_score, "Publish keypoints scoring lower as not "
          "detected (score 0); the person is still assembled from them.", "decode", 0.0, 1.0),
    Param("min_score_many_parts", _DECODE.min_score_many_parts, "Persons with at least many_parts "
          "keypoints are kept from this score up (instead of min_person_score): small pedestrians are "
          "whole but score low.", "decode", 0.0, 1.0),
    Param("many_parts", _DECODE.many_parts, "See min_score_many_parts.", "decode", 1, 25, 1),
    Param("scales", DEFAULT_SCALES, "Multi-scale inference: one network pass per factor of the input "
          f"size, maps averaged (e.g. [1.0, 1.5]); each in (0, {MAX_SCALE:g}]. Costs about the sum of "
          "the passes.", "reload"),
    Param("flip", False, "Flip test: also run the mirrored image and average (about 2x the network "
          "time).", "reload"),
    # -- far people: where the network's time goes (built-in estimator; doc/accuracy_and_speed.md)
    Param("zoom", ZOOM_DEFAULTS["zoom"], "Zoom passes: after the full-frame pass, crops around small people and "
          "weak evidence run at a higher scale, within frame_budget_ms (finds 2-3x the far pedestrians).",
          "reload"),
    Param("zoom_scale", ZOOM_DEFAULTS["zoom_scale"], "Network pixels per source pixel in the zoom passes.",
          "reload", 1.0, 4.0),
    Param("scan_scale", ZOOM_DEFAULTS["scan_scale"], "The lookout (with zoom): from a camera's second frame on, "
          "follow the small people found and scan the frame a tile at a time at this scale for people too far "
          "to show in the full-frame pass, with the budget the zoom passes leave. 0 = no lookout.",
          "reload", 0.0, 4.0),
    Param("frame_budget_ms", ZOOM_DEFAULTS["frame_budget_ms"], "Time for one frame's passes, as measured on this "
          "machine at start-up and while running: the full-frame input shrinks only if even it does not fit, "
          "the zoom passes get what is left. 0 = no budget.", "reload", 0.0, 10000.0),
)
# Not in PARAMS (the pipeline's table, mirrored by config/pose.yaml): how the node starts, set by
# whoever starts it (a launch file, a lifecycle manager's bringup), never at run time.
AUTOSTART = Param("autostart", True, "Configure and activate at start, as a plain node. false: start "
                  "unconfigured, for a lifecycle manager (ros2 lifecycle set /pose_node configure, then "
                  "activate).", read_only=True)
CAMERAS = Param("cameras", [""], "Camera names, one estimator for all: [front, rear] subscribes front/image and "
                "rear/image (their depth, camera_info, image/compressed too) and publishes front/persons, "
                "rear/persons and every other output in the camera's namespace; the next frame is the one of "
                "the camera that waited longest. [''] (the default) or []: one camera on image, persons ...",
                read_only=True)
PARAM_BY_NAME = parameters.by_name(PARAMS)
DECODE_FIELDS = {f.name for f in fields(DecodeParams)} & set(PARAM_BY_NAME)


def decode_values(node: Node) -> Dict[str, Any]:
    """The parser's parameters as the node holds them now."""
    return {name: parameters.get(node, name) for name in DECODE_FIELDS}


def camera_names(node: Node) -> List[str]:
    """The ``cameras`` parameter as topic namespaces: [""] for the node's own single camera.
    Raises ValueError for names that cannot be namespaces or are given twice."""
    value = node.get_parameter(CAMERAS.name).value
    names = [str(v).strip().strip("/") for v in (value or [])]
    names = [n for n in names if n] or [""]
    if len(set(names)) != len(names):
        raise ValueError(f"cameras {names}: each camera name must be given once")
    for name in names:
        if name and not all(part and (part[0].isalpha() or part[0] == "_") and part.replace("_", "a").isalnum()
                            for part in name.split("/")):
            raise ValueError(f"camera name {name!r}: use letters, digits and _ (a topic namespace such as front "
                             "or arm/left), starting with a letter")
    return names


class ParameterCheck:
    """Declares the table (and :data:`AUTOSTART`) on a node and vets every later change (an on-set callback).

    An invalid start-up value (YAML, -p, launch) is logged with the reason and replaced by the
    default, never a crash; an invalid run-time value is refused with the reason. The check has
    no side effects: the worker applies accepted changes. ``locked`` is set while the node is
    configured: "restart" parameters are read by configure, so they may change only while unconfigured.
    """

    def __init__(self, node: Node) -> None:
        self._node = node
        self.locked = False
        parameters.declare(node, PARAMS + (AUTOSTART, CAMERAS), invalid_to_default=True)
        node.add_on_set_parameters_callback(self.validate)
        log = node.get_logger()
        for p in PARAMS:
            verdict = self.validate([node.get_parameter(p.name)])
            if not verdict.successful:
                log.error(f"parameter {p.name}={parameters.get(node, p.name)!r} rejected: {verdict.reason}; "
                          f"using the default {p.default!r}")
                node.set_parameters([Parameter(p.name, value=p.default)])

    def validate(self, params: List[Parameter]) -> SetParametersResult:
        for param in params:
            spec = PARAM_BY_NAME.get(param.name)
            reason = "" if spec is None else self._problem(spec, param.value, params)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _problem(self, spec: Param, value: Any, batch: List[Parameter]) -> str:
        """Why ``value`` cannot be ``spec``'s value (given the rest of ``batch``), or ""."""
        name, now = spec.name, partial(parameters.get, self._node)
        if self.locked and spec.applies == "restart" and value != now(name):
            return (f"{name} is read at start-up only (lifecycle configure); restart the node, "
                    "or clean it up, set it and configure it again")
        if spec.choices and value not in spec.choices:
            return f"{name}={value!r}: must be one of {', '.join(spec.choices)}"
        if name == "estimator" and value not in available_estimators():
            return f"unknown estimator {value!r}; installed: {', '.join(sorted(available_estimators())) or 'none'}"
        if name == "runtime" and value != runtimes.AUTO and value not in runtimes.available_runtimes():
            return (f"unknown runtime {value!r}; installed: "
                    f"{', '.join([runtimes.AUTO] + sorted(runtimes.available_runtimes()))}")
        if name in ("model", "estimator", "device") and not str(value).strip():
            return f"{name} must not be empty"
        # Built-in backend only: third-party estimators may name their models differently.
        if (name == "model" and now("estimator") == BUILTIN_ESTIMATOR
                and value not in load_manifest() and not os.path.isfile(value)):
            return (f"model {value!r} is neither a model of the manifest "
                    f"({', '.join(sorted(load_manifest()))}) nor an existing file")
        if name in ("scales", "input_width", "input_height"):
            trial = {n: now(n) for n in ("scales", "input_width", "input_height")}
            trial.update({p.name: p.value for p in batch if p.name in trial})
            return scales_problem(trial["scales"], trial["input_width"], trial["input_height"]) or ""
        if name in DECODE_FIELDS:
            try:
                DecodeParams(**{**decode_values(self._node), name: value}).validate()
            except (TypeError, ValueError) as exc:
                return str(exc)
        return ""
