"""What the launch files start, decided by plain functions.

The launch files only declare their arguments and turn the plans returned here into
``launch_ros`` actions inside an ``OpaqueFunction``; every decision (which camera driver,
which parameters, which remappings) and every argument check lives here, where it is
tested without ``launch`` installed. Arguments arrive as the strings launch hands over
(``context.launch_configurations``); a bad value raises ``ValueError`` naming the argument.

A *plan* is a dict with the keyword arguments of ``launch_ros.actions.Node`` (package,
executable, name, parameters, remappings, arguments) plus ``message``: a line to log
(e.g. why a fallback was chosen), or None. Camera and recorder plans also carry
``shutdown_on_exit``: the reason the launch file gives ``Shutdown`` once that node exits,
so the pose node never idles alone after its input is gone.

Everything is decided before the launch file returns a single action, so a refusal (a
missing rviz2, a params file that does not exist) starts nothing and orphans nothing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from pose_ros.bringup import dds_profile
from pose_ros.core.input_size import MAX_INPUT_SIDE, MIN_INPUT_SIDE, NET_STRIDE, parse_flag

PACKAGE = "pose_ros"
POSE_EXECUTABLE = "pose_node"
IMAGE_SOURCE_EXECUTABLE = "image_source"
RECORDER_EXECUTABLE = "pose_recorder"
USB_CAM_PACKAGE = "usb_cam"
USB_CAM_EXECUTABLE = "usb_cam_node_exe"
RVIZ_PACKAGE = "rviz2"
CAMERA_FRAME = "camera_optical_frame"
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")
# The demo pipeline (demo.launch.py and ``python -m pose_ros.apps.demo`` alike): the camera holds
# its first frame until both image_raw subscribers are up - the pose node and the recorder,
# which counts the frames published - so the start is not lost and the count is exact.
DEMO_WAIT_FOR_SUBSCRIBERS = 2
# The recorder finishes this long after its last input. The last frame leaves the node one
# inference after the source stops: ~0.3 s, ~2 s on a busy 2-core machine.
DEMO_RECORDER_IDLE_S = 3.0

# The launch arguments each launch file declares; the plan functions read exactly these.
COMMON_ARGS = ("namespace", "use_sim_time", "log_level")
POSE_OVERRIDE_ARGS = ("estimator", "model", "runtime", "device", "input_width", "input_height",
                      "heatmap_threshold", "paf_threshold")
WEBCAM_ARGS = ("video_device", "image_width", "image_height", "framerate", "pixel_format",
               "camera_name", "params_file", "rviz") + POSE_OVERRIDE_ARGS + COMMON_ARGS
POSE_ARGS = ("image", "params_file") + COMMON_ARGS
RGBD_ARGS = ("camera", "image", "depth", "camera_info", "params_file", "rviz") + COMMON_ARGS
DEMO_ARGS = ("video", "frames", "rate_hz", "output_dir", "expected_frames", "params_file",
             "model") + COMMON_ARGS
LAUNCH_FILE_ARGS = {
    "webcam.launch.py": WEBCAM_ARGS,
    "pose.launch.py": POSE_ARGS,
    "demo.launch.py": DEMO_ARGS,
    "rgbd.launch.py": RGBD_ARGS,
}

# Colour image, depth aligned to it, and the colour camera_info of common RGB-D drivers
# at their defaults. realsense2_camera 4.x: `ros2 launch realsense2_camera rs_launch.py
# align_depth.enable:=true` (camera_namespace and camera_name both "camera").
# depthai_ros_driver: `ros2 launch depthai_ros_driver camera.launch.py` (node "oak"; the
# stereo depth is aligned to the RGB camera by default, stereo.i_align_depth: true).
# image_source: pose_ros' own replay with depth_source (see image_source.py).
RGBD_CAMERAS: Dict[str, Dict[str, str]] = {
    "realsense": {"image": "/camera/camera/color/image_raw",
                  "depth": "/camera/camera/aligned_depth_to_color/image_raw",
                  "camera_info": "/camera/camera/color/camera_info"},
    "oak": {"image": "/oak/rgb/image_raw", "depth": "/oak/stereo/image_raw",
            "camera_info": "/oak/rgb/camera_info"},
    "image_source": {"image": "image_raw", "depth": "depth/image_raw", "camera_info": "camera_info"},
}

_NAME_TOKEN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOPIC = re.compile(r"^~?/?[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")

Plan = Dict[str, Any]


# --------------------------------------------------------------------------- arguments


def _get(args: Mapping[str, str], name: str) -> str:
    if name not in args:
        raise ValueError(f"launch argument '{name}' is missing")
    return str(args[name]).strip()


def parse_bool(name: str, value: str) -> bool:
    try:
        return parse_flag(value)
    except ValueError as e:
        raise ValueError(f"launch argument '{name}' {e}") from None


def parse_int(name: str, value: str, low: Optional[int] = None, high: Optional[int] = None) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"launch argument '{name}' must be an integer, got {value!r}") from None
    _check_range(name, number, low, high)
    return number


def parse_float(name: str, value: str, low: Optional[float] = None, high: Optional[float] = None) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ValueError(f"launch argument '{name}' must be a number, got {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"launch argument '{name}' must be a finite number, got {value!r}")
    _check_range(name, number, low, high)
    return number


def _check_range(name: str, number: float, low: Optional[float], high: Optional[float]) -> None:
    if low is not None and number < low:
        raise ValueError(f"launch argument '{name}' must be >= {low}, got {number}")
    if high is not None and number > high:
        raise ValueError(f"launch argument '{name}' must be <= {high}, got {number}")


def namespace_of(args: Mapping[str, str]) -> str:
    """The validated ``namespace`` argument, absolute ('/robot1'), or '' for none."""
    ns = _get(args, "namespace").strip("/")
    if not ns:
        return ""
    if not all(_NAME_TOKEN.match(tok) for tok in ns.split("/")):
        raise ValueError(f"launch argument 'namespace' is not a valid ROS namespace: {ns!r} "
                         "(letters, digits and _, tokens separated by /, not starting with a digit)")
    return "/" + ns


def topic_of(name: str, value: str) -> str:
    topic = str(value).strip()
    if not _TOPIC.match(topic):
        raise ValueError(f"launch argument '{name}' is not a valid topic name: {value!r}")
    return topic


def log_arguments(args: Mapping[str, str]) -> List[str]:
    """Node command-line arguments setting the logger level (the same on Humble and Jazzy)."""
    level = _get(args, "log_level").lower()
    if level not in LOG_LEVELS:
        raise ValueError(f"launch argument 'log_level' must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    return ["--ros-args", "--log-level", level]


def use_sim_time(args: Mapping[str, str]) -> bool:
    return parse_bool("use_sim_time", _get(args, "use_sim_time"))


def node_kwargs(plan: Plan, as_string: Optional[Callable[[str], Any]] = None) -> Dict[str, Any]:
    """``launch_ros.actions.Node`` keyword arguments of a plan (``message`` and
    ``shutdown_on_exit`` removed: the launch file turns the latter into ``on_exit``).

    Older launch_ros (Humble) reads plain string parameter values as YAML, so a camera
    name "123" or a path "true" would change type; launch files pass
    :func:`string_parameter` as ``as_string`` to pin every string value.
    """
    kwargs = {k: v for k, v in plan.items() if k not in ("message", "shutdown_on_exit")}
    if as_string is not None:
        kwargs["parameters"] = [
            {k: as_string(v) if isinstance(v, str) else v for k, v in p.items()} if isinstance(p, dict) else p
            for p in plan["parameters"]]
    kwargs["output"] = "screen"
    return kwargs


def string_parameter(value: str) -> Any:
    """``value`` as a launch parameter that stays a string: the launch files' ``as_string``.

    ``launch_ros`` is imported here, not at module level, so this module (and its tests)
    work without ``launch`` installed.
    """
    from launch_ros.parameter_descriptions import ParameterValue

    return ParameterValue(value, value_type=str)


# --------------------------------------------------------------------------- camera


def package_available(package: str) -> bool:
    """True when ``package`` is installed in the sourced ROS environment (ament index)."""
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    try:
        get_package_share_directory(package)
    except PackageNotFoundError:
        return False
    return True


def usb_cam_available() -> bool:
    """True when the ``usb_cam`` package is installed in the sourced ROS environment."""
    return package_available(USB_CAM_PACKAGE)


def rviz_available() -> bool:
    """True when ``rviz2`` is installed in the sourced ROS environment."""
    return package_available(RVIZ_PACKAGE)


def params_file_of(args: Mapping[str, str]) -> Optional[str]:
    """The ``params_file`` argument: None when empty (the node's built-in defaults), else the
    path of an existing YAML file of parameters.

    launch_ros only warns about a missing file and the node then runs on its defaults, which
    hides a typo; this refuses it, and a file that is not a YAML mapping, by name.
    """
    text = _get(args, "params_file")
    if not text:
        return None
    path = Path(text).expanduser()
    if not path.is_file():
        raise ValueError(f"launch argument 'params_file': {text!r} does not exist or is not a file "
                         "(give a YAML parameters file, or params_file:='' for the built-in defaults)")
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"launch argument 'params_file': cannot read {text!r} as YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"launch argument 'params_file': {text!r} is not a YAML mapping of node names "
                         "to ros__parameters")
    return str(path)


def _camera_exit_reason(executable: str, device: str) -> str:
    return (f"the camera ({executable} on {device}) exited: no such device, the device was "
            "unplugged or busy, or the video ended; see its log above")


LARGE_IMAGES_PROFILE = dds_profile.PROFILE_NAME


def camera_environment(profile_path: str, environ: Optional[Mapping[str, str]] = None) -> Tuple[Dict[str, str], str]:
    """What the camera driver's process gets added to its environment (the Fast DDS
    shared-memory profile at ``profile_path``, unless Fast DDS is configured), and why."""
    profile = Path(profile_path)
    return dds_profile.large_image_env(os.environ if environ is None else environ,
                                       profile if profile.is_file() else None)


def camera_plan(args: Mapping[str, str], usb_cam_installed: bool,
                camera_env: Optional[Mapping[str, str]] = None) -> Plan:
    """The camera node: usb_cam when installed, else pose_ros' own ``image_source``.

    Both publish ``image_raw`` and ``camera_info`` in the launch namespace with frame
    ``camera_optical_frame``; ``pixel_format`` and ``camera_name`` only mean something to
    usb_cam (image_source reads through OpenCV, which negotiates the format itself). When the
    camera exits (no device, a video source that ended) the launch ends with the reason,
    instead of leaving the pose node idling alone. ``camera_env`` (from
    :func:`pose_ros.bringup.dds_profile.large_image_env`) goes into usb_cam's environment: the image
    publisher is the process that needs the shared-memory profile; image_source applies it itself.
    """
    device = _get(args, "video_device")
    if not device:
        raise ValueError("launch argument 'video_device' is empty: give /dev/video0 or an index")
    width = parse_int("image_width", _get(args, "image_width"), 0, 16384)
    height = parse_int("image_height", _get(args, "image_height"), 0, 16384)
    framerate = parse_float("framerate", _get(args, "framerate"), 0.0, 1000.0)
    pixel_format = _get(args, "pixel_format")
    camera_name = _get(args, "camera_name")
    common = {"use_sim_time": use_sim_time(args)}
    if usb_cam_installed:
        if device.isdigit():  # usb_cam wants a device path
            device = f"/dev/video{device}"
        if width == 0 or height == 0 or framerate == 0:
            raise ValueError("usb_cam needs explicit image_width, image_height and framerate (> 0)")
        return {
            "package": USB_CAM_PACKAGE,
            "executable": USB_CAM_EXECUTABLE,
            "name": "camera",
            "parameters": [dict(common, video_device=device, image_width=width, image_height=height,
                                framerate=framerate, pixel_format=pixel_format,
                                camera_name=camera_name, frame_id=CAMERA_FRAME)],
            "remappings": [],
            "arguments": log_arguments(args),
            "message": None,
            "shutdown_on_exit": _camera_exit_reason(USB_CAM_EXECUTABLE, device),
            **({"additional_env": dict(camera_env)} if camera_env else {}),
        }
    return {
        "package": PACKAGE,
        "executable": IMAGE_SOURCE_EXECUTABLE,
        "name": "camera",
        "parameters": [dict(common, source=device, width=width, height=height, rate_hz=framerate,
                            frame_id=CAMERA_FRAME)],
        "remappings": [],
        "arguments": log_arguments(args),
        "message": (f"usb_cam is not installed (apt install ros-$ROS_DISTRO-usb-cam); "
                    f"using pose_ros image_source on {device} instead "
                    f"(pixel_format={pixel_format!r} and camera_name={camera_name!r} are ignored)"),
        "shutdown_on_exit": _camera_exit_reason(IMAGE_SOURCE_EXECUTABLE, device),
    }


# --------------------------------------------------------------------------- pose node


def pose_overrides(args: Mapping[str, str]) -> Dict[str, Any]:
    """Pose-node parameters given as launch arguments; empty ones defer to the params file."""
    parsers = {
        "estimator": lambda n, v: v,
        "model": lambda n, v: v,
        "runtime": lambda n, v: v,
        "device": lambda n, v: v,
        # the pose node's MIN_INPUT_SIDE / MAX_INPUT_SIDE (that module needs rclpy)
        "input_width": lambda n, v: parse_int(n, v, MIN_INPUT_SIDE, MAX_INPUT_SIDE),
        "input_height": lambda n, v: parse_int(n, v, MIN_INPUT_SIDE, MAX_INPUT_SIDE),
        "heatmap_threshold": lambda n, v: parse_float(n, v, 0.0, 1.0),
        "paf_threshold": lambda n, v: parse_float(n, v, -1.0, 1.0),
    }
    out: Dict[str, Any] = {}
    for name, parse in parsers.items():
        value = str(args.get(name, "")).strip()
        if value:
            out[name] = parse(name, value)
    for name in ("input_width", "input_height"):
        if name in out and out[name] % NET_STRIDE:
            raise ValueError(f"launch argument '{name}' must be a multiple of {NET_STRIDE}, "
                             f"got {out[name]}")
    return out


def pose_node_parameters(args: Mapping[str, str], params_file: Optional[str]) -> List[Any]:
    """``parameters=`` of the pose node: the params file, then launch-argument overrides."""
    params: List[Any] = []
    if params_file:
        params.append(params_file)
    params.append(dict(pose_overrides(args), use_sim_time=use_sim_time(args)))
    return params


def pose_node_plan(args: Mapping[str, str], params_file: Optional[str], image_topic: str = "image_raw") -> Plan:
    topic = topic_of("image", image_topic)
    return {
        "package": PACKAGE,
        "executable": POSE_EXECUTABLE,
        "name": "pose_node",
        "parameters": pose_node_parameters(args, params_file),
        # Both transports, so image_transport:=compressed in the params file just works.
        "remappings": [("image", topic), ("image/compressed", f"{topic}/compressed")],
        "arguments": log_arguments(args),
        "message": None,
    }


def rgbd_topics(args: Mapping[str, str]) -> Dict[str, str]:
    """The colour, depth and camera_info topics: the ``camera`` preset, where the
    ``image``/``depth``/``camera_info`` arguments are empty, else those arguments."""
    camera = _get(args, "camera").lower()
    if camera not in RGBD_CAMERAS:
        raise ValueError(f"launch argument 'camera' must be one of {', '.join(RGBD_CAMERAS)}, got {camera!r}")
    topics = dict(RGBD_CAMERAS[camera])
    for name in topics:
        given = _get(args, name)
        topics[name] = topic_of(name, given or topics[name])
    return topics


def rgbd_pose_plan(args: Mapping[str, str], params_file: Optional[str]) -> Plan:
    """The pose node on an RGB-D camera: colour in ``image``, aligned depth in ``depth``,
    the colour camera_info in ``camera_info`` (3D keypoints, persons_3d, persons_markers)."""
    topics = rgbd_topics(args)
    plan = pose_node_plan(args, params_file, topics["image"])
    plan["remappings"] = plan["remappings"] + [("depth", topics["depth"]), ("camera_info", topics["camera_info"])]
    return plan


def rgbd_rviz_plan(args: Mapping[str, str], config_path: str, rviz_installed: bool) -> Optional[Plan]:
    """RViz as :func:`rviz_plan`, its camera image display on the RGB-D colour topic."""
    plan = rviz_plan(args, config_path, rviz_installed)
    if plan is None:
        return None
    image = rgbd_topics(args)["image"]
    ns = namespace_of(args)
    target = image if image.startswith("/") else f"{ns}/{image}"
    plan["remappings"] = [r for r in plan["remappings"] if r[0] != "/image_raw"]
    if target != "/image_raw":
        plan["remappings"].append(("/image_raw", target))
    return plan


# --------------------------------------------------------------------------- rviz


def rviz_plan(args: Mapping[str, str], config_path: str, rviz_installed: bool) -> Optional[Plan]:
    """RViz2 with the shipped config when ``rviz`` is true, else None.

    Without rviz2 installed, ``rviz:=true`` is refused here, before the launch starts any
    node (a missing executable fails only after the camera and the pose node were spawned,
    and orphans them). The config names absolute topics (``/image_raw``,
    ``/image_annotated``); RViz stays outside the namespace and those topics are remapped
    into it instead.
    """
    if not parse_bool("rviz", _get(args, "rviz")):
        return None
    if not rviz_installed:
        raise ValueError("launch argument 'rviz' is true but rviz2 is not installed: "
                         "apt install ros-$ROS_DISTRO-rviz2, or launch without rviz:=true "
                         "(nothing was started)")
    ns = namespace_of(args)
    remaps: List[Tuple[str, str]] = []
    if ns:
        remaps = [(f"/{t}", f"{ns}/{t}") for t in ("image_raw", "image_annotated", "camera_info",
                                                    "persons_markers")]
    return {
        "package": "rviz2",
        "executable": "rviz2",
        "name": "rviz2",
        "parameters": [{"use_sim_time": use_sim_time(args)}],
        "remappings": remaps,
        "arguments": ["-d", config_path],
        "message": None,
    }


# --------------------------------------------------------------------------- demo


def demo_plans(args: Mapping[str, str], params_file: Optional[str]) -> List[Plan]:
    """image_source playing ``video`` once -> pose node -> recorder (writes ``output_dir``).

    ``model`` (empty = the params file's) is read by :func:`pose_overrides`.
    """
    video = _get(args, "video")
    if not video:
        raise ValueError("launch argument 'video' is empty")
    frames = parse_int("frames", _get(args, "frames"), 0)
    rate_hz = parse_float("rate_hz", _get(args, "rate_hz"), 0.0, 1000.0)
    expected = parse_int("expected_frames", _get(args, "expected_frames"), 0)
    output_dir = _get(args, "output_dir")
    if not output_dir:
        raise ValueError("launch argument 'output_dir' is empty")
    sim = use_sim_time(args)
    logs = log_arguments(args)
    source = {
        "package": PACKAGE,
        "executable": IMAGE_SOURCE_EXECUTABLE,
        "name": "image_source",
        "parameters": [{"source": video, "rate_hz": rate_hz, "max_frames": frames, "loop": False,
                        "wait_for_subscribers": DEMO_WAIT_FOR_SUBSCRIBERS, "frame_id": CAMERA_FRAME,
                        "use_sim_time": sim}],
        "remappings": [],
        "arguments": logs,
        "message": None,
    }
    pose = pose_node_plan(args, params_file, "image_raw")
    recorder = {
        "package": PACKAGE,
        "executable": RECORDER_EXECUTABLE,
        "name": "pose_recorder",
        "parameters": [{"output_dir": output_dir, "expected_frames": expected,
                        "idle_timeout_s": DEMO_RECORDER_IDLE_S, "use_sim_time": sim}],
        "remappings": [],
        "arguments": logs,
        "message": f"demo: recording {video} into {output_dir}",
        "shutdown_on_exit": "pose_recorder finished",
    }
    return [source, pose, recorder]
