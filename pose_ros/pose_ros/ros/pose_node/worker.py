"""The processing thread: the estimator of the current parameters, one frame at a time through it.

Nothing that arrives on a topic may stop the node: every per-frame failure is logged
(throttled) with its reason and counted, and the next good frame is processed. Each frame
ends in one counter: ``bad_input`` when the frame itself is unusable (cannot be converted, or
refused by the estimator's input check), ``estimator_errors`` when the estimator or its
runtime fails on it or returns an invalid result, else ``processed``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import Header

from pose_ros import runtimes
from pose_ros.core.paf import DecodeParams
from pose_ros.core.postprocess import PersonStream, StreamParams
from pose_ros.core.result_check import result_problem
from pose_ros.core.skeletons import Skeleton
from pose_ros.core.smoothing import OneEuroParams
from pose_ros.estimators import Estimator, EstimatorError, load_estimator
from pose_ros.media import image_convert
from pose_ros.ros import parameters
from pose_ros.ros.convert.images import compressed_msg_to_bgr, image_msg_to_bgr, stamp_ns
from pose_ros.ros.pose_node.diagnostics import THROTTLE_S, FrameCounters
from pose_ros.ros.pose_node.parameters import DEFAULT_SCALES, ZOOM_DEFAULTS, decode_values
from pose_ros.streams.fair_take import OldestFirst
from pose_ros.streams.frame_slot import LatestFrameSlot
from pose_ros.streams.rate_stats import LatencyWindow, MessageThrottle, RateMeter

RELOAD_RETRY_S = 10.0  # a failed estimator load (e.g. model not fetched yet) is retried this often
# Peak memory of a forward pass, measured with mobilenet_thin on cv2.dnn (CPU, fp32):
# 352 MB at 864x736, 811 MB at 1312x1312 (4096x4096 took 5.4 GB and 78 s before).
_FORWARD_MB_BASE, _FORWARD_BYTES_PER_PIXEL = 90.0, 430.0
LARGE_INPUT_PIXELS = 1312 * 736   # OpenPose's own largest usual net_resolution
TAKE_TIMEOUT_S = 0.25  # an idle worker looks this often whether it should stop (deactivate waits for it)


def expected_forward_memory_mb(width: int, height: int) -> float:
    """Rough peak memory (MB) of one forward pass at a ``width`` x ``height`` network input."""
    return _FORWARD_MB_BASE + _FORWARD_BYTES_PER_PIXEL * width * height / 1e6


@dataclass
class Frame:
    """One processed frame, as the outputs publish it."""

    header: Header
    image: np.ndarray
    persons: List[Any]
    skeleton: Skeleton      # the estimator's
    skeleton_name: str      # as the result names it


class EstimatorLoader:
    """The estimator of the current parameters: (re)loaded when they change, the old one kept
    (and the load retried every :data:`RELOAD_RETRY_S`) when loading fails.

    A load the parameters ask for runs at once, in the caller's thread (the next frame uses the
    new estimator). A *retry* runs in a thread of its own while the previous estimator keeps
    serving: a broken 1 GiB model file, re-read at every retry, stalled the output 8.5 s each time.
    """

    def __init__(self, node: Node, on_reload: Callable[[], None]) -> None:
        self._node, self._on_reload = node, on_reload
        self.estimator: Optional[Estimator] = None
        self.info: dict = {}
        self.error = self.cause = ""
        self._key: Optional[tuple] = None
        self._failed_at = 0.0
        self._error_log = MessageThrottle(THROTTLE_S * 6)  # each new reason at once, repeats every 30 s
        self._decode: Optional[DecodeParams] = None
        self._retry: Optional[threading.Thread] = None
        self._retried: Optional[tuple] = None   # (key, estimator, info, error) of a finished retry

    @property
    def name(self) -> str:
        """The estimator plugin named by the parameters (loaded or not)."""
        return self._key[0] if self._key else str(parameters.get(self._node, "estimator"))

    def _options(self) -> tuple:
        p = partial(parameters.get, self._node)
        runtime, device = runtimes.fold_legacy_backend(p("runtime"), p("device"), p("dnn_backend"))
        return (p("estimator"), p("model"), p("input_width"), p("input_height"), p("dnn_backend"), runtime, device,
                p("precision"), tuple(float(v) for v in p("scales")), bool(p("flip")),
                tuple((name, p(name)) for name in ZOOM_DEFAULTS))

    def ensure(self, log_failure: bool = True) -> Optional[Estimator]:
        """The estimator, (re)loaded first when the parameters changed or a retry is due. A
        failure is logged unless the caller reports it (``log_failure``) and kept in ``error``
        (``cause``: the same without the retry note)."""
        key = self._options()
        self._take_retry(key, log_failure)
        retry_due = self.error != "" and time.monotonic() - self._failed_at > RELOAD_RETRY_S
        if key != self._key:
            self._key = key
            self._finish(key, *self._build(*key), log_failure=log_failure)
        elif retry_due and self._retry is None:
            self._failed_at = time.monotonic()   # the next retry counts from this one
            self._retry = threading.Thread(target=self._retry_in_background, args=(key,), daemon=True,
                                           name="estimator_retry")
            self._retry.start()
        if self.estimator is not None:
            decode = DecodeParams(**decode_values(self._node))
            if decode != self._decode:
                self.estimator.set_decode_params(decode)
                self._decode = decode
        return self.estimator

    def _retry_in_background(self, key: tuple) -> None:
        self._retried = (key, *self._build(*key))

    def _take_retry(self, key: tuple, log_failure: bool) -> None:
        """Apply a finished background retry, unless the parameters changed meanwhile."""
        if self._retry is None or self._retry.is_alive():
            return
        retried, self._retried, self._retry = self._retried, None, None
        if retried is not None and retried[0] == key == self._key:
            self._finish(*retried, log_failure=log_failure)

    def _build(self, name: str, model: str, width: int, height: int, backend: str, runtime: str, device: str,
               precision: str, scales: tuple, flip: bool, zoom: tuple) -> Tuple[Optional[Estimator], dict, str]:
        """(estimator, its describe(), "") or (None, {}, why it could not be loaded); touches no state."""
        accuracy = {} if (list(scales), flip) == (DEFAULT_SCALES, False) else {"scales": list(scales), "flip": flip}
        # Only what differs from the estimator's defaults, so third-party estimators need not know them.
        accuracy.update({k: v for k, v in zoom if v != ZOOM_DEFAULTS[k]})
        try:
            est = load_estimator(name, model=model, input_width=width, input_height=height, backend=backend,
                                 decode_params=DecodeParams(**decode_values(self._node)), runtime=runtime,
                                 device=device, precision=precision, **accuracy)
            return est, dict(est.describe()), ""   # describe() once per load: diagnostics read the copy
        except Exception as exc:  # a plugin may raise anything; the node must survive it
            return None, {}, f"cannot load estimator {name!r} with model {model!r}: {exc}"

    def _finish(self, key: tuple, est: Optional[Estimator], info: dict, failure: str,
                log_failure: bool = True) -> None:
        log = self._node.get_logger()
        width, height = key[2], key[3]
        if est is None:
            self.cause = failure
            self.error = f"{self.cause} (retrying every {RELOAD_RETRY_S:.0f} s)"
            self._failed_at = time.monotonic()
            if log_failure and self._error_log.allow(self.error, self._failed_at):
                log.error(self.error)
            return
        self.estimator, self.error, self.cause, self.info = est, "", "", info
        # Only for estimators that say which runtime they run on; others keep OpenCV as it is.
        threads = runtimes.opencv_threads_beside(str(info["runtime"])) if info.get("runtime") else None
        if threads is not None:
            cv2.setNumThreads(threads)
        self._decode = None
        self._on_reload()
        log.info("estimator ready: " + ", ".join(f"{k}={v}" for k, v in info.items()))
        if info.get("fallback_reason"):
            log.warning(f"device fallback: {info['fallback_reason']}")
        if width * height > LARGE_INPUT_PIXELS:
            log.warning(f"network input up to {width}x{height}: expect about "
                        f"{expected_forward_memory_mb(width, height):.0f} MB and "
                        f"{width * height / (432 * 368):.0f}x the compute of the default 432x368 per frame")


@dataclass
class Lane:
    """One camera as the worker sees it: its newest-frame slot, counters, person stream and meters."""

    slot: LatestFrameSlot
    counters: FrameCounters
    stream: PersonStream
    image_topic: str
    on_time_jump: Callable[[], None]
    deliver: Callable[[Frame], None]
    out_rate: RateMeter = field(default_factory=RateMeter)
    latency: LatencyWindow = field(default_factory=LatencyWindow)
    inference: LatencyWindow = field(default_factory=LatencyWindow)
    time_jumps_seen: int = 0


class Worker:
    """Takes the newest frame of the camera that waited longest (:class:`OldestFirst`), runs it
    through the one estimator and that camera's person stream, and hands it on."""

    def __init__(self, node: Node, lanes: Sequence[Lane], slots: OldestFirst, loader: EstimatorLoader) -> None:
        self._node, self._lanes, self._slots, self._loader = node, list(lanes), slots, loader
        self.inference = LatencyWindow()   # every camera's frames: the shared estimator's time
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        """A fresh thread per activation (a thread runs once); one still finishing its frame is waited for."""
        if self._thread is not None:
            self._thread.join()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pose_worker", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float) -> bool:
        """Let the current frame finish and end the thread; False when it is still busy after ``timeout_s``."""
        self._stop.set()
        return self.join(timeout_s)

    def join(self, timeout_s: float) -> bool:
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=timeout_s)
        return self._thread is None or not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _fail(self, lane: Lane, counter: str, message: str) -> None:
        lane.counters.fail(counter, message)
        self._node.get_logger().error(message, throttle_duration_sec=THROTTLE_S)

    def _run(self) -> None:
        # A signal shuts the context down before destroy_node() stops this thread: from
        # then on publishing or logging fails, and that is the shutdown, not an error.
        while not self._stop.is_set() and not self._slots.closed and self._node.context.ok():
            taken = self._slots.take(timeout_s=TAKE_TIMEOUT_S)
            if taken is None:
                continue
            lane = self._lanes[taken[0]]
            try:
                self._process(lane, taken[1])
            except Exception as exc:  # last line of defence: the worker thread must not die
                if not self._node.context.ok():
                    return
                message = f"unexpected {type(exc).__name__}: {exc}"
                lane.counters.fail("estimator_errors", message)
                self._node.get_logger().error(f"frame failed: {message}", throttle_duration_sec=THROTTLE_S)

    def _process(self, lane: Lane, msg: Any) -> None:
        image = self._to_bgr(lane, msg)
        if image is None:
            return
        estimator = self._loader.ensure()
        if estimator is None:
            lane.counters.fail("estimator_errors", self._loader.error)
            self._node.get_logger().error(f"no estimator, frame skipped: {self._loader.error}",
                                          throttle_duration_sec=THROTTLE_S)
            return
        result = self._infer(lane, estimator, image, msg.header)
        if result is None:
            return
        stamp = stamp_ns(msg.header)
        persons = self._post_process(lane, result.persons, stamp)
        lane.deliver(Frame(msg.header, image, persons, estimator.skeleton, result.skeleton))

        lane.out_rate.tick(time.monotonic())
        inference_ms = sum(result.timings_ms.values())
        lane.inference.add(inference_ms)
        self.inference.add(inference_ms)
        if stamp:
            lane.latency.add((self._node.get_clock().now().nanoseconds - stamp) / 1e6)
        lane.counters.processed()

    def _to_bgr(self, lane: Lane, msg: Any) -> Optional[np.ndarray]:
        max_pixels = parameters.get(self._node, "max_image_pixels")
        try:
            convert = compressed_msg_to_bgr if isinstance(msg, CompressedImage) else image_msg_to_bgr
            image = convert(msg, max_pixels)
        except image_convert.ImageConversionError as exc:
            self._fail(lane, "bad_input", f"bad image on {lane.image_topic}: {exc}")
            return None
        if stamp_ns(msg.header) == 0:
            self._node.get_logger().warning(
                "images have a zero stamp: latency cannot be measured and out-of-order "
                "frames cannot be detected; fix the camera driver's clock", throttle_duration_sec=THROTTLE_S * 6)
        return image

    def _infer(self, lane: Lane, estimator: Estimator, image: np.ndarray, header: Header) -> Any:
        """The checked result, or None when the frame failed (counted and logged)."""
        size = f"{image.shape[1]}x{image.shape[0]}"
        try:
            # the camera's topic names its stream: estimators that keep state across frames
            # (the built-in one's lookout) keep it per camera
            result = (estimator.infer(image, stream=lane.image_topic) if getattr(estimator, "accepts_stream", False)
                      else estimator.infer(image))
        except runtimes.RuntimeUnavailable as exc:  # the forward pass failed: not the frame's fault
            self._fail(lane, "estimator_errors", self._failure(size, header, exc))
            return None
        except EstimatorError as exc:  # the estimator refused this input (e.g. too small)
            self._fail(lane, "bad_input", f"frame {size} rejected: {exc}")
            return None
        except Exception as exc:  # plugin code: anything may come out of it
            self._fail(lane, "estimator_errors", self._failure(size, header, exc))
            return None
        # Every result, whichever plugin made it, is checked before anything is published.
        problem = result_problem(result, image.shape[1], image.shape[0], estimator.skeleton.num_keypoints)
        if problem:
            self._fail(lane, "estimator_errors", f"estimator {self._loader.name!r} returned an invalid result for a "
                       f"{size} frame, not published: {problem}")
            return None
        return result

    def _failure(self, size: str, header: Header, exc: Exception) -> str:
        return (f"estimator {self._loader.name!r} failed on a {size} frame "
                f"(stamp {header.stamp.sec}.{header.stamp.nanosec:09d}): {type(exc).__name__}: {exc}")

    def _post_process(self, lane: Lane, persons: List[Any], stamp: int) -> List[Any]:
        """Ids and smoothing with the current parameters (when tracking is on); a time jump
        restarts the tracks and the depth pairing."""
        p = partial(parameters.get, self._node)
        jumps = lane.slot.counters.time_jumps
        if jumps != lane.time_jumps_seen:  # a bag looped or the sim clock was reset
            lane.time_jumps_seen = jumps
            lane.stream.reset()
            lane.on_time_jump()
            self._node.get_logger().info("image stamps jumped back in time: tracker reset")
        lane.stream.set_params(StreamParams(
            tracking=p("tracking"), smoothing=p("smoothing"), track_max_age_s=p("track_max_age_s"),
            one_euro=OneEuroParams(p("smoothing_min_cutoff"), p("smoothing_beta"))))
        # Without stamps the tracker counts frames and the smoother uses the processing clock.
        return lane.stream.update(persons, stamp / 1e9 if stamp else None)
