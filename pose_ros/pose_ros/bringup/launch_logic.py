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
so the pose node never idles alone after its input is gone. Pose node plans carry
``managed``: the launch file starts it as a ``launch_ros.actions.LifecycleNode`` (which then
has ``namespace`` too) that waits unconfigured for a lifecycle manager.

Everything is decided before the launch file returns a single action, so a refusal (a
missing rviz2, a params file that does not exist) starts nothing and orphans nothing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from pose_ros.bringup import dds_profile
from pose_ros.bringup.launch_args import (  # noqa: F401 - the launch files' one import
    LOG_LEVELS, log_arguments, managed_of, namespace_of, params_file_of, parse_bool, parse_float, parse_int,
    camera_names_of, pose_overrides, topic_list, topic_of, use_sim_time)
from pose_ros.bringup.launch_args import _get
from pose_ros.bringup.launch_actions import (  # noqa: F401 - the launch files' one import
    ALWAYS, ON_FAILURE, LaunchFailed, exit_policy, exit_reason, node_kwargs, on_exit_handler, ours, string_parameter)

PACKAGE = "pose_ros"
POSE_EXECUTABLE = "pose_node"
IMAGE_SOURCE_EXECUTABLE = "image_source"
RECORDER_EXECUTABLE = "pose_recorder"
USB_CAM_PACKAGE = "usb_cam"
USB_CAM_EXECUTABLE = "usb_cam_node_exe"
RVIZ_PACKAGE = "rviz2"
CAMERA_FRAME = "camera_optical_frame"
# The demo pipeline (demo.launch.py and ``python -m pose_ros.apps.demo`` alike): the camera holds
# its first frame until both image_raw subscribers are up - the pose node and the recorder,
# which counts the frames published - so the start is not lost and the count is exact.
DEMO_WAIT_FOR_SUBSCRIBERS = 2
# The recorder finishes this long after its last input. The last frame leaves the node one
# inference after the source stops: ~0.3 s, ~2 s on a busy 2-core machine.
DEMO_RECORDER_IDLE_S = 3.0
# ... and gives up this long after its start if nothing came at all (the pose node loads its
# model first: seconds on a busy 2-core machine).
DEMO_RECORDER_START_S = 60.0

# The launch arguments each launch file declares; the plan functions read exactly these.
COMMON_ARGS = ("namespace", "use_sim_time", "log_level")
POSE_OVERRIDE_ARGS = ("estimator", "model", "runtime", "device", "input_width", "input_height",
                      "heatmap_threshold", "paf_threshold")
WEBCAM_ARGS = ("video_device", "image_width", "image_height", "framerate", "pixel_format",
               "camera_name", "params_file", "rviz", "managed") + POSE_OVERRIDE_ARGS + COMMON_ARGS
POSE_ARGS = ("image", "params_file", "managed") + COMMON_ARGS
RGBD_ARGS = ("camera", "image", "depth", "camera_info", "params_file", "rviz", "managed") + COMMON_ARGS
MULTI_CAMERA_ARGS = ("images", "names", "depths", "params_file", "managed") + COMMON_ARGS
DEMO_ARGS = ("video", "frames", "rate_hz", "output_dir", "expected_frames", "params_file",
             "model") + COMMON_ARGS
LAUNCH_FILE_ARGS = {
    "webcam.launch.py": WEBCAM_ARGS,
    "pose.launch.py": POSE_ARGS,
    "demo.launch.py": DEMO_ARGS,
    "rgbd.launch.py": RGBD_ARGS,
    "multi_camera.launch.py": MULTI_CAMERA_ARGS,
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

Plan = Dict[str, Any]   # the keyword arguments of launch_ros.actions.Node, plus message and shutdown_on_exit


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
            "arguments": log_arguments(args, "camera"),
            "message": None,
            "shutdown_on_exit": exit_policy(_camera_exit_reason(USB_CAM_EXECUTABLE, device)),
            **({"additional_env": dict(camera_env)} if camera_env else {}),
        }
    return ours({
        "package": PACKAGE,
        "executable": IMAGE_SOURCE_EXECUTABLE,
        "name": "camera",
        "parameters": [dict(common, source=device, width=width, height=height, rate_hz=framerate,
                            frame_id=CAMERA_FRAME)],
        "remappings": [],
        "arguments": log_arguments(args, "camera"),
        "message": (f"usb_cam is not installed (apt install ros-$ROS_DISTRO-usb-cam); "
                    f"using pose_ros image_source on {device} instead "
                    f"(pixel_format={pixel_format!r} and camera_name={camera_name!r} are ignored)"),
        "shutdown_on_exit": exit_policy(_camera_exit_reason(IMAGE_SOURCE_EXECUTABLE, device)),
    })


# --------------------------------------------------------------------------- pose node


def pose_node_parameters(args: Mapping[str, str], params_file: Optional[str]) -> List[Any]:
    """``parameters=`` of the pose node: the params file, then launch-argument overrides
    (``autostart: false`` with ``managed:=true``)."""
    params: List[Any] = []
    if params_file:
        params.append(params_file)
    overrides = dict(pose_overrides(args), use_sim_time=use_sim_time(args))
    if managed_of(args):
        overrides["autostart"] = False
    params.append(overrides)
    return params


def pose_node_plan(args: Mapping[str, str], params_file: Optional[str], image_topic: str = "image_raw") -> Plan:
    """The pose node; with ``managed:=true`` a lifecycle node left unconfigured.

    Managed, the launch file starts a ``LifecycleNode`` action, so launch (and event handlers
    a user adds) can target it with ``ChangeState`` events. The node's own ``autostart``
    parameter does the rest: launch_ros' ``autostart`` argument exists only on newer
    distributions (not Humble). ``LifecycleNode`` requires ``namespace`` on every distribution;
    "" keeps the one ``PushRosNamespace`` gives, as for ``Node``.
    """
    topic = topic_of("image", image_topic)
    managed = managed_of(args)
    plan = ours({
        "package": PACKAGE,
        "executable": POSE_EXECUTABLE,
        "name": "pose_node",
        "parameters": pose_node_parameters(args, params_file),
        # Both transports, so image_transport:=compressed in the params file just works.
        "remappings": [("image", topic), ("image/compressed", f"{topic}/compressed")],
        "arguments": log_arguments(args, "pose_node"),
        "message": None,   # managed: the node itself logs how to configure it, under its full name
        # Without the pose node a launch of pose_ros has no purpose: it must not run on as a
        # camera alone, nor hang (the demo's recorder would wait for frames forever).
        "shutdown_on_exit": exit_policy("the pose node exited; see its log above"),
        "managed": managed,
    })
    if managed:
        plan["namespace"] = ""
    return plan


def multi_camera_plan(args: Mapping[str, str], params_file: Optional[str]) -> Plan:
    """One pose node, one model, for every topic in ``images`` (``cameras`` parameter).

    Camera ``front`` on ``/front/color/image_raw``: its ``front/image`` (and
    ``front/image/compressed``) is remapped onto that topic and ``front/camera_info`` onto the
    camera_info beside it (``/front/color/camera_info``, as image_transport pairs them);
    ``depths``, when given, one per image, feeds ``front/depth``. The outputs stay under the
    node's namespace: ``front/persons``, ``front/image_annotated`` ...
    """
    images = topic_list("images", _get(args, "images"))
    if not images:
        raise ValueError("launch argument 'images' needs at least one image topic, e.g. "
                         "images:=/front/image_raw,/rear/image_raw")
    names = camera_names_of(images, [n for n in re.split(r"[,\s\[\]]+", _get(args, "names")) if n])
    depths = topic_list("depths", _get(args, "depths"))
    if depths and len(depths) != len(images):
        raise ValueError(f"launch argument 'depths' has {len(depths)} topics for {len(images)} images "
                         "(give one per image, or none)")
    plan = pose_node_plan(args, params_file, images[0])
    plan["parameters"][-1]["cameras"] = names
    remaps = []
    for i, (name, image) in enumerate(zip(names, images)):
        remaps += [(f"{name}/image", image), (f"{name}/image/compressed", f"{image}/compressed"),
                   (f"{name}/camera_info", f"{image.rsplit('/', 1)[0]}/camera_info" if "/" in image.lstrip("/")
                    else "camera_info")]
        if depths:
            remaps.append((f"{name}/depth", depths[i]))
    plan["remappings"] = remaps
    plan["message"] = "one pose node for " + ", ".join(f"{n} ({t})" for n, t in zip(names, images))
    return plan


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
    source = ours({
        "package": PACKAGE,
        "executable": IMAGE_SOURCE_EXECUTABLE,
        "name": "image_source",
        "parameters": [{"source": video, "rate_hz": rate_hz, "max_frames": frames, "loop": False,
                        "wait_for_subscribers": DEMO_WAIT_FOR_SUBSCRIBERS, "frame_id": CAMERA_FRAME,
                        "use_sim_time": sim}],
        "remappings": [],
        "arguments": log_arguments(args, "image_source"),
        "message": None,
        # A normal end (the video played) lets the recorder finish; a failure (no such file)
        # ends the demo at once instead of leaving the pose node and the recorder idling.
        "shutdown_on_exit": exit_policy(f"image_source could not play {video}", ON_FAILURE),
    })
    pose = pose_node_plan(args, params_file, "image_raw")
    recorder = ours({
        "package": PACKAGE,
        "executable": RECORDER_EXECUTABLE,
        "name": "pose_recorder",
        "parameters": [{"output_dir": output_dir, "expected_frames": expected,
                        "idle_timeout_s": DEMO_RECORDER_IDLE_S, "start_timeout_s": DEMO_RECORDER_START_S,
                        "use_sim_time": sim}],
        "remappings": [],
        "arguments": log_arguments(args, "pose_recorder"),
        "message": f"demo: recording {video} into {output_dir}",
        "shutdown_on_exit": exit_policy("pose_recorder finished"),
    })
    return [source, pose, recorder]
