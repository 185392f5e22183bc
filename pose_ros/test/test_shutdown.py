"""SIGINT or SIGTERM at any moment, once or twice: exit 0, no traceback, no ERROR line.

Real processes (``python -m pose_ros.<node>`` from this source tree) talking over real
DDS; the signals come at random moments in a few windows that used to fail: right after
start-up, while frames flow, and a second signal during shutdown. Each case runs in a
loop; the random seed is printed so a failure can be replayed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

PKG_ROOT = Path(__file__).resolve().parents[1]
VIDEO = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
ROUNDS = int(os.environ.get("POSE_ROS_SHUTDOWN_ROUNDS", "2"))
BAD = ("Traceback", "[ERROR]", "KeyboardInterrupt", "Failed to publish", "Exception", "failed to create")


class Proc:
    """A node process whose merged output is read on a thread, so we can wait for a line."""

    def __init__(self, module: str, *ros_args: str) -> None:
        cmd = [sys.executable, "-m", f"pose_ros.{module}", "--ros-args", *ros_args]
        self.proc = subprocess.Popen(cmd, cwd=PKG_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_for(self, text: str, timeout_s: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not any(text in ln for ln in self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return any(text in ln for ln in self.lines)
                self._cond.wait(min(left, 0.2))
            return True

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def finish(self, timeout_s: float = 30.0) -> tuple[int, str]:
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)
        return self.proc.returncode, "\n".join(self.lines)


def _interrupt(proc: Proc, rng: random.Random, sig: int, twice: bool) -> tuple[int, str]:
    time.sleep(rng.uniform(0.0, 0.3))   # a random moment in the window, not synchronisation
    proc.signal(sig)
    if twice:
        time.sleep(rng.uniform(0.0, 0.2))
        proc.signal(rng.choice((signal.SIGINT, signal.SIGTERM)))
    return proc.finish()


def _assert_quiet(rc: int, output: str, what: str) -> None:
    assert rc == 0, f"{what}: exit {rc}\n{output[-3000:]}"
    bad = [ln for ln in output.splitlines() if any(b in ln for b in BAD)]
    assert not bad, f"{what}:\n" + "\n".join(bad) + "\n---\n" + output[-3000:]


def _camera() -> Proc:
    return Proc("apps.image_source", "-p", f"source:={VIDEO}", "-p", "loop:=true", "-p", "rate_hz:=15.0",
                "-r", "image_raw:=image")


CASES = [(sig, twice) for sig in (signal.SIGINT, signal.SIGTERM) for twice in (False, True)]
IDS = [f"{signal.Signals(s).name}{'-twice' if t else ''}" for s, t in CASES]


@pytest.mark.parametrize("sig,twice", CASES, ids=IDS)
def test_pose_node_right_after_start_up(sig, twice):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    for i in range(ROUNDS):
        node = Proc("ros.pose_node.node")
        assert node.wait_for("listening on"), node.finish()[1]
        _assert_quiet(*_interrupt(node, rng, sig, twice), f"pose_node round {i} (seed {seed})")


@pytest.mark.parametrize("sig,twice", CASES, ids=IDS)
def test_pose_node_while_frames_flow(sig, twice):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    camera = _camera()
    try:
        assert camera.wait_for("publishing"), camera.finish()[1]
        for i in range(ROUNDS):
            node = Proc("ros.pose_node.node")
            assert node.wait_for("estimator ready"), node.finish()[1]
            time.sleep(rng.uniform(0.5, 2.0))   # frames reach it within this window
            _assert_quiet(*_interrupt(node, rng, sig, twice), f"pose_node round {i} (seed {seed})")
    finally:
        camera.signal(signal.SIGINT)
        camera.finish()


@pytest.mark.parametrize("sig,twice", CASES, ids=IDS)
def test_image_source_at_any_moment(sig, twice):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    for i in range(ROUNDS):
        camera = _camera()
        assert camera.wait_for("publishing" if i % 2 else "on /image"), camera.finish()[1]
        _assert_quiet(*_interrupt(camera, rng, sig, twice), f"image_source round {i} (seed {seed})")


@pytest.mark.parametrize("sig,twice", CASES, ids=IDS)
def test_pose_recorder_at_any_moment(sig, twice, tmp_path):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    for i in range(ROUNDS):
        rec = Proc("apps.recorder", "-p", f"output_dir:={tmp_path / str(i)}", "-p", "idle_timeout_s:=0.0")
        assert rec.wait_for("recording into"), rec.finish()[1]
        rc, output = _interrupt(rec, rng, sig, twice)
        _assert_quiet(rc, output, f"pose_recorder round {i} (seed {seed})")
        assert (tmp_path / str(i) / "summary.json").is_file(), output
