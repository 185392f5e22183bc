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

import subprocess
import sys
import textwrap
from pathlib import Path

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
