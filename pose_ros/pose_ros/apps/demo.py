"""One-command demo: a video through the whole ROS 2 pipeline, results on disk.

    python -m pose_ros.apps.demo --video PATH [--frames N] [--output DIR] [--rate-hz R]

(``make demo`` runs it on OpenCV's vtest.avi.) It checks the prerequisites first, each
with the command that fixes it, then starts three separate processes, as on a robot:

    image_source --image_raw--> pose_node --persons, image_annotated--> pose_recorder

shows progress, waits for the recorder to finish, stops the others and prints a
summary: frames published by the source / processed by the node, dropped frames,
output fps, latency percentiles and people per frame. The node keeps only the newest
frame, so when the camera is faster than inference (a CPU at ~5 fps against a 10 fps
video) frames are dropped by design and the summary says how many.

Outputs (in ``--output``): ``annotated.mp4``, ``persons.jsonl``, ``detections.jsonl`` and
``label_info.json`` (vision_msgs), ``image_markers.jsonl``, ``snapshot*.png`` and
``summary.json`` from the recorder, and ``logs/`` with each process's output.

The demo runs on its own ``ROS_DOMAIN_ID`` (unless one is set) with localhost-only
discovery, so it neither sees nor disturbs other ROS 2 systems on the network.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

import cv2

from pose_ros.bringup import launch_logic

PROG = "pose_ros.apps.demo"
EXIT_FAILED = 1
EXIT_PREREQUISITE = 2
EXIT_INTERRUPTED = 130

# How long the recorder waits without input before it finishes (the same as demo.launch.py).
RECORDER_IDLE_S = launch_logic.DEMO_RECORDER_IDLE_S
NODE_READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 5.0


class DemoError(Exception):
    """A failure with a message that says what to do; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------- prerequisites


@dataclass
class VideoInfo:
    path: Path
    fps: float
    frames: int      # 0 when the container does not say
    width: int
    height: int


def check_video(path_text: str) -> VideoInfo:
    path = Path(path_text).expanduser()
    if not path.exists():
        raise DemoError(f"video not found: {path}"
                        + (" (install the opencv-doc package, or run `make setup`)"
                           if "opencv-doc" in str(path) else ""), EXIT_PREREQUISITE)
    if not path.is_file():
        raise DemoError(f"not a video file: {path}", EXIT_PREREQUISITE)
    cap = cv2.VideoCapture(str(path))
    try:
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        if not ok or frame is None:
            raise DemoError(f"cannot read video {path}: OpenCV cannot decode it (unknown format or "
                            "missing codec)", EXIT_PREREQUISITE)
        return VideoInfo(path.resolve(), float(cap.get(cv2.CAP_PROP_FPS) or 0.0),
                         int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0), frame.shape[1], frame.shape[0])
    finally:
        cap.release()


def check_model(name: str) -> None:
    from pose_ros.models import ModelError, resolve
    if Path(name).expanduser().is_file():   # a model file: the node checks it when loading
        return
    try:
        resolve(name)
    except ModelError as e:
        raise DemoError(str(e), EXIT_PREREQUISITE) from None


def check_ros() -> None:
    try:
        import rclpy  # noqa: F401
        from sensor_msgs.msg import Image  # noqa: F401

        import pose_ros_msgs.msg  # noqa: F401
    except ImportError as e:
        raise DemoError(f"ROS 2 Python packages are not importable ({e}); run `make setup` "
                        "(or `source tools/env.sh` if it already ran)", EXIT_PREREQUISITE) from None


def check_output(path: Path) -> None:
    try:
        (path / "logs").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DemoError(f"cannot create output folder {path}: {e.strerror or e}", EXIT_PREREQUISITE) from None
    if not os.access(path, os.W_OK):
        raise DemoError(f"output folder {path} is not writable", EXIT_PREREQUISITE)


# --------------------------------------------------------------------------- processes


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


class Interrupts:
    """The demo's SIGINT/SIGTERM handler: the first one raises KeyboardInterrupt, later
    ones only count.

    So the clean-up that follows an interrupt (stopping the nodes) is never cut short by
    a second Ctrl-C, and code under :meth:`hold` - spawning a node and recording it - is
    never cut in half: a signal arriving there raises only when the block ends.
    """

    def __init__(self) -> None:
        self.count = 0          # signals received
        self._raised = False    # KeyboardInterrupt already delivered (or no longer wanted)
        self._held = 0

    def __call__(self, _signum, _frame) -> None:
        self.count += 1
        if not self._raised and not self._held:
            self._raised = True
            raise KeyboardInterrupt

    def install(self) -> None:
        """Handle SIGTERM, and SIGINT unless it is ignored (a background job's)."""
        self.count, self._raised, self._held = 0, False, 0
        signal.signal(signal.SIGTERM, self)
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, self)

    def ignore(self) -> None:
        """Ignore both from now on: at exit, Python puts its handlers back to the default,
        and a late SIGTERM would then kill the exiting demo with another status."""
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    @contextlib.contextmanager
    def hold(self, deliver: bool = True) -> Iterator[None]:
        """Run the block whole; a signal that came meanwhile raises after it when ``deliver``,
        else it counts as the interrupt already handled."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
        if self.count and not self._raised and not self._held:
            self._raised = True
            if deliver:
                raise KeyboardInterrupt


INTERRUPTS = Interrupts()


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

    Signals are held meanwhile; one that comes (a second Ctrl-C) kills the nodes still
    running at once. Returns whether one came.
    """
    first = ("pose_recorder", "image_source", "pose_node")
    order = [n for n in first if n in children] + [n for n in children if n not in first]
    seen = INTERRUPTS.count
    with INTERRUPTS.hold(deliver=False):
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

    The child goes into ``children`` (and logs/pids.json) with signals held from before
    it is spawned, so the caller stops it whenever a Ctrl-C lands; the child dies with
    the demo where the platform allows (:func:`_child_preexec`).
    """
    import yaml
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
        # Held signals: a Ctrl-C between the spawn and the bookkeeping would leave a node
        # that nobody stops.
        with INTERRUPTS.hold():
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


# --------------------------------------------------------------------------- watching


@dataclass
class Watch:
    """What the demo itself sees on the topics: progress and the node's readiness."""

    frames_in: int = 0
    frames_out: int = 0
    people_last: int = 0
    out_times: List[float] = field(default_factory=list)
    first_out: float = 0.0                 # monotonic time of the first persons message
    node_status: Optional[object] = None   # the latest pose_node DiagnosticStatus

    def average_fps(self) -> float:
        if self.frames_out < 2 or not self.out_times:
            return 0.0
        return (self.frames_out - 1) / max(self.out_times[-1] - self.first_out, 1e-6)

    def fps(self, window_s: float = 3.0) -> float:
        """Outputs per second over the last ``window_s`` (or since the first output, if later)."""
        if not self.first_out:
            return 0.0
        now = time.monotonic()
        span = min(window_s, now - self.first_out)
        recent = sum(1 for t in self.out_times if now - t <= span)
        return recent / span if span >= 0.5 else 0.0


def make_watcher(context):
    """A small rclpy node in the demo process for the progress line.

    Counts camera_info (best effort: a progress display may miss one, the summary's
    exact numbers come from the recorder) and persons, and watches /diagnostics to
    know when pose_node has loaded its model.
    """
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo

    from pose_ros_msgs.msg import PersonKeypointsArray

    watch = Watch()
    node = rclpy.create_node("pose_demo", context=context)

    def on_info(_msg) -> None:
        watch.frames_in += 1

    def on_persons(msg) -> None:
        watch.frames_out += 1
        watch.first_out = watch.first_out or time.monotonic()
        watch.people_last = len(msg.persons)
        watch.out_times.append(time.monotonic())
        del watch.out_times[:-50]

    def on_diag(msg) -> None:
        for status in msg.status:
            if status.name.endswith("pose_node: pose"):   # "<fully qualified name>: pose"
                watch.node_status = status

    # Reliable like image_source's publisher: a best-effort reader lost samples here while
    # the node kept both cores busy, and the progress line fell behind the real count.
    node.create_subscription(CameraInfo, "camera_info", on_info,
                             QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
    node.create_subscription(PersonKeypointsArray, "persons", on_persons,
                             QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)
    return node, watch


class ProgressLine:
    """One status line on stderr, redrawn in place on a terminal, printed every 5 s otherwise."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.tty = sys.stderr.isatty()
        self._last = 0.0
        self._start = time.monotonic()

    def show(self, watch: Watch, force: bool = False, final: bool = False) -> None:
        now = time.monotonic()
        if not (force or final) and now - self._last < (0.25 if self.tty else 5.0):
            return
        self._last = now
        done = watch.frames_in
        if self.total:
            frac = min(done / self.total, 1.0)
            bar = "#" * int(round(24 * frac)) + "." * (24 - int(round(24 * frac)))
            head = f"[{bar}] {done}/{self.total} frames published"
        else:
            head = f"{done} frames published"
        fps = f"{watch.average_fps():.1f} fps average" if final else f"{watch.fps():.1f} fps"
        line = (f"{head} | {watch.frames_out} processed | {fps} | "
                f"{watch.people_last} people | {now - self._start:.0f} s")
        if self.tty:
            sys.stderr.write("\r" + line + "\033[K")
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def end(self) -> None:
        if self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _spin_until(executor, predicate, timeout_s: float, must_run: List[Child], progress=None,
                watch=None) -> bool:
    """Spin the watcher until ``predicate()``; False on timeout. Any process of ``must_run``
    that exits meanwhile (whatever its status) is a failure, reported with its log."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        for c in must_run:
            if not c.running():
                raise DemoError(f"{c.name} exited with status {c.proc.returncode}; its log ends with:\n"
                                f"{c.tail()}")
        if time.monotonic() > deadline:
            return False
        executor.spin_once(timeout_sec=0.05)
        if progress is not None:
            progress.show(watch)
    return True


# --------------------------------------------------------------------------- run


def run(args: argparse.Namespace) -> int:
    if args.frames < 0:
        raise DemoError("--frames must be >= 0 (0 = the whole video)", EXIT_PREREQUISITE)
    if args.rate_hz is not None and args.rate_hz <= 0:
        raise DemoError("--rate-hz must be > 0", EXIT_PREREQUISITE)
    video = check_video(args.video)
    check_ros()
    check_model(args.model)
    out = Path(args.output).expanduser().resolve()
    check_output(out)
    (out / "logs" / "pids.json").unlink(missing_ok=True)

    rate = args.rate_hz or video.fps or 10.0
    total = args.frames if args.frames else video.frames
    if video.frames and total > video.frames:
        total = video.frames
    try:
        plans = demo_plans(video.path, args.frames, rate, out, args.model)
    except ValueError as e:   # e.g. a rate image_source does not accept
        raise DemoError(str(e), EXIT_PREREQUISITE) from None
    domain = choose_domain()
    print(f"{PROG}: {video.path.name} {video.width}x{video.height}, {video.fps:g} fps"
          f"{f', {video.frames} frames' if video.frames else ''}; playing "
          f"{total or 'all'} frames at {rate:g} Hz, model {args.model}, "
          f"ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']}{' (chosen for this run)' if domain else ''}",
          file=sys.stderr)

    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    context = Context()
    rclpy.init(context=context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    executor = SingleThreadedExecutor(context=context)
    watcher, watch = make_watcher(context)
    executor.add_node(watcher)
    children: Dict[str, Child] = {}   # filled by start() as soon as each process exists
    progress = ProgressLine(total)
    interrupted = False
    try:
        recorder = start(plans["pose_recorder"], out, children)
        # The node's input QoS is left at input_reliability: auto, which follows the camera:
        # once image_source (reliable) publishes, the node subscribes reliable. That matters:
        # measured here, best effort lost ~85 % of the 1.3 MB frames in transport (only 6
        # of 40 reached the node, output 1.3 fps); reliable delivers every frame and the
        # node's one-frame slot drops the ones it cannot keep up with (4.4 fps).
        node = start(plans["pose_node"], out, children)
        print(f"{PROG}: starting pose_node and pose_recorder (logs in {out / 'logs'})", file=sys.stderr)
        if not _spin_until(executor, lambda: watch.node_status is not None, NODE_READY_TIMEOUT_S,
                           [recorder, node]):
            raise DemoError(f"pose_node did not come up within {NODE_READY_TIMEOUT_S:.0f} s:\n{node.tail()}")
        status = watch.node_status
        if status.level == status.ERROR and "estimator" in status.message:
            raise DemoError(f"pose_node cannot run: {status.message}")
        ready = _spin_until(executor, lambda: (watcher.count_subscribers("persons") >= 2
                                               and watcher.count_subscribers("image_annotated") >= 1
                                               and watcher.count_subscribers("image_raw") >= 2),
                            30.0, [recorder, node])
        if not ready:
            raise DemoError(f"pose_recorder did not subscribe within 30 s:\n{recorder.tail()}")

        # The first frame waits for both image_raw subscribers (wait_for_subscribers):
        # pose_node, and pose_recorder, which counts the frames published.
        source = start(plans["image_source"], out, children)
        _spin_until(executor, lambda: not source.running(), 24 * 3600.0, [recorder, node], progress, watch)
        progress.show(watch, force=True)
        if source.proc.returncode != 0:
            raise DemoError(f"image_source failed (status {source.proc.returncode}):\n{source.tail()}")
        # The recorder ends itself RECORDER_IDLE_S after the last frame left the node.
        finished = _spin_until(executor, lambda: not recorder.running(), RECORDER_IDLE_S + 20.0,
                               [node], progress, watch)
        progress.show(watch, final=True)
        progress.end()
        if not finished:
            print(f"{PROG}: recorder still running; stopping it", file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True
        progress.end()
        print(f"{PROG}: interrupted; stopping the nodes", file=sys.stderr)
    finally:
        interrupted = stop_children(children) or interrupted
        executor.shutdown()
        watcher.destroy_node()
        rclpy.try_shutdown(context=context)

    recorder = children.get("pose_recorder")   # None only when interrupted before it started
    summary_path = out / "summary.json"
    if interrupted and (recorder is None or not summary_path.exists()):
        print(f"{PROG}: interrupted before anything was recorded", file=sys.stderr)
        return EXIT_INTERRUPTED
    if recorder.proc.returncode not in (0, None) and not interrupted:
        raise DemoError(f"pose_recorder exited with status {recorder.proc.returncode}:\n{recorder.tail()}")
    if not summary_path.exists():
        raise DemoError(f"the recorder wrote no {summary_path}:\n{recorder.tail()}")
    summary = json.loads(summary_path.read_text("utf-8"))
    print_summary(summary, out, rate, node_values(watch.node_status))
    return EXIT_INTERRUPTED if interrupted else 0


def node_values(status) -> Dict[str, str]:
    """KeyValues of pose_node's last diagnostics status ({} if none arrived)."""
    return {kv.key: kv.value for kv in status.values} if status is not None else {}


def print_summary(s: dict, out: Path, rate: float, node: Optional[Dict[str, str]] = None) -> None:
    lat = s.get("latency_ms") or {}
    people = s.get("people_per_frame") or {}
    frames_in, frames_out = s.get("frames_in"), s.get("frames_out", 0)
    dropped = s.get("dropped")
    lines = [
        f"frames in (published)  {frames_in if frames_in is not None else 'unknown'} at {rate:g} Hz",
        f"frames out (persons)   {frames_out}",
        (f"dropped                {dropped} ({100.0 * dropped / frames_in:.0f} %): the node keeps only "
         "the newest frame when inference is slower than the camera" if frames_in and dropped is not None
         else "dropped                unknown"),
        f"output fps             {s['output_fps']:.2f}" if s.get("output_fps") else "output fps             n/a",
        (f"latency stamp->disk    p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms, max {lat['max']:.0f} ms"
         if lat else "latency                n/a"),
        (f"people per frame       mean {people['mean']:.2f}, max {people['max']}, "
         f"{people['frames_with_people']}/{frames_out} frames with people" if people else
         "people per frame       n/a"),
        *([f"pose_node (last 1 Hz diagnostics)  inference p50 {node.get('inference_ms', 'n/a')} ms, "
           f"received {node.get('frames_received', '?')}, processed {node.get('frames_processed', '?')}, "
           f"replaced by a newer frame {node.get('frames_dropped', '?')}"] if node else []),
        *([f"keypoint jitter        {node['jitter_raw_px']} px raw -> {node['jitter_smoothed_px']} px smoothed "
           "(mean second difference of a tracked keypoint, One Euro filter)"]
          if node and "jitter_raw_px" in node else []),
        f"outputs                {out}/annotated.mp4 ({s.get('annotated_frames', 0)} frames), persons.jsonl, "
        + ("detections.jsonl, label_info.json, " if (s.get("detections") or {}).get("file") else "")
        + "image_markers.jsonl, snapshot.png, summary.json",
    ]
    print(f"{PROG}: done\n  " + "\n  ".join(lines))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m {PROG}", description=__doc__.split("\n\n")[0])
    p.add_argument("--video", required=True, help="video file to play through the pipeline")
    p.add_argument("--frames", type=int, default=0, help="frames to publish; 0 = the whole video")
    p.add_argument("--output", default="demo_output", help="output folder (default %(default)s)")
    p.add_argument("--rate-hz", type=float, help="publishing rate; default the video's own fps")
    p.add_argument("--model", default="mobilenet_thin", help="model name (default %(default)s)")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    INTERRUPTS.install()   # SIGTERM stops the nodes the same way as Ctrl-C does
    try:
        return run(args)
    except DemoError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    status = main()
    INTERRUPTS.ignore()   # the nodes are gone; the interpreter only tears down
    sys.exit(status)
