"""A webcam into the pose node, optionally shown in RViz2.

    ros2 launch pose_ros webcam.launch.py                       # /dev/video0, 640x480 @ 30
    ros2 launch pose_ros webcam.launch.py video_device:=/dev/video2 rviz:=true

The camera is usb_cam (``usb_cam_node_exe``) when installed; otherwise the launch logs so
and starts pose_ros' own ``image_source`` on the same device. Either publishes
``image_raw`` and ``camera_info``; the pose node subscribes to ``image_raw``. Every node
goes into ``namespace``. Empty pose arguments (estimator, model, ...) leave the value of
``params_file``. The launch ends when the camera node exits (no device, or a video source
ended). ``rviz:=true`` without rviz2 and a ``params_file`` that does not exist are refused
before anything starts. ``managed:=true`` starts the pose node unconfigured, for a lifecycle
manager (the camera runs as usual). The decisions are made by :mod:`pose_ros.bringup.launch_logic`.
usb_cam gets pose_ros' Fast DDS shared-memory profile for its images unless Fast DDS is
configured already (:mod:`pose_ros.bringup.dds_profile`).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node, PushRosNamespace
from launch_ros.substitutions import FindPackageShare
from pose_ros.bringup import launch_logic


def _setup(context):
    args = {name: LaunchConfiguration(name).perform(context) for name in launch_logic.WEBCAM_ARGS}
    # Every check first (rviz2 present, params file readable): a refusal starts nothing.
    rviz_config = PathJoinSubstitution([FindPackageShare("pose_ros"), "rviz", "pose.rviz"]).perform(context)
    rviz = launch_logic.rviz_plan(args, rviz_config, launch_logic.rviz_available())
    camera_env, camera_env_why = launch_logic.camera_environment(PathJoinSubstitution(
        [FindPackageShare("pose_ros"), "config", launch_logic.LARGE_IMAGES_PROFILE]).perform(context))
    camera = launch_logic.camera_plan(args, launch_logic.usb_cam_available(), camera_env)
    pose = launch_logic.pose_node_plan(args, launch_logic.params_file_of(args), "image_raw")
    namespace = launch_logic.namespace_of(args)

    actions = []
    if camera["message"]:
        actions.append(LogInfo(msg=camera["message"]))
    if camera["package"] == launch_logic.USB_CAM_PACKAGE:
        actions.append(LogInfo(msg=f"usb_cam: {camera_env_why}"))
    pin = launch_logic.string_parameter  # string parameters stay strings (Humble reads YAML)
    # The camera's exit (no device, the video ended) ends the launch with the reason.
    nodes = [Node(**launch_logic.node_kwargs(camera, pin)),
             LifecycleNode(**launch_logic.node_kwargs(pose, pin)) if pose["managed"] else
             Node(**launch_logic.node_kwargs(pose, pin))]
    actions.append(GroupAction(([PushRosNamespace(namespace)] if namespace else []) + nodes))
    if rviz is not None:
        actions.append(Node(**launch_logic.node_kwargs(rviz, pin)))
    return actions


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("video_device", default_value="/dev/video0",
                              description="camera device path (or index, e.g. 0)"),
        DeclareLaunchArgument("image_width", default_value="640", description="capture width in pixels"),
        DeclareLaunchArgument("image_height", default_value="480", description="capture height in pixels"),
        DeclareLaunchArgument("framerate", default_value="30.0", description="capture rate in Hz"),
        DeclareLaunchArgument("pixel_format", default_value="yuyv2rgb",
                              description="usb_cam pixel_format (ignored by the image_source fallback)"),
        DeclareLaunchArgument("camera_name", default_value="webcam",
                              description="usb_cam camera_name (calibration lookup)"),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([FindPackageShare("pose_ros"), "config", "pose.yaml"]),
            description="pose node parameters (YAML)"),
        DeclareLaunchArgument("estimator", default_value="", description="estimator plugin; empty = params_file"),
        DeclareLaunchArgument("model", default_value="", description="model name or path; empty = params_file"),
        DeclareLaunchArgument("runtime", default_value="",
                              description="inference runtime: auto, opencv, openvino or a plugin; empty = params_file"),
        DeclareLaunchArgument("device", default_value="",
                              description="runtime device: cpu, gpu, npu, cuda, opencl; empty = params_file"),
        DeclareLaunchArgument("input_width", default_value="",
                              description="network input width, multiple of 8; empty = params_file"),
        DeclareLaunchArgument("input_height", default_value="",
                              description="network input height, multiple of 8; empty = params_file"),
        DeclareLaunchArgument("heatmap_threshold", default_value="",
                              description="keypoint heatmap threshold 0..1; empty = params_file"),
        DeclareLaunchArgument("paf_threshold", default_value="",
                              description="part affinity field threshold; empty = params_file"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the camera and pose nodes"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock time"),
        DeclareLaunchArgument("log_level", default_value="info", description="debug, info, warn, error or fatal"),
        DeclareLaunchArgument("rviz", default_value="false", description="start RViz2 with pose_ros' config"),
        DeclareLaunchArgument("managed", default_value="false",
                              description="true: start the pose node unconfigured, for a lifecycle manager"),
        OpaqueFunction(function=_setup),
    ])
