"""``image_source``: a camera, a video, an image or a folder of images as ROS 2 topics.

pose_ros' own camera node, so the package runs with no camera driver installed (the
webcam launch file falls back to it when ``usb_cam`` is missing) and so demos and tests
can replay a recorded video. Publishes, with the same header on both:

* ``image_raw`` (sensor_msgs/Image, bgr8)
* ``camera_info`` (sensor_msgs/CameraInfo): from ``camera_info_file`` when given, else an
  *approximate* ideal pinhole built from ``fov_deg`` (no distortion; see
  :func:`pose_ros.media.camera_model.approximate_camera_model`). Do not use it for metric work.
* ``depth/image_raw`` (sensor_msgs/Image, 16UC1 mm or 32FC1 m), only with ``depth_source``:
  recorded depth aligned to the colour frames (:mod:`pose_ros.media.depth_frames`), frame ``i``
  with colour frame ``i``, so RGB-D pipelines run without an RGB-D camera.

Timing: a timer publishes at ``rate_hz``; ``rate_hz: 0`` means the source's own rate
(a video's fps, a camera's reported fps) or 30 Hz when it has none (image folders). The
timer runs on the node clock, so with ``use_sim_time`` it follows ``/clock``. Stamps are
the node clock at publication and strictly increase (a repeated instant is bumped by 1 ns).
Frames are read and resized on a reader thread (:class:`pose_ros.media.sources.Prefetcher`), so
the executor never waits on decoding; if the reader falls behind, a tick is skipped.

Ending: after ``max_frames`` frames, or at the end of a video/folder without ``loop``, the
node logs, waits briefly for reliable subscribers to acknowledge the last frame, and exits
with status 0. A source that cannot be opened, a camera that stops delivering, or an
invalid parameter exits with status 1 and a one-line error (no traceback).
"""

from __future__ import annotations

import sys
import time
from typing import Any, Optional, Tuple

from rclpy.duration import Duration
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.task import Future
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from pose_ros.media.camera_model import CameraModel, approximate_camera_model, load_camera_model
from pose_ros.media.depth_frames import DepthFrames, DepthSourceError
from pose_ros.media.image_convert import JPEG_FORMAT, bgr_to_jpeg, bgr_to_raw
from pose_ros.media.source_kinds import SourceError
from pose_ros.media.sources import FrameSource, Prefetcher, open_source, publish_rate
from pose_ros.ros import parameters
from pose_ros.ros.node_runner import SPIN_SLICE_S, run
from pose_ros.ros.parameters import Param, ParamValueError
from pose_ros.ros.qos import RELIABILITY

# Upper bound on waiting for reliable readers to acknowledge the last frames at exit. The
# frames left one tick earlier, so this only matters for a reader that needs a resend;
# DDS acknowledges on its heartbeat (3 s in Fast DDS), hence a bound, not a full wait.
_ACK_TIMEOUT_S = 1.0

# All read once at start-up. dynamic_typing: `-p source:=0` arrives as an integer (camera 0),
# `-p rate_hz:=20` as an integer too; parameters.get converts and range-checks them.
PARAMS = (
    Param("source", "0", "Camera index (0), device (/dev/video0), stream URL, video file, image file or "
          "folder of images (played in natural order).", read_only=True, dynamic_typing=True),
    Param("rate_hz", 0.0, "Publishing rate; 0 = the source's own fps, or 30 Hz when it has none (folders).",
          low=0.0, high=1000.0, read_only=True, dynamic_typing=True),
    Param("loop", False, "Restart a video, image or folder at its end instead of exiting.", read_only=True),
    Param("frame_id", "camera_optical_frame", "header.frame_id: the camera's optical frame (REP-103: z "
          "forward, x right, y down).", read_only=True),
    Param("width", 0, "Output width in pixels; 0 = native (keeps the aspect ratio if height is set).",
          low=0, high=16384, read_only=True),
    Param("height", 0, "Output height in pixels; 0 = native (keeps the aspect ratio if width is set).",
          low=0, high=16384, read_only=True),
    Param("max_frames", 0, "Exit (status 0) after publishing this many frames; 0 = unlimited.",
          low=0, high=2**31 - 1, read_only=True),
    Param("fov_deg", 60.0, "Horizontal field of view for the approximate camera_info used without "
          "calibration.", low=1.0, high=179.0, read_only=True, dynamic_typing=True),
    Param("camera_info_file", "", "ROS camera calibration YAML (path or file:// URL); empty = approximate "
          "pinhole from fov_deg.", read_only=True),
    Param("reliability", "reliable", "QoS reliability of both topics.", choices=tuple(RELIABILITY),
          read_only=True),
    Param("depth", 10, "QoS history depth of both topics.", low=1, high=1000, read_only=True),
    Param("depth_source", "", "Recorded depth aligned to the colour frames, published on depth/image_raw: "
          "a folder of 16-bit PNGs (mm), a .png or a .npy file ((H, W) or (N, H, W); uint16 mm or "
          "float32 m); cycles when shorter; empty = no depth.", read_only=True),
    Param("jpeg_quality", 80, "JPEG quality of image_raw/compressed (sensor_msgs/CompressedImage, image_transport's "
          "compressed format), encoded only while someone subscribes: for a pose node on another host "
          "(image_transport:=compressed), 12 instead of 221 Mbit/s at 640x480, 30 fps.", low=1, high=100,
          read_only=True),
    Param("wait_for_subscribers", 0, "Hold the first frame until image_raw has this many subscribers "
          "(so a short replay is not lost to discovery); 0 = start at once.", low=0, high=100, read_only=True),
)


class ImageSourceNode(Node):
    """Publishes frames of one source on a timer; ``done`` resolves to the exit status."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("image_source", **kwargs)
        self._prefetcher: Optional[Prefetcher] = None
        self._source: Optional[FrameSource] = None
        parameters.declare(self, PARAMS)

        def get(name: str, as_type: type):
            return parameters.get(self, name, as_type)

        source = get("source", str)
        rate_hz = get("rate_hz", float)
        self._frame_id = get("frame_id", str)
        width, height = get("width", int), get("height", int)
        self._max_frames = get("max_frames", int)
        self._fov_deg = get("fov_deg", float)
        self._wait_for = get("wait_for_subscribers", int)
        reliability = get("reliability", str).lower()
        if reliability not in RELIABILITY:
            raise ParamValueError(f"parameter 'reliability' must be reliable or best_effort, "
                                  f"got {reliability!r}")
        self._reliable = reliability == "reliable"
        calibration = get("camera_info_file", str)
        self._calibration: Optional[CameraModel] = load_camera_model(calibration) if calibration else None
        self._info_cache: dict = {}
        depth_source = get("depth_source", str)
        self._depth = DepthFrames(depth_source) if depth_source else None
        if self._depth is not None:
            self._depth.frame(0)  # an unreadable source fails at start, not at the first tick

        loop = get("loop", bool)
        self._source = open_source(source, loop=loop, capture_size=(width, height))
        period = 1.0 / publish_rate(rate_hz, self._source)
        self._prefetcher = Prefetcher(self._source, width=width, height=height).start()

        qos = QoSProfile(depth=get("depth", int), reliability=RELIABILITY[reliability])
        self._image_pub = self.create_publisher(Image, "image_raw", qos)
        self._jpeg_quality = get("jpeg_quality", int)
        self._compressed_pub = self.create_publisher(CompressedImage, "image_raw/compressed", qos)
        self._info_pub = self.create_publisher(CameraInfo, "camera_info", qos)
        self._depth_pub = self.create_publisher(Image, "depth/image_raw", qos) if self._depth is not None else None
        self.done = Future()
        self.published = 0
        self.skipped_ticks = 0
        self._last_stamp_ns = -1
        self._ending = ""
        self._timer = self.create_timer(period, self._tick)

        length = f", {self._source.frame_count} frames" if self._source.frame_count else ""
        native = f"{self._source.fps:g} fps" if self._source.fps else "no native rate"
        self.get_logger().info(
            f"publishing {self._source.spec.kind} {source!r} ({native}{length}) on "
            f"{self._image_pub.topic_name} at {1.0 / period:g} Hz, frame_id {self._frame_id!r}"
            + (", looping" if loop else "")
            + (f", stopping after {self._max_frames} frames" if self._max_frames else ""))
        if self._calibration is None:
            self.get_logger().info(
                f"no camera_info_file: camera_info is an approximate pinhole for a "
                f"{self._fov_deg:g} degree horizontal field of view")

    # -- publishing -------------------------------------------------------------

    def _camera_info(self, width: int, height: int) -> CameraModel:
        model = self._info_cache.get((width, height))
        if model is None:
            if self._calibration is not None:
                model = self._calibration.scaled(width, height)
            else:
                model = approximate_camera_model(width, height, self._fov_deg)
            self._info_cache[(width, height)] = model
        return model

    def _stamp(self) -> Tuple[int, Any]:
        now_ns = self.get_clock().now().nanoseconds
        if now_ns <= self._last_stamp_ns:  # same instant (coarse or paused sim clock)
            now_ns = self._last_stamp_ns + 1
        self._last_stamp_ns = now_ns
        return now_ns, Time(nanoseconds=now_ns).to_msg()

    def _tick(self) -> None:
        if self.done.done():
            return
        if self._ending:  # one period after the last frame, so it has left the process
            self._finish(0, self._ending)
            return
        if self._wait_for and self._image_pub.get_subscription_count() < self._wait_for:
            return
        self._wait_for = 0  # once started, never pause again
        frame = self._prefetcher.get()
        if frame is None:
            if self._prefetcher.error:
                self._finish(1, self._prefetcher.error)
            elif self._prefetcher.finished:
                self._finish(0, f"end of {self._source.spec.target!r} after "
                                f"{self.published} frames")
            else:
                self.skipped_ticks += 1  # the reader is late (slow disk or decoder)
            return

        _, stamp = self._stamp()
        image = frame.image
        height, width = image.shape[:2]
        msg = Image()
        msg.header.stamp = stamp
        msg.header.frame_id = self._frame_id
        msg.height, msg.width = height, width
        # bgr_to_raw packs the pixels the way rclpy assigns fastest.
        msg.data, msg.step, msg.encoding = bgr_to_raw(image)
        msg.is_bigendian = 0

        model = self._camera_info(width, height)
        info = CameraInfo()
        info.header = msg.header
        info.width, info.height = width, height
        info.distortion_model = model.distortion_model
        info.d = list(model.d)
        info.k, info.r, info.p = list(model.k), list(model.r), list(model.p)

        depth = None
        if self._depth_pub is not None:
            try:
                depth = self._depth_msg(msg.header, self.published)
            except DepthSourceError as exc:  # e.g. a corrupt PNG in the folder
                self._finish(1, str(exc))
                return

        self._image_pub.publish(msg)
        if self._compressed_pub.get_subscription_count() > 0:   # encode only for someone
            jpeg = CompressedImage(header=msg.header, format=JPEG_FORMAT)
            jpeg.data = bgr_to_jpeg(image, self._jpeg_quality)
            self._compressed_pub.publish(jpeg)
        self._info_pub.publish(info)
        if depth is not None:
            self._depth_pub.publish(depth)
        self.published += 1
        if self._max_frames and self.published >= self._max_frames:
            self._ending = f"published max_frames={self._max_frames} frames"

    def _depth_msg(self, header, index: int) -> Image:
        array, encoding = self._depth.frame(index)
        out = Image(header=header, height=array.shape[0], width=array.shape[1], encoding=encoding,
                    is_bigendian=0, step=array.shape[1] * array.itemsize)
        out.data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        return out

    def _finish(self, status: int, message: str) -> None:
        self._timer.cancel()
        if self.skipped_ticks:
            message += f" ({self.skipped_ticks} ticks skipped: the reader could not keep up)"
        if status == 0:
            self.get_logger().info(f"{message}; exiting")
            if self._reliable:  # let subscribers have the last frames before we vanish
                deadline = time.monotonic() + _ACK_TIMEOUT_S
                for pub in (self._image_pub, self._info_pub) + ((self._depth_pub,) if self._depth_pub else ()):
                    left = max(0.0, deadline - time.monotonic())
                    pub.wait_for_all_acked(Duration(nanoseconds=int(left * 1e9)))
        else:
            self.get_logger().error(message)
        self.done.set_result(status)

    def destroy_node(self) -> None:
        if self._prefetcher is not None:
            # Closes the source now, or - if a read outlasts the stop timeout - from the
            # reader thread once that read returns (never under a running read).
            self._prefetcher.close()
        elif self._source is not None:
            self._source.close()
        super().destroy_node()


def main(args: Optional[list] = None) -> int:
    """Run the node; returns the exit status (0: stopped as asked or by a signal, 1: error)."""
    def spin(node: ImageSourceNode, executor) -> int:
        while not node.done.done():
            executor.spin_once(timeout_sec=SPIN_SLICE_S)
        return node.done.result()
    return run(ImageSourceNode, spin, args=args, name="image_source",
               expected=(SourceError, ParamValueError, ParameterException, DepthSourceError), large_images=True)


if __name__ == "__main__":
    sys.exit(main())
