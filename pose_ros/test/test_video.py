"""media/video.py: the one annotated-video writer of pose_ros_infer and the recorder, on real
frames of vtest.avi, read back with OpenCV."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
from pose_ros.media.video import DEFAULT_FPS, FPS_PROBE_FRAMES, VideoFile
from sample_media import video_frame_shapes

VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


@pytest.fixture(scope="module")
def frames() -> list:
    cap = cv2.VideoCapture(str(VIDEO))
    out = []
    for _ in range(FPS_PROBE_FRAMES + 3):
        ok, frame = cap.read()
        assert ok
        out.append(cv2.resize(frame, (192, 144)))
    cap.release()
    return out


def _fps_of(path: Path) -> float:
    cap = cv2.VideoCapture(str(path))
    try:
        assert cap.isOpened()
        return float(cap.get(cv2.CAP_PROP_FPS))
    finally:
        cap.release()


@pytest.mark.parametrize("name, fourcc", [("out.mp4", "mp4v"), ("out.avi", "MJPG")])
def test_a_given_rate_writes_every_frame_at_once(tmp_path, frames, name, fourcc):
    video = VideoFile(tmp_path / name, fps=7.0)
    for i, f in enumerate(frames[:4]):
        video.add(f)
        assert video.frames == i + 1   # no probe: written as it comes
    video.close()
    assert video.error == ""
    assert video_frame_shapes(tmp_path / name) == [(144, 192, 3)] * 4
    assert _fps_of(tmp_path / name) == pytest.approx(7.0)
    assert fourcc.encode() in (tmp_path / name).read_bytes()   # the codec tag in the container's header


def test_without_a_rate_the_first_frames_wait_for_the_estimate_from_their_stamps(tmp_path, frames):
    video = VideoFile(tmp_path / "v.mp4")
    for i, f in enumerate(frames):
        video.add(f, stamp_s=100.0 + 0.2 * i)   # 5 frames per second
        if i < FPS_PROBE_FRAMES - 1:
            assert (video.frames, video.received) == (0, i + 1)
    assert video.fps == pytest.approx(5.0)
    assert video.frames == video.received == len(frames)
    video.close()
    assert _fps_of(tmp_path / "v.mp4") == pytest.approx(5.0)
    assert len(video_frame_shapes(tmp_path / "v.mp4")) == len(frames)


def test_a_run_shorter_than_the_probe_is_written_at_close(tmp_path, frames):
    video = VideoFile(tmp_path / "short.mp4")
    for f in frames[:3]:
        video.add(f)            # no stamps at all: the default rate
    assert video.frames == 0
    video.close()
    assert video.fps == DEFAULT_FPS and video.frames == 3
    assert video_frame_shapes(tmp_path / "short.mp4") == [(144, 192, 3)] * 3


def test_frames_of_another_size_are_fitted_to_the_first(tmp_path, frames):
    video = VideoFile(tmp_path / "mixed.avi", fps=10.0)
    video.add(frames[0])
    video.add(cv2.resize(frames[1], (384, 288)))   # the camera changed resolution
    video.close()
    assert video.size == (192, 144)
    shapes = video_frame_shapes(tmp_path / "mixed.avi")
    assert shapes == [(144, 192, 3)] * 2


def test_an_unwritable_path_is_an_error_not_an_exception(tmp_path, frames):
    video = VideoFile(tmp_path / "no" / "such" / "folder" / "v.mp4", fps=10.0)
    video.add(frames[0])
    assert "cannot write video" in video.error and "v.mp4" in video.error
    video.add(frames[1])   # ignored after the error
    video.close()
    assert video.frames == 0
    assert not (tmp_path / "no").exists()
