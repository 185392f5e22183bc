"""node_runner.run: what a signal turns into, when rclpy's C++ code mangles it.

A signal's handler runs wherever the main thread is. When that is inside pybind11 code
calling back into Python (rclpy converting a message in ``take_message``), the
KeyboardInterrupt comes out as ``RuntimeError: Unable to convert call argument '0' to
Python object``: CI saw exactly that traceback once in test_shutdown. These tests replay
that moment deterministically with a real rclpy context and node, in a child process
(run() leaves SIGINT/SIGTERM ignored in the process that called it). A signal swallowed
whole during start-up (CI saw ``import openvino`` turn one into "ImportError:
initialization failed") must still stop the node rather than leave it running deaf.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PKG_ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    from rclpy.node import Node
    from pose_ros.ros.node_runner import run

    def mangled(node, executor):
        if sys.argv[1] == "signal":
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # the handler raises KeyboardInterrupt here
            except KeyboardInterrupt as exc:  # what pybind11 makes of it
                raise RuntimeError("Unable to convert call argument '0' to Python object") from exc
        raise RuntimeError("a real failure, no signal")

    def swallowing_node():
        # What `import openvino` did with a signal: ImportError, caught as "runtime unavailable".
        try:
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            except KeyboardInterrupt as exc:
                raise ImportError("initialization failed") from exc
        except ImportError:
            pass
        return Node("runner_probe")

    if sys.argv[1] == "swallowed":
        sys.exit(run(swallowing_node, name="runner_probe"))
    sys.exit(run(lambda: Node("runner_probe"), spin=mangled, name="runner_probe"))
""")


def _run(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, mode], cwd=PKG_ROOT, capture_output=True,
                          text=True, timeout=30)


def test_interrupt_mangled_into_runtime_error_is_a_quiet_exit():
    done = _run("signal")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Traceback" not in output and "RuntimeError" not in output, output


def test_runtime_error_without_a_signal_still_fails_loudly():
    done = _run("plain")
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "a real failure, no signal" in output, output


def test_signal_swallowed_during_start_up_still_stops_the_node():
    done = _run("swallowed")   # before the fix: spun on forever, TimeoutExpired
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Traceback" not in output, output


# --------------------------------------------------------------------------- rcl refusing its arguments


def test_a_params_file_rcl_refuses_is_one_error_line_and_status_1(tmp_path):
    """Used to be a 20-line RCLError traceback from rclpy.init (reliability round 3, 2.3)."""
    bad = tmp_path / "flat.yaml"
    bad.write_text("max_persons: 1\n")
    script = "import sys\nfrom rclpy.node import Node\nfrom pose_ros.ros.node_runner import run\n" \
             "sys.exit(run(lambda: Node('runner_probe'), args=sys.argv, name='runner_probe'))\n"
    done = subprocess.run([sys.executable, "-c", script, "--ros-args", "--params-file", str(bad)],
                          cwd=PKG_ROOT, capture_output=True, text=True, timeout=30)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output, output
    ours = [line for line in output.splitlines() if "[runner_probe]" in line]
    assert len(ours) == 1 and "[ERROR]" in ours[0] and "Cannot have a value before ros__parameters" in ours[0]
    assert "parse.c" not in ours[0]   # rcl's C source locations are cut


# --------------------------------------------------------------------------- dying with the launcher

LAUNCHER = textwrap.dedent("""
    import os, subprocess, sys
    child = sys.argv[1]
    env = dict(os.environ)
    if sys.argv[2] == "flag":
        env["POSE_ROS_DIE_WITH_PARENT"] = "1"
    proc = subprocess.Popen([sys.executable, "-c", child], env=env, stdout=subprocess.PIPE, text=True)
    print(proc.pid, proc.stdout.readline().strip(), flush=True)   # the node says it is spinning
    sys.stdin.read()   # until the test kills this launcher
""")
NODE = textwrap.dedent("""
    import sys
    from rclpy.node import Node
    from pose_ros.ros.node_runner import run, spin_forever

    def spin(node, executor):
        print("spinning", flush=True)
        return spin_forever(node, executor)

    sys.exit(run(lambda: Node("orphan_probe"), spin=spin, name="orphan_probe"))
""")


def _orphan_after_launcher_killed(flag: str, wait_s: float):
    """Start a node under a launcher, SIGKILL the launcher (what a SIGTERM to ros2 launch amounts
    to for its children), and return the node's pid and whether it is still alive ``wait_s`` later."""
    import signal
    import time

    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, NODE, flag], cwd=PKG_ROOT,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    pid_text, state = launcher.stdout.readline().split()
    pid = int(pid_text)
    assert state == "spinning"
    launcher.kill()
    launcher.wait(timeout=10)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid, False
        with open(f"/proc/{pid}/stat") as f:   # a zombie (exited, reaped by init soon) counts as gone
            if f.read().split(") ")[1].startswith("Z"):
                return pid, False
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return pid, True


def test_a_launched_node_ends_when_its_launcher_is_killed():
    _, alive = _orphan_after_launcher_killed("flag", wait_s=10.0)
    assert not alive, "the node outlived its launcher (orphaned with PPID 1)"


def test_a_node_started_by_hand_may_outlive_its_parent():
    """Without the launcher's flag (a shell, nohup, setsid) the node is left alone."""
    _, alive = _orphan_after_launcher_killed("none", wait_s=2.0)
    assert alive


# --------------------------------------------------------------------------- a signal while importing

SLOW_IMPORT = textwrap.dedent("""
    import os, signal, sys, time
    os.kill(os.getpid(), getattr(signal, os.environ["PROBE_SIGNAL"]))
    time.sleep(5)   # what importing rclpy, cv2 and numpy costs a node, roughly
    def main():
        print("main ran")
        return 7
""")


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_while_a_console_script_imports_its_node_is_a_quiet_exit(tmp_path, sig):
    """pose_node under `ros2 launch` got Ctrl-C while importing: a traceback through importlib."""
    (tmp_path / "slow_node.py").write_text(SLOW_IMPORT)
    env = dict(os.environ, PROBE_SIGNAL=sig, PYTHONPATH=os.pathsep.join([str(tmp_path), str(PKG_ROOT)]))
    done = subprocess.run([sys.executable, "-m", "pose_ros.apps.console", "slow_node"], cwd=PKG_ROOT, env=env,
                          capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    plain = subprocess.run([sys.executable, "-c", "import slow_node"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=30)
    assert plain.returncode != 0   # what happened before: a traceback (SIGINT) or -15 (SIGTERM)


def test_the_console_entry_runs_main_when_not_interrupted(tmp_path):
    (tmp_path / "quick_node.py").write_text("def main():\n    print('main ran')\n    return 7\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(PKG_ROOT)]))
    done = subprocess.run([sys.executable, "-m", "pose_ros.apps.console", "quick_node"], cwd=PKG_ROOT, env=env,
                          capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout.strip()) == (7, "main ran"), done.stderr


WEAKREF_MOMENT = textwrap.dedent("""
    import signal, sys, weakref
    from rclpy.node import Node
    from pose_ros.ros.node_runner import run

    class Probe:
        pass

    def node_built_while_a_weakref_callback_gets_the_signal():
        probe = Probe()
        ref = weakref.ref(probe, lambda _r: signal.raise_signal(getattr(signal, sys.argv[1])))
        del probe   # the callback runs now, and the signal handler inside it
        return Node("runner_probe")

    sys.exit(run(node_built_while_a_weakref_callback_gets_the_signal, name="runner_probe"))
""")


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_inside_a_weakref_callback_is_neither_lost_nor_printed(sig):
    """A handler that raised printed "Exception ignored ... KeyboardInterrupt" there, and the
    exception was dropped; the record-only handler is read at the next step instead."""
    done = subprocess.run([sys.executable, "-c", WEAKREF_MOMENT, sig], cwd=PKG_ROOT, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr, done.stderr
