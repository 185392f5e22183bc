"""launch_logic: which nodes the launch files start, with which parameters, and how bad
launch arguments are reported. Plain dicts in, plain dicts out: no `launch` needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pose_ros.bringup import launch_logic as ll

PARAMS_FILE = "/opt/share/pose_ros/config/pose.yaml"
MODEL_FILE = str(Path(__file__).resolve())   # model:= takes any existing file


def webcam_args(**over: str) -> dict:
    """The webcam launch file's arguments at their declared defaults (strings, as launch gives them)."""
    args = {
        "video_device": "/dev/video0", "image_width": "640", "image_height": "480", "framerate": "30.0",
        "pixel_format": "yuyv2rgb", "camera_name": "webcam", "params_file": PARAMS_FILE,
        "estimator": "", "model": "", "runtime": "", "device": "", "input_width": "", "input_height": "",
        "heatmap_threshold": "",
        "paf_threshold": "", "namespace": "", "use_sim_time": "false", "log_level": "info", "rviz": "false",
        "managed": "false",
    }
    assert set(args) == set(ll.WEBCAM_ARGS)
    args.update(over)
    return args


def demo_args(**over: str) -> dict:
    args = {"video": "/data/clip.avi", "frames": "0", "rate_hz": "0", "output_dir": "demo_output",
            "expected_frames": "0", "params_file": PARAMS_FILE, "model": "", "namespace": "",
            "use_sim_time": "false", "log_level": "info"}
    assert set(args) == set(ll.DEMO_ARGS)
    args.update(over)
    return args


# --------------------------------------------------------------------------- camera


def test_usb_cam_is_used_with_its_documented_parameters_when_installed() -> None:
    plan = ll.camera_plan(webcam_args(image_width="1280", image_height="720", framerate="15",
                                      pixel_format="mjpeg2rgb", camera_name="front"), True)
    assert (plan["package"], plan["executable"]) == ("usb_cam", "usb_cam_node_exe")
    assert plan["message"] is None
    params = plan["parameters"][0]
    assert params == {"video_device": "/dev/video0", "image_width": 1280, "image_height": 720,
                      "framerate": 15.0, "pixel_format": "mjpeg2rgb", "camera_name": "front",
                      "frame_id": "camera_optical_frame", "use_sim_time": False}
    assert isinstance(params["framerate"], float)  # usb_cam declares a double
    assert plan["arguments"] == ["--ros-args", "--log-level", "camera:=info"]


def test_usb_cam_gets_a_device_path_for_a_camera_index() -> None:
    plan = ll.camera_plan(webcam_args(video_device="2"), True)
    assert plan["parameters"][0]["video_device"] == "/dev/video2"


def test_usb_cam_gets_the_large_image_environment_and_image_source_does_not_need_it() -> None:
    """usb_cam publishes the images, so its process needs the shared-memory profile;
    image_source applies it itself (pose_ros.bringup.dds_profile)."""
    env = {"FASTRTPS_DEFAULT_PROFILES_FILE": "/opt/p.xml", "FASTDDS_DEFAULT_PROFILES_FILE": "/opt/p.xml"}
    usb_cam = ll.camera_plan(webcam_args(), True, env)
    assert ll.node_kwargs(usb_cam)["additional_env"] == env
    # image_source only gets the flag that ties it to the launch (it applies the profile itself)
    assert ll.camera_plan(webcam_args(), False, env)["additional_env"] == {"POSE_ROS_DIE_WITH_PARENT": "1"}
    assert "additional_env" not in ll.camera_plan(webcam_args(), True, {})  # the user's own config wins


def test_camera_environment_names_the_shipped_profile_or_says_why_not(tmp_path) -> None:
    profile = tmp_path / ll.LARGE_IMAGES_PROFILE
    profile.write_text("<profiles/>")
    env, why = ll.camera_environment(str(profile), {})
    assert env == {"FASTRTPS_DEFAULT_PROFILES_FILE": str(profile), "FASTDDS_DEFAULT_PROFILES_FILE": str(profile)}
    assert ll.camera_environment(str(profile), {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"})[0] == {}
    env, why = ll.camera_environment(str(tmp_path / "missing.xml"), {})
    assert env == {} and "not found" in why


def test_image_source_replaces_a_missing_usb_cam_and_says_so() -> None:
    plan = ll.camera_plan(webcam_args(video_device="/dev/video1", framerate="20", use_sim_time="true"), False)
    assert (plan["package"], plan["executable"]) == ("pose_ros", "image_source")
    assert plan["parameters"][0] == {"source": "/dev/video1", "width": 640, "height": 480, "rate_hz": 20.0,
                                     "frame_id": "camera_optical_frame", "use_sim_time": True}
    assert "usb_cam is not installed" in plan["message"] and "/dev/video1" in plan["message"]
    assert "pixel_format" in plan["message"]  # tells the user which arguments now do nothing


def test_usb_cam_available_matches_the_ament_index(tmp_path: Path, monkeypatch) -> None:
    # A real ament prefix: usb_cam is "installed" exactly when its marker file exists.
    index = tmp_path / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True)
    (tmp_path / "share" / "usb_cam").mkdir()
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))
    assert not ll.usb_cam_available()
    (index / "usb_cam").write_text("")
    assert ll.usb_cam_available()


@pytest.mark.parametrize("name, value, words", [
    ("image_width", "wide", "'image_width' must be an integer"),
    ("image_height", "-1", "'image_height' must be >= 0"),
    ("framerate", "fast", "'framerate' must be a number"),
    ("framerate", "nan", "'framerate' must be a finite number"),
    ("video_device", "", "'video_device' is empty"),
    ("use_sim_time", "maybe", "'use_sim_time' must be true or false"),
    ("log_level", "loud", "'log_level' must be one of"),
])
def test_bad_camera_arguments_name_the_argument(name: str, value: str, words: str) -> None:
    for installed in (True, False):
        with pytest.raises(ValueError, match=words):
            ll.camera_plan(webcam_args(**{name: value}), installed)


def test_usb_cam_needs_an_explicit_size_but_image_source_does_not() -> None:
    with pytest.raises(ValueError, match="usb_cam needs"):
        ll.camera_plan(webcam_args(image_width="0"), True)
    assert ll.camera_plan(webcam_args(image_width="0", image_height="0"), False)["parameters"][0]["width"] == 0


@pytest.mark.parametrize("installed", [True, False])
def test_the_camera_exiting_ends_the_launch_with_the_reason(installed: bool) -> None:
    """webcam.launch.py used to leave the pose node idling alone when the camera died (no
    device) or a video source ended; the camera plan now names why the launch stops."""
    plan = ll.camera_plan(webcam_args(video_device="/dev/video7"), installed)
    level, reason = ll.exit_reason(plan, 1)
    assert level == "error" and "(exit status 1)" in reason
    assert "camera" in reason and "/dev/video7" in reason and "no such device" in reason
    assert plan["executable"] in reason
    assert ll.exit_reason(plan, 0)[0] == "info"   # a video that ended is no error
    assert ll.exit_reason(plan, 1, shutting_down=True) is None   # Ctrl-C: every node exits, no news
    kwargs = ll.node_kwargs(plan)
    assert "shutdown_on_exit" not in kwargs and callable(kwargs["on_exit"])


def test_a_missing_argument_is_reported_by_name() -> None:
    args = webcam_args()
    del args["framerate"]
    with pytest.raises(ValueError, match="'framerate' is missing"):
        ll.camera_plan(args, True)


# --------------------------------------------------------------------------- params file


def test_params_file_empty_means_the_built_in_defaults() -> None:
    assert ll.params_file_of({"params_file": ""}) is None
    assert ll.params_file_of({"params_file": "  "}) is None


def test_the_shipped_params_file_is_accepted() -> None:
    shipped = Path(__file__).resolve().parents[1] / "config" / "pose.yaml"
    assert ll.params_file_of({"params_file": str(shipped)}) == str(shipped)


@pytest.mark.parametrize("content, words", [
    (None, "does not exist or is not a file"),
    ("just a string\n", "is not a YAML mapping"),
    ("/**: {ros__parameters: [unclosed\n", "cannot read .* as YAML"),
])
def test_a_params_file_that_would_be_ignored_is_refused_by_name(tmp_path: Path, content, words: str) -> None:
    """launch_ros only warns about a missing params file and the node runs on its defaults."""
    path = tmp_path / "pose.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=f"'params_file': .*{words}"):
        ll.params_file_of({"params_file": str(path)})
    with pytest.raises(ValueError, match="does not exist or is not a file"):
        ll.params_file_of({"params_file": str(tmp_path)})  # a folder


# --------------------------------------------------------------------------- pose node


def test_pose_parameters_defer_to_the_params_file_unless_overridden() -> None:
    assert ll.pose_node_parameters(webcam_args(), PARAMS_FILE) == [PARAMS_FILE, {"use_sim_time": False}]
    params = ll.pose_node_parameters(
        webcam_args(estimator="openpose_dnn", model=MODEL_FILE, input_width="656",
                    input_height=" 368 ", heatmap_threshold="0.2", paf_threshold="-0.1", use_sim_time="True"),
        None)
    assert params == [{"estimator": "openpose_dnn", "model": MODEL_FILE, "input_width": 656,
                       "input_height": 368, "heatmap_threshold": 0.2, "paf_threshold": -0.1,
                       "use_sim_time": True}]


def test_input_size_is_a_multiple_of_8_like_the_estimator_and_the_manifest() -> None:
    params = ll.pose_node_parameters(webcam_args(input_width="424", input_height="360"), None)
    assert params == [{"input_width": 424, "input_height": 360, "use_sim_time": False}]
    with pytest.raises(ValueError, match="'input_height' must be a multiple of 8, got 364"):
        ll.pose_node_parameters(webcam_args(input_height="364"), None)


@pytest.mark.parametrize("name, value, words", [
    ("input_width", "420", "multiple of 8"),
    ("input_height", "abc", "'input_height' must be an integer"),
    ("heatmap_threshold", "1.5", "'heatmap_threshold' must be <= 1.0"),
    ("paf_threshold", "x", "'paf_threshold' must be a number"),
])
def test_bad_pose_arguments_name_the_argument(name: str, value: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        ll.pose_node_parameters(webcam_args(**{name: value}), PARAMS_FILE)


def test_pose_node_plan_remaps_both_transports_of_the_image_topic() -> None:
    args = {"image": "/camera/color/image_raw", "params_file": PARAMS_FILE, "namespace": "",
            "use_sim_time": "false", "log_level": "warn", "managed": "false"}
    assert set(args) == set(ll.POSE_ARGS)
    plan = ll.pose_node_plan(args, args["params_file"], args["image"])
    assert (plan["package"], plan["executable"], plan["name"]) == ("pose_ros", "pose_node", "pose_node")
    assert plan["remappings"] == [("image", "/camera/color/image_raw"),
                                  ("image/compressed", "/camera/color/image_raw/compressed")]
    assert plan["parameters"][0] == PARAMS_FILE
    assert plan["arguments"] == ["--ros-args", "--log-level", "pose_node:=warn"]  # not rcl's, not rmw's
    assert ll.pose_node_plan(dict(args, namespace="/robot1/front"), None)["arguments"][-1] == \
        "robot1.front.pose_node:=warn"
    # A pose node that dies ends the launch (it used to leave the camera running alone).
    assert ll.exit_reason(plan, -11) == ("error", "the pose node exited; see its log above (exit status -11); "
                                         "stopping the launch")
    assert plan["additional_env"] == {"POSE_ROS_DIE_WITH_PARENT": "1"}
    with pytest.raises(ValueError, match="'image' is not a valid topic"):
        ll.pose_node_plan(args, None, "camera//image raw")


def test_a_plain_pose_node_plan_is_unmanaged_and_autostarts() -> None:
    plan = ll.pose_node_plan(webcam_args(), PARAMS_FILE)
    assert plan["managed"] is False and "namespace" not in plan
    assert "autostart" not in plan["parameters"][-1]   # the node's default: configure and activate itself
    assert "managed" not in ll.node_kwargs(plan)       # not a launch_ros.actions.Node argument


@pytest.mark.parametrize("plan_of", [
    lambda managed: ll.pose_node_plan(webcam_args(managed=managed), PARAMS_FILE),
    lambda managed: ll.rgbd_pose_plan(rgbd_args(managed=managed), PARAMS_FILE),
    lambda managed: ll.pose_node_plan({"image": "image_raw", "params_file": "", "namespace": "/robot1",
                                       "use_sim_time": "true", "log_level": "info", "managed": managed}, None),
], ids=["webcam", "rgbd", "pose"])
def test_managed_pose_node_waits_unconfigured_as_a_lifecycle_node(plan_of) -> None:
    plan = plan_of("true")
    assert plan["managed"] is True
    assert plan["parameters"][-1]["autostart"] is False
    kwargs = ll.node_kwargs(plan)
    # LifecycleNode needs name and namespace on Humble and Jazzy; "" keeps PushRosNamespace's
    assert (kwargs["name"], kwargs["namespace"]) == ("pose_node", "")
    assert "managed" not in kwargs and "autostart" not in kwargs
    # everything else is the plain plan's
    plain = plan_of("false")
    assert {k: v for k, v in plan.items() if k not in ("managed", "namespace", "parameters")} == \
        {k: v for k, v in plain.items() if k not in ("managed", "parameters")}


@pytest.mark.parametrize("value", ["yes please", "2", ""])
def test_a_bad_managed_value_names_the_argument(value: str) -> None:
    with pytest.raises(ValueError, match="'managed'"):
        ll.pose_node_plan(webcam_args(managed=value), PARAMS_FILE)


def test_the_demo_has_no_managed_argument_and_its_pose_node_autostarts() -> None:
    assert "managed" not in ll.DEMO_ARGS
    pose = next(p for p in ll.demo_plans(demo_args(), PARAMS_FILE) if p["name"] == "pose_node")
    assert pose["managed"] is False and "autostart" not in pose["parameters"][-1]


# --------------------------------------------------------------------------- namespace, rviz


@pytest.mark.parametrize("given, expected", [("", ""), ("/", ""), ("robot1", "/robot1"),
                                             ("/robot1/", "/robot1"), ("a/b_2", "/a/b_2")])
def test_namespace_is_normalised(given: str, expected: str) -> None:
    assert ll.namespace_of({"namespace": given}) == expected


@pytest.mark.parametrize("bad", ["1robot", "robot-1", "a//b", "my robot"])
def test_invalid_namespace_names_the_argument(bad: str) -> None:
    with pytest.raises(ValueError, match="'namespace'"):
        ll.namespace_of({"namespace": bad})


def test_rviz_starts_only_when_asked_and_follows_the_namespace() -> None:
    assert ll.rviz_plan(webcam_args(), "/cfg/pose.rviz", True) is None
    plan = ll.rviz_plan(webcam_args(rviz="true"), "/cfg/pose.rviz", True)
    assert (plan["package"], plan["executable"]) == ("rviz2", "rviz2")
    assert plan["arguments"] == ["-d", "/cfg/pose.rviz"] and plan["remappings"] == []
    spaced = ll.rviz_plan(webcam_args(rviz="1", namespace="robot1"), "/cfg/pose.rviz", True)
    assert ("/image_annotated", "/robot1/image_annotated") in spaced["remappings"]
    assert ("/image_raw", "/robot1/image_raw") in spaced["remappings"]
    with pytest.raises(ValueError, match="'rviz' must be true or false"):
        ll.rviz_plan(webcam_args(rviz="sure"), "/cfg/pose.rviz", True)


def test_rviz_without_rviz2_is_refused_with_the_install_hint_before_anything_starts() -> None:
    """Upstream ros2 launch spawned the camera and the pose node, then failed on the missing
    rviz2 executable and orphaned them: the plan refuses instead, so the launch file returns
    no action at all."""
    with pytest.raises(ValueError, match=r"rviz2 is not installed: apt install ros-\$ROS_DISTRO-rviz2"):
        ll.rviz_plan(webcam_args(rviz="true"), "/cfg/pose.rviz", False)
    assert ll.rviz_plan(webcam_args(rviz="false"), "/cfg/pose.rviz", False) is None


def test_rviz_available_matches_the_ament_index(tmp_path: Path, monkeypatch) -> None:
    index = tmp_path / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True)
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))
    assert not ll.rviz_available()
    (index / "rviz2").write_text("")
    (tmp_path / "share" / "rviz2").mkdir()
    assert ll.rviz_available()


def test_rviz_remaps_cover_every_topic_of_the_shipped_config() -> None:
    import yaml

    config = Path(__file__).resolve().parents[1] / "rviz" / "pose.rviz"
    displays = yaml.safe_load(config.read_text())["Visualization Manager"]["Displays"]
    topics = {d["Topic"]["Value"] for d in displays}
    plan = ll.rviz_plan(webcam_args(rviz="true", namespace="ns"), str(config), True)
    remapped = {src for src, _ in plan["remappings"]}
    assert topics and topics <= remapped


# --------------------------------------------------------------------------- demo


def test_demo_chains_image_source_pose_node_and_recorder() -> None:
    source, pose, recorder = ll.demo_plans(demo_args(frames="40", rate_hz="5", expected_frames="40",
                                                     output_dir="/tmp/out", model="mobilenet_thin"), PARAMS_FILE)
    assert (source["executable"], pose["executable"], recorder["executable"]) == \
        ("image_source", "pose_node", "pose_recorder")
    sp = source["parameters"][0]
    assert sp["source"] == "/data/clip.avi" and sp["max_frames"] == 40 and sp["rate_hz"] == 5.0
    # The first frame waits for the pose node and the recorder (which counts frames published).
    assert sp["loop"] is False and sp["wait_for_subscribers"] == 2
    assert pose["parameters"] == [PARAMS_FILE, {"model": "mobilenet_thin", "use_sim_time": False}]
    assert ("image", "image_raw") in pose["remappings"]
    assert recorder["parameters"][0] == {"output_dir": "/tmp/out", "expected_frames": 40,
                                         "idle_timeout_s": 3.0, "start_timeout_s": 60.0, "use_sim_time": False}
    assert ll.exit_reason(recorder, 0) == ("info", "pose_recorder finished (exit status 0); stopping the launch")
    # The source ending normally lets the recorder finish; a source that cannot open ends the demo.
    assert ll.exit_reason(source, 0) is None
    assert ll.exit_reason(source, 1)[0] == "error" and "/data/clip.avi" in ll.exit_reason(source, 1)[1]
    assert ll.exit_reason(pose, 1)[0] == "error"


@pytest.mark.parametrize("name, value, words", [
    ("frames", "-1", "'frames' must be >= 0"),
    ("rate_hz", "ten", "'rate_hz' must be a number"),
    ("expected_frames", "1.5", "'expected_frames' must be an integer"),
    ("video", "", "'video' is empty"),
    ("output_dir", " ", "'output_dir' is empty"),
])
def test_bad_demo_arguments_name_the_argument(name: str, value: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        ll.demo_plans(demo_args(**{name: value}), PARAMS_FILE)


def test_node_kwargs_drop_the_message_and_print_to_screen() -> None:
    kwargs = ll.node_kwargs(ll.camera_plan(webcam_args(), False))
    assert "message" not in kwargs and kwargs["output"] == "screen"
    assert set(kwargs) == {"package", "executable", "name", "parameters", "remappings", "arguments", "output",
                           "on_exit", "additional_env"}


def test_node_kwargs_can_pin_string_parameters(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "123").write_text("a model file called 123")
    plan = ll.pose_node_plan(webcam_args(model="123", estimator="openpose_dnn"), PARAMS_FILE)
    kwargs = ll.node_kwargs(plan, as_string=lambda v: ("str", v))
    assert kwargs["parameters"][0] == PARAMS_FILE  # a file path entry is left alone
    assert kwargs["parameters"][1] == {"model": ("str", "123"), "estimator": ("str", "openpose_dnn"),
                                       "use_sim_time": False}
    assert plan["parameters"][1]["model"] == "123"  # the plan itself is not modified


def test_launch_logic_imports_no_launch_module() -> None:
    """string_parameter imports launch_ros only when called: launch is apt-only."""
    code = ("import sys; from pose_ros import launch_logic; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('launch', 'launch_ros')))")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- RGB-D


def rgbd_args(**over: str) -> dict:
    args = {"camera": "realsense", "image": "", "depth": "", "camera_info": "", "params_file": PARAMS_FILE,
            "rviz": "false", "namespace": "", "use_sim_time": "false", "log_level": "info", "managed": "false"}
    assert set(args) == set(ll.RGBD_ARGS)
    args.update(over)
    return args


@pytest.mark.parametrize("camera, image, depth, info", [
    ("realsense", "/camera/camera/color/image_raw", "/camera/camera/aligned_depth_to_color/image_raw",
     "/camera/camera/color/camera_info"),
    ("oak", "/oak/rgb/image_raw", "/oak/stereo/image_raw", "/oak/rgb/camera_info"),
    ("image_source", "image_raw", "depth/image_raw", "camera_info"),
])
def test_rgbd_presets_wire_colour_depth_and_camera_info(camera, image, depth, info) -> None:
    plan = ll.rgbd_pose_plan(rgbd_args(camera=camera), PARAMS_FILE)
    remaps = dict(plan["remappings"])
    assert remaps["image"] == image and remaps["image/compressed"] == f"{image}/compressed"
    assert remaps["depth"] == depth and remaps["camera_info"] == info
    assert plan["executable"] == ll.POSE_EXECUTABLE and plan["parameters"][0] == PARAMS_FILE


def test_rgbd_topic_arguments_override_the_preset_one_by_one() -> None:
    topics = ll.rgbd_topics(rgbd_args(camera="oak", depth="/oak/stereo/depth_aligned"))
    assert topics == {"image": "/oak/rgb/image_raw", "depth": "/oak/stereo/depth_aligned",
                      "camera_info": "/oak/rgb/camera_info"}


@pytest.mark.parametrize("over, match", [({"camera": "kinect"}, "'camera'"), ({"depth": "bad topic"}, "'depth'")])
def test_rgbd_bad_arguments_name_the_argument(over, match) -> None:
    with pytest.raises(ValueError, match=match):
        ll.rgbd_pose_plan(rgbd_args(**over), PARAMS_FILE)


def test_rgbd_rviz_shows_the_camera_colour_topic() -> None:
    assert ll.rgbd_rviz_plan(rgbd_args(), "/cfg/pose.rviz", True) is None
    plan = ll.rgbd_rviz_plan(rgbd_args(rviz="true", namespace="robot1"), "/cfg/pose.rviz", True)
    remaps = dict(plan["remappings"])
    assert remaps["/image_raw"] == "/camera/camera/color/image_raw"
    assert remaps["/persons_markers"] == "/robot1/persons_markers"
    replay = dict(ll.rgbd_rviz_plan(rgbd_args(rviz="true", camera="image_source", namespace="r2"),
                                    "/cfg/pose.rviz", True)["remappings"])
    assert replay["/image_raw"] == "/r2/image_raw"


def test_rgbd_rviz_without_rviz2_is_refused_before_anything_starts() -> None:
    with pytest.raises(ValueError, match="rviz2"):
        ll.rgbd_rviz_plan(rgbd_args(rviz="true"), "/cfg/pose.rviz", False)


def test_runtime_and_device_launch_arguments_override_the_params_file() -> None:
    assert ll.pose_overrides(webcam_args(runtime="opencv", device="cuda")) == {"runtime": "opencv", "device": "cuda"}
    assert "runtime" not in ll.pose_overrides(webcam_args())


# --------------------------------------------------------------------------- what rcl and the node would refuse


@pytest.mark.parametrize("text, words", [
    ("max_persons: 1\n", "a value before ros__parameters"),
    ("pose_node:\n  max_persons: 1\n", "pose_node/max_persons: a value before ros__parameters"),
    ("pose_node:\n  ros__parameters: [1, 2]\n", "must be a mapping"),
    ("- pose_node\n", "not a YAML mapping"),
    ("pose_node:\n  ros__parameters:\n    scales: [1.0, fast]\n", "one type"),
    ("pose_node:\n  ros__parameters:\n    scales: [[1.0], [2.0]]\n", "may only hold numbers"),
    ("pose_node:\n  ros__parameters:\n    model:\n", "is not a parameter value"),
])
def test_params_files_rcl_would_refuse_are_refused_at_launch_by_name(tmp_path, text: str, words: str) -> None:
    """Each of these passed the old "is it a YAML mapping" check and then killed every node of
    the launch with rcl's 20-line traceback."""
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=words):
        ll.params_file_of(webcam_args(params_file=str(path)))


def test_params_files_rcl_reads_pass(tmp_path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("/**:\n  ros__parameters:\n    use_sim_time: false\n"
                    "robot1:\n  pose_node:\n    ros__parameters:\n      scales: [1.0, 1.5]\n"
                    "      decode:\n        min_parts: 3\n      model: mobilenet_thin\n")
    assert ll.params_file_of(webcam_args(params_file=str(path))) == str(path)
    shipped = Path(__file__).resolve().parents[1] / "config" / "pose.yaml"
    assert ll.params_file_of(webcam_args(params_file=str(shipped))) == str(shipped)


def test_the_params_file_check_agrees_with_rcl(tmp_path) -> None:
    """The same files through rcl itself (rclpy.init with --params-file): what the check refuses,
    rcl refuses, and what it passes, rcl reads."""
    cases = {"flat": "max_persons: 1\n", "nested_value": "pose_node:\n  max_persons: 1\n",
             "mixed_list": "pose_node:\n  ros__parameters:\n    scales: [1.0, fast]\n",
             "int_and_float": "pose_node:\n  ros__parameters:\n    a: [1, 2.0]\n",
             "null": "pose_node:\n  ros__parameters:\n    model:\n",
             "empty_list": "pose_node:\n  ros__parameters:\n    scales: []\n",
             "empty_node": "pose_node: {}\n",
             "good": "pose_node:\n  ros__parameters:\n    scales: [1.0, 1.5]\n    model: x\n"}
    script = ("import sys, rclpy\nfrom rclpy.context import Context\nc = Context()\n"
              "try:\n    c.init(['x', '--ros-args', '--params-file', sys.argv[1]])\n"
              "except Exception:\n    sys.exit(3)\nc.try_shutdown()\n")
    for name, text in cases.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        rcl_ok = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True).returncode == 0
        try:
            ll.params_file_of(webcam_args(params_file=str(path)))
            ours_ok = True
        except ValueError:
            ours_ok = False
        assert ours_ok == rcl_ok, name


@pytest.mark.parametrize("name, value, words", [
    ("estimator", "openpose_dn", "unknown estimator 'openpose_dn'; installed: .*openpose_dnn"),
    ("model", "mobilenet_thn", "'mobilenet_thn' is neither a model of the manifest"),
    ("runtime", "openvno", "unknown runtime 'openvno'; installed: auto, .*opencv"),
    ("device", "cdua", "unknown device 'cdua'"),
])
def test_typos_in_plugin_model_and_device_names_are_refused_at_launch(name: str, value: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        ll.pose_node_parameters(webcam_args(**{name: value}), PARAMS_FILE)


def test_real_names_pass_the_launch_checks() -> None:
    params = ll.pose_node_parameters(webcam_args(estimator="openpose_dnn", model="mobilenet_thin",
                                                 runtime="opencv", device="cuda_fp16"), None)
    assert params[0]["device"] == "cuda_fp16"
    assert ll.pose_node_parameters(webcam_args(runtime="auto", device="GPU.1"), None)[0]["device"] == "GPU.1"
    with pytest.raises(ValueError, match="unknown device 'npu'"):   # cv2.dnn has no npu
        ll.pose_node_parameters(webcam_args(runtime="opencv", device="npu"), None)


def test_a_failed_node_makes_the_launch_exit_1_and_a_clean_end_does_not() -> None:
    """`ros2 launch` exits 0 after any Shutdown; only an exception out of an event handler makes
    it exit 1 (checked with launch 3.4.3: rc 1 for webcam.launch.py on a missing device, for
    demo.launch.py on a missing video, and when the pose node is killed)."""
    from types import SimpleNamespace

    camera = ll.camera_plan(webcam_args(video_device="/dev/video7"), False)
    handler = ll.node_kwargs(camera)["on_exit"]
    with pytest.raises(ll.LaunchFailed, match="/dev/video7.*exit status 1"):
        handler(SimpleNamespace(returncode=1), SimpleNamespace(is_shutdown=False))
    assert handler(SimpleNamespace(returncode=-2), SimpleNamespace(is_shutdown=True)) is None   # Ctrl-C


# --------------------------------------------------------------------------- several cameras, one node


def multi_args(**over: str) -> dict:
    args = {"images": "/front/color/image_raw,/rear/color/image_raw", "names": "", "depths": "",
            "params_file": PARAMS_FILE, "managed": "false", "namespace": "", "use_sim_time": "false",
            "log_level": "info"}
    args.update(over)
    assert set(args) == set(ll.MULTI_CAMERA_ARGS)
    return args


def test_multi_camera_plan_names_the_cameras_after_their_topics_and_remaps_each() -> None:
    plan = ll.multi_camera_plan(multi_args(), PARAMS_FILE)
    assert plan["parameters"][0] == PARAMS_FILE and plan["parameters"][-1]["cameras"] == ["front", "rear"]
    assert plan["remappings"] == [
        ("front/image", "/front/color/image_raw"), ("front/image/compressed", "/front/color/image_raw/compressed"),
        ("front/camera_info", "/front/color/camera_info"),
        ("rear/image", "/rear/color/image_raw"), ("rear/image/compressed", "/rear/color/image_raw/compressed"),
        ("rear/camera_info", "/rear/color/camera_info")]
    assert (plan["executable"], plan["managed"]) == ("pose_node", False)
    assert "front (/front/color/image_raw)" in plan["message"]


@pytest.mark.parametrize("images, names, expected", [
    ("[/a/image_raw, /b/image_raw]", "", ["a", "b"]),               # a YAML-style list
    ("/cam/left/image /cam/right/image", "", ["camera0", "camera1"]),  # same first token: numbered
    ("image_raw", "", ["camera0"]),                                   # no namespace to name it after
    ("/a/image_raw,/b/image_raw", "[left, right]", ["left", "right"]),
])
def test_multi_camera_names(images: str, names: str, expected: list) -> None:
    plan = ll.multi_camera_plan(multi_args(images=images, names=names), None)
    assert plan["parameters"][-1]["cameras"] == expected
    assert [r[0] for r in plan["remappings"] if r[0].endswith("/image")] == [f"{n}/image" for n in expected]


def test_multi_camera_depths_pair_with_the_images_and_managed_makes_a_lifecycle_node() -> None:
    plan = ll.multi_camera_plan(multi_args(depths="/front/depth,/rear/depth", managed="true"), None)
    assert ("front/depth", "/front/depth") in plan["remappings"] and ("rear/depth", "/rear/depth") in plan["remappings"]
    assert plan["managed"] is True and plan["parameters"][-1]["autostart"] is False


@pytest.mark.parametrize("over, words", [
    ({"images": ""}, "'images' needs at least one image topic"),
    ({"images": "/a/image,//b"}, "'images' is not a valid topic"),
    ({"names": "left"}, "'names' has 1 names for 2 images"),
    ({"names": "left,9lives"}, "'names': '9lives' is not a valid namespace"),
    ({"names": "same,same"}, "each camera name must be given once"),
    ({"depths": "/front/depth"}, "'depths' has 1 topics for 2 images"),
])
def test_bad_multi_camera_arguments_name_the_argument(over: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        ll.multi_camera_plan(multi_args(**over), None)
