"""What an input string names: a camera, a stream, a video, an image or a folder of images.

One classifier for ``image_source`` and ``pose_ros_infer`` alike, so the same string means
the same input to both, and a folder plays in one order everywhere: natural order
(``frame2.png`` before ``frame10.png``), as a numbered sequence of frames is meant to be read.

* ``"0"``, ``"2"``: a V4L2 camera by index (unless a file of that name exists here);
  ``"/dev/video0"``: by device path;
* ``"rtsp://..."``, ``"http://..."``: a network stream (whatever OpenCV's FFmpeg reads);
  ``"file://..."`` is the path after it;
* a file: an image when its extension is an image's, or (any other extension) when
  OpenCV recognises its content as one; else a video;
* a folder: its image files (same rule), not its subfolders.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Union

import cv2

IMAGE_EXTENSIONS = frozenset({
    ".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm",
    ".pnm", ".jp2",
})


class SourceError(RuntimeError):
    """A source could not be opened or read; the message is meant for the user."""


class SourceNotFound(SourceError):
    """The string names no camera, stream or existing path (``text`` is the string as given)."""

    def __init__(self, message: str, text: str) -> None:
        super().__init__(message)
        self.text = text


@dataclass(frozen=True)
class SourceSpec:
    """What a source string means: ``kind`` is device, stream, video, image or folder.

    ``target`` is what ``cv2.VideoCapture`` opens (a camera index, a device path, a URL, a
    file), or the image file or folder.
    """

    kind: str
    target: Union[int, str]

    @property
    def live(self) -> bool:
        return self.kind in ("device", "stream")


_STREAM = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_image_file(path: Path) -> bool:
    """An image by extension, or - for any other extension - by what OpenCV sees in its first bytes."""
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return True
    try:
        return bool(cv2.haveImageReader(str(path)))
    except cv2.error:
        return False


def classify_source(source: str, check_devices: bool = True) -> SourceSpec:
    """Interpret a source string; raise :class:`SourceError` when it names nothing usable.

    ``check_devices``: a camera index must have its ``/dev/videoN`` (Linux), so a camera that
    is not plugged in is reported here, by name, rather than as a failure to open.
    """
    text = str(source).strip()
    if not text:
        raise SourceError("no source given: set 'source' to a camera index (0), a device "
                          "(/dev/video0), a video file or a folder of images")
    if text.isdigit() and not os.path.exists(text):
        index = int(text)
        if check_devices and sys.platform.startswith("linux") and not os.path.exists(f"/dev/video{index}"):
            raise SourceError(f"camera {index} does not exist: there is no /dev/video{index} "
                              "(is the camera plugged in? `ls /dev/video*` lists the devices)")
        return SourceSpec("device", index)
    if _STREAM.match(text):
        if text.startswith("file://"):
            return classify_source(text[len("file://"):], check_devices)
        return SourceSpec("stream", text)
    path = Path(os.path.expanduser(text))
    if text.startswith("/dev/"):
        if not path.exists():
            raise SourceError(f"camera device {text} does not exist (is the camera plugged in? "
                              "`ls /dev/video*` lists the devices)")
        return SourceSpec("device", str(path))
    if path.is_dir():
        return SourceSpec("folder", str(path))
    if not path.exists():
        raise SourceNotFound(f"source {text!r} does not exist: expected a camera index, a device path, "
                             "a stream URL, a video file, an image or a folder of images", text)
    if not path.is_file():
        raise SourceError(f"{text}: not a regular file")
    if not os.access(path, os.R_OK):
        raise SourceError(f"{text}: permission denied")
    return SourceSpec("image" if is_image_file(path) else "video", str(path))


def _natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers by value (img2 < img10); the name itself breaks ties
    (``A.png`` and ``a.png``), so the order never depends on the directory listing."""
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", name)], name


def list_images(folder: Union[str, Path]) -> List[Path]:
    """Image files directly inside ``folder`` (:func:`is_image_file`), in natural order."""
    entries = [p for p in Path(folder).iterdir() if p.is_file() and is_image_file(p)]
    return sorted(entries, key=lambda p: _natural_key(p.name))
