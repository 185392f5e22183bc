"""``pose_ros_infer``: pose estimation on files or a camera, without ROS.

    pose_ros_infer INPUT [-o OUTPUT] [--json FILE] [--coco-json FILE] [--model NAME]
                   [--estimator NAME] [--input-size WxH] [--backend cpu] [--max-frames N] ...

INPUT is an image, a folder of images, a video file or a camera index (``0``). The
tool writes the annotated result (an image, a folder of images or an mp4) and the
keypoints as JSON (:mod:`pose_ros.formats.keypoints_json`; JSON Lines, one record per frame,
for videos, cameras and folders). It runs the same estimator plugins as the node, so
it is the quickest way to check a model or a threshold on your own data. ``--coco-json``
also writes COCO-17 keypoint results (:mod:`pose_ros.formats.coco_format`; ``image_id`` = frame
index, or the image's index in a folder's sorted list) for ``pycocotools``.

Every expected failure (bad path, unreadable video, model not fetched, bad option)
ends with one ``pose_ros_infer: error: ...`` line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, List, Optional, Tuple

import cv2
import numpy as np

from pose_ros.core import input_size
from pose_ros.formats.coco_format import coco_results
from pose_ros.formats.keypoints_json import dumps_line, frame_record

PROG = "pose_ros_infer"
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
_VIDEO_FOURCC = {".avi": "MJPG"}   # anything else (.mp4, .mov, .mkv) gets mp4v
_DEFAULT_VIDEO_FPS = 10.0


class CliError(Exception):
    """An expected failure: printed as one line, exit code 2."""


# --------------------------------------------------------------------------- progress


class Progress:
    """A one-line progress display on stderr (no tqdm dependency).

    On a terminal the line is redrawn in place with ``\\r`` at most ``hz`` times a
    second; when stderr is a file or pipe a plain line is printed every few seconds
    so logs stay readable.
    """

    def __init__(self, total: Optional[int], stream: Optional[IO[str]] = None, hz: float = 8.0,
                 label: str = "frames") -> None:
        self.total = total if total and total > 0 else None
        self.stream = stream if stream is not None else sys.stderr
        self.label = label
        self.done = 0
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._period = 1.0 / hz if self._tty else 5.0
        self._start = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def line(self) -> str:
        elapsed = max(time.monotonic() - self._start, 1e-9)
        fps = self.done / elapsed
        if self.total:
            frac = min(self.done / self.total, 1.0)
            width = 24
            filled = int(round(frac * width))
            bar = "#" * filled + "." * (width - filled)
            eta = (self.total - self.done) / fps if fps > 0 else 0.0
            return (f"[{bar}] {self.done}/{self.total} {self.label} {100 * frac:3.0f}%  "
                    f"{fps:.1f} fps  eta {eta:.0f} s")
        return f"{self.done} {self.label}  {fps:.1f} fps  {elapsed:.0f} s"

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self._period:
            self._last = now
            self._draw()

    def _draw(self) -> None:
        if self._tty:
            self.stream.write("\r" + self.line() + "\033[K")
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Draw the final state and end the line."""
        if self._tty or self._drawn:
            self._draw()
            if self._tty:
                self.stream.write("\n")
                self.stream.flush()


# --------------------------------------------------------------------------- inputs


@dataclass
class Frame:
    image: np.ndarray
    index: int
    stamp: Optional[float]
    name: str          # file name for folders, "" otherwise


@dataclass
class InputSpec:
    kind: str          # image | folder | video | camera
    path: Path         # the file/folder (camera: Path("camera<N>"))
    camera: int = -1

    @property
    def multi(self) -> bool:
        return self.kind in ("folder", "video", "camera")


def _is_image(path: Path) -> bool:
    try:
        return bool(cv2.haveImageReader(str(path)))
    except cv2.error:
        return False


def classify_input(text: str) -> InputSpec:
    """Decide what INPUT is; raise CliError when it is none of the supported kinds."""
    if text.isdigit() and not os.path.exists(text):
        return InputSpec("camera", Path(f"camera{text}"), int(text))
    path = Path(text).expanduser()
    if path.is_dir():
        return InputSpec("folder", path)
    if not path.exists():
        raise CliError(f"{text}: no such file or directory")
    if not path.is_file():
        raise CliError(f"{text}: not a regular file")
    if not os.access(path, os.R_OK):
        raise CliError(f"{text}: permission denied")
    return InputSpec("image" if _is_image(path) else "video", path)


def folder_images(folder: Path) -> List[Path]:
    """Readable images directly inside ``folder``, sorted by name (subfolders are not entered)."""
    return sorted((p for p in folder.iterdir() if p.is_file() and _is_image(p)), key=lambda p: p.name)


def _read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise CliError(f"{path}: cannot decode the image")
    return image


def _open_capture(spec: InputSpec) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(spec.camera) if spec.kind == "camera" else cv2.VideoCapture(str(spec.path))
    if not cap.isOpened():
        cap.release()
        if spec.kind == "camera":
            raise CliError(f"cannot open camera {spec.camera}")
        raise CliError(f"{spec.path}: not an image, and OpenCV cannot open it as a video "
                       "(unknown format or missing codec)")
    return cap


def capture_frames(cap: cv2.VideoCapture, spec: InputSpec, limit: int) -> Iterator[Frame]:
    """Frames of a video or camera; the first failed read of a video is an error, later ones its end."""
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    start = time.monotonic()
    index = 0
    while limit <= 0 or index < limit:
        ok, image = cap.read()
        if not ok or image is None:
            if index == 0:
                what = f"camera {spec.camera}" if spec.kind == "camera" else str(spec.path)
                raise CliError(f"{what}: opened, but no frame could be read (corrupt file or missing codec)")
            return
        if spec.kind == "camera":
            stamp = time.monotonic() - start
        else:
            stamp = index / fps if fps > 0 else None
        yield Frame(image, index, stamp, "")
        index += 1


# --------------------------------------------------------------------------- outputs


def _default_output(spec: InputSpec) -> Path:
    stem = spec.path.stem if spec.kind != "folder" else spec.path.resolve().name
    if spec.kind == "image":
        return Path(f"{stem}_pose.png")
    if spec.kind == "folder":
        return Path(f"{stem}_pose")
    return Path(f"{stem}_pose.mp4")


def resolve_outputs(spec: InputSpec, output: Optional[str], json_path: Optional[str]) -> Tuple[Path, Optional[str]]:
    """(annotated output path, JSON path or '-' for stdout). An existing directory given as
    ``-o`` for a single image or a video receives the default file name."""
    out = Path(output).expanduser() if output else _default_output(spec)
    if spec.kind != "folder" and out.is_dir():
        out = out / _default_output(spec).name
    if json_path:
        return out, json_path
    if spec.kind == "folder":
        return out, str(out / "keypoints.jsonl")
    return out, str(out.with_suffix(".jsonl" if spec.multi else ".json"))


def _check_writable_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CliError(f"cannot create output folder {path}: {e.strerror or e}") from None
    if not os.access(path, os.W_OK):
        raise CliError(f"output folder {path} is not writable")


def _write_image(path: Path, image: np.ndarray) -> None:
    try:
        ok = cv2.imwrite(str(path), image)
    except cv2.error as e:
        raise CliError(f"cannot write {path}: {str(e).strip().splitlines()[-1]}") from None
    if not ok:
        raise CliError(f"cannot write {path} (unknown image extension or unwritable folder)")


class VideoOut:
    """An mp4 (or avi) writer opened on the first frame, when the size is known."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path = path
        self.fps = fps if fps and fps > 0 else _DEFAULT_VIDEO_FPS
        self._writer: Optional[cv2.VideoWriter] = None
        self.frames = 0

    def write(self, image: np.ndarray) -> None:
        if self._writer is None:
            fourcc = cv2.VideoWriter_fourcc(*_VIDEO_FOURCC.get(self.path.suffix.lower(), "mp4v"))
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (image.shape[1], image.shape[0]))
            if not self._writer.isOpened():
                raise CliError(f"cannot write video {self.path} (use an .mp4 or .avi name)")
        self._writer.write(image)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()


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
    p.add_argument("input", metavar="INPUT", help="image file, folder of images, video file or camera index")
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
    p.add_argument("--precision", choices=("f32", "f16", "bf16"), help="inference precision (default f32)")
    p.add_argument("--backend", help="deprecated cv2.dnn backend: cpu, cpu_fp16, opencl, cuda, cuda_fp16; "
                   "selects --runtime opencv")
    p.add_argument("--min-score", type=float, help="drop persons scoring below this (default: the estimator's)")
    p.add_argument("--min-parts", type=int, help="drop persons with fewer keypoints (default: the estimator's)")
    p.add_argument("--min-keypoint-score", type=float, help="report weaker keypoints as not detected")
    p.add_argument("--scales", type=parse_scales, metavar="S[,S...]",
                   help="multi-scale inference, e.g. 1.0,1.5 (one network pass per scale)")
    p.add_argument("--flip", action="store_true", help="flip test: also run the mirrored image")
    p.add_argument("--max-frames", type=int, default=0, metavar="N",
                   help="stop after N frames of a video, camera or folder (0 = all)")
    p.add_argument("--boxes", action="store_true", help="also draw person boxes")
    p.add_argument("--no-track", action="store_true", help="video/camera: do not track ids across frames")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    return p


@contextlib.contextmanager
def _json_sink(path: Optional[str]) -> Iterator[Optional[IO[str]]]:
    if path is None:
        yield None
    elif path == "-":
        yield sys.stdout
    else:
        target = Path(path)
        _check_writable_dir(target.parent if str(target.parent) else Path("."))
        try:
            f = open(target, "w", encoding="utf-8")
        except OSError as e:
            raise CliError(f"cannot write {path}: {e.strerror or e}") from None
        with f:
            yield f


def _folder_frames(files: List[Path]) -> Iterator[Frame]:
    """One corrupt file does not end a batch: it is reported and skipped (its index stays unused)."""
    for i, f in enumerate(files):
        try:
            yield Frame(_read_image(f), i, None, f.name)
        except CliError as e:
            print(f"{PROG}: warning: skipping {e}", file=sys.stderr)


def folder_output_names(files: List[Path]) -> dict:
    """Annotated PNG name per input name: the stem, or the whole name where stems clash (a.jpg, a.png)."""
    stems = [f.stem for f in files]
    return {f.name: (f.stem if stems.count(f.stem) == 1 else f.name.replace(".", "_")) + ".png" for f in files}


def _frames(spec: InputSpec, limit: int) -> Tuple[Iterator[Frame], Optional[int], float, Optional[cv2.VideoCapture]]:
    """(frames, total count if known, source fps, capture to release)."""
    if spec.kind == "image":
        return iter([Frame(_read_image(spec.path), 0, None, spec.path.name)]), 1, 0.0, None
    if spec.kind == "folder":
        files = folder_images(spec.path)
        if not files:
            raise CliError(f"{spec.path}: no readable images in this folder")
        if limit > 0:
            files = files[:limit]
        return _folder_frames(files), len(files), 0.0, None
    cap = _open_capture(spec)
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if spec.kind == "video" else 0
    total = min(count, limit) if count > 0 and limit > 0 else (count or (limit or None))
    return capture_frames(cap, spec, limit), total, float(cap.get(cv2.CAP_PROP_FPS) or 0.0), cap


def run(args: argparse.Namespace) -> int:
    if args.max_frames < 0:
        raise CliError("--max-frames must be >= 0")
    spec = classify_input(args.input)
    out, json_path = resolve_outputs(spec, args.output, args.json)
    frames, total, fps, cap = _frames(spec, args.max_frames)
    estimator = load(args)
    skeleton = estimator.skeleton

    from pose_ros.core.draw import draw_persons
    from pose_ros.estimators import EstimatorError
    tracker = None
    if spec.kind in ("video", "camera") and not args.no_track:
        from pose_ros.core.tracking import PersonTracker
        tracker = PersonTracker()

    if spec.kind == "folder":
        _check_writable_dir(out)
    else:
        _check_writable_dir(out.parent if str(out.parent) else Path("."))
    out_names = folder_output_names(folder_images(spec.path)) if spec.kind == "folder" else {}
    video = VideoOut(out, fps) if spec.kind in ("video", "camera") else None
    coco: Optional[List[dict]] = None
    if args.coco_json:
        coco_path = Path(args.coco_json)
        _check_writable_dir(coco_path.parent if str(coco_path.parent) else Path("."))
        coco = []
    progress = Progress(total if spec.multi else None, label="images" if spec.kind == "folder" else "frames")
    show_progress = spec.multi and not args.quiet
    people: List[int] = []
    forward_ms: List[float] = []
    interrupted = False
    try:
        with _json_sink(json_path) as sink:
            try:
                for frame in frames:
                    try:
                        result = estimator.infer(frame.image)
                    except EstimatorError as e:
                        raise CliError(f"frame {frame.index}: {e}") from None
                    persons = result.persons
                    if tracker is not None:
                        tracker.update(persons)
                    record = frame_record(persons, skeleton, result.image_width, result.image_height,
                                          stamp=frame.stamp, frame=frame.index,
                                          source=frame.name if spec.kind == "folder" else None)
                    if sink is not None:
                        if spec.multi:
                            sink.write(dumps_line(record) + "\n")
                        else:
                            sink.write(json.dumps(record, indent=1, allow_nan=False) + "\n")
                    annotated = draw_persons(frame.image, persons, skeleton,
                                             draw_ids=tracker is not None, draw_boxes=args.boxes)
                    if video is not None:
                        video.write(annotated)
                    elif spec.kind == "folder":
                        _write_image(out / out_names[frame.name], annotated)
                    else:
                        _write_image(out, annotated)
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
            _write_coco(Path(args.coco_json), coco)
    _summary(out, json_path, people, forward_ms, estimator)
    if interrupted and spec.kind != "camera":   # Ctrl-C is how a camera run ends
        return EXIT_INTERRUPTED
    return 0


def _write_coco(path: Path, results: List[dict]) -> None:
    try:
        path.write_text(json.dumps(results, separators=(",", ":"), allow_nan=False) + "\n", encoding="utf-8")
    except OSError as e:
        raise CliError(f"cannot write {path}: {e.strerror or e}") from None
    print(f"{PROG}: {len(results)} COCO keypoint result(s) -> {path}", file=sys.stderr)


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
