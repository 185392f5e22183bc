"""The demo's node processes: how each is started, recorded, and stopped.

Each node runs as its own process in its own session, as on a robot, so a Ctrl-C in the
terminal reaches only the demo, which stops the nodes in order (the recorder first, so its
files are complete). No node outlives the demo: it is stopped on every way out of the
demo's flow, and the kernel signals it when the demo dies by SIGKILL
(:func:`_child_preexec`). logs/pids.json lists them for whoever runs the demo unattended.
"""

from __future__ import annotations

import ctypes
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

from pose_ros.apps.interrupts import INTERRUPTS
from pose_ros.bringup import launch_logic

STOP_TIMEOUT_S = 5.0


def _uses_installed_package() -> Optional[Path]:
    """The colcon/apt prefix of pose_ros if the pose_ros being imported is the installed one."""
    import pose_ros
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    except ImportError:
        return None
    try:
        prefix = Path(get_package_prefix("pose_ros")).resolve()
    except PackageNotFoundError:
        return None
    here = Path(pose_ros.__file__).resolve()
    return prefix if prefix in here.parents else None


def command_for(executable: str, module: str) -> List[str]:
    """How to start one of our nodes.

    The installed executable (``<prefix>/lib/pose_ros/<exe>``) when this process runs the
    installed pose_ros; otherwise - a source checkout, as in the tests - ``python -m``
    with the same interpreter and package, so the nodes run exactly the code the demo
    imported and not an older build.
    """
    prefix = _uses_installed_package()
    if prefix is not None:
        exe = prefix / "lib" / "pose_ros" / executable
        if os.access(exe, os.X_OK):
            return [str(exe)]
    return [sys.executable, "-m", f"pose_ros.{module}"]


def child_env() -> Dict[str, str]:
    """Environment for the nodes: this process's, with pose_ros importable from the same place."""
    import pose_ros
    env = dict(os.environ)
    package_parent = str(Path(pose_ros.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("RCUTILS_COLORIZED_OUTPUT", "0")
    return env


def choose_domain() -> Optional[int]:
    """Pick a ROS_DOMAIN_ID for this run unless the user set one (returns the chosen id)."""
    # Localhost-only discovery: ROS_AUTOMATIC_DISCOVERY_RANGE from Iron on; Humble knows
    # only ROS_LOCALHOST_ONLY (deprecated on Jazzy, where setting it warns).
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    if os.environ.get("ROS_DISTRO") == "humble":
        os.environ.setdefault("ROS_LOCALHOST_ONLY", "1")
    if os.environ.get("ROS_DOMAIN_ID"):
        return None
    domain = random.Random(os.getpid() ^ time.time_ns()).randint(1, 100)
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    return domain


def _child_preexec() -> Optional[Callable[[], None]]:
    """What a node process runs between fork and exec (Linux; None elsewhere).

    ``PR_SET_PDEATHSIG``: the kernel sends the node SIGTERM (which our nodes handle as
    Ctrl-C) when the demo dies, even by SIGKILL, so no node outlives it. SIGINT back to
    its default: a demo started with SIGINT ignored (a background job) would pass that
    on, and the nodes would ignore the demo's own SIGINT while starting up.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    prctl.restype = ctypes.c_int
    pr_set_pdeathsig = 1   # <linux/prctl.h>
    parent = os.getpid()

    def preexec() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:   # the demo died before prctl took effect: nobody will signal
            os._exit(1)

    return preexec


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    log: Path

    def running(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 8) -> str:
        try:
            text = self.log.read_text("utf-8", errors="replace").strip().splitlines()
        except OSError:
            return ""
        return "\n".join("    " + ln for ln in text[-lines:])

    def _signal(self, sig: int) -> None:
        """Signal the node's process group (it leads its own session), so nothing it
        started survives it. Only before it is reaped: until then its pid cannot be reused."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, abort: Callable[[], bool] = lambda: False) -> None:
        """SIGINT (the nodes finish cleanly), then SIGKILL if it hangs or ``abort()`` says so."""
        if not self.running():
            return
        self._signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while self.running():
            if abort() or time.monotonic() > deadline:
                self.kill()
                return
            try:
                self.proc.wait(0.05)
            except subprocess.TimeoutExpired:
                pass

    def kill(self) -> None:
        self._signal(signal.SIGKILL)
        self.proc.wait()


def stop_children(children: Dict[str, Child]) -> bool:
    """Stop every node the demo started: the recorder first, so its files are complete.

    A signal that comes meanwhile (a second Ctrl-C) kills the nodes still running at once.
    Returns whether one came.
    """
    first = ("pose_recorder", "image_source", "pose_node")
    order = [n for n in first if n in children] + [n for n in children if n not in first]
    seen = INTERRUPTS.count
    for name in order:
        children[name].stop(abort=lambda: INTERRUPTS.count > seen)
    return INTERRUPTS.count > seen


# The Python module of each executable (for ``python -m`` from a source checkout).
MODULES = {
    launch_logic.IMAGE_SOURCE_EXECUTABLE: "apps.image_source",
    launch_logic.POSE_EXECUTABLE: "ros.pose_node.node",
    launch_logic.RECORDER_EXECUTABLE: "apps.recorder",
}


def demo_plans(video: Path, frames: int, rate_hz: float, out: Path, model: str) -> Dict[str, dict]:
    """The nodes of demo.launch.py (:func:`pose_ros.bringup.launch_logic.demo_plans`), by node name.

    No params file: the pose node runs on its defaults, plus ``model``.
    """
    args = {"video": str(video), "frames": str(frames), "rate_hz": repr(float(rate_hz)),
            "output_dir": str(out), "expected_frames": "0", "params_file": "", "model": model,
            "namespace": "", "use_sim_time": "false", "log_level": "info"}
    return {plan["name"]: plan for plan in launch_logic.demo_plans(args, None)}


def start(plan: dict, out: Path, children: Dict[str, Child]) -> Child:
    """Start the node of a launch_logic plan, its parameter values in a YAML file (safe
    for any path or string).

    Nothing is started once a signal came (:meth:`Interrupts.check`). The child goes into
    ``children`` (and logs/pids.json) right after it is spawned - the signal handler raises
    nothing, so nothing comes between the two - and the caller stops it whenever a Ctrl-C
    lands; the child dies with the demo where the platform allows (:func:`_child_preexec`).
    """
    import yaml
    INTERRUPTS.check()
    name = plan["name"]
    files = [str(p) for p in plan["parameters"] if not isinstance(p, dict)]
    values = {k: v for p in plan["parameters"] if isinstance(p, dict) for k, v in p.items()}
    params_file = out / "logs" / f"{name}.params.yaml"
    params_file.write_text(yaml.safe_dump({name: {"ros__parameters": values}}), "utf-8")
    ros_args = list(plan["arguments"])   # --ros-args --log-level ...
    if "--ros-args" not in ros_args:
        ros_args.insert(0, "--ros-args")
    cmd = command_for(plan["executable"], MODULES[plan["executable"]]) + ros_args
    for f in files + [str(params_file)]:   # in plan order: the values override the files
        cmd += ["--params-file", f]
    for src, dst in plan["remappings"]:
        cmd += ["-r", f"{src}:={dst}"]
    log = out / "logs" / f"{name}.log"
    with open(log, "w", encoding="utf-8") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        env = child_env()
        preexec = _child_preexec()
        # Own session: a Ctrl-C in the terminal reaches only the demo, which then stops
        # the nodes in the right order (the recorder first, so its files are complete).
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True, preexec_fn=preexec)
        child = children[name] = Child(name, proc, log)
        _record_pid(out, child)
    return child


def _record_pid(out: Path, child: Child) -> None:
    """logs/pids.json lists the node processes, so whoever runs the demo unattended
    (a test, CI) can clean up even if the demo itself is killed with SIGKILL."""
    path = out / "logs" / "pids.json"
    try:
        pids = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        pids = {}
    pids[child.name] = child.proc.pid
    path.write_text(json.dumps(pids), "utf-8")
