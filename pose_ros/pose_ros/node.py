"""The pose_ros ROS 2 node: camera images in, PersonKeypointsArray + annotated image out.

A thin adapter: message conversion, QoS, parameters and diagnostics live here; the
pose estimation itself is an estimator plugin (``pose_ros.estimators``) and the
drawing/tracking are core modules. The image callback only stores the newest frame
(:class:`~pose_ros.frame_slot.LatestFrameSlot`); a worker thread processes it, so the
output never lags behind the camera by more than one processing time.

Nothing that arrives on a topic may stop the node: every per-frame failure is
logged (throttled) with its reason and counted, and the next good frame is processed.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, fields
from typing import Any, Optional

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from pose_ros_msgs.msg import PersonKeypointsArray
from pose_ros_msgs.msg import Skeleton as SkeletonMsg
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                ParameterType, SetParametersResult)
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy)
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import SetBool

from . import image_convert
from .draw import draw_persons
from .estimators import Estimator, EstimatorError, available_estimators, load_estimator
from .frame_slot import LatestFrameSlot
from .models import load_manifest
from .msg_convert import (bgr_to_image_msg, compressed_msg_to_bgr, image_msg_to_bgr,
                          persons_to_msg, skeleton_to_msg, stamp_ns)
from .qos import RELIABILITY
from .paf import DecodeParams
from .rate_stats import LatencyWindow, RateMeter
from .tracking import PersonTracker

try:  # Jazzy and newer
    from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import PublisherEventCallbacks, SubscriptionEventCallbacks

THROTTLE_S = 5.0
RELOAD_RETRY_S = 10.0  # a failed estimator load (e.g. model not fetched yet) is retried this often
TRANSPORTS = ("raw", "compressed")
BUILTIN_ESTIMATOR = "openpose_dnn"


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
          "then trims the padding (a 16:9 camera runs at 432x248).", "reload", 8, 4096, 8),
    Param("input_height", 368, "Largest network input height in pixels (multiple of 8).", "reload",
          8, 4096, 8),
    Param("dnn_backend", "cpu", "OpenCV DNN backend/target: cpu, cpu_fp16, opencl, cuda, cuda_fp16. "
          "The backend actually in use is reported in /diagnostics.", "reload",
          choices=("cpu", "cpu_fp16", "opencl", "cuda", "cuda_fp16")),
    Param("heatmap_threshold", _DECODE.heatmap_threshold, "Minimum heatmap peak for a keypoint candidate.", "decode", 0.0, 1.0),
    Param("paf_threshold", _DECODE.paf_threshold, "Minimum PAF alignment of one sample along a limb.", "decode", -1.0, 1.0),
    Param("min_parts", _DECODE.min_parts, "Drop persons with fewer detected keypoints.", "decode", 1, 25, 1),
    Param("min_person_score", _DECODE.min_person_score, "Drop persons with a lower mean keypoint/limb score "
          "(see min_score_many_parts).", "decode", 0.0, 1.0),
    Param("max_persons", _DECODE.max_persons, "Keep at most this many persons (best first); 0 = unlimited.", "decode", 0, 1000, 1),
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
)
# Accuracy options: score thresholds, multi-scale inference and the flip test
# (numbers in bench/RESULTS.md, "Accuracy"). scales/flip go to the estimator only when
# they differ from these defaults, so third-party estimators need not know them.
DEFAULT_SCALES = [1.0]
MAX_SCALE = 4.0
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


def scales_problem(value: Any) -> str:
    """Why ``value`` is not a valid ``scales`` parameter, or "" when it is."""
    scales = list(value)
    if not scales:
        return "scales must hold at least one factor, e.g. [1.0]"
    if any(not (0.0 < float(v) <= MAX_SCALE) for v in scales):
        return f"scales={scales}: every factor must be in (0, {MAX_SCALE:g}]"
    return ""


PARAM_BY_NAME = {p.name: p for p in PARAMS}
DECODE_FIELDS = {f.name for f in fields(DecodeParams)}


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
    """Subscribes ``image``; publishes ``persons``, ``skeleton``, ``image_annotated``, ``/diagnostics``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("pose_node", **kwargs)
        self._started = False
        self._declare_parameters()
        self.add_on_set_parameters_callback(self._validate_parameters)

        self._slot: LatestFrameSlot = LatestFrameSlot()
        self._enabled = True
        self._estimator: Optional[Estimator] = None
        self._estimator_key: Optional[tuple] = None
        self._estimator_info: dict = {}
        self._estimator_error = ""
        self._estimator_failed_at = 0.0
        self._time_jumps_seen = 0
        self._decode_params: Optional[DecodeParams] = None
        self._tracker = PersonTracker()
        self._stats_lock = threading.Lock()
        self._counts = {"processed": 0, "bad_input": 0, "estimator_errors": 0, "ignored_disabled": 0}
        self._last_error = ""
        self._in_rate, self._out_rate = RateMeter(), RateMeter()
        self._latency, self._inference = LatencyWindow(), LatencyWindow()
        self._skeleton_published: Optional[str] = None

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
            if param.name in ("model", "estimator") and not str(value).strip():
                return SetParametersResult(successful=False, reason=f"{param.name} must not be empty")
            # Built-in backend only: third-party estimators may name their models differently.
            if (param.name == "model" and self._p("estimator") == BUILTIN_ESTIMATOR
                    and value not in load_manifest() and not os.path.isfile(value)):
                return SetParametersResult(
                    successful=False, reason=f"model {value!r} is neither a model of the manifest "
                    f"({', '.join(sorted(load_manifest()))}) nor an existing file")
            if param.name == "scales" and scales_problem(value):
                return SetParametersResult(successful=False, reason=scales_problem(value))
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
        return (self._p("estimator"), self._p("model"), self._p("input_width"),
                self._p("input_height"), self._p("dnn_backend"),
                tuple(float(v) for v in self._p("scales")), bool(self._p("flip")))

    def _ensure_estimator(self) -> Optional[Estimator]:
        """(Re)load the estimator when its options changed; keep the old one if loading fails."""
        key = self._estimator_options()
        retry_due = (self._estimator_error != ""
                     and time.monotonic() - self._estimator_failed_at > RELOAD_RETRY_S)
        if key != self._estimator_key or retry_due:
            name, model, width, height, backend, scales, flip = key
            self._estimator_key = key
            accuracy = {} if (list(scales), flip) == (DEFAULT_SCALES, False) else {"scales": list(scales),
                                                                                   "flip": flip}
            try:
                est = load_estimator(name, model=model, input_width=width, input_height=height,
                                     backend=backend, decode_params=DecodeParams(**self._decode_values()),
                                     **accuracy)
                info = dict(est.describe())  # once per load: diagnostics read the copy
            except Exception as exc:  # a plugin may raise anything; the node must survive it
                self._estimator_error = (f"cannot load estimator {name!r} with model {model!r}: {exc} "
                                         f"(retrying every {RELOAD_RETRY_S:.0f} s)")
                self._estimator_failed_at = time.monotonic()
                self.get_logger().error(self._estimator_error, throttle_duration_sec=THROTTLE_S * 6)
            else:
                self._estimator, self._estimator_error, self._estimator_info = est, "", info
                self._decode_params = None
                self._tracker.reset()
                self.get_logger().info(
                    "estimator ready: " + ", ".join(f"{k}={v}" for k, v in info.items()))
                if info.get("fallback_reason"):
                    self.get_logger().warning(f"DNN backend fallback: {info['fallback_reason']}")
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
        self._slot.put(msg, stamp_ns(msg.header))

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
        while not self._slot.closed:
            msg = self._slot.take(timeout_s=0.5)
            if msg is None:
                continue
            try:
                self._process(msg)
            except Exception as exc:  # last line of defence: the worker thread must not die
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

        persons = result.persons
        jumps = self._slot.counters.time_jumps
        if jumps != self._time_jumps_seen:  # a bag looped or the sim clock was reset
            self._time_jumps_seen = jumps
            self._tracker.reset()
            log.info("image stamps jumped back in time: tracker reset")
        if self._p("tracking"):
            persons = self._tracker.update(persons)
        self._publish_skeleton(estimator)
        self._persons_pub.publish(persons_to_msg(persons, msg.header, result.skeleton,
                                                 image.shape[1], image.shape[0]))
        if self._p("publish_annotated") and self._annotated_pub.get_subscription_count() > 0:
            drawn = draw_persons(image, persons, estimator.skeleton, draw_ids=self._p("tracking"),
                                 copy=not image.flags.writeable)
            self._annotated_pub.publish(bgr_to_image_msg(drawn, msg.header))

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
            "last_error": last_error or self._estimator_error,
            "enabled": self._enabled,
        }

    def _publish_diagnostics(self) -> None:
        s = self.stats()
        info = self._estimator_info
        status = DiagnosticStatus(name=f"{self.get_name()}: pose", hardware_id=str(info.get("backend", "none")))
        if self._estimator is None or self._estimator_error:
            status.level, status.message = DiagnosticStatus.ERROR, s["last_error"] or "no estimator"
        elif s["last_error"]:
            status.level, status.message = DiagnosticStatus.ERROR, s["last_error"]
        elif not self._enabled:
            status.level, status.message = DiagnosticStatus.OK, "disabled"
        elif s["input_fps"] == 0.0:
            status.level, status.message = DiagnosticStatus.WARN, "no images received"
        else:
            status.level, status.message = DiagnosticStatus.OK, "running"
        fmt = {float: lambda v: f"{v:.2f}", type(None): lambda v: "n/a"}
        values = {**s, "backend": info.get("backend", "none"), "target": info.get("target", "none"),
                  "model": info.get("model", self._p("model")), "estimator": self._p("estimator")}
        status.values = [KeyValue(key=k, value=fmt.get(type(v), str)(v)) for k, v in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(array)

    def destroy_node(self) -> None:
        self._slot.close()
        if self._worker.is_alive():
            self._worker.join(timeout=5.0)
        super().destroy_node()


def main(args: Optional[list] = None) -> None:
    rclpy.init(args=args)
    node = None
    try:
        node = PoseNode()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
