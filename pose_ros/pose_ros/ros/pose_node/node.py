"""The pose_ros ROS 2 node: camera images in, PersonKeypointsArray + annotated image out.

A thin adapter: message conversion, QoS, parameters and diagnostics live here; the
pose estimation itself is an estimator plugin (``pose_ros.estimators``) and the
drawing/tracking are core modules. The image callback only stores the newest frame
(:class:`~pose_ros.streams.frame_slot.LatestFrameSlot`); a worker thread processes it, so the
output never lags behind the camera by more than one processing time.

Nothing that arrives on a topic may stop the node: every per-frame failure is
logged (throttled) with its reason and counted, and the next good frame is processed.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, fields
from typing import Any, Optional

import cv2
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType, SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from std_srvs.srv import SetBool
from visualization_msgs.msg import ImageMarker, MarkerArray

from pose_ros import runtimes
from pose_ros.core.draw import draw_persons
from pose_ros.core.input_size import MAX_INPUT_SIDE, MAX_SCALE, MIN_INPUT_SIDE, NET_STRIDE, scales_problem
from pose_ros.core.lifting import DepthError, LiftParams, intrinsics_for, lift_persons
from pose_ros.core.overlay import skeleton_overlay
from pose_ros.core.paf import DecodeParams
from pose_ros.core.persons import Person
from pose_ros.core.result_check import result_problem
from pose_ros.core.skeletons import Skeleton
from pose_ros.core.smoothing import JitterMeter, KeypointSmoother, OneEuroParams
from pose_ros.core.tracking import PersonTracker
from pose_ros.estimators import Estimator, EstimatorError, available_estimators, load_estimator
from pose_ros.media import image_convert
from pose_ros.models import load_manifest
from pose_ros.ros.convert.image_markers import (
    load_foxglove_msgs,
    overlay_to_image_annotations,
    overlay_to_image_markers,
)
from pose_ros.ros.convert.images import (
    bgr_to_image_msg,
    compressed_msg_to_bgr,
    depth_msg_to_metres,
    image_msg_to_bgr,
    stamp_ns,
)
from pose_ros.ros.convert.persons import persons_to_msg, skeleton_to_msg
from pose_ros.ros.convert.persons3d import persons3d_to_msg, skeleton_markers
from pose_ros.ros.node_runner import run
from pose_ros.ros.qos import RELIABILITY
from pose_ros.runtimes.opencv_dnn import LEGACY_BACKENDS
from pose_ros.streams.frame_slot import LatestFrameSlot
from pose_ros.streams.rate_stats import LatencyWindow, MessageThrottle, RateMeter
from pose_ros.streams.stamp_pairing import Pairing, StampPairer
from pose_ros_msgs.msg import PersonKeypoints3DArray, PersonKeypointsArray
from pose_ros_msgs.msg import Skeleton as SkeletonMsg

try:  # Jazzy and newer
    from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import PublisherEventCallbacks, SubscriptionEventCallbacks

THROTTLE_S = 5.0
RELOAD_RETRY_S = 10.0  # a failed estimator load (e.g. model not fetched yet) is retried this often
TRANSPORTS = ("raw", "compressed")
BUILTIN_ESTIMATOR = "openpose_dnn"
# Peak memory of a forward pass, measured with mobilenet_thin on cv2.dnn (CPU, fp32):
# 352 MB at 864x736, 811 MB at 1312x1312 (4096x4096 took 5.4 GB and 78 s before).
_FORWARD_MB_BASE, _FORWARD_BYTES_PER_PIXEL = 90.0, 430.0
LARGE_INPUT_PIXELS = 1312 * 736   # OpenPose's own largest usual net_resolution
FUTURE_STAMP_TOLERANCE_S = 0.25   # stamps further ahead of the node's clock are reported


@dataclass(frozen=True)
class Param:
    """One row of the parameter table: default, description, and how a change applies."""

    name: str
    default: Any
    description: str
    # "decode": applied to the running estimator; "reload": rebuilds the estimator;
    # "restart": read at start only (read-only at run time); "live": read per frame.
    applies: str
    low: Optional[float] = None
    high: Optional[float] = None
    step: Optional[float] = None
    choices: tuple = ()


_DECODE = DecodeParams()  # the parser owns its defaults; the node only exposes them
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
    Param("precision", "f32", "Inference precision. f16/bf16 are faster on some hardware but change the maps "
          "(measured with bf16: 3 persons became 2).", "reload", choices=runtimes.PRECISIONS),
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
)
# Time smoothing, tracks in seconds, and 3D keypoints from an aligned depth image.
_ONE_EURO, _LIFT = OneEuroParams(), LiftParams()
PARAMS = PARAMS + (
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
)
# Accuracy options: score thresholds, multi-scale inference and the flip test
# (numbers in bench/RESULTS.md, "Accuracy"). scales/flip go to the estimator only when
# they differ from these defaults, so third-party estimators need not know them.
DEFAULT_SCALES = [1.0]
PARAMS += (
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
)


PARAM_BY_NAME = {p.name: p for p in PARAMS}
DECODE_FIELDS = {f.name for f in fields(DecodeParams)}


def expected_forward_memory_mb(width: int, height: int) -> float:
    """Rough peak memory (MB) of one forward pass at a ``width`` x ``height`` network input."""
    return _FORWARD_MB_BASE + _FORWARD_BYTES_PER_PIXEL * width * height / 1e6


def _descriptor(p: Param) -> ParameterDescriptor:
    desc = p.description + (f" One of: {', '.join(p.choices)}." if p.choices else "")
    if p.applies == "restart":
        desc += " Read at start-up only."
    # Not read_only even for start-up parameters: a read-only parameter could not be
    # reset to its default when its start-up value is invalid; run-time changes of
    # those are rejected by the on-set callback instead, with the reason.
    d = ParameterDescriptor(description=desc)
    if isinstance(p.default, bool):
        d.type = ParameterType.PARAMETER_BOOL
    elif isinstance(p.default, int):
        d.type = ParameterType.PARAMETER_INTEGER
        if p.low is not None:
            d.integer_range = [IntegerRange(from_value=int(p.low), to_value=int(p.high), step=int(p.step or 1))]
    elif isinstance(p.default, list):
        d.type = ParameterType.PARAMETER_DOUBLE_ARRAY
    elif isinstance(p.default, float):
        d.type = ParameterType.PARAMETER_DOUBLE
        if p.low is not None:
            d.floating_point_range = [FloatingPointRange(from_value=float(p.low), to_value=float(p.high))]
    else:
        d.type = ParameterType.PARAMETER_STRING
    return d


class PoseNode(Node):
    """Subscribes ``image``; publishes ``persons``, ``skeleton``, ``image_annotated``, ``/diagnostics``,
    ``detections`` + ``label_info`` (vision_msgs), ``image_markers/*`` and ``image_annotations``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("pose_node", **kwargs)
        self._started = False
        self._declare_parameters()
        self.add_on_set_parameters_callback(self._validate_parameters)

        self._slot: LatestFrameSlot = LatestFrameSlot(future_tolerance_s=FUTURE_STAMP_TOLERANCE_S)
        self._enabled = True
        self._estimator: Optional[Estimator] = None
        self._estimator_key: Optional[tuple] = None
        self._estimator_info: dict = {}
        self._estimator_error = ""
        self._estimator_failed_at = 0.0
        self._load_error_log = MessageThrottle(THROTTLE_S * 6)  # each new reason at once, repeats every 30 s
        self._time_jumps_seen = 0
        self._decode_params: Optional[DecodeParams] = None
        self._tracker = PersonTracker()
        self._stats_lock = threading.Lock()
        self._counts = {"processed": 0, "bad_input": 0, "estimator_errors": 0, "ignored_disabled": 0}
        self._last_error = ""
        self._in_rate, self._out_rate = RateMeter(), RateMeter()
        self._latency, self._inference = LatencyWindow(), LatencyWindow()
        self._skeleton_published: Optional[str] = None
        self._init_3d()

        out_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self._p("output_depth"),
                             reliability=RELIABILITY[self._p("output_reliability")])
        latched = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                             reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        pub_events = PublisherEventCallbacks(incompatible_qos=self._on_incompatible_qos)
        self._persons_pub = self.create_publisher(PersonKeypointsArray, "persons", out_qos,
                                                  event_callbacks=pub_events)
        self._annotated_pub = self.create_publisher(Image, "image_annotated", out_qos,
                                                    event_callbacks=pub_events)
        self._skeleton_pub = self.create_publisher(SkeletonMsg, "skeleton", latched)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._create_overlay_publishers(out_qos, latched, pub_events)

        self._image_sub = None
        self._subscribe_images()
        if self._p("input_reliability") == "auto":
            self.create_timer(2.0, self._subscribe_images)
        self.create_service(SetBool, "~/enable", self._on_enable)
        self.create_timer(1.0, self._publish_diagnostics)

        self._ensure_estimator()
        self._worker = threading.Thread(target=self._work, name="pose_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"publishing {self._persons_pub.topic_name} and {self._annotated_pub.topic_name}")

    def _input_reliability(self, topic: str) -> ReliabilityPolicy:
        """The configured reliability, or in auto mode the one that matches the publishers."""
        wanted = self._p("input_reliability")
        if wanted != "auto":
            return RELIABILITY[wanted]
        offered = [info.qos_profile.reliability for info in self.get_publishers_info_by_topic(topic)]
        if offered and all(r == ReliabilityPolicy.RELIABLE for r in offered):
            return ReliabilityPolicy.RELIABLE
        return ReliabilityPolicy.BEST_EFFORT  # no publisher yet, or a best-effort one: matches all

    def _subscribe_images(self) -> None:
        """(Re)create the image subscription when the wanted QoS differs from the current one."""
        compressed = self._p("image_transport") == "compressed"
        msg_type, name, callback = ((CompressedImage, "image/compressed", self._on_compressed) if compressed
                                    else (Image, "image", self._on_image))
        topic = self.resolve_topic_name(name)
        self._image_topic = topic  # the worker names it in errors; the handle may be replaced
        reliability = self._input_reliability(topic)
        if self._image_sub is not None and self._image_sub.qos_profile.reliability == reliability:
            return
        if self._image_sub is not None:
            self.destroy_subscription(self._image_sub)
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self._p("input_depth"), reliability=reliability)
        self._image_sub = self.create_subscription(
            msg_type, name, callback, qos,
            event_callbacks=SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible_qos))
        self.get_logger().info(
            f"listening on {topic} ({reliability.name.lower()}, depth {qos.depth}, "
            f"input_reliability={self._p('input_reliability')})")

    # ------------------------------------------------------------------ parameters
    def _p(self, name: str) -> Any:
        return self.get_parameter(name).value

    def _validate_parameters(self, params) -> SetParametersResult:
        """Reject invalid values with a reason; no side effects (the worker applies changes)."""
        for param in params:
            spec = PARAM_BY_NAME.get(param.name)
            if spec is None:
                continue
            value = param.value
            if self._started and spec.applies == "restart" and value != self._p(param.name):
                return SetParametersResult(
                    successful=False, reason=f"{param.name} is read at start-up only; restart the node")
            if spec.choices and value not in spec.choices:
                return SetParametersResult(
                    successful=False, reason=f"{param.name}={value!r}: must be one of {', '.join(spec.choices)}")
            if param.name == "estimator":
                found = available_estimators()
                if value not in found:
                    return SetParametersResult(
                        successful=False,
                        reason=f"unknown estimator {value!r}; installed: {', '.join(sorted(found)) or 'none'}")
            if param.name == "runtime" and value != runtimes.AUTO:
                found = runtimes.available_runtimes()
                if value not in found:
                    return SetParametersResult(
                        successful=False, reason=f"unknown runtime {value!r}; installed: "
                        f"{', '.join([runtimes.AUTO] + sorted(found))}")
            if param.name in ("model", "estimator", "device") and not str(value).strip():
                return SetParametersResult(successful=False, reason=f"{param.name} must not be empty")
            # Built-in backend only: third-party estimators may name their models differently.
            if (param.name == "model" and self._p("estimator") == BUILTIN_ESTIMATOR
                    and value not in load_manifest() and not os.path.isfile(value)):
                return SetParametersResult(
                    successful=False, reason=f"model {value!r} is neither a model of the manifest "
                    f"({', '.join(sorted(load_manifest()))}) nor an existing file")
            if param.name in ("scales", "input_width", "input_height"):
                trial = {n: self._p(n) for n in ("scales", "input_width", "input_height")}
                trial.update({p.name: p.value for p in params if p.name in trial})
                problem = scales_problem(trial["scales"], trial["input_width"], trial["input_height"])
                if problem:
                    return SetParametersResult(successful=False, reason=problem)
            if param.name in DECODE_FIELDS:
                trial = {**self._decode_values(), param.name: value}
                try:
                    DecodeParams(**trial).validate()
                except (TypeError, ValueError) as exc:
                    return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _declare_parameters(self) -> None:
        """Declare every parameter; an invalid start-up value (YAML, -p, launch) is
        logged with the reason and replaced by the default, never a crash."""
        log = self.get_logger()
        for p in PARAMS:
            try:
                self.declare_parameter(p.name, p.default, _descriptor(p))
            except (InvalidParameterValueException, InvalidParameterTypeException) as exc:
                log.error(f"parameter {p.name}: {exc}; using the default {p.default!r}")
                self.declare_parameter(p.name, p.default, _descriptor(p), ignore_override=True)
        for p in PARAMS:
            verdict = self._validate_parameters([self.get_parameter(p.name)])
            if not verdict.successful:
                log.error(f"parameter {p.name}={self._p(p.name)!r} rejected: {verdict.reason}; "
                          f"using the default {p.default!r}")
                self.set_parameters([Parameter(p.name, value=p.default)])
        self._started = True

    def _decode_values(self) -> dict:
        return {name: self._p(name) for name in DECODE_FIELDS if name in PARAM_BY_NAME}

    def _estimator_options(self) -> tuple:
        runtime, device = runtimes.fold_legacy_backend(self._p("runtime"), self._p("device"),
                                                       self._p("dnn_backend"))
        return (self._p("estimator"), self._p("model"), self._p("input_width"),
                self._p("input_height"), self._p("dnn_backend"), runtime, device, self._p("precision"),
                tuple(float(v) for v in self._p("scales")), bool(self._p("flip")))

    def _ensure_estimator(self) -> Optional[Estimator]:
        """(Re)load the estimator when its options changed; keep the old one if loading fails."""
        key = self._estimator_options()
        retry_due = (self._estimator_error != ""
                     and time.monotonic() - self._estimator_failed_at > RELOAD_RETRY_S)
        if key != self._estimator_key or retry_due:
            name, model, width, height, backend, runtime, device, precision, scales, flip = key
            self._estimator_key = key
            accuracy = {} if (list(scales), flip) == (DEFAULT_SCALES, False) else {"scales": list(scales),
                                                                                   "flip": flip}
            try:
                est = load_estimator(name, model=model, input_width=width, input_height=height,
                                     backend=backend, decode_params=DecodeParams(**self._decode_values()),
                                     runtime=runtime, device=device, precision=precision, **accuracy)
                info = dict(est.describe())  # once per load: diagnostics read the copy
            except Exception as exc:  # a plugin may raise anything; the node must survive it
                self._estimator_error = (f"cannot load estimator {name!r} with model {model!r}: {exc} "
                                         f"(retrying every {RELOAD_RETRY_S:.0f} s)")
                self._estimator_failed_at = time.monotonic()
                if self._load_error_log.allow(self._estimator_error, self._estimator_failed_at):
                    self.get_logger().error(self._estimator_error)
            else:
                self._estimator, self._estimator_error, self._estimator_info = est, "", info
                # Only for estimators that say which runtime they run on; others keep OpenCV as it is.
                threads = runtimes.opencv_threads_beside(str(info["runtime"])) if info.get("runtime") else None
                if threads is not None:
                    cv2.setNumThreads(threads)
                self._decode_params = None
                self._tracker.reset()
                self.get_logger().info(
                    "estimator ready: " + ", ".join(f"{k}={v}" for k, v in info.items()))
                if info.get("fallback_reason"):
                    self.get_logger().warning(f"device fallback: {info['fallback_reason']}")
                if width * height > LARGE_INPUT_PIXELS:
                    self.get_logger().warning(
                        f"network input up to {width}x{height}: expect about "
                        f"{expected_forward_memory_mb(width, height):.0f} MB and "
                        f"{width * height / (432 * 368):.0f}x the compute of the default 432x368 per frame")
        if self._estimator is not None:
            decode = DecodeParams(**self._decode_values())
            if decode != self._decode_params:
                self._estimator.set_decode_params(decode)
                self._decode_params = decode
        return self._estimator

    # ------------------------------------------------------------------ intake
    def _on_image(self, msg: Image) -> None:
        self._intake(msg)

    def _on_compressed(self, msg: CompressedImage) -> None:
        self._intake(msg)

    def _intake(self, msg) -> None:
        self._in_rate.tick(time.monotonic())
        if not self._enabled:
            with self._stats_lock:
                self._counts["ignored_disabled"] += 1
            return
        future_before = self._slot.counters.future
        stamp, now = stamp_ns(msg.header), self.get_clock().now().nanoseconds
        self._slot.put(msg, stamp, now)
        if self._slot.counters.future != future_before:
            self.get_logger().warning(
                f"image stamped {(stamp - now) / 1e9:.3f} s ahead of this node's clock (more than "
                f"{FUTURE_STAMP_TOLERANCE_S} s): processed, but not used to order frames; check the "
                "camera's clock (NTP, use_sim_time)", throttle_duration_sec=THROTTLE_S)

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        self._enabled = bool(request.data)
        if not self._enabled:
            self._slot.clear()
        response.success = True
        response.message = "enabled" if self._enabled else "disabled"
        self.get_logger().info(f"pose estimation {response.message}")
        return response

    def _on_incompatible_qos(self, event) -> None:
        self.get_logger().error(
            f"incompatible QoS with a peer (policy {event.last_policy_kind}, {event.total_count} so far): "
            "no data will flow on that connection; check input_reliability/output_reliability",
            throttle_duration_sec=THROTTLE_S)

    # ------------------------------------------------------------------ processing
    def _work(self) -> None:
        # A signal shuts the context down before destroy_node() stops this thread: from
        # then on publishing or logging fails, and that is the shutdown, not an error.
        while not self._slot.closed and self.context.ok():
            msg = self._slot.take(timeout_s=0.5)
            if msg is None:
                continue
            try:
                self._process(msg)
            except Exception as exc:  # last line of defence: the worker thread must not die
                if not self.context.ok():
                    return
                self._count_failure("estimator_errors", f"unexpected {type(exc).__name__}: {exc}")
                self.get_logger().error(f"frame failed: {self._last_error}", throttle_duration_sec=THROTTLE_S)

    def _process(self, msg) -> None:
        log = self.get_logger()
        max_pixels = self._p("max_image_pixels")
        try:
            if isinstance(msg, CompressedImage):
                image = compressed_msg_to_bgr(msg, max_pixels)
            else:
                image = image_msg_to_bgr(msg, max_pixels)
        except image_convert.ImageConversionError as exc:
            self._count_failure("bad_input", f"bad image on {self._image_topic}: {exc}")
            log.error(self._last_error, throttle_duration_sec=THROTTLE_S)
            return
        if stamp_ns(msg.header) == 0:
            log.warning("images have a zero stamp: latency cannot be measured and out-of-order "
                        "frames cannot be detected; fix the camera driver's clock",
                        throttle_duration_sec=THROTTLE_S * 6)

        estimator = self._ensure_estimator()
        if estimator is None:
            self._count_failure("estimator_errors", self._estimator_error)
            log.error(f"no estimator, frame skipped: {self._estimator_error}", throttle_duration_sec=THROTTLE_S)
            return
        try:
            result = estimator.infer(image)
        except EstimatorError as exc:  # the estimator refused this input (e.g. too small)
            self._count_failure("bad_input", f"frame {image.shape[1]}x{image.shape[0]} rejected: {exc}")
            log.error(self._last_error, throttle_duration_sec=THROTTLE_S)
            return
        except Exception as exc:  # plugin code: anything may come out of it
            self._count_failure(
                "estimator_errors",
                f"estimator {self._estimator_key[0]!r} failed on a {image.shape[1]}x{image.shape[0]} frame "
                f"(stamp {msg.header.stamp.sec}.{msg.header.stamp.nanosec:09d}): {type(exc).__name__}: {exc}")
            log.error(self._last_error, throttle_duration_sec=THROTTLE_S)
            return
        # Every result, whichever plugin made it, is checked before anything is published.
        problem = result_problem(result, image.shape[1], image.shape[0], estimator.skeleton.num_keypoints)
        if problem:
            self._count_failure(
                "estimator_errors", f"estimator {self._estimator_key[0]!r} returned an invalid result for a "
                f"{image.shape[1]}x{image.shape[0]} frame, not published: {problem}")
            log.error(self._last_error, throttle_duration_sec=THROTTLE_S)
            return

        persons = result.persons
        jumps = self._slot.counters.time_jumps
        if jumps != self._time_jumps_seen:  # a bag looped or the sim clock was reset
            self._time_jumps_seen = jumps
            self._tracker.reset()
            self._smoother.reset()
            self._jitter.forget_tracks()
            self._pairer.clear()
            log.info("image stamps jumped back in time: tracker reset")
        if self._p("tracking"):
            persons = self._track_and_smooth(persons, stamp_ns(msg.header))
        self._publish_skeleton(estimator)
        self._persons_pub.publish(persons_to_msg(persons, msg.header, result.skeleton,
                                                 image.shape[1], image.shape[0]))
        self._offer_3d(msg.header, persons, estimator.skeleton, image.shape[1], image.shape[0])
        if self._p("publish_annotated") and self._annotated_pub.get_subscription_count() > 0:
            drawn = draw_persons(image, persons, estimator.skeleton, draw_ids=self._p("tracking"),
                                 copy=not image.flags.writeable)
            self._annotated_pub.publish(bgr_to_image_msg(drawn, msg.header))
        self._publish_detections(persons, msg.header)
        self._publish_image_markers(persons, msg.header, estimator.skeleton, image.shape)

        now = time.monotonic()
        self._out_rate.tick(now)
        self._inference.add(sum(result.timings_ms.values()))
        stamp = stamp_ns(msg.header)
        if stamp:
            self._latency.add((self.get_clock().now().nanoseconds - stamp) / 1e6)
        with self._stats_lock:
            self._counts["processed"] += 1
            self._last_error = ""

    def _count_failure(self, counter: str, message: str) -> None:
        with self._stats_lock:
            self._counts[counter] += 1
            self._last_error = message

    def _publish_skeleton(self, estimator: Estimator) -> None:
        if self._skeleton_published != estimator.skeleton.name:
            self._skeleton_pub.publish(skeleton_to_msg(estimator.skeleton))
            self._skeleton_published = estimator.skeleton.name

    # ------------------------------------------------------------------ detections and overlays
    def _create_overlay_publishers(self, out_qos: QoSProfile, latched: QoSProfile,
                                   events: PublisherEventCallbacks) -> None:
        """detections + label_info when vision_msgs imports; image_markers/*; image_annotations
        when foxglove_msgs imports. What is missing is logged once, with the reason."""
        log = self.get_logger()
        self._detections_pub = self._label_info_pub = None
        self._label_info_key: Optional[tuple] = None
        try:
            from pose_ros.ros.convert import detections as detections_convert
        except ImportError as exc:
            self._detections_convert = None
            log.warning(f"vision_msgs is not installed ({exc}): detections and label_info are not "
                        "published (apt install ros-$ROS_DISTRO-vision-msgs)")
        else:
            self._detections_convert = detections_convert
            self._detections_pub = self.create_publisher(detections_convert.Detection2DArray, "detections", out_qos,
                                                         event_callbacks=events)
            self._label_info_pub = self.create_publisher(detections_convert.LabelInfo, "label_info", latched)
            self._publish_label_info("")
        self._limbs_pub = self.create_publisher(ImageMarker, "image_markers/limbs", out_qos, event_callbacks=events)
        self._joints_pub = self.create_publisher(ImageMarker, "image_markers/joints", out_qos, event_callbacks=events)
        self._foxglove_msgs, why = load_foxglove_msgs()
        self._annotations_pub = None
        if self._foxglove_msgs is None:
            log.info(why)
        else:
            self._annotations_pub = self.create_publisher(
                self._foxglove_msgs.ImageAnnotations, "image_annotations", out_qos, event_callbacks=events)

    def _publish_label_info(self, frame_id: str) -> None:
        """Latched class map; re-sent when the threshold or the camera frame changes."""
        threshold = float(self._p("min_person_score"))
        if self._label_info_pub is None or self._label_info_key == (threshold, frame_id):
            return
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=frame_id)
        self._label_info_pub.publish(self._detections_convert.label_info(header, threshold))
        self._label_info_key = (threshold, frame_id)

    def _publish_detections(self, persons: list, header: Header) -> None:
        if self._detections_pub is None or not self._p("publish_detections"):
            return
        self._publish_label_info(header.frame_id)
        self._detections_pub.publish(self._detections_convert.persons_to_detections(persons, header))

    def _publish_image_markers(self, persons: list, header: Header, skeleton: Skeleton, shape: tuple) -> None:
        """Every frame, empty without people, so viewers drop stale skeletons."""
        pubs = [p for p in (self._limbs_pub, self._joints_pub, self._annotations_pub) if p is not None]
        if not self._p("publish_image_markers") or not any(p.get_subscription_count() for p in pubs):
            return
        overlay = skeleton_overlay(persons, skeleton, shape[1], shape[0])
        limbs, joints = overlay_to_image_markers(overlay, header)
        self._limbs_pub.publish(limbs)
        self._joints_pub.publish(joints)
        if self._annotations_pub is not None:
            self._annotations_pub.publish(overlay_to_image_annotations(overlay, header, self._foxglove_msgs))

    # ------------------------------------------------------------------ diagnostics
    def stats(self) -> dict:
        """Counters and rates shown in /diagnostics (also read by tests and the demo)."""
        now = time.monotonic()
        slot = self._slot.snapshot()
        with self._stats_lock:
            counts = dict(self._counts)
            last_error = self._last_error
        return {
            "input_fps": self._in_rate.rate(now),
            "output_fps": self._out_rate.rate(now),
            "latency_p50_ms": self._latency.percentile(50),
            "latency_p95_ms": self._latency.percentile(95),
            "inference_ms": self._inference.percentile(50),
            "frames_received": slot["received"],
            "frames_processed": counts["processed"],
            "frames_dropped": slot["dropped"],
            "frames_stale": slot["stale"],
            "bad_input": counts["bad_input"],
            "estimator_errors": counts["estimator_errors"],
            "ignored_disabled": counts["ignored_disabled"],
            "time_jumps": slot["time_jumps"],
            "future_stamps": slot["future"],
            "last_error": last_error or self._estimator_error,
            "enabled": self._enabled,
            **self._stats_3d(),
        }

    def _publish_diagnostics(self) -> None:
        s = self.stats()
        info = self._estimator_info
        hardware = f"{info.get('runtime', self._p('estimator'))}/{info.get('device', info.get('backend', 'none'))}"
        # The fully qualified name: two nodes in different namespaces must not share a status.
        status = DiagnosticStatus(name=f"{self.get_fully_qualified_name()}: pose", hardware_id=hardware)
        if self._estimator is None or self._estimator_error:
            status.level, status.message = DiagnosticStatus.ERROR, s["last_error"] or "no estimator"
        elif s["last_error"]:
            status.level, status.message = DiagnosticStatus.ERROR, s["last_error"]
        elif info.get("fallback_reason"):  # for as long as the fallback estimator runs
            status.level = DiagnosticStatus.WARN
            status.message = (f"requested {info.get('requested_backend', self._p('dnn_backend'))!r} is not usable, "
                              f"running on {info.get('backend', 'cpu')}: {info['fallback_reason']}")
        elif not self._enabled:
            status.level, status.message = DiagnosticStatus.OK, "disabled"
        elif s["input_fps"] == 0.0:
            status.level, status.message = DiagnosticStatus.WARN, "no images received"
        else:
            status.level, status.message = DiagnosticStatus.OK, "running"
        fmt = {float: lambda v: f"{v:.2f}", type(None): lambda v: "n/a"}
        values = {**s, "backend": info.get("backend", "none"), "target": info.get("target", "none"),
                  "runtime": info.get("runtime", "n/a"), "device": info.get("device", "n/a"),
                  "precision": info.get("precision", "n/a"),
                  "model": info.get("model", self._p("model")), "estimator": self._p("estimator"),
                  "fallback_reason": info.get("fallback_reason") or ""}
        status.values = [KeyValue(key=k, value=fmt.get(type(v), str)(v)) for k, v in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(array)

    # ------------------------------------------------------------------ time smoothing and 3D
    def _init_3d(self) -> None:
        """Tracks in seconds, One Euro smoothing, and the optional depth + camera_info inputs.

        3D never delays 2D: the worker publishes the 2D persons first and hands them to the
        pairer; their 3D part is lifted and published when the matching depth frame is
        known (at once, usually), from the worker or from the depth callback.
        """
        self._smoother = KeypointSmoother()
        self._jitter = JitterMeter()  # raw vs smoothed keypoint jitter, for the diagnostics
        self._pairer: StampPairer = StampPairer(tolerance_ns=int(self._p("depth_tolerance_s") * 1e9))
        self._camera_info: Optional[CameraInfo] = None
        self._counts_3d = {"frames_3d": 0, "frames_without_3d": 0}
        self._status_3d = "no depth image received yet"
        out_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self._p("output_depth"),
                             reliability=RELIABILITY[self._p("output_reliability")])
        self._persons_3d_pub = self.create_publisher(PersonKeypoints3DArray, "persons_3d", out_qos)
        self._markers_pub = self.create_publisher(MarkerArray, "persons_markers", out_qos)
        # Best effort matches reliable and best-effort drivers; camera_info is small.
        self.create_subscription(CameraInfo, "camera_info", self._on_camera_info,
                                 QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                                            reliability=ReliabilityPolicy.BEST_EFFORT))
        self._depth_sub = None
        self._subscribe_depth()
        if self._p("input_reliability") == "auto":
            self.create_timer(2.0, self._subscribe_depth)

    def _subscribe_depth(self) -> None:
        """Like the image subscription: (re)created when the matching QoS changes."""
        topic = self.resolve_topic_name("depth")
        reliability = self._input_reliability(topic)
        if self._depth_sub is not None and self._depth_sub.qos_profile.reliability == reliability:
            return
        if self._depth_sub is not None:
            self.destroy_subscription(self._depth_sub)
        self._depth_topic = topic
        self._depth_sub = self.create_subscription(
            Image, "depth", self._on_depth,
            QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=2, reliability=reliability))

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    def _track_and_smooth(self, persons: list, stamp: int) -> list:
        """Ids from the tracker (in seconds of stamps), then One Euro smoothing per keypoint."""
        t_s = stamp / 1e9 if stamp else None
        self._tracker.max_age_s = self._p("track_max_age_s")
        persons = self._tracker.update(persons, t_s)
        if self._p("smoothing"):
            wanted = OneEuroParams(self._p("smoothing_min_cutoff"), self._p("smoothing_beta"))
            if wanted != self._smoother.params:
                self._smoother.set_params(wanted)
            raw = {p.track_id: p.keypoints.copy() for p in persons if p.track_id}
            # Without stamps, the time of processing is the best clock there is.
            persons = self._smoother.update(persons, t_s if t_s is not None else time.monotonic())
            with self._stats_lock:
                self._jitter.add(raw, {p.track_id: p.keypoints for p in persons if p.track_id})
        return persons

    def _offer_3d(self, header, persons: list, skeleton, width: int, height: int) -> None:
        copies = [Person(p.keypoints.copy(), p.score, p.bbox, p.track_id) for p in persons]
        self._pairer.set_tolerance(int(self._p("depth_tolerance_s") * 1e9))
        for decision in self._pairer.add_result(stamp_ns(header), (header, copies, skeleton, width, height)):
            self._finish_3d(decision)

    def _on_depth(self, msg: Image) -> None:
        for decision in self._pairer.add_depth(stamp_ns(msg.header), msg):
            self._finish_3d(decision)

    def _finish_3d(self, decision: Pairing) -> None:
        """Lift and publish one colour frame's persons; on any problem, say why in diagnostics."""
        header, persons, skeleton, width, height = decision.result
        try:
            if decision.depth is None:
                raise DepthError(f"{decision.reason} on {self._depth_topic}")
            info = self._camera_info
            if info is None:
                raise DepthError(f"no camera_info received on {self.resolve_topic_name('camera_info')}")
            k = intrinsics_for(info.k, (info.width, info.height), (width, height))
            depth_m = depth_msg_to_metres(decision.depth)
            params = LiftParams(window_px=self._p("depth_window_px"), outlier_m=self._p("depth_outlier_m"))
            lifted = lift_persons(persons, depth_m, k, (width, height), params)
        except DepthError as exc:
            with self._stats_lock:
                self._counts_3d["frames_without_3d"] += 1
                self._status_3d = str(exc)
            # A 2D-only set-up (no depth publisher, none ever seen) is normal: diagnostics only.
            if self._pairer.depth_received or self.count_publishers(self._depth_topic):
                self.get_logger().warning(f"no 3D keypoints: {exc}", throttle_duration_sec=THROTTLE_S * 6)
            return
        except Exception as exc:  # a callback must never raise: one odd frame would stop 3D output
            with self._stats_lock:
                self._counts_3d["frames_without_3d"] += 1
                self._status_3d = f"3D lifting failed: {type(exc).__name__}: {exc}"
            self.get_logger().error(self._status_3d, throttle_duration_sec=THROTTLE_S)
            return
        if not self.context.ok():
            return
        self._persons_3d_pub.publish(persons3d_to_msg(lifted, header, skeleton.name))
        if self._p("publish_markers") and self._markers_pub.get_subscription_count() > 0:
            self._markers_pub.publish(skeleton_markers(lifted, header, skeleton, self._p("marker_lifetime_s")))
        with self._stats_lock:
            self._counts_3d["frames_3d"] += 1
            self._status_3d = "ok"

    def _stats_3d(self) -> dict:
        with self._stats_lock:
            counts, status = dict(self._counts_3d), self._status_3d
            jitter = self._jitter.summary()
        return {**counts, "depth_received": self._pairer.depth_received, "status_3d": status,
                # mean |second difference| of a keypoint's position, before and after smoothing
                "jitter_raw_px": jitter["raw_accel_px"], "jitter_smoothed_px": jitter["smoothed_accel_px"]}

    def destroy_node(self) -> None:
        self._slot.close()
        if self._worker.is_alive():
            self._worker.join(timeout=5.0)
        super().destroy_node()


def main(args: Optional[list] = None) -> int:
    """Spin the node; Ctrl-C or SIGTERM at any moment exits 0 quietly (see node_runner)."""
    return run(PoseNode, args=args, name="pose_node", large_images=True)


if __name__ == "__main__":
    sys.exit(main())
