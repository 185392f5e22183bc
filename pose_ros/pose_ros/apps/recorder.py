"""``pose_recorder``: write what the pose node publishes to disk, for demos and offline review.

Subscribes (relative names, so it follows the node's namespace and remaps):

* ``persons`` (pose_ros_msgs/PersonKeypointsArray, reliable, depth 10) -> ``persons.jsonl``,
  one :mod:`pose_ros.formats.keypoints_json` record per message, the same format as ``pose_ros_infer``;
* ``image_annotated`` (sensor_msgs/Image, reliable, depth 10) -> ``annotated.mp4`` (mp4v), one
  video frame per message, plus PNG snapshots;
* ``skeleton`` (transient local) for keypoint names of skeletons pose_ros does not know;
* ``detections`` (vision_msgs/Detection2DArray, when vision_msgs is installed) -> ``detections.jsonl``
  and ``label_info`` (transient local) -> ``label_info.json``;
* ``image_markers/limbs`` and ``image_markers/joints`` (visualization_msgs/ImageMarker) ->
  ``image_markers.jsonl``, one line per marker;
* ``image_raw`` (reliable, depth 10), only to count the frames the camera published, so
  the summary can say how many the node dropped (param ``count_input``). It is taken as
  serialized bytes, never converted, so counting costs next to nothing. image_raw and
  not camera_info because a camera can be told to wait for its image subscribers
  (``image_source``'s ``wait_for_subscribers``), which makes the count exact from frame 1.

Into ``output_dir`` it writes, besides the two streams: ``snapshot_1..3.png`` (the frames
with the most people in the first, middle and last third of the run), ``snapshot.png``
(the best of them) - all at most ``snapshot_width`` pixels wide - and on exit
``summary.json`` (frames in/out, latency from header stamp to receipt, people per frame).

It finishes by itself, exit status 0, once ``expected_frames`` persons messages arrived
(0 = unknown), ``idle_timeout_s`` passed without any message after the first one, or
``start_timeout_s`` passed without any message at all (a source that never played: the idle
timer alone never started then); Ctrl-C (SIGINT) also finishes cleanly with all files complete.
"""

from __future__ import annotations

import collections
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Deque, Dict, List, Optional, Tuple

import cv2
import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from visualization_msgs.msg import ImageMarker

from pose_ros.apps.snapshots import SNAPSHOT_COUNT, Snapshot, SnapshotPicker, shrink
from pose_ros.core.skeletons import Skeleton, get_skeleton
from pose_ros.formats.keypoints_json import dumps_line, frame_record
from pose_ros.media.image_convert import ImageConversionError
from pose_ros.media.video import VideoFile
from pose_ros.ros import parameters
from pose_ros.ros.convert.images import image_msg_to_bgr, stamp_ns
from pose_ros.ros.convert.persons import msg_to_persons
from pose_ros.ros.node_runner import SPIN_SLICE_S, run
from pose_ros.ros.parameters import Param, ParamValueError
from pose_ros_msgs.msg import PersonKeypointsArray
from pose_ros_msgs.msg import Skeleton as SkeletonMsg

VIDEO_NAME = "annotated.mp4"
PERSONS_NAME = "persons.jsonl"
SUMMARY_NAME = "summary.json"
SNAPSHOT_NAME = "snapshot.png"
DETECTIONS_NAME = "detections.jsonl"
LABEL_INFO_NAME = "label_info.json"
MARKERS_NAME = "image_markers.jsonl"
MARKER_TOPICS = ("image_markers/limbs", "image_markers/joints")
_MAX_PIXELS = 8192 * 8192

PARAMS = (
    Param("output_dir", "pose_output", "Folder for annotated.mp4, persons.jsonl, snapshots and summary.json.",
          read_only=True),
    Param("expected_frames", 0, "Finish after this many persons messages; 0 = unknown.", read_only=True),
    Param("idle_timeout_s", 5.0, "Finish when nothing arrived for this long after the first message; "
          "0 = never.", read_only=True),
    Param("start_timeout_s", 0.0, "Finish when no message at all arrived this long after the start (the pose "
          "node loads its model first: allow for it); 0 = never.", read_only=True, low=0.0, high=3600.0),
    Param("video_fps", 0.0, "Frame rate written into annotated.mp4; 0 = estimated from the header stamps.",
          read_only=True),
    Param("snapshot_width", 640, "Maximum width of the PNG snapshots in pixels.", read_only=True),
    Param("count_input", True, "Subscribe image_raw (serialized, unconverted) to count the frames published.",
          read_only=True),
)


def _stats(values: List[float]) -> Optional[dict]:
    if not values:
        return None
    a = np.asarray(values, np.float64)
    return {"count": int(a.size), "mean": round(float(a.mean()), 2), "p50": round(float(np.percentile(a, 50)), 2),
            "p95": round(float(np.percentile(a, 95)), 2), "min": round(float(a.min()), 2),
            "max": round(float(a.max()), 2)}


def _stamp_s(header) -> float:
    return round(stamp_ns(header) / 1e9, 9)


def detections_record(msg) -> dict:
    """One ``vision_msgs/Detection2DArray`` as a JSON-ready dict (box as centre and size, pixels)."""
    return {"stamp": _stamp_s(msg.header), "frame_id": msg.header.frame_id, "detections": [
        {"id": d.id, "bbox": {"cx": round(d.bbox.center.position.x, 3), "cy": round(d.bbox.center.position.y, 3),
                              "w": round(d.bbox.size_x, 3), "h": round(d.bbox.size_y, 3)},
         "results": [{"class_id": r.hypothesis.class_id, "score": round(r.hypothesis.score, 4)} for r in d.results]}
        for d in msg.detections]}


def label_info_record(msg) -> dict:
    """``vision_msgs/LabelInfo`` as a dict: class id (as the string hypotheses carry) -> name."""
    return {"stamp": _stamp_s(msg.header), "frame_id": msg.header.frame_id,
            "threshold": round(float(msg.threshold), 4),
            "class_map": {str(c.class_id): c.class_name for c in msg.class_map}}


def image_marker_record(msg: ImageMarker) -> dict:
    """One ``visualization_msgs/ImageMarker`` as a dict (points in pixels, colours RGBA 0..1)."""
    return {"stamp": _stamp_s(msg.header), "frame_id": msg.header.frame_id, "ns": msg.ns, "id": msg.id,
            "type": msg.type, "scale": round(msg.scale, 3),
            "points": [[round(p.x, 2), round(p.y, 2)] for p in msg.points],
            "colors": [[round(c.r, 3), round(c.g, 3), round(c.b, 3), round(c.a, 3)] for c in msg.outline_colors]}


class PoseRecorder(Node):
    """Records persons and annotated images; ``finished`` says when it is done and why."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("pose_recorder", **kwargs)
        parameters.declare(self, PARAMS)
        self.output_dir = Path(os.path.expanduser(parameters.get(self, "output_dir", str)))
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.expected = max(0, parameters.get(self, "expected_frames", int))
        self.idle_timeout_s = parameters.get(self, "idle_timeout_s", float)
        self.start_timeout_s = parameters.get(self, "start_timeout_s", float)
        self._started = time.monotonic()
        self.snapshot_width = max(16, parameters.get(self, "snapshot_width", int))

        for name in (VIDEO_NAME, PERSONS_NAME, SUMMARY_NAME, SNAPSHOT_NAME, DETECTIONS_NAME, LABEL_INFO_NAME,
                     MARKERS_NAME) + tuple(
                f"snapshot_{i}.png" for i in range(1, SNAPSHOT_COUNT + 1)):
            (self.output_dir / name).unlink(missing_ok=True)   # no stale files from an older run
        self._jsonl = open(self.output_dir / PERSONS_NAME, "w", encoding="utf-8")
        self.video = VideoFile(self.output_dir / VIDEO_NAME, parameters.get(self, "video_fps", float))
        self.snapshots = SnapshotPicker()

        self.frames_in = 0
        self._in_first_last: List[float] = []
        self.persons_count = 0
        self.people: List[int] = []
        self.latency_ms: List[float] = []
        self._recv_first_last: List[float] = []
        self.bad_images = 0
        self._skeleton: Optional[Skeleton] = None
        self._skeleton_name = ""
        self._people_by_stamp: "collections.OrderedDict[int, Tuple[int, float]]" = collections.OrderedDict()
        self._waiting: Deque[Tuple[int, float, np.ndarray, int]] = collections.deque(maxlen=8)
        self._last_input = 0.0
        self.finished = ""

        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.create_subscription(PersonKeypointsArray, "persons", self._on_persons, reliable)
        self.create_subscription(Image, "image_annotated", self._on_annotated, reliable)
        self.create_subscription(SkeletonMsg, "skeleton", self._on_skeleton, latched)
        if parameters.get(self, "count_input", bool):
            self.create_subscription(Image, "image_raw", self._on_image_raw, reliable, raw=True)
        self._record_vision_outputs(reliable, latched)
        self.create_timer(0.2, self._check_done)
        self.get_logger().info(
            f"recording into {self.output_dir} ("
            + (f"{self.expected} frames expected" if self.expected else "frame count unknown")
            + (f", stopping after {self.idle_timeout_s:g} s without input)" if self.idle_timeout_s > 0 else ")"))

    # ------------------------------------------------------------------ detections and markers

    def _record_vision_outputs(self, reliable: QoSProfile, latched: QoSProfile) -> None:
        self.detection_msgs = self.detections_total = 0
        self.marker_msgs: Dict[str, int] = {topic: 0 for topic in MARKER_TOPICS}
        self.label_info: Optional[dict] = None
        self.vision_msgs_error = ""
        self._detections_jsonl = self._markers_jsonl = None
        try:
            from vision_msgs.msg import Detection2DArray, LabelInfo
        except ImportError as exc:
            self.vision_msgs_error = f"vision_msgs is not installed ({exc})"
            self.get_logger().warning(f"{self.vision_msgs_error}: detections and label_info are not recorded")
        else:
            self._detections_jsonl = open(self.output_dir / DETECTIONS_NAME, "w", encoding="utf-8")
            self.create_subscription(Detection2DArray, "detections", self._on_detections, reliable)
            self.create_subscription(LabelInfo, "label_info", self._on_label_info, latched)
        self._markers_jsonl = open(self.output_dir / MARKERS_NAME, "w", encoding="utf-8")
        for topic in MARKER_TOPICS:
            self.create_subscription(ImageMarker, topic, lambda m, t=topic: self._on_marker(t, m), reliable)

    def _on_detections(self, msg) -> None:
        self._touch()
        self._detections_jsonl.write(json.dumps(detections_record(msg), separators=(",", ":")) + "\n")
        self._detections_jsonl.flush()
        self.detection_msgs += 1
        self.detections_total += len(msg.detections)

    def _on_label_info(self, msg) -> None:
        self.label_info = label_info_record(msg)
        tmp = self.output_dir / (LABEL_INFO_NAME + ".tmp")
        tmp.write_text(json.dumps(self.label_info, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.output_dir / LABEL_INFO_NAME)

    def _on_marker(self, topic: str, msg: ImageMarker) -> None:
        self._touch()
        self._markers_jsonl.write(json.dumps(dict(image_marker_record(msg), topic=topic), separators=(",", ":"))
                                  + "\n")
        self._markers_jsonl.flush()
        self.marker_msgs[topic] += 1

    def _vision_outputs_complete(self) -> bool:
        """Detections and markers of every persons message arrived (each only if published)."""
        wanted = [self.detection_msgs] if self._detections_jsonl is not None and self.count_publishers(
            "detections") else []
        wanted += [n for t, n in self.marker_msgs.items() if self.count_publishers(t)]
        return all(n >= self.persons_count for n in wanted)

    def _vision_summary(self) -> dict:
        return {
            "detections": ({"file": DETECTIONS_NAME, "messages": self.detection_msgs,
                            "detections": self.detections_total} if not self.vision_msgs_error
                           else {"file": None, "error": self.vision_msgs_error}),
            "label_info": self.label_info,
            "image_markers": {"file": MARKERS_NAME, "messages": dict(self.marker_msgs)},
        }

    # ------------------------------------------------------------------ callbacks

    def _touch(self) -> None:
        self._last_input = time.monotonic()

    def _on_image_raw(self, _serialized: bytes) -> None:
        self._touch()
        self.frames_in += 1
        t = time.monotonic()
        self._in_first_last = [self._in_first_last[0] if self._in_first_last else t, t]

    def _on_skeleton(self, msg: SkeletonMsg) -> None:
        names = tuple(msg.keypoint_names)
        edges = list(msg.edges)
        limbs = tuple((edges[i], edges[i + 1]) for i in range(0, len(edges) - 1, 2))
        try:
            self._skeleton = Skeleton(name=msg.name, keypoint_names=names, limbs=limbs,
                                      paf_channels=tuple((2 * k, 2 * k + 1) for k in range(len(limbs))))
        except ValueError as e:
            self.get_logger().warning(f"ignoring malformed skeleton message: {e}")

    def _skeleton_for(self, name: str, keypoints: int) -> Skeleton:
        """Names for the JSON: the node's skeleton message, else the built-in table, else kp0..kpN."""
        if self._skeleton is not None and self._skeleton.name == name and self._skeleton.num_keypoints == keypoints:
            return self._skeleton
        try:
            sk = get_skeleton(name)
            if sk.num_keypoints == keypoints:
                return sk
        except ValueError:
            pass
        return Skeleton(name=name or "unknown", keypoint_names=tuple(f"kp{i}" for i in range(keypoints)),
                        limbs=(), paf_channels=())

    def _on_persons(self, msg: PersonKeypointsArray) -> None:
        now = self.get_clock().now().nanoseconds
        self._touch()
        persons = msg_to_persons(msg)
        k = len(persons[0].keypoints) if persons else (self._skeleton.num_keypoints if self._skeleton else 0)
        skeleton = self._skeleton_for(msg.skeleton, k)
        self._skeleton_name = msg.skeleton
        ns = stamp_ns(msg.header)
        record = frame_record(persons, skeleton, msg.image_width or 1, msg.image_height or 1,
                              stamp=ns / 1e9, frame=self.persons_count)
        self._jsonl.write(dumps_line(record) + "\n")
        self._jsonl.flush()
        self.persons_count += 1
        self.people.append(len(persons))
        if ns > 0:
            self.latency_ms.append((now - ns) / 1e6)
        t = time.monotonic()
        self._recv_first_last = [self._recv_first_last[0] if self._recv_first_last else t, t]
        score = float(sum(p.score for p in persons))
        self._people_by_stamp[ns] = (len(persons), score)
        while len(self._people_by_stamp) > 256:
            self._people_by_stamp.popitem(last=False)
        # An annotated frame that arrived before its persons message can be scored now.
        for item in [w for w in self._waiting if w[0] == ns]:
            self._waiting.remove(item)
            self._offer_snapshot(item[3], len(persons), score, item[2])

    def _on_annotated(self, msg: Image) -> None:
        self._touch()
        try:
            image = image_msg_to_bgr(msg, _MAX_PIXELS)
        except ImageConversionError as e:
            self.bad_images += 1
            self.get_logger().error(f"bad annotated image: {e}", throttle_duration_sec=5.0)
            return
        index = self.video.received
        ns = stamp_ns(msg.header)
        self.video.add(image, ns / 1e9)
        if self.video.error:
            self.get_logger().error(self.video.error, throttle_duration_sec=5.0)
        known = self._people_by_stamp.get(ns)
        if known is None:
            self._waiting.append((ns, 0.0, shrink(image, self.snapshot_width), index))
        else:
            self._offer_snapshot(index, known[0], known[1], image)

    def _offer_snapshot(self, index: int, people: int, score: float, image: np.ndarray) -> None:
        self.snapshots.offer(index, people, score, lambda: shrink(image, self.snapshot_width))

    def _check_done(self) -> None:
        if self.finished:
            return
        if self.expected and self.persons_count >= self.expected:
            # The annotated image, detections and markers of the last frame follow its persons.
            complete = self.video.received >= self.persons_count and self._vision_outputs_complete()
            if complete or self._idle() > 1.0:
                self.finished = "expected_frames"
        elif (self.start_timeout_s > 0 and not self._last_input
              and time.monotonic() - self._started > self.start_timeout_s):
            self.finished = "no_input"
        elif self.idle_timeout_s > 0 and self._last_input and self._idle() > self.idle_timeout_s:
            # Give the annotated image of the last frame one more period to arrive: it is
            # published after its persons message and is much larger.
            if self.video.received >= self.persons_count or self._idle() > 2 * self.idle_timeout_s:
                self.finished = "idle_timeout"

    def _idle(self) -> float:
        return time.monotonic() - self._last_input if self._last_input else 0.0

    # ------------------------------------------------------------------ results

    def finish(self, reason: str = "") -> dict:
        """Close the files, write snapshots and summary.json; returns the summary."""
        self.finished = self.finished or reason or "shutdown"
        for f in (self._jsonl, self._detections_jsonl, self._markers_jsonl):
            if f is not None and not f.closed:
                f.close()
        for _, _, small, index in self._waiting:   # never matched: score as unknown (0 people)
            self.snapshots.offer(index, 0, 0.0, lambda small=small: small)
        self._waiting.clear()
        self.video.close()
        snaps = self.snapshots.pick()
        snapshot_files = []
        for i, c in enumerate(snaps, 1):
            name = f"snapshot_{i}.png"
            cv2.imwrite(str(self.output_dir / name), c.image)
            snapshot_files.append({"file": name, "video_frame": c.index, "people": c.people})
        if snaps:
            best = max(snaps, key=Snapshot.key)
            cv2.imwrite(str(self.output_dir / SNAPSHOT_NAME), best.image)
        summary = self.summary()
        summary["snapshots"] = snapshot_files
        summary["snapshot"] = SNAPSHOT_NAME if snaps else None
        tmp = self.output_dir / (SUMMARY_NAME + ".tmp")
        tmp.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.output_dir / SUMMARY_NAME)
        return summary

    def summary(self) -> dict:
        people = np.asarray(self.people, np.int64)
        out_span = (self._recv_first_last[1] - self._recv_first_last[0]) if self._recv_first_last else 0.0
        in_span = (self._in_first_last[1] - self._in_first_last[0]) if self._in_first_last else 0.0
        frames_in = self.frames_in or None
        return {
            "finished_by": self.finished,
            "skeleton": self._skeleton_name or None,
            "frames_in": frames_in,
            "frames_out": self.persons_count,
            "dropped": max(frames_in - self.persons_count, 0) if frames_in else None,
            "annotated_frames": self.video.frames,
            "bad_annotated_images": self.bad_images,
            "input_fps": round((self.frames_in - 1) / in_span, 2) if in_span > 0 else None,
            "output_fps": round((self.persons_count - 1) / out_span, 2) if out_span > 0 else None,
            "latency_ms": _stats(self.latency_ms),
            "people_per_frame": None if people.size == 0 else {
                "mean": round(float(people.mean()), 3), "min": int(people.min()), "max": int(people.max()),
                "frames_with_people": int(np.count_nonzero(people)),
                "histogram": {str(n): int(c) for n, c in zip(*np.unique(people, return_counts=True))},
            },
            "video": {"file": VIDEO_NAME, "frames": self.video.frames, "fps": self.video.fps or None,
                      "width": self.video.size[0] if self.video.size else None,
                      "height": self.video.size[1] if self.video.size else None,
                      "error": self.video.error or None},
            "persons_file": PERSONS_NAME,
            **self._vision_summary(),
        }


def main(args: Optional[list] = None) -> int:
    """Record until done or signalled; the files are completed either way (exit status 0)."""
    def spin(node: PoseRecorder, executor) -> int:
        while rclpy.ok() and not node.finished:
            executor.spin_once(timeout_sec=SPIN_SLICE_S)
        return 0

    def summarise(node: PoseRecorder) -> None:
        # After destroy_node: a plain logger, since the context may be gone (no rosout).
        summary = node.finish("shutdown")
        lat = summary["latency_ms"] or {}
        rclpy.logging.get_logger("pose_recorder").info(
            f"finished ({summary['finished_by']}): {summary['frames_out']} frames recorded"
            + (f" of {summary['frames_in']} published" if summary["frames_in"] else "")
            + (f", latency p50 {lat['p50']:.0f} ms" if lat else "")
            + f" -> {node.output_dir}")
    return run(PoseRecorder, spin, on_exit=summarise, args=args, name="pose_recorder",
               expected=(OSError, ParamValueError))


if __name__ == "__main__":
    sys.exit(main())
