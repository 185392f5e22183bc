"""The one-command demo, for real: image_source -> pose_node -> pose_recorder as three
processes over DDS on a short clip of OpenCV's vtest.avi, then its files on disk.

One run (~15-20 s on 2 cores) is shared by the output checks; the prerequisite
failures need no ROS process and take a fraction of a second each. The clip starts
3 s into vtest.avi: in its first second the pedestrians are few and small.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from pose_ros.core.skeletons import COCO18
from pose_ros.formats.keypoints_json import read_jsonl
from process_table import kill_tagged, tagged_processes
from sample_media import video_frame_shapes

PKG_ROOT = Path(__file__).resolve().parents[1]
VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
CLIP_START = 30      # frame of vtest.avi (10 fps) where the test clip starts
FRAMES = 40
RATE_HZ = 8.0
DEMO_TIMEOUT_S = 150


def _env(**overrides) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PKG_ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(overrides)
    return env


def _demo(args, env, timeout=DEMO_TIMEOUT_S, cwd=None):
    """Run the demo; on a hang stop it (it stops its nodes), and kill any node it left behind."""
    output = Path(args[args.index("--output") + 1])
    env = {**env, "POSE_ROS_TEST_RUN": str(output)}
    proc = subprocess.Popen([sys.executable, "-m", "pose_ros.apps.demo", *map(str, args)], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        pytest.fail(f"demo did not finish within {timeout} s:\n{err[-3000:]}")
    finally:
        _kill_leftover_nodes(output)
    return proc.returncode, out, err


def _leftover_nodes(output: Path) -> dict:
    """Processes of this demo run still alive, pid -> command line (normally none).

    Found in the process table, not in the demo's own logs/pids.json: a process counts
    when its command line or environment carries this run's output folder (the nodes'
    params files live there, and ``_env`` passes it as ``POSE_ROS_TEST_RUN``)."""
    return tagged_processes(str(output))


def _kill_leftover_nodes(output: Path) -> None:
    kill_tagged(str(output))


def _write_clip(path: Path, start: int, count: int) -> None:
    """Frames [start, start + count) of vtest.avi as an MJPG avi at the same 10 fps."""
    cap = cv2.VideoCapture(str(VIDEO))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    writer = None
    for _ in range(count):
        ok, frame = cap.read()
        assert ok, f"{VIDEO} has fewer than {start + count} frames"
        if writer is None:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0,
                                     (frame.shape[1], frame.shape[0]))
        writer.write(frame)
    writer.release()
    cap.release()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    assert VIDEO.exists(), f"{VIDEO} missing: run `make setup` (installs opencv-doc)"
    base = tmp_path_factory.mktemp("demo")
    clip = base / "clip.avi"
    _write_clip(clip, CLIP_START, FRAMES + 10)   # longer than --frames: the demo stops at FRAMES
    out = base / "demo_output"
    env = _env()
    env.pop("ROS_DOMAIN_ID", None)   # the demo picks its own
    rc, stdout, stderr = _demo(["--video", clip, "--frames", FRAMES, "--rate-hz", RATE_HZ,
                                "--output", out], env)
    assert rc == 0, f"demo failed ({rc}):\n{stderr[-4000:]}\n{stdout}"
    return out, stdout, stderr


def _video_frames(path: Path):
    return video_frame_shapes(path)


def test_demo_writes_a_consistent_recording(demo_run):
    out, stdout, stderr = demo_run
    summary = json.loads((out / "summary.json").read_text())
    records = read_jsonl(str(out / "persons.jsonl"))   # validates every line

    # The source publishes exactly FRAMES frames (it waits for the node and the recorder).
    assert summary["frames_in"] == FRAMES
    # The node drops frames it cannot keep up with but never invents one.
    assert 1 <= summary["frames_out"] <= summary["frames_in"]
    assert summary["dropped"] == summary["frames_in"] - summary["frames_out"]
    assert len(records) == summary["frames_out"]
    # One annotated image per persons message: the node renders while someone subscribes,
    # and the demo starts the camera only after the recorder subscribed.
    shapes = _video_frames(out / "annotated.mp4")
    assert len(shapes) == len(records) == summary["annotated_frames"]
    assert set(shapes) == {(576, 768, 3)}

    assert all(r["skeleton"] == "coco18" and (r["image"]["width"], r["image"]["height"]) == (768, 576)
               for r in records)
    assert [r["frame"] for r in records] == list(range(len(records)))
    stamps = [r["stamp"] for r in records]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)

    lat = summary["latency_ms"]
    assert lat["count"] == len(records)
    assert 0 < lat["min"] <= lat["p50"] <= lat["p95"] <= lat["max"] < 30_000
    assert summary["output_fps"] is None or 0 < summary["output_fps"] <= RATE_HZ * 1.5
    assert summary["finished_by"] == "idle_timeout"

    # The printed summary reports the same numbers.
    assert f"frames in (published)  {FRAMES}" in stdout
    assert f"frames out (persons)   {summary['frames_out']}" in stdout
    assert f"p50 {lat['p50']:.0f} ms" in stdout


def test_demo_finds_the_pedestrians(demo_run):
    out, _, _ = demo_run
    records = read_jsonl(str(out / "persons.jsonl"))
    counts = [len(r["people"]) for r in records]
    # Several pedestrians walk through every frame of the clip.
    assert sum(c > 0 for c in counts) >= 0.8 * len(counts), counts
    assert max(counts) >= 2, counts
    summary = json.loads((out / "summary.json").read_text())
    assert summary["people_per_frame"]["max"] == max(counts)
    assert summary["people_per_frame"]["frames_with_people"] == sum(c > 0 for c in counts)
    for r in records:
        for p in r["people"]:
            assert [k["name"] for k in p["keypoints"]] == list(COCO18.keypoint_names)
            found = [k for k in p["keypoints"] if k["score"] > 0]
            assert len(found) >= 3
            assert all(0 <= k["x"] < 768 and 0 <= k["y"] < 576 for k in found)
    # Tracking is on in the node: ids are track ids, unique within a frame.
    for r in records:
        ids = [p["id"] for p in r["people"]]
        assert len(ids) == len(set(ids))


def _jsonl(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_demo_records_detections_label_info_and_image_markers(demo_run):
    pytest.importorskip("vision_msgs.msg", reason="vision_msgs missing: run `make setup`")
    out, _, _ = demo_run
    summary = json.loads((out / "summary.json").read_text())
    records = read_jsonl(str(out / "persons.jsonl"))

    # One Detection2DArray per persons message, same stamp, same people in the same order.
    detections = _jsonl(out / "detections.jsonl")
    assert len(detections) == len(records) == summary["detections"]["messages"]
    assert summary["detections"]["detections"] == sum(len(r["people"]) for r in records) > 0
    for det, rec in zip(detections, records):
        assert det["stamp"] == pytest.approx(rec["stamp"], abs=1e-6)
        assert det["frame_id"] == "camera_optical_frame"
        assert [d["id"] for d in det["detections"]] == [p["id"] for p in rec["people"]]
        for d, person in zip(det["detections"], rec["people"]):
            assert [r["class_id"] for r in d["results"]] == ["0"]
            assert d["results"][0]["score"] == pytest.approx(person["score"], abs=2e-4)
            found = [(k["x"], k["y"]) for k in person["keypoints"] if k["score"] > 0]
            xs, ys = [x for x, _ in found], [y for _, y in found]
            assert d["bbox"]["cx"] == pytest.approx((min(xs) + max(xs)) / 2, abs=0.01)
            # persons.jsonl rounds x, y to 0.01 and detections.jsonl the box to 0.001, so a
            # height from two recorded keypoints is exact to 2 x 0.005 + 0.0005 (71.94 vs 71.93 seen).
            assert d["bbox"]["h"] == pytest.approx(max(ys) - min(ys), abs=0.0105 + 1e-9)

    label = json.loads((out / "label_info.json").read_text())
    assert label["class_map"] == {"0": "person"} and summary["label_info"] == label

    # Both marker topics every frame, empty or not, with the image's stamp.
    markers = _jsonl(out / "image_markers.jsonl")
    assert summary["image_markers"]["messages"] == {"image_markers/limbs": len(records),
                                                   "image_markers/joints": len(records)}
    joints = [m for m in markers if m["topic"] == "image_markers/joints"]
    limbs = [m for m in markers if m["topic"] == "image_markers/limbs"]
    assert [m["stamp"] for m in joints] == pytest.approx([r["stamp"] for r in records], abs=1e-6)
    assert [m["stamp"] for m in limbs] == pytest.approx([r["stamp"] for r in records], abs=1e-6)
    for m, rec in zip(joints, records):
        assert len(m["points"]) == sum(k["score"] > 0 for p in rec["people"] for k in p["keypoints"])
        assert all(0 <= x <= 768 and 0 <= y <= 576 for x, y in m["points"])
    assert all(len(m["points"]) == 2 * len(m["colors"]) for m in limbs)


def test_demo_snapshots(demo_run):
    out, _, _ = demo_run
    summary = json.loads((out / "summary.json").read_text())
    snaps = summary["snapshots"]
    assert len(snaps) == min(3, summary["frames_out"])
    frames = [s["video_frame"] for s in snaps]
    assert frames == sorted(frames) and len(set(frames)) == len(frames)
    images = {}
    for s in snaps + [{"file": "snapshot.png"}]:
        img = cv2.imread(str(out / s["file"]))
        assert img is not None, s["file"]
        assert img.shape[1] <= 640 and abs(img.shape[1] / img.shape[0] - 768 / 576) < 0.01
        images[s["file"]] = img
    best = max(snaps, key=lambda s: s["people"])
    assert any((images["snapshot.png"] == images[s["file"]]).all()
               for s in snaps if s["people"] == best["people"])


def test_demo_missing_video_fails_clearly(tmp_path):
    rc, _, err = _demo(["--video", tmp_path / "nope.avi", "--frames", 5, "--output", tmp_path / "o"],
                       _env(), timeout=60)
    assert rc == 2
    assert f"video not found: {tmp_path / 'nope.avi'}" in err
    assert "Traceback" not in err


def test_demo_unreadable_video_fails_clearly(tmp_path):
    fake = tmp_path / "fake.avi"
    fake.write_text("not a video\n")
    rc, _, err = _demo(["--video", fake, "--output", tmp_path / "o"], _env(), timeout=60)
    assert rc == 2
    assert f"cannot read video {fake}" in err and "Traceback" not in err


def test_demo_without_model_says_how_to_fetch_it(tmp_path):
    empty = tmp_path / "models"
    empty.mkdir()
    out = tmp_path / "o"
    rc, _, err = _demo(["--video", VIDEO, "--frames", 5, "--output", out], _env(POSE_ROS_MODELS=str(empty)),
                       timeout=60)
    assert rc == 2
    assert "pose_ros_models fetch mobilenet_thin" in err and "Traceback" not in err
    assert not (out / "logs" / "pids.json").exists()   # no node was started


# When the demo is stopped, relative to its nodes starting (each a condition on what it shows).
def _banner(out, err_text, children):        # prerequisites checked, signal handler installed
    return "playing" in err_text


def _first_child(out, err_text, children):   # the recorder is being spawned or has just been
    return len(children) >= 1


def _one_recorded(out, err_text, children):  # between the recorder's spawn and pose_node's
    return (out / "logs" / "pids.json").exists()


def _nodes_started(out, err_text, children):  # both nodes run; the demo waits for pose_node's model
    return "starting pose_node" in err_text


def _all_running(out, err_text, children):   # image_source too: the video is playing
    return len(children) >= 3


MOMENTS = [_banner, _first_child, _one_recorded, _nodes_started, _all_running]
TRIES = 20


def _start_demo(out: Path, err_file: Path, frames: int = 40) -> subprocess.Popen:
    env = _env(POSE_ROS_TEST_RUN=str(out))
    env.pop("ROS_DOMAIN_ID", None)   # the demo picks its own
    with open(err_file, "w") as err:
        return subprocess.Popen([sys.executable, "-m", "pose_ros.apps.demo", "--video", str(VIDEO), "--frames",
                                 str(frames), "--rate-hz", "10", "--output", str(out)], env=env,
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)


def _wait_for_moment(proc: subprocess.Popen, out: Path, err_file: Path, moment, timeout_s: float = 90.0) -> bool:
    """Poll what the demo shows (its stderr, its files, the process table) until ``moment``
    holds; False when the demo ended or the time ran out first."""
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        children = tagged_processes(str(out), exclude=[proc.pid])
        if moment(out, err_file.read_text(errors="replace"), children):
            return True
        time.sleep(0.001)   # polling another process
    return False


def test_demo_interrupted_at_any_moment_leaves_no_process(tmp_path):
    """Ctrl-C or SIGTERM, once or twice, before, while and after the nodes start: the demo
    exits 130 without a traceback, and when it has exited no process of its run is alive.

    SIGTERM, which the demo handles as Ctrl-C: a SIGINT would be ignored when the tests
    run as a background job (the shell starts those with SIGINT ignored). A random delay
    of up to 40 ms after each moment sweeps the few milliseconds in which a node is being
    spawned; the second signal of a double interrupt lands while the demo stops its nodes."""
    rng = random.Random(16)
    failures = []
    for i in range(TRIES):
        moment, twice = MOMENTS[i % len(MOMENTS)], i % 2 == 1
        out, err_file = tmp_path / f"o{i:02d}", tmp_path / f"err{i:02d}.txt"
        proc = _start_demo(out, err_file)
        try:
            assert _wait_for_moment(proc, out, err_file, moment), \
                f"try {i}: {moment.__name__} never held:\n{err_file.read_text()[-3000:]}"
            time.sleep(rng.uniform(0.0, 0.04))   # a moment, not a synchronisation
            proc.send_signal(signal.SIGTERM)
            if twice:
                time.sleep(rng.uniform(0.0, 0.3))
                proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            left = _leftover_nodes(out)   # at once: the demo must have stopped them before exiting
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            _kill_leftover_nodes(out)
        err = err_file.read_text(errors="replace")
        what = f"try {i} ({moment.__name__}{', twice' if twice else ''})"
        if left:
            failures.append(f"{what}: left {sorted(left.values())}")
        if proc.returncode != 130 or "Traceback" in err or "interrupted" not in err:
            failures.append(f"{what}: exit {proc.returncode}:\n{err[-2000:]}")
    assert not failures, "\n".join(failures)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("moment", [_first_child, _one_recorded, _all_running], ids=lambda m: m.__name__[1:])
def test_demo_killed_leaves_no_process(tmp_path, moment):
    """SIGKILL gives the demo no chance to stop anything: its nodes end by themselves
    (the kernel signals them when their parent dies)."""
    out, err_file = tmp_path / "o", tmp_path / "err.txt"
    proc = _start_demo(out, err_file)
    try:
        assert _wait_for_moment(proc, out, err_file, moment), err_file.read_text()[-3000:]
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 30.0
        while (left := _leftover_nodes(out)) and time.monotonic() < deadline:
            time.sleep(0.05)   # polling the process table
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _kill_leftover_nodes(out)
    assert left == {}


def test_snapshot_picker_spreads_the_best_frames_over_the_run():
    from pose_ros.apps.snapshots import SnapshotPicker

    rng = np.random.default_rng(0)
    people = rng.integers(0, 4, 301)
    people[[40, 150, 260]] = 9          # one clear best frame in each third of the run
    picker = SnapshotPicker(count=3, max_buckets=12)
    made = []
    for i, n in enumerate(people):
        picker.offer(i, int(n), 0.0, lambda i=i: made.append(i) or np.full((2, 2, 3), i % 256, np.uint8))
        assert len(picker._best) <= 12      # bounded memory whatever the run length
    picks = picker.pick()
    assert [c.index for c in picks] == [40, 150, 260]
    assert [c.people for c in picks] == [9, 9, 9]
    assert len(made) < len(people)       # images are produced only for frames kept
    short = SnapshotPicker(count=3)
    short.offer(0, 1, 0.5, lambda: np.zeros((2, 2, 3), np.uint8))
    short.offer(1, 1, 0.2, lambda: np.zeros((2, 2, 3), np.uint8))
    assert [c.index for c in short.pick()] == [0, 1]
