"""sources.py without ROS: naming, real video/image/folder reading, resizing,
approximate and calibrated intrinsics, and the prefetching reader thread."""

from __future__ import annotations

import math
import os
import shutil
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from pose_ros.media.camera_model import approximate_camera_model, load_camera_model
from pose_ros.media.source_kinds import SourceError, SourceSpec, classify_source, list_images
from pose_ros.media.sources import (
    FALLBACK_FPS,
    FrameSource,
    Prefetcher,
    fit_frame,
    open_source,
    publish_rate,
    target_size,
)

DATA = Path("/usr/share/doc/opencv-doc/examples/data")
VIDEO = DATA / "vtest.avi"


def _first_frames(path: Path, n: int) -> list:
    cap = cv2.VideoCapture(str(path))
    frames = []
    for _ in range(n):
        ok, frame = cap.read()
        assert ok
        frames.append(frame)
    cap.release()
    return frames


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Four small distinct images named so that plain sorting gets the order wrong."""
    for i in (1, 2, 10, 3):
        img = np.full((24, 32, 3), i * 20, np.uint8)
        cv2.imwrite(str(tmp_path / f"frame{i}.png"), img)
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


# --------------------------------------------------------------------------- naming


def test_classify_names_every_kind(folder: Path) -> None:
    assert classify_source(str(VIDEO)).kind == "video"
    assert classify_source(str(folder)).kind == "folder"
    assert classify_source(str(folder / "frame1.png")).kind == "image"
    assert classify_source("rtsp://example.invalid/stream").kind == "stream"
    assert classify_source(f"file://{VIDEO}").kind == "video"
    assert classify_source("rtsp://x/y").live and not classify_source(str(VIDEO)).live


@pytest.mark.parametrize("text, words", [
    ("", "no source"),
    ("   ", "no source"),
    ("/no/such/file.avi", "does not exist"),
    ("/dev/video_does_not_exist", "does not exist"),
    ("97", "/dev/video97"),
])
def test_classify_rejects_missing_sources_clearly(text: str, words: str) -> None:
    with pytest.raises(SourceError, match=words):
        classify_source(text)


def test_open_rejects_a_file_that_is_not_a_video(tmp_path: Path) -> None:
    bogus = tmp_path / "clip.avi"
    bogus.write_bytes(b"definitely not a video" * 100)
    with pytest.raises(SourceError, match="clip.avi"):
        open_source(str(bogus))


def test_open_rejects_folders_without_readable_images(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no images"):
        open_source(str(tmp_path))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(SourceError, match="no readable image"):
        open_source(str(tmp_path))


# --------------------------------------------------------------------------- reading


def test_video_frames_match_opencv_and_end_without_loop() -> None:
    expected = _first_frames(VIDEO, 3)
    with open_source(str(VIDEO)) as src:
        assert src.fps == pytest.approx(10.0)
        assert src.frame_count == 795
        for want in expected:
            got = src.read()
            assert got.shape == (576, 768, 3) and got.dtype == np.uint8
            np.testing.assert_array_equal(got, want)


def test_video_loop_restarts_at_the_first_frame(tmp_path: Path) -> None:
    # A 4-frame clip cut from vtest.avi keeps the test fast.
    clip = tmp_path / "clip.avi"
    frames = [cv2.resize(f, (96, 72)) for f in _first_frames(VIDEO, 4)]
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (96, 72))
    assert writer.isOpened()
    for f in frames:
        writer.write(f)
    writer.release()

    with open_source(str(clip), loop=False) as once:
        got = [once.read() for _ in range(4)]
        assert all(g is not None for g in got)
        assert once.read() is None

    with open_source(str(clip), loop=True) as looped:
        first_pass = [looped.read() for _ in range(4)]
        second_pass = [looped.read() for _ in range(4)]
    for a, b in zip(first_pass, second_pass):
        np.testing.assert_array_equal(a, b)
    # Consecutive frames differ, so equality above really means "back at the start".
    assert not np.array_equal(first_pass[0], first_pass[3])


def test_folder_plays_in_natural_order_and_loops(folder: Path) -> None:
    assert [p.name for p in list_images(folder)] == ["frame1.png", "frame2.png", "frame3.png", "frame10.png"]
    with open_source(str(folder)) as src:
        values = [int(src.read()[0, 0, 0]) for _ in range(4)]
        assert src.read() is None
    assert values == [20, 40, 60, 200]
    with open_source(str(folder), loop=True) as src:
        values = [int(src.read()[0, 0, 0]) for _ in range(6)]
    assert values == [20, 40, 60, 200, 20, 40]


def test_folder_skips_unreadable_images(folder: Path) -> None:
    (folder / "frame2.png").write_bytes(b"corrupt")
    with open_source(str(folder)) as src:
        values = [int(src.read()[0, 0, 0]) for _ in range(3)]
        assert src.read() is None
        assert src.skipped == 1
    assert values == [20, 60, 200]


def test_single_image_repeats_only_when_looping() -> None:
    with open_source(str(DATA / "messi5.jpg")) as once:
        assert once.read().shape[2] == 3
        assert once.read() is None
    with open_source(str(DATA / "messi5.jpg"), loop=True) as looped:
        a, b = looped.read(), looped.read()
    np.testing.assert_array_equal(a, b)


def test_publish_rate_prefers_parameter_then_native_then_fallback(folder: Path) -> None:
    with open_source(str(VIDEO)) as video, open_source(str(folder)) as images:
        assert publish_rate(25.0, video) == 25.0
        assert publish_rate(0.0, video) == pytest.approx(10.0)
        assert publish_rate(0.0, images) == FALLBACK_FPS
        with pytest.raises(ValueError, match="rate_hz"):
            publish_rate(-1.0, video)


# --------------------------------------------------------------------------- resizing


def test_target_size_rules() -> None:
    assert target_size((768, 576)) == (768, 576)
    assert target_size((768, 576), 320, 240) == (320, 240)
    assert target_size((768, 576), 384, 0) == (384, 288)      # aspect ratio kept
    assert target_size((768, 576), 0, 144) == (192, 144)
    with pytest.raises(ValueError):
        target_size((768, 576), -1, 0)


def test_fit_frame_resizes_real_content() -> None:
    frame = _first_frames(VIDEO, 1)[0]
    assert fit_frame(frame) is frame
    small = fit_frame(frame, 384, 288)
    assert small.shape == (288, 384, 3)
    # Area-averaging a 2x shrink equals the mean of each 2x2 block (within rounding).
    blocks = frame.reshape(288, 2, 384, 2, 3).astype(np.float32).mean(axis=(1, 3))
    assert np.abs(small.astype(np.float32) - blocks).max() <= 1.0


# --------------------------------------------------------------------------- intrinsics


def test_approximate_pinhole_reprojects_the_field_of_view() -> None:
    model = approximate_camera_model(640, 480, 90.0)
    fx, _, cx, _, fy, cy, _, _, _ = model.k
    assert model.approximate and fx == pytest.approx(320.0) and fy == fx
    assert (cx, cy) == (319.5, 239.5)
    # A ray at half the horizontal FOV lands on the image's left/right border.
    half = math.radians(45.0)
    assert cx + fx * math.tan(half) == pytest.approx(639.5, abs=0.5)
    assert list(model.p) == [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert model.d == (0.0,) * 5
    with pytest.raises(ValueError, match="fov_deg"):
        approximate_camera_model(640, 480, 180.0)


def test_calibration_file_is_read_and_scaled_with_the_image(tmp_path: Path) -> None:
    calib = tmp_path / "cam.yaml"
    calib.write_text(
        "image_width: 640\nimage_height: 480\ncamera_name: test\n"
        "camera_matrix: {rows: 3, cols: 3, data: [500.0, 0, 320.0, 0, 510.0, 240.0, 0, 0, 1]}\n"
        "distortion_model: plumb_bob\n"
        "distortion_coefficients: {rows: 1, cols: 5, data: [-0.3, 0.1, 0.001, 0.0005, 0]}\n"
        "rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}\n"
        "projection_matrix: {rows: 3, cols: 4, data: [490.0, 0, 321.0, 0, 0, 495.0, 241.0, 0, 0, 0, 1, 0]}\n")
    model = load_camera_model(f"file://{calib}")
    assert not model.approximate
    assert model.k[0] == 500.0 and model.d[0] == -0.3 and model.p[6] == 241.0
    half = model.scaled(320, 240)
    assert half.k[0] == 250.0 and half.k[4] == 255.0 and half.k[2] == 160.0 and half.k[5] == 120.0
    assert half.p[0] == 245.0 and half.p[6] == 120.5
    assert half.d == model.d

    calib.write_text("image_width: 640\nimage_height: 480\ncamera_matrix: {data: [1, 2]}\n")
    with pytest.raises(SourceError, match="camera_matrix"):
        load_camera_model(str(calib))
    with pytest.raises(SourceError, match="cannot read"):
        load_camera_model(str(tmp_path / "missing.yaml"))


# --------------------------------------------------------------------------- prefetching


def _drain(pre: Prefetcher, timeout_s: float = 10.0) -> list:
    frames, deadline = [], time.monotonic() + timeout_s
    while not pre.finished and time.monotonic() < deadline:
        frame = pre.get()
        if frame is None:
            time.sleep(0.005)  # polling a thread-fed queue, as the node's timer does
        else:
            frames.append(frame)
    return frames


def test_prefetcher_delivers_every_recorded_frame_in_order(folder: Path) -> None:
    with open_source(str(folder)) as src:
        pre = Prefetcher(src, width=16, height=12, depth=2).start()
        try:
            frames = _drain(pre)
        finally:
            pre.stop()
    assert pre.finished and pre.error is None
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert [int(f.image[0, 0, 0]) for f in frames] == [20, 40, 60, 200]
    assert all(f.image.shape == (12, 16, 3) for f in frames)
    assert pre.get() is None  # stays exhausted


def test_prefetcher_get_never_blocks_and_stop_ends_a_looping_reader(folder: Path) -> None:
    with open_source(str(folder), loop=True) as src:
        pre = Prefetcher(src, depth=1).start()
        start = time.monotonic()
        for _ in range(200):
            pre.get()
        assert time.monotonic() - start < 1.0
        pre.stop()
        assert not pre.running


def test_prefetcher_keeps_only_the_newest_frame_of_a_live_source(folder: Path) -> None:
    src = open_source(str(folder), loop=True)
    src.spec = SourceSpec("stream", src.spec.target)  # an endless feed, read like a camera
    pre = Prefetcher(src).start()
    try:
        deadline = time.monotonic() + 5.0
        while pre.dropped < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pre.dropped >= 3  # nobody took frames, so older ones were replaced
        indices = []
        while len(indices) < 5 and time.monotonic() < deadline:
            frame = pre.get()
            if frame is not None:
                indices.append(frame.index)
        assert len(indices) == 5
        assert all(b > a for a, b in zip(indices, indices[1:]))  # never a stale or repeated frame
        assert indices[0] >= 3
    finally:
        pre.stop()
        src.close()
    assert not pre.running


class _StallingSource(FrameSource):
    """A real folder source whose next read stalls until released, like a camera or
    stream that stops answering; records whether close() ever ran during a read."""

    def __init__(self, inner: FrameSource, live: bool) -> None:
        self.spec = SourceSpec("stream" if live else inner.spec.kind, inner.spec.target)
        self._inner = inner
        self.in_read = threading.Event()
        self.release = threading.Event()
        self.closes = 0
        self.closed_during_read = False

    def read(self):
        self.in_read.set()
        try:
            self.release.wait()
            return self._inner.read()
        finally:
            self.in_read.clear()

    def close(self) -> None:
        self.closed_during_read |= self.in_read.is_set()
        self.closes += 1
        self._inner.close()


def test_prefetcher_close_never_closes_the_source_under_a_running_read(folder: Path) -> None:
    src = _StallingSource(open_source(str(folder), loop=True), live=True)
    pre = Prefetcher(src).start()
    try:
        assert src.in_read.wait(5.0)
        assert pre.close(timeout_s=0.05) is False   # the read outlasted the stop timeout
        assert src.closes == 0 and pre.running
    finally:
        src.release.set()                           # the read returns: the reader closes the source
    deadline = time.monotonic() + 5.0
    while pre.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not pre.running
    assert src.closes == 1 and not src.closed_during_read
    assert pre.close() is True and src.closes == 1   # idempotent


def test_prefetcher_close_closes_at_once_when_the_reader_has_ended(folder: Path) -> None:
    src = _StallingSource(open_source(str(folder)), live=False)
    src.release.set()
    pre = Prefetcher(src).start()
    assert len(_drain(pre)) == 4 and pre.finished and pre.error is None
    assert pre.close() is True
    assert src.closes == 1 and not src.closed_during_read and not pre.running
    idle = _StallingSource(open_source(str(folder)), live=False)
    assert Prefetcher(idle).close() is True and idle.closes == 1   # never started


def test_one_rule_for_what_is_an_image(tmp_path: Path) -> None:
    shutil.copy(DATA / "messi5.jpg", tmp_path / "photo")        # no extension: by content
    (tmp_path / "clip.txt").write_text("hello")                  # neither: tried as a video
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")  # by extension, even if corrupt
    assert classify_source(str(tmp_path / "photo")) == SourceSpec("image", str(tmp_path / "photo"))
    assert classify_source(str(tmp_path / "clip.txt")).kind == "video"
    assert classify_source(str(tmp_path / "broken.png")).kind == "image"
    assert [p.name for p in list_images(tmp_path)] == ["broken.png", "photo"]


def test_natural_order_does_not_depend_on_the_listing(tmp_path: Path) -> None:
    for name in ("b.png", "a.png", "A.png", "frame10.png", "frame9.png"):
        shutil.copy(DATA / "messi5.jpg", tmp_path / name)
    # Case does not order (a and A are neighbours), the name breaks the tie: the same on every file system.
    assert [p.name for p in list_images(tmp_path)] == ["A.png", "a.png", "b.png", "frame9.png", "frame10.png"]


def test_a_file_named_like_a_camera_index_is_the_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(VIDEO, tmp_path / "7")
    assert classify_source("7") == SourceSpec("video", "7")
    assert classify_source("8", check_devices=False) == SourceSpec("device", 8)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(SourceError, match="not a regular file"):
        classify_source(str(fifo))
