"""``pose_ros_infer``: pose estimation on files or a camera, without ROS.

    pose_ros_infer INPUT [-o OUTPUT] [--json FILE] [--coco-json FILE] [--model NAME]
                   [--estimator NAME] [--input-size WxH] [--backend cpu] [--max-frames N] ...

INPUT is an image, a folder of images (natural order: ``frame2`` before ``frame10``), a
video file, a camera (index ``0`` or device ``/dev/video0``) or a stream URL, by the rule
``image_source`` follows too (:mod:`pose_ros.media.source_kinds`). The tool writes the
annotated result (an image, a folder of images or an mp4) and the keypoints as JSON
(:mod:`pose_ros.formats.keypoints_json`; JSON Lines, one record per frame, for videos,
cameras and folders). It runs the same estimator plugins as the node, and video through the
same :class:`pose_ros.core.postprocess.PersonStream` (track ids, then One Euro smoothing;
``--no-smooth``, ``--no-track``), so it is the quickest way to check a model or a threshold
on your own data. ``--coco-json`` also writes COCO-17 keypoint results
(:mod:`pose_ros.formats.coco_format`; ``image_id`` = frame index, or the image's index in the
folder's order) for ``pycocotools``.

Every expected failure (bad path, unreadable video, model not fetched, bad option)
ends with one ``pose_ros_infer: error: ...`` line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from pose_ros.apps.infer_io import (
    PROG,
    CliError,
    InputSpec,
    check_writable_dir,
    classify_input,
    folder_output_names,
    json_sink,
    open_frames,
    parent_of,
    resolve_outputs,
    write_coco,
    write_image,
)
from pose_ros.apps.progress import Progress
from pose_ros.core import input_size
from pose_ros.core.postprocess import PersonStream, StreamParams
from pose_ros.formats.coco_format import coco_results
from pose_ros.formats.keypoints_json import dumps_line, frame_record
from pose_ros.media.source_kinds import list_images
from pose_ros.media.video import VideoFile

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


# --------------------------------------------------------------------------- estimator


def parse_size(text: str) -> Tuple[int, int]:
    """``"432x368"`` -> (432, 368)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 432x368, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return w, h


def parse_scales(text: str) -> List[float]:
    """``"1.0,1.5"`` -> [1.0, 1.5] (checked by :func:`pose_ros.core.input_size.parse_scales`)."""
    try:
        return list(input_size.parse_scales(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def estimator_options(args: argparse.Namespace) -> dict:
    """Only the options the user set, so a third-party estimator sees no foreign keys."""
    options: dict = {}
    if args.model:
        options["model"] = args.model
    if args.input_size:
        options["input_width"], options["input_height"] = args.input_size
    if args.backend:
        options["backend"] = args.backend
    for name in ("runtime", "device", "precision"):   # only estimators that take runtimes receive these
        if getattr(args, name):
            options[name] = getattr(args, name)
    decode = {}
    if args.min_score is not None:    # one cut for every person, whole ones included
        decode["min_person_score"] = decode["min_score_many_parts"] = args.min_score
    if args.min_parts is not None:
        decode["min_parts"] = args.min_parts
    if args.min_keypoint_score is not None:
        decode["min_keypoint_score"] = args.min_keypoint_score
    if decode:
        options["decode_params"] = decode
    if args.scales:
        options["scales"] = args.scales
    if args.flip:
        options["flip"] = True
    if args.no_zoom:
        options["zoom"] = False
    if args.frame_budget_ms is not None:
        options["frame_budget_ms"] = args.frame_budget_ms
    return options


def load(args: argparse.Namespace):
    """The estimator, with model and plugin errors turned into CliError (their text says what to run)."""
    from pose_ros.estimators import EstimatorError, load_estimator
    from pose_ros.models import ModelError

    try:
        return load_estimator(args.estimator, **estimator_options(args))
    except (EstimatorError, ModelError) as e:
        raise CliError(str(e)) from None


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="Multi-person 2D pose estimation on an image, a folder of images, "
        "a video or a camera, without ROS.")
    p.add_argument("input", metavar="INPUT",
                   help="image file, folder of images, video file, camera index or device, or stream URL")
    p.add_argument("-o", "--output", help="annotated output: image file, folder (for a folder INPUT) or "
                   ".mp4/.avi (video, camera); default <input name>_pose.* in the current folder")
    p.add_argument("--json", metavar="FILE", help="keypoints file (JSON for one image, JSON Lines otherwise; "
                   "'-' = stdout); default next to the output")
    p.add_argument("--coco-json", metavar="FILE", help="also write COCO-17 keypoint results (a JSON list for "
                   "pycocotools; image_id = frame index)")
    p.add_argument("--estimator", default="openpose_dnn", help="estimator plugin (default %(default)s)")
    p.add_argument("--model", help="model name from the manifest or a model file (default: the estimator's)")
    p.add_argument("--input-size", type=parse_size, metavar="WxH", help="network input size, e.g. 432x368")
    p.add_argument("--runtime", help="inference runtime: auto (default: openvino when installed, else opencv), "
                   "opencv, openvino, or a pose_ros.runtimes plugin")
    p.add_argument("--device", help="runtime device: cpu (default), gpu, npu (openvino); opencl, cuda (opencv)")
    p.add_argument("--precision", choices=("auto", "f32", "f16", "bf16"),
                   help="inference precision (default auto: bf16 where OpenVINO runs on a CPU with AMX, else f32)")
    p.add_argument("--backend", help="deprecated cv2.dnn backend: cpu, cpu_fp16, opencl, cuda, cuda_fp16; "
                   "selects --runtime opencv")
    p.add_argument("--min-score", type=float, help="drop persons scoring below this (default: the estimator's)")
    p.add_argument("--min-parts", type=int, help="drop persons with fewer keypoints (default: the estimator's)")
    p.add_argument("--min-keypoint-score", type=float, help="report weaker keypoints as not detected")
    p.add_argument("--scales", type=parse_scales, metavar="S[,S...]",
                   help="multi-scale inference, e.g. 1.0,1.5 (one network pass per scale)")
    p.add_argument("--flip", action="store_true", help="flip test: also run the mirrored image")
    p.add_argument("--no-zoom", action="store_true",
                   help="one full-frame pass only: no zoom passes on crops around small people (as the node's zoom)")
    p.add_argument("--frame-budget-ms", type=float, metavar="MS",
                   help="time for one frame's passes, measured on this machine (default 50, as the node's; 0 = none)")
    p.add_argument("--max-frames", type=int, default=0, metavar="N",
                   help="stop after N frames of a video, camera or folder (0 = all)")
    p.add_argument("--boxes", action="store_true", help="also draw person boxes")
    p.add_argument("--no-track", action="store_true", help="video/camera: do not track ids across frames "
                   "(and so do not smooth either)")
    p.add_argument("--no-smooth", action="store_true", help="video/camera: keep the raw keypoints of each "
                   "frame (default: One Euro smoothing per tracked person, as the node does)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    return p


def person_stream(spec: InputSpec, args: argparse.Namespace) -> Optional[PersonStream]:
    """Frames of one video or camera go through the node's :class:`PersonStream` (track ids, then
    One Euro smoothing); unrelated stills - an image, a folder - are neither tracked nor smoothed."""
    if spec.kind not in ("video", "camera") or args.no_track:
        return None
    return PersonStream(StreamParams(tracking=True, smoothing=not args.no_smooth))


def run(args: argparse.Namespace) -> int:
    if args.max_frames < 0:
        raise CliError("--max-frames must be >= 0")
    spec = classify_input(args.input)
    out, json_path = resolve_outputs(spec, args.output, args.json)
    frames, total, fps, cap = open_frames(spec, args.max_frames)
    estimator = load(args)
    skeleton = estimator.skeleton

    from pose_ros.core.draw import draw_persons
    from pose_ros.estimators import EstimatorError
    stream = person_stream(spec, args)

    check_writable_dir(out if spec.kind == "folder" else parent_of(out))
    out_names = folder_output_names(list_images(spec.path)) if spec.kind == "folder" else {}
    video = VideoFile(out, fps) if spec.kind in ("video", "camera") else None
    # a video's frames follow each other (the node's lookout works on them); a folder's do not
    follow = spec.kind in ("video", "camera") and getattr(estimator, "accepts_stream", False)
    coco: Optional[List[dict]] = None
    if args.coco_json:
        check_writable_dir(parent_of(Path(args.coco_json)))
        coco = []
    progress = Progress(total if spec.multi else None, label="images" if spec.kind == "folder" else "frames")
    show_progress = spec.multi and not args.quiet
    people: List[int] = []
    forward_ms: List[float] = []
    interrupted = False
    try:
        with json_sink(json_path) as sink:
            try:
                for frame in frames:
                    try:
                        result = (estimator.infer(frame.image, stream=str(spec.path)) if follow
                                  else estimator.infer(frame.image))
                    except EstimatorError as e:
                        raise CliError(f"frame {frame.index}: {e}") from None
                    persons = result.persons
                    if stream is not None:
                        persons = stream.update(persons, frame.stamp)
                    record = frame_record(persons, skeleton, result.image_width, result.image_height,
                                          stamp=frame.stamp, frame=frame.index,
                                          source=frame.name if spec.kind == "folder" else None)
                    if sink is not None:
                        if spec.multi:
                            sink.write(dumps_line(record) + "\n")
                        else:
                            sink.write(json.dumps(record, indent=1, allow_nan=False) + "\n")
                    annotated = draw_persons(frame.image, persons, skeleton,
                                             draw_ids=stream is not None, draw_boxes=args.boxes)
                    if video is not None:
                        video.add(annotated, frame.stamp)
                        if video.error:
                            raise CliError(video.error)
                    elif spec.kind == "folder":
                        write_image(out / out_names[frame.name], annotated)
                    else:
                        write_image(out, annotated)
                    if coco is not None:
                        coco.extend(coco_results(persons, skeleton, frame.index))
                    people.append(len(persons))
                    forward_ms.append(sum(result.timings_ms.values()))
                    if show_progress:
                        progress.update()
            except KeyboardInterrupt:
                interrupted = True
    finally:
        if show_progress:
            progress.close()
        if video is not None:
            video.close()
        if cap is not None:
            cap.release()
        if coco is not None:
            write_coco(Path(args.coco_json), coco)
    if video is not None and video.error:   # a run shorter than the rate probe opens the file at close
        raise CliError(video.error)
    _summary(out, json_path, people, forward_ms, estimator)
    if interrupted and spec.kind != "camera":   # Ctrl-C is how a camera run ends
        return EXIT_INTERRUPTED
    return 0


def _summary(out: Path, json_path: Optional[str], people: List[int], ms: List[float], estimator) -> None:
    if not people:
        print(f"{PROG}: no frame processed", file=sys.stderr)
        return
    desc = estimator.describe()
    counts = np.asarray(people)
    print(f"{PROG}: {len(people)} frame(s), people per frame mean {counts.mean():.2f} "
          f"(max {counts.max()}), {np.mean(ms):.0f} ms per frame "
          f"[{desc.get('model', '?')} {desc.get('input_size', '')} on {desc.get('runtime', '?')}/"
          f"{desc.get('device', desc.get('backend', '?'))} {desc.get('precision', '')}]",
          file=sys.stderr)
    print(f"{PROG}: annotated -> {out}" + (f", keypoints -> {json_path}" if json_path not in (None, "-") else ""),
          file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except CliError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as e:   # e.g. the disk filled up while writing
        where = f"{e.filename}: " if e.filename else ""
        print(f"{PROG}: error: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
