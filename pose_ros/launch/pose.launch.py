"""The pose node alone, for any camera already publishing images.

    ros2 launch pose_ros pose.launch.py image:=/camera/color/image_raw
    ros2 launch pose_ros pose.launch.py params_file:=/path/my_pose.yaml namespace:=robot1
    ros2 launch pose_ros pose.launch.py managed:=true     # unconfigured, for a lifecycle manager

``image`` is remapped onto the node's ``image`` input (and ``<image>/compressed`` onto
``image/compressed``, for ``image_transport: compressed`` in the params file). ``managed:=true``
starts it as a lifecycle node that waits unconfigured (``autostart: false``); by default it
configures and activates itself.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node, PushRosNamespace
from launch_ros.substitutions import FindPackageShare
from pose_ros.bringup import launch_logic


def _setup(context):
    args = {name: LaunchConfiguration(name).perform(context) for name in launch_logic.POSE_ARGS}
    pose = launch_logic.pose_node_plan(args, launch_logic.params_file_of(args), args["image"])
    namespace = launch_logic.namespace_of(args)
    pin = launch_logic.string_parameter  # string parameters stay strings (Humble reads YAML)
    node = LifecycleNode(**launch_logic.node_kwargs(pose, pin)) if pose["managed"] else \
        Node(**launch_logic.node_kwargs(pose, pin))
    return [GroupAction(([PushRosNamespace(namespace)] if namespace else []) + [node])]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("image", default_value="image_raw",
                              description="image topic to run on (sensor_msgs/Image)"),
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
