"""What ``pose_ros_infer`` reads and writes: the frames of its INPUT, and the files it produces.

What INPUT is - image, folder, video, camera, stream - is decided by
:func:`pose_ros.media.source_kinds.classify_source`, the rule ``image_source`` follows too, so
a folder plays in the same (natural) order in both. Every expected failure is a
:class:`CliError`, printed by the command as one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, List, Optional, Tuple, Union

import cv2
import numpy as np

from pose_ros.media.source_kinds import SourceError, SourceNotFound, classify_source, list_images

PROG = "pose_ros_infer"


class CliError(Exception):
    """An expected failure: printed as one line, exit code 2."""


# --------------------------------------------------------------------------- inputs


@dataclass
class Frame:
    image: np.ndarray
    index: int
    stamp: Optional[float]
    name: str          # file name for folders, "" otherwise


@dataclass(frozen=True)
class InputSpec:
    kind: str                 # image | folder | video | camera (a camera or a stream: live)
    path: Path                # the file or folder; for a camera Path("camera<N>"), which names the output
    target: Union[int, str]   # what cv2.VideoCapture opens

    @property
    def multi(self) -> bool:
        return self.kind in ("folder", "video", "camera")

    @property
    def camera(self) -> int:
        """The camera index, -1 when INPUT is not one."""
        return self.target if isinstance(self.target, int) else -1


def classify_input(text: str) -> InputSpec:
    """Decide what INPUT is; raise CliError when it is none of the supported kinds.

    A camera index is not checked against /dev here: opening it says whether it exists.
    """
    try:
        spec = classify_source(text, check_devices=False)
    except SourceNotFound:
        raise CliError(f"{text}: no such file or directory") from None
    except SourceError as e:
        raise CliError(str(e)) from None
    if spec.kind == "device":
        name = f"camera{spec.target}" if isinstance(spec.target, int) else Path(spec.target).name
        return InputSpec("camera", Path(name), spec.target)
    if spec.kind == "stream":
        return InputSpec("camera", Path("stream"), spec.target)
    return InputSpec(spec.kind, Path(spec.target), spec.target)


def read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise CliError(f"{path}: cannot decode the image")
    return image


def open_capture(spec: InputSpec) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(spec.target)
    if not cap.isOpened():
        cap.release()
        if spec.kind == "camera":
            raise CliError(f"cannot open camera {spec.target}")
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
                what = f"camera {spec.target}" if spec.kind == "camera" else str(spec.path)
                raise CliError(f"{what}: opened, but no frame could be read (corrupt file or missing codec)")
            return
        if spec.kind == "camera":
            stamp = time.monotonic() - start
        else:
            stamp = index / fps if fps > 0 else None
        yield Frame(image, index, stamp, "")
        index += 1


def folder_frames(files: List[Path]) -> Iterator[Frame]:
    """One corrupt file does not end a batch: it is reported and skipped (its index stays unused)."""
    for i, f in enumerate(files):
        try:
            yield Frame(read_image(f), i, None, f.name)
        except CliError as e:
            print(f"{PROG}: warning: skipping {e}", file=sys.stderr)


def open_frames(spec: InputSpec, limit: int
                ) -> Tuple[Iterator[Frame], Optional[int], float, Optional[cv2.VideoCapture]]:
    """(frames, total count if known, source fps, capture to release)."""
    if spec.kind == "image":
        return iter([Frame(read_image(spec.path), 0, None, spec.path.name)]), 1, 0.0, None
    if spec.kind == "folder":
        files = list_images(spec.path)
        if not files:
            raise CliError(f"{spec.path}: no readable images in this folder")
        if limit > 0:
            files = files[:limit]
        return folder_frames(files), len(files), 0.0, None
    cap = open_capture(spec)
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if spec.kind == "video" else 0
    total = min(count, limit) if count > 0 and limit > 0 else (count or (limit or None))
    return capture_frames(cap, spec, limit), total, float(cap.get(cv2.CAP_PROP_FPS) or 0.0), cap


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


def folder_output_names(files: List[Path]) -> dict:
    """Annotated PNG name per input name: the stem, or the whole name where stems clash (a.jpg, a.png)."""
    stems = [f.stem for f in files]
    return {f.name: (f.stem if stems.count(f.stem) == 1 else f.name.replace(".", "_")) + ".png" for f in files}


def check_writable_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CliError(f"cannot create output folder {path}: {e.strerror or e}") from None
    if not os.access(path, os.W_OK):
        raise CliError(f"output folder {path} is not writable")


def parent_of(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def write_image(path: Path, image: np.ndarray) -> None:
    try:
        ok = cv2.imwrite(str(path), image)
    except cv2.error as e:
        raise CliError(f"cannot write {path}: {str(e).strip().splitlines()[-1]}") from None
    if not ok:
        raise CliError(f"cannot write {path} (unknown image extension or unwritable folder)")


@contextlib.contextmanager
def json_sink(path: Optional[str]) -> Iterator[Optional[IO[str]]]:
    if path is None:
        yield None
    elif path == "-":
        yield sys.stdout
    else:
        target = Path(path)
        check_writable_dir(parent_of(target))
        try:
            f = open(target, "w", encoding="utf-8")
        except OSError as e:
            raise CliError(f"cannot write {path}: {e.strerror or e}") from None
        with f:
            yield f


def write_coco(path: Path, results: List[dict]) -> None:
    try:
        path.write_text(json.dumps(results, separators=(",", ":"), allow_nan=False) + "\n", encoding="utf-8")
    except OSError as e:
        raise CliError(f"cannot write {path}: {e.strerror or e}") from None
    print(f"{PROG}: {len(results)} COCO keypoint result(s) -> {path}", file=sys.stderr)
