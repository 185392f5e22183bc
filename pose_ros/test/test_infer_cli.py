"""``pose_ros_infer`` on real images, a real video and a folder, and its error handling."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from pose_ros.apps import infer_cli
from pose_ros.apps.infer_cli import classify_input, main, parse_size
from pose_ros.apps.progress import Progress
from pose_ros.core.persons import Person
from pose_ros.core.postprocess import PersonStream, StreamParams
from pose_ros.core.skeletons import COCO18
from pose_ros.formats.keypoints_json import read_jsonl, validate_record
from pose_ros.media.source_kinds import list_images
from sample_media import video_frame_shapes

DATA = Path("/usr/share/doc/opencv-doc/examples/data")
BASKETBALL = DATA / "basketball1.png"
MESSI = DATA / "messi5.jpg"
VIDEO = DATA / "vtest.avi"
PKG_ROOT = Path(__file__).resolve().parents[1]


def _center_x(person) -> float:
    x, _, w, _ = person["bbox"]
    return x + w / 2


def test_image_gives_the_two_players_and_an_annotated_png(tmp_path, capsys):
    out = tmp_path / "bb.png"
    assert main([str(BASKETBALL), "-o", str(out)]) == 0
    record = json.loads((tmp_path / "bb.json").read_text())
    validate_record(record, COCO18)
    assert record["image"] == {"width": 640, "height": 480}
    people = record["people"]
    assert len(people) == 2
    # One player stands left (x ~ 50-150 px), the other right (x ~ 440-640 px).
    assert sorted(_center_x(p) < 320 for p in people) == [False, True]
    for p in people:
        assert sum(k["score"] > 0 for k in p["keypoints"]) >= 6
    src, drawn = cv2.imread(str(BASKETBALL)), cv2.imread(str(out))
    assert drawn.shape == src.shape
    # The skeletons are drawn on top: some pixels change, most stay as they were.
    changed = np.any(drawn != src, axis=2)
    assert 0.001 < changed.mean() < 0.2
    err = capsys.readouterr().err
    assert "1 frame(s)" in err and str(out) in err


def test_thresholds_reach_the_parser(tmp_path):
    out = tmp_path / "strict.png"
    json_path = tmp_path / "k.json"
    assert main([str(BASKETBALL), "-o", str(out), "--json", str(json_path), "--min-score", "2"]) == 0
    assert json.loads(json_path.read_text())["people"] == []   # person scores are in [0, 1]


def test_coco_json_lists_coco17_results_per_image_of_a_folder(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(BASKETBALL, src / "a_players.png")
    shutil.copy(MESSI, src / "b_messi.jpg")
    coco = tmp_path / "results.json"
    assert main([str(src), "-o", str(tmp_path / "out"), "--coco-json", str(coco), "--flip",
                 "--scales", "1.0", "--min-keypoint-score", "0.05"]) == 0
    assert "COCO keypoint result(s)" in capsys.readouterr().err
    results = json.loads(coco.read_text())
    records = read_jsonl(str(tmp_path / "out" / "keypoints.jsonl"))
    by_image = {r["frame"]: len(r["people"]) for r in records}
    assert {i: sum(r["image_id"] == i for r in results) for i in by_image} == by_image
    assert by_image[0] == 2
    for r in results:
        assert r["category_id"] == 1 and 0 < r["score"] <= 1
        kp = np.array(r["keypoints"]).reshape(17, 3)
        absent = kp[:, 2] == 0
        assert (kp[absent] == 0).all() and (kp[~absent, 2] >= 0.05).all()
        assert not ((kp[:, 0] == 0) & (kp[:, 1] == 0) & ~absent).any(), "no keypoint is placed at the origin"
    # COCO-17 has no neck: a person's 17 values come from the record's keypoints of the same name
    first = records[0]["people"][0]["keypoints"]
    lsho = next(k for k in first if k["name"] == "LShoulder")
    match = [r for r in results if r["image_id"] == 0
             and abs(r["keypoints"][5 * 3] - lsho["x"]) < 0.01 and abs(r["keypoints"][5 * 3 + 1] - lsho["y"]) < 0.01]
    assert match or lsho["score"] == 0


def test_video_writes_mp4_and_one_json_line_per_frame(tmp_path, capsys):
    out = tmp_path / "v.mp4"
    assert main([str(VIDEO), "-o", str(out), "--max-frames", "5"]) == 0
    records = read_jsonl(str(tmp_path / "v.jsonl"))
    assert [r["frame"] for r in records] == [0, 1, 2, 3, 4]
    assert [r["stamp"] for r in records] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])   # 10 fps video
    assert video_frame_shapes(out) == [(576, 768, 3)] * 5
    err = capsys.readouterr().err
    assert "5/5 frames" in err      # the progress line, final state
    assert "5 frame(s)" in err


def test_folder_of_images(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(MESSI, src / "b_messi.jpg")
    shutil.copy(BASKETBALL, src / "a_players.png")
    (src / "notes.txt").write_text("not an image")
    (src / "sub").mkdir()
    out = tmp_path / "out"
    assert main([str(src), "-o", str(out)]) == 0
    records = read_jsonl(str(out / "keypoints.jsonl"))
    assert [r["source"] for r in records] == ["a_players.png", "b_messi.jpg"]
    assert [r["frame"] for r in records] == [0, 1]
    assert len(records[0]["people"]) == 2
    assert sorted(p.name for p in out.iterdir()) == ["a_players.png", "b_messi.png", "keypoints.jsonl"]
    assert cv2.imread(str(out / "b_messi.png")).shape == cv2.imread(str(MESSI)).shape
    # A corrupt image is skipped with a warning; clashing stems keep their extension.
    shutil.copy(BASKETBALL, src / "b_messi.png")
    (src / "c_broken.jpg").write_bytes(MESSI.read_bytes()[:300])
    assert main([str(src), "-o", str(tmp_path / "more")]) == 0
    assert "warning: skipping" in capsys.readouterr().err
    records = read_jsonl(str(tmp_path / "more" / "keypoints.jsonl"))
    assert [(r["frame"], r["source"]) for r in records] == [(0, "a_players.png"), (1, "b_messi.jpg"),
                                                           (2, "b_messi.png")]
    assert {"b_messi_jpg.png", "b_messi_png.png"} <= {p.name for p in (tmp_path / "more").iterdir()}
    # --max-frames limits a folder too.
    assert main([str(src), "-o", str(tmp_path / "one"), "--max-frames", "1"]) == 0
    assert len(read_jsonl(str(tmp_path / "one" / "keypoints.jsonl"))) == 1


def test_default_output_names_in_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([str(BASKETBALL), "-q"]) == 0
    assert (tmp_path / "basketball1_pose.png").exists() and (tmp_path / "basketball1_pose.json").exists()


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert lines[-1].startswith("pose_ros_infer: error: ")
    assert "Traceback" not in captured.err
    return lines[-1]


def test_bad_inputs_exit_2_with_one_line(tmp_path, capsys):
    assert "nope.png: no such file or directory" in _error(capsys, [str(tmp_path / "nope.png")])
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert "cannot open it as a video" in _error(capsys, [str(text)])
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no readable images" in _error(capsys, [str(empty)])
    broken = tmp_path / "broken.png"
    broken.write_bytes(BASKETBALL.read_bytes()[:200])   # a PNG header, then nothing
    assert "broken.png" in _error(capsys, [str(broken), "-o", str(tmp_path / "x.png")])


def test_bad_options_exit_2(tmp_path, capsys):
    out = ["-o", str(tmp_path / "x.png")]
    assert "multiple of 8" in _error(capsys, [str(BASKETBALL), "--input-size", "430x368", *out])
    assert "backend 'tpu' unknown" in _error(capsys, [str(BASKETBALL), "--backend", "tpu", *out])
    assert "unknown estimator 'nope'" in _error(capsys, [str(BASKETBALL), "--estimator", "nope", *out])
    # checked while parsing the arguments (argparse exits 2 itself)
    for argv, reason in ((["--input-size", "big"], "WIDTHxHEIGHT"), (["--scales", "1,9"], "scales must be in")):
        with pytest.raises(SystemExit) as exc:
            main([str(BASKETBALL), *argv])
        assert exc.value.code == 2
        assert reason in capsys.readouterr().err


def test_missing_model_names_the_fetch_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("POSE_ROS_MODELS", str(tmp_path / "no_models"))
    line = _error(capsys, [str(BASKETBALL), "-o", str(tmp_path / "x.png")])
    assert "Run: pose_ros_models fetch mobilenet_thin" in line
    assert not (tmp_path / "x.png").exists()


def test_module_entry_point_error_has_no_traceback(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(PKG_ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "pose_ros.apps.infer_cli", str(tmp_path / "missing.mp4")],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"pose_ros_infer: error: {tmp_path / 'missing.mp4'}: no such file or directory"


def test_input_kinds_and_sizes(tmp_path):
    assert classify_input("0").kind == "camera" and classify_input("0").camera == 0
    assert classify_input(str(BASKETBALL)).kind == "image"
    assert classify_input(str(VIDEO)).kind == "video"
    assert classify_input(str(tmp_path)).kind == "folder"
    assert parse_size("432x368") == (432, 368)
    assert parse_size("656X368") == (656, 368)


def test_progress_line_counts_and_ends(tmp_path):
    with open(tmp_path / "log", "w") as stream:
        p = Progress(4, stream=stream)
        for _ in range(4):
            p.update()
        p.close()
    lines = (tmp_path / "log").read_text().splitlines()
    assert lines[0].startswith("[") and "1/4 frames" in lines[0]      # first update is shown
    assert "4/4 frames 100%" in lines[-1]                              # close() shows the end


def test_progress_line_on_a_terminal_is_redrawn_in_place():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    p = Progress(2, stream=term)
    p.update()
    p.update()
    p.close()
    text = term.getvalue()
    assert text.startswith("\r[") and text.endswith("\n") and text.count("\n") == 1
    assert "2/2 frames 100%" in text.split("\r")[-1]


def test_folder_plays_in_the_natural_order_image_source_uses(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(BASKETBALL, src / "frame10.png")
    shutil.copy(MESSI, src / "frame2.jpg")
    shutil.copy(BASKETBALL, src / "still")   # no extension: an image by its content
    (src / "notes.txt").write_text("not an image")
    assert classify_input(str(src / "still")).kind == "image"
    out = tmp_path / "out"
    assert main([str(src), "-o", str(out), "-q"]) == 0
    records = read_jsonl(str(out / "keypoints.jsonl"))
    order = ["frame2.jpg", "frame10.png", "still"]
    assert [r["source"] for r in records] == order == [p.name for p in list_images(src)]
    assert [r["frame"] for r in records] == [0, 1, 2]
    # Unrelated stills are not tracked: ids are positions within the image, not track ids.
    assert records[1]["people"]
    assert all([p["id"] for p in r["people"]] == [str(i) for i in range(len(r["people"]))] for r in records)


class _Spy:
    """The real estimator, keeping a copy of each frame's raw persons: the CLI smooths them in
    place, and the model's output varies with the machine's load (its frame budget), so a second
    run cannot stand in for the raw output of the first."""

    def __init__(self, estimator) -> None:
        self._estimator = estimator
        self.raw: list = []

    def __getattr__(self, name: str):
        return getattr(self._estimator, name)

    def infer(self, image, **stream):
        result = self._estimator.infer(image, **stream)
        self.raw.append([Person(p.keypoints.copy(), p.score) for p in result.persons])
        return result


def _run_spied(monkeypatch, argv: list) -> list:
    """main(argv) with the real estimator under a _Spy; returns the raw persons of every frame."""
    spies = []
    real_load = infer_cli.load
    monkeypatch.setattr(infer_cli, "load", lambda args: spies.append(_Spy(real_load(args))) or spies[-1])
    assert main(argv) == 0
    return spies[0].raw


def _xy(person_record) -> np.ndarray:
    return np.array([[k["x"], k["y"]] for k in person_record["keypoints"]])


@pytest.fixture
def shaky_clip(tmp_path) -> Path:
    """The two basketball players, filmed by a shaking hand: 8 frames of basketball1.png, each
    shifted by a few pixels, as a 10 fps MJPG video. Large people are found whatever input size
    the model's frame budget picks on a busy machine; the shake gives smoothing work to do."""
    image = cv2.imread(str(BASKETBALL))
    rng = np.random.default_rng(3)
    path = tmp_path / "shaky.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (image.shape[1], image.shape[0]))
    for dx, dy in rng.uniform(-6.0, 6.0, (8, 2)):
        writer.write(cv2.warpAffine(image, np.float32([[1, 0, dx], [0, 1, dy]]), (image.shape[1], image.shape[0]),
                                    borderMode=cv2.BORDER_REPLICATE))
    writer.release()
    return path


@pytest.mark.parametrize("smooth", [True, False], ids=["smoothed", "no-smooth"])
def test_video_goes_through_the_nodes_person_stream(tmp_path, monkeypatch, shaky_clip, smooth):
    path = tmp_path / "k.jsonl"
    argv = [str(shaky_clip), "-q", "-o", str(tmp_path / "v.mp4"), "--json", str(path)]
    raw = _run_spied(monkeypatch, argv + ([] if smooth else ["--no-smooth"]))
    records = read_jsonl(str(path))
    assert len(records) == len(raw) == 8 and all(raw)

    # The node's PersonStream over the model's raw output, on the video's stamps, is the CLI's output.
    stream = PersonStream(StreamParams(smoothing=smooth))
    moved = 0.0
    for frame, record in zip(raw, records):
        before = [p.keypoints[:, :2].copy() for p in frame]
        replayed = stream.update(frame, record["stamp"])
        assert [p["id"] for p in record["people"]] == [p.track_id for p in replayed]
        for mine, theirs, was in zip(replayed, record["people"], before):
            np.testing.assert_allclose(_xy(theirs), mine.keypoints[:, :2], atol=0.006)   # JSON rounds to 0.01
            moved = max(moved, float(np.abs(_xy(theirs) - was).max()))
    ids = [p["id"] for r in records for p in r["people"]]
    assert "0" not in ids   # track ids count from 1; an untracked person's id is its position
    if smooth:
        assert moved > 0.5   # smoothing moved keypoints by more than rounding could
    else:
        assert moved < 0.006


def test_no_track_turns_tracking_and_smoothing_off(tmp_path, shaky_clip):
    path = tmp_path / "k.jsonl"
    assert main([str(shaky_clip), "--max-frames", "3", "-q", "-o", str(tmp_path / "v.mp4"), "--json", str(path),
                 "--no-track"]) == 0
    records = read_jsonl(str(path))
    assert all(r["people"] for r in records)   # tracked, no id would be "0"
    for r in records:
        assert [p["id"] for p in r["people"]] == [str(i) for i in range(len(r["people"]))]
