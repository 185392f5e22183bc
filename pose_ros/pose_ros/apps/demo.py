"""One-command demo: a video through the whole ROS 2 pipeline, results on disk.

    python -m pose_ros.apps.demo --video PATH [--frames N] [--output DIR] [--rate-hz R]

(``make demo`` runs it on OpenCV's vtest.avi.) It checks the prerequisites first, each
with the command that fixes it, then starts three separate processes, as on a robot:

    image_source --image_raw--> pose_node --persons, image_annotated--> pose_recorder

shows progress, waits for the recorder to finish, stops the others and prints a
summary: frames published by the source / processed by the node, dropped frames,
output fps, latency percentiles and people per frame. The node keeps only the newest
frame, so when the camera is faster than inference (a CPU at ~5 fps against a 10 fps
video) frames are dropped by design and the summary says how many.

Outputs (in ``--output``): ``annotated.mp4``, ``persons.jsonl``, ``detections.jsonl`` and
``label_info.json`` (vision_msgs), ``image_markers.jsonl``, ``snapshot*.png`` and
``summary.json`` from the recorder, and ``logs/`` with each process's output.

The demo runs on its own ``ROS_DOMAIN_ID`` (unless one is set) with localhost-only
discovery, so it neither sees nor disturbs other ROS 2 systems on the network.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import cv2

from pose_ros.apps.demo_processes import Child, choose_domain, demo_plans, start, stop_children
from pose_ros.apps.demo_watch import DemoProgress, make_watcher
from pose_ros.apps.interrupts import INTERRUPTS
from pose_ros.bringup import launch_logic

PROG = "pose_ros.apps.demo"
EXIT_FAILED = 1
EXIT_PREREQUISITE = 2
EXIT_INTERRUPTED = 130

# How long the recorder waits without input before it finishes (the same as demo.launch.py).
RECORDER_IDLE_S = launch_logic.DEMO_RECORDER_IDLE_S
NODE_READY_TIMEOUT_S = 60.0


class DemoError(Exception):
    """A failure with a message that says what to do; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------- prerequisites


@dataclass
class VideoInfo:
    path: Path
    fps: float
    frames: int      # 0 when the container does not say
    width: int
    height: int


def check_video(path_text: str) -> VideoInfo:
    path = Path(path_text).expanduser()
    if not path.exists():
        raise DemoError(f"video not found: {path}"
                        + (" (install the opencv-doc package, or run `make setup`)"
                           if "opencv-doc" in str(path) else ""), EXIT_PREREQUISITE)
    if not path.is_file():
        raise DemoError(f"not a video file: {path}", EXIT_PREREQUISITE)
    cap = cv2.VideoCapture(str(path))
    try:
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        if not ok or frame is None:
            raise DemoError(f"cannot read video {path}: OpenCV cannot decode it (unknown format or "
                            "missing codec)", EXIT_PREREQUISITE)
        return VideoInfo(path.resolve(), float(cap.get(cv2.CAP_PROP_FPS) or 0.0),
                         int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0), frame.shape[1], frame.shape[0])
    finally:
        cap.release()


def check_model(name: str) -> None:
    from pose_ros.models import ModelError, resolve
    if Path(name).expanduser().is_file():   # a model file: the node checks it when loading
        return
    try:
        resolve(name)
    except ModelError as e:
        raise DemoError(str(e), EXIT_PREREQUISITE) from None


def check_ros() -> None:
    try:
        import rclpy  # noqa: F401
        from sensor_msgs.msg import Image  # noqa: F401

        import pose_ros_msgs.msg  # noqa: F401
    except ImportError as e:
        raise DemoError(f"ROS 2 Python packages are not importable ({e}); run `make setup` "
                        "(or `source tools/env.sh` if it already ran)", EXIT_PREREQUISITE) from None


def check_output(path: Path) -> None:
    try:
        (path / "logs").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DemoError(f"cannot create output folder {path}: {e.strerror or e}", EXIT_PREREQUISITE) from None
    if not os.access(path, os.W_OK):
        raise DemoError(f"output folder {path} is not writable", EXIT_PREREQUISITE)


# --------------------------------------------------------------------------- run


def _spin_until(executor, predicate, timeout_s: float, must_run: List[Child],
                progress: Optional[DemoProgress] = None) -> bool:
    """Spin the watcher until ``predicate()``; False on timeout. Any process of ``must_run``
    that exits meanwhile (whatever its status) is a failure, reported with its log. Each
    slice checks for a signal (:meth:`Interrupts.check`)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        INTERRUPTS.check()
        for c in must_run:
            if not c.running():
                raise DemoError(f"{c.name} exited with status {c.proc.returncode}; its log ends with:\n"
                                f"{c.tail()}")
        if time.monotonic() > deadline:
            return False
        executor.spin_once(timeout_sec=0.05)
        if progress is not None:
            progress.show()
    return True


def run(args: argparse.Namespace) -> int:
    """The demo's flow. A signal only counts (:mod:`pose_ros.apps.interrupts`): the flow checks
    for one after every step and in every wait, and stops whatever it started."""
    if args.frames < 0:
        raise DemoError("--frames must be >= 0 (0 = the whole video)", EXIT_PREREQUISITE)
    if args.rate_hz is not None and args.rate_hz <= 0:
        raise DemoError("--rate-hz must be > 0", EXIT_PREREQUISITE)
    video = check_video(args.video)
    INTERRUPTS.check()
    check_ros()
    INTERRUPTS.check()
    check_model(args.model)
    INTERRUPTS.check()
    out = Path(args.output).expanduser().resolve()
    check_output(out)
    (out / "logs" / "pids.json").unlink(missing_ok=True)

    rate = args.rate_hz or video.fps or 10.0
    total = args.frames if args.frames else video.frames
    if video.frames and total > video.frames:
        total = video.frames
    try:
        plans = demo_plans(video.path, args.frames, rate, out, args.model)
    except ValueError as e:   # e.g. a rate image_source does not accept
        raise DemoError(str(e), EXIT_PREREQUISITE) from None
    domain = choose_domain()
    print(f"{PROG}: {video.path.name} {video.width}x{video.height}, {video.fps:g} fps"
          f"{f', {video.frames} frames' if video.frames else ''}; playing "
          f"{total or 'all'} frames at {rate:g} Hz, model {args.model}, "
          f"ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']}{' (chosen for this run)' if domain else ''}",
          file=sys.stderr)
    INTERRUPTS.check()

    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    INTERRUPTS.check()

    context = Context()
    rclpy.init(context=context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    executor = watcher = None
    children: Dict[str, Child] = {}   # filled by start() as soon as each process exists
    progress: Optional[DemoProgress] = None
    interrupted = False
    try:
        executor = SingleThreadedExecutor(context=context)
        watcher, watch = make_watcher(context)
        executor.add_node(watcher)
        progress = DemoProgress(watch, total)
        recorder = start(plans["pose_recorder"], out, children)
        # The node's input QoS is left at input_reliability: auto, which follows the camera:
        # once image_source (reliable) publishes, the node subscribes reliable. That matters:
        # measured here, best effort lost ~85 % of the 1.3 MB frames in transport (only 6
        # of 40 reached the node, output 1.3 fps); reliable delivers every frame and the
        # node's one-frame slot drops the ones it cannot keep up with (4.4 fps).
        node = start(plans["pose_node"], out, children)
        print(f"{PROG}: starting pose_node and pose_recorder (logs in {out / 'logs'})", file=sys.stderr)
        if not _spin_until(executor, lambda: watch.node_status is not None, NODE_READY_TIMEOUT_S,
                           [recorder, node]):
            raise DemoError(f"pose_node did not come up within {NODE_READY_TIMEOUT_S:.0f} s:\n{node.tail()}")
        status = watch.node_status
        if status.level == status.ERROR and "estimator" in status.message:
            raise DemoError(f"pose_node cannot run: {status.message}")
        ready = _spin_until(executor, lambda: (watcher.count_subscribers("persons") >= 2
                                               and watcher.count_subscribers("image_annotated") >= 1
                                               and watcher.count_subscribers("image_raw") >= 2),
                            30.0, [recorder, node])
        if not ready:
            raise DemoError(f"pose_recorder did not subscribe within 30 s:\n{recorder.tail()}")

        # The first frame waits for both image_raw subscribers (wait_for_subscribers):
        # pose_node, and pose_recorder, which counts the frames published.
        source = start(plans["image_source"], out, children)
        _spin_until(executor, lambda: not source.running(), 24 * 3600.0, [recorder, node], progress)
        progress.show(force=True)
        if source.proc.returncode != 0:
            raise DemoError(f"image_source failed (status {source.proc.returncode}):\n{source.tail()}")
        # The recorder ends itself RECORDER_IDLE_S after the last frame left the node.
        finished = _spin_until(executor, lambda: not recorder.running(), RECORDER_IDLE_S + 20.0,
                               [node], progress)
        progress.show(final=True)
        progress.end()
        if not finished:
            print(f"{PROG}: recorder still running; stopping it", file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True
        if progress is not None:
            progress.end()
        print(f"{PROG}: interrupted; stopping the nodes", file=sys.stderr)
    finally:
        interrupted = stop_children(children) or interrupted
        if executor is not None:
            executor.shutdown()
        if watcher is not None:
            watcher.destroy_node()
        rclpy.try_shutdown(context=context)
    if INTERRUPTS.count and not interrupted:   # a signal after the last check still counts
        interrupted = True
        print(f"{PROG}: interrupted", file=sys.stderr)

    recorder = children.get("pose_recorder")   # None only when interrupted before it started
    summary_path = out / "summary.json"
    if interrupted and (recorder is None or not summary_path.exists()):
        print(f"{PROG}: interrupted before anything was recorded", file=sys.stderr)
        return EXIT_INTERRUPTED
    if recorder.proc.returncode not in (0, None) and not interrupted:
        raise DemoError(f"pose_recorder exited with status {recorder.proc.returncode}:\n{recorder.tail()}")
    if not summary_path.exists():
        raise DemoError(f"the recorder wrote no {summary_path}:\n{recorder.tail()}")
    summary = json.loads(summary_path.read_text("utf-8"))
    print_summary(summary, out, rate, node_values(watch.node_status))
    return EXIT_INTERRUPTED if interrupted else 0


def node_values(status) -> Dict[str, str]:
    """KeyValues of pose_node's last diagnostics status ({} if none arrived)."""
    return {kv.key: kv.value for kv in status.values} if status is not None else {}


def print_summary(s: dict, out: Path, rate: float, node: Optional[Dict[str, str]] = None) -> None:
    lat = s.get("latency_ms") or {}
    people = s.get("people_per_frame") or {}
    frames_in, frames_out = s.get("frames_in"), s.get("frames_out", 0)
    dropped = s.get("dropped")
    lines = [
        f"frames in (published)  {frames_in if frames_in is not None else 'unknown'} at {rate:g} Hz",
        f"frames out (persons)   {frames_out}",
        (f"dropped                {dropped} ({100.0 * dropped / frames_in:.0f} %): the node keeps only "
         "the newest frame when inference is slower than the camera" if frames_in and dropped is not None
         else "dropped                unknown"),
        f"output fps             {s['output_fps']:.2f}" if s.get("output_fps") else "output fps             n/a",
        (f"latency stamp->disk    p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms, max {lat['max']:.0f} ms"
         if lat else "latency                n/a"),
        (f"people per frame       mean {people['mean']:.2f}, max {people['max']}, "
         f"{people['frames_with_people']}/{frames_out} frames with people" if people else
         "people per frame       n/a"),
        *([f"pose_node (last 1 Hz diagnostics)  inference p50 {node.get('inference_ms', 'n/a')} ms, "
           f"received {node.get('frames_received', '?')}, processed {node.get('frames_processed', '?')}, "
           f"replaced by a newer frame {node.get('frames_dropped', '?')}"] if node else []),
        *([f"keypoint jitter        {node['jitter_raw_px']} px raw -> {node['jitter_smoothed_px']} px smoothed "
           "(mean second difference of a tracked keypoint, One Euro filter)"]
          if node and "jitter_raw_px" in node else []),
        f"outputs                {out}/annotated.mp4 ({s.get('annotated_frames', 0)} frames), persons.jsonl, "
        + ("detections.jsonl, label_info.json, " if (s.get("detections") or {}).get("file") else "")
        + "image_markers.jsonl, snapshot.png, summary.json",
    ]
    print(f"{PROG}: done\n  " + "\n  ".join(lines))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m {PROG}", description=__doc__.split("\n\n")[0])
    p.add_argument("--video", required=True, help="video file to play through the pipeline")
    p.add_argument("--frames", type=int, default=0, help="frames to publish; 0 = the whole video")
    p.add_argument("--output", default="demo_output", help="output folder (default %(default)s)")
    p.add_argument("--rate-hz", type=float, help="publishing rate; default the video's own fps")
    p.add_argument("--model", default="mobilenet_thin", help="model name (default %(default)s)")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    INTERRUPTS.install()   # SIGTERM stops the nodes the same way as Ctrl-C does
    try:
        status = run(args)
    except DemoError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if INTERRUPTS.count and status == 0:   # came after run() looked for the last time
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return status


if __name__ == "__main__":
    status = main()
    INTERRUPTS.ignore()   # the nodes are gone; the interpreter only tears down
    sys.exit(status)
