"""The pose node on an RGB-D camera: 2D persons plus 3D keypoints and RViz skeletons.

    ros2 launch realsense2_camera rs_launch.py align_depth.enable:=true      # terminal 1
    ros2 launch pose_ros rgbd.launch.py camera:=realsense rviz:=true          # terminal 2

    ros2 launch depthai_ros_driver camera.launch.py
    ros2 launch pose_ros rgbd.launch.py camera:=oak

``camera`` picks the driver's colour, aligned-depth and camera_info topics (see
``launch_logic.RGBD_CAMERAS``); ``image``, ``depth`` and ``camera_info`` override them one
by one. The camera driver is not started here: it has its own launch files and options.
``managed:=true`` starts the pose node unconfigured, for a lifecycle manager.
The decisions are made by :mod:`pose_ros.bringup.launch_logic`.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node, PushRosNamespace
from launch_ros.substitutions import FindPackageShare
from pose_ros.bringup import launch_logic


def _setup(context):
    args = {name: LaunchConfiguration(name).perform(context) for name in launch_logic.RGBD_ARGS}
    # Every check first (rviz2 present, params file readable): a refusal starts nothing.
    rviz_config = PathJoinSubstitution([FindPackageShare("pose_ros"), "rviz", "pose.rviz"]).perform(context)
    rviz = launch_logic.rgbd_rviz_plan(args, rviz_config, launch_logic.rviz_available())
    pose = launch_logic.rgbd_pose_plan(args, launch_logic.params_file_of(args))
    namespace = launch_logic.namespace_of(args)
    pin = launch_logic.string_parameter  # string parameters stay strings (Humble reads YAML)
    node = LifecycleNode(**launch_logic.node_kwargs(pose, pin)) if pose["managed"] else \
        Node(**launch_logic.node_kwargs(pose, pin))
    actions = [GroupAction(([PushRosNamespace(namespace)] if namespace else []) + [node])]
    if rviz is not None:
        actions.append(Node(**launch_logic.node_kwargs(rviz, pin)))
    return actions


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("camera", default_value="realsense",
                              description="RGB-D driver whose topics to use: realsense, oak or image_source"),
        DeclareLaunchArgument("image", default_value="", description="colour image topic; empty = the camera's"),
        DeclareLaunchArgument("depth", default_value="",
                              description="depth aligned to the colour image; empty = the camera's"),
        DeclareLaunchArgument("camera_info", default_value="",
                              description="colour camera_info topic; empty = the camera's"),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([FindPackageShare("pose_ros"), "config", "pose.yaml"]),
            description="pose node parameters (YAML)"),
        DeclareLaunchArgument("managed", default_value="false",
                              description="true: start the pose node unconfigured, for a lifecycle manager"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the pose node"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock time"),
        DeclareLaunchArgument("log_level", default_value="info", description="debug, info, warn, error or fatal"),
        DeclareLaunchArgument("rviz", default_value="false", description="start RViz2 with pose_ros' config"),
        OpaqueFunction(function=_setup),
    ])
