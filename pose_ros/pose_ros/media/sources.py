"""Frame sources for the ``image_source`` node, without ROS: open, read, resize, prefetch.

What a source string names is decided in :mod:`pose_ros.media.source_kinds`; this module
opens it. Live sources (cameras, streams) never end and drop stale frames: a pose node
wants the newest image, not a backlog. Recorded sources (files, folders) deliver every
frame in order and end unless ``loop`` is set. Opening checks that a first frame can be
read, so a wrong path or a busy camera fails at start-up with a :class:`SourceError` that
says why, instead of as a silent stream of nothing. A single image file is repeated while
``loop`` is on, else published once; a folder plays in natural order.
"""

from __future__ import annotations

import math
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import cv2
import numpy as np

from pose_ros.media.camera_model import (  # noqa: F401 - their home until 0.2, for the old pose_ros.sources path
    CameraModel,
    approximate_camera_model,
    load_camera_model,
)
from pose_ros.media.source_kinds import IMAGE_EXTENSIONS, SourceError, SourceSpec, classify_source, list_images

# Frame rate used when the source has none (image folders, cameras that report 0):
# a typical camera rate, so ``rate_hz: 0`` always means "a sensible real-time rate".
FALLBACK_FPS = 30.0
# Containers sometimes report nonsense (0, NaN, 1000 for variable-rate webm...).
_MAX_PLAUSIBLE_FPS = 240.0


# --------------------------------------------------------------------------- sources


class FrameSource:
    """Common interface: ``read()`` returns the next BGR frame, or None at the end."""

    spec: SourceSpec
    fps: float = 0.0          # native rate, 0 when unknown
    frame_count: int = 0      # frames in one pass, 0 when unknown or endless
    skipped: int = 0          # unreadable items passed over (folders)

    @property
    def live(self) -> bool:
        return self.spec.live

    def read(self) -> Optional[np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _plausible_fps(value: float) -> float:
    return float(value) if math.isfinite(value) and 0.0 < value <= _MAX_PLAUSIBLE_FPS else 0.0


class CaptureSource(FrameSource):
    """A ``cv2.VideoCapture`` over a camera, a stream or a video file."""

    def __init__(self, spec: SourceSpec, loop: bool = False,
                 capture_size: Tuple[int, int] = (0, 0)) -> None:
        self.spec = spec
        self.loop = loop and not spec.live
        self._cap = cv2.VideoCapture(spec.target)
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceError(self._open_failure())
        if spec.kind == "device" and capture_size[0] > 0 and capture_size[1] > 0:
            # Ask the driver for the size up front: cheaper than resizing every frame.
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, capture_size[0])
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, capture_size[1])
        self.fps = _plausible_fps(self._cap.get(cv2.CAP_PROP_FPS))
        count = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frame_count = int(count) if spec.kind == "video" and math.isfinite(count) and count > 0 else 0
        ok, first = self._cap.read()
        if not ok or first is None:
            self._cap.release()
            raise SourceError(f"{self._describe()} opened but gave no frame "
                              "(empty or corrupt video, or a camera in use by another program)")
        self._pending: Optional[np.ndarray] = first

    def _describe(self) -> str:
        kind = {"device": "camera", "stream": "stream", "video": "video file"}[self.spec.kind]
        return f"{kind} {self.spec.target!r}"

    def _open_failure(self) -> str:
        if self.spec.kind == "video":
            return (f"cannot decode video file {self.spec.target!r}: not a video format OpenCV "
                    "reads (give a folder or an image file for still images)")
        if self.spec.kind == "device":
            return (f"cannot open camera {self.spec.target!r}: no such camera, no permission "
                    "(is the user in the 'video' group?) or it is busy")
        return f"cannot open stream {self.spec.target!r}"

    def read(self) -> Optional[np.ndarray]:
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        ok, frame = self._cap.read()
        if ok and frame is not None:
            return frame
        if not self.loop:
            return None
        # Back to the start; some containers cannot seek, so reopen when seeking fails.
        if not self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
            self._cap.release()
            self._cap = cv2.VideoCapture(self.spec.target)
        ok, frame = self._cap.read()
        return frame if ok else None

    def close(self) -> None:
        self._cap.release()


class ImageListSource(FrameSource):
    """Still images read one by one (a folder, or a single image file)."""

    def __init__(self, spec: SourceSpec, loop: bool = False) -> None:
        self.spec = spec
        self.loop = loop
        if spec.kind == "folder":
            self._paths = list_images(spec.target)
            if not self._paths:
                raise SourceError(f"folder {spec.target!r} holds no images "
                                  f"(looked for {', '.join(sorted(IMAGE_EXTENSIONS))})")
        else:
            self._paths = [Path(spec.target)]
        self.frame_count = len(self._paths)
        self._index = 0
        self._pending: Optional[np.ndarray] = None
        self._pending = self.read()
        if self._pending is None:
            raise SourceError(f"no readable image in {spec.target!r} (corrupt or unsupported files)")

    def read(self) -> Optional[np.ndarray]:
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        misses = 0
        while misses < len(self._paths):
            if self._index >= len(self._paths):
                if not self.loop:
                    return None
                self._index = 0
            path = self._paths[self._index]
            self._index += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                return image
            misses += 1
            self.skipped += 1
        return None


def open_source(source: str, loop: bool = False,
                capture_size: Tuple[int, int] = (0, 0)) -> FrameSource:
    """Open ``source`` (see the module doc); ``capture_size`` is a hint for cameras only."""
    spec = classify_source(source)
    if spec.kind in ("folder", "image"):
        return ImageListSource(spec, loop=loop)
    return CaptureSource(spec, loop=loop, capture_size=capture_size)


def publish_rate(rate_hz: float, source: FrameSource) -> float:
    """Publishing rate: ``rate_hz`` when > 0, else the source's own fps, else :data:`FALLBACK_FPS`."""
    if rate_hz < 0 or not math.isfinite(rate_hz):
        raise ValueError(f"rate_hz must be >= 0, got {rate_hz}")
    if rate_hz > 0:
        return float(rate_hz)
    return source.fps if source.fps > 0 else FALLBACK_FPS


# --------------------------------------------------------------------------- resizing


def target_size(native: Tuple[int, int], width: int = 0, height: int = 0) -> Tuple[int, int]:
    """Output (width, height): 0 keeps the native value; one 0 keeps the aspect ratio."""
    nw, nh = native
    if width < 0 or height < 0:
        raise ValueError(f"width and height must be >= 0, got {width}x{height}")
    if width and height:
        return width, height
    if width:
        return width, max(1, round(nh * width / nw))
    if height:
        return max(1, round(nw * height / nh)), height
    return nw, nh


def fit_frame(frame: np.ndarray, width: int = 0, height: int = 0) -> np.ndarray:
    """Resize ``frame`` as :func:`target_size` says (area filter when shrinking)."""
    h, w = frame.shape[:2]
    tw, th = target_size((w, h), width, height)
    if (tw, th) == (w, h):
        return frame
    shrinking = tw * th < w * h
    return cv2.resize(frame, (tw, th), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


# --------------------------------------------------------------------------- prefetching


@dataclass
class Frame:
    """One frame ready to publish: ``index`` counts frames read from the source (0-based)."""

    index: int
    image: np.ndarray


class Prefetcher:
    """Reads (and resizes) frames on a worker thread so a ROS timer never waits on I/O.

    Recorded sources queue up to ``depth`` frames and the reader waits when the queue is
    full, so no frame is lost. Live sources keep only the newest frame: a frame not
    taken before the next one arrives is dropped (counted in ``dropped``).
    :meth:`get` never blocks. After the end of the source (or a read error) it returns
    None and :attr:`finished` is True; :attr:`error` holds an error message, if any.
    :meth:`close` stops the reader and closes the source, never under a running read.
    """

    def __init__(self, source: FrameSource, *, width: int = 0, height: int = 0, depth: int = 2) -> None:
        self._source = source
        self._width, self._height = width, height
        self._latest_only = source.live
        self._queue: "queue.Queue" = queue.Queue(maxsize=max(1, depth))
        self._lock = threading.Lock()
        self._latest: Optional[Frame] = None
        self._stop = threading.Event()
        self._ended = threading.Event()
        # close(): who closes the source, decided under the lock (see there).
        self._close_lock = threading.Lock()
        self._reader_left = False      # the reader is out of _run and will not touch the source
        self._close_on_exit = False    # close() found the reader busy: it closes on its way out
        self._source_closed = False
        self.error: Optional[str] = None
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="image_source_reader", daemon=True)

    def start(self) -> "Prefetcher":
        self._thread.start()
        return self

    @property
    def finished(self) -> bool:
        """True once the source is exhausted and every read frame has been handed out."""
        if not self._ended.is_set():
            return False
        if self._latest_only:
            with self._lock:
                return self._latest is None
        return self._queue.empty()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def get(self) -> Optional[Frame]:
        """The next frame if one is ready, else None (immediately)."""
        if self._latest_only:
            with self._lock:
                frame, self._latest = self._latest, None
            return frame
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        index = 0
        try:
            while not self._stop.is_set():
                image = self._source.read()
                if image is None:
                    if self._source.live:
                        self.error = f"{self._source.spec.target!r} stopped delivering frames"
                    break
                image = fit_frame(image, self._width, self._height)
                frame = Frame(index, image)
                index += 1
                if self._latest_only:
                    with self._lock:
                        if self._latest is not None:
                            self.dropped += 1
                        self._latest = frame
                elif not self._put(frame):
                    break
        except Exception as exc:  # noqa: BLE001 - reported to the node, which exits cleanly
            self.error = f"reading {self._source.spec.target!r} failed: {exc}"
        finally:
            self._ended.set()  # after the last put, so "ended and empty" means drained
            with self._close_lock:
                self._reader_left = True
                close = self._close_on_exit
            if close:
                self._close_source()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Ask the reader to stop and wait for it (a blocked camera read may take a frame time)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def close(self, timeout_s: float = 2.0) -> bool:
        """Stop the reader, then close the source; True when it was closed here and now.

        A camera or stream read can outlast ``timeout_s`` (a stalled network stream), and
        releasing a ``VideoCapture`` while another thread is inside ``read()`` is undefined
        behaviour. So the source is closed here only once the reader has left; otherwise
        the reader closes it itself when its read returns (returns False). Idempotent.
        """
        self.stop(timeout_s)
        with self._close_lock:
            if self._thread.is_alive() and not self._reader_left:
                self._close_on_exit = True
                return False
        self._close_source()
        return True

    def _close_source(self) -> None:
        with self._close_lock:
            if self._source_closed:
                return
            self._source_closed = True
        self._source.close()
