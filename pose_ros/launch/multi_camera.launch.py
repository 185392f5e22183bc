"""One pose node, one model, several cameras: less memory and one schedule for all of them.

    ros2 launch pose_ros multi_camera.launch.py images:=/front/color/image_raw,/rear/color/image_raw
    ros2 launch pose_ros multi_camera.launch.py images:="[/cam_a/image_raw, /cam_b/image_raw]" names:=left,right

Each topic in ``images`` becomes a camera of the node (its ``cameras`` parameter). A camera is
named after the first token of its topic (``front``), or by ``names``; it publishes
``<name>/persons``, ``<name>/image_annotated`` and every other output, and reads the
camera_info beside its image. ``depths`` (one per image) adds 3D keypoints. The node serves
the camera that has waited longest first. The decisions are made by
:mod:`pose_ros.bringup.launch_logic`.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node, PushRosNamespace
from launch_ros.substitutions import FindPackageShare
from pose_ros.bringup import launch_logic


def _setup(context):
    args = {name: LaunchConfiguration(name).perform(context) for name in launch_logic.MULTI_CAMERA_ARGS}
    pose = launch_logic.multi_camera_plan(args, launch_logic.params_file_of(args))
    namespace = launch_logic.namespace_of(args)
    pin = launch_logic.string_parameter  # string parameters stay strings (Humble reads YAML)
    node = LifecycleNode(**launch_logic.node_kwargs(pose, pin)) if pose["managed"] else \
        Node(**launch_logic.node_kwargs(pose, pin))
    return [LogInfo(msg=pose["message"]), GroupAction(([PushRosNamespace(namespace)] if namespace else []) + [node])]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("images", default_value="",
                              description="image topics, one per camera: /front/image_raw,/rear/image_raw"),
        DeclareLaunchArgument("names", default_value="",
                              description="camera names, one per image; empty = the first token of each topic"),
        DeclareLaunchArgument("depths", default_value="",
                              description="depth topics aligned to the images, one per image; empty = 2D only"),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([FindPackageShare("pose_ros"), "config", "pose.yaml"]),
            description="pose node parameters (YAML)"),
        DeclareLaunchArgument("managed", default_value="false",
                              description="true: start the pose node unconfigured, for a lifecycle manager"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the pose node"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock time"),
        DeclareLaunchArgument("log_level", default_value="info", description="debug, info, warn, error or fatal"),
        OpaqueFunction(function=_setup),
    ])
