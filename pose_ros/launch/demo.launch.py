"""Replay a video through the pose node and record the results.

    ros2 launch pose_ros demo.launch.py                         # OpenCV's vtest.avi
    ros2 launch pose_ros demo.launch.py video:=/path/clip.mp4 frames:=100 output_dir:=/tmp/out

image_source plays ``video`` once (``frames`` > 0 stops early; ``rate_hz`` 0 = the video's
fps) -> pose node -> pose_recorder, which writes annotated.mp4, persons.jsonl, snapshots
and summary.json into ``output_dir``. The launch ends when the recorder finishes (after
``expected_frames`` results, or a few idle seconds after the video ended). The frames the
pose node cannot keep up with are dropped, as with a live camera; ``make demo``
(``python -m pose_ros.apps.demo``) runs the same pipeline with a progress line and a summary.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.substitutions import FindPackageShare
from pose_ros.bringup import launch_logic


def _setup(context):
    args = {name: LaunchConfiguration(name).perform(context) for name in launch_logic.DEMO_ARGS}
    source, pose, recorder = launch_logic.demo_plans(args, launch_logic.params_file_of(args))
    namespace = launch_logic.namespace_of(args)
    pin = launch_logic.string_parameter  # string parameters stay strings (Humble reads YAML)
    nodes = [
        Node(**launch_logic.node_kwargs(source, pin)),
        Node(**launch_logic.node_kwargs(pose, pin)),
        Node(**launch_logic.node_kwargs(recorder, pin)),
    ]
    return [LogInfo(msg=recorder["message"]),
            GroupAction(([PushRosNamespace(namespace)] if namespace else []) + nodes)]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("video", default_value="/usr/share/doc/opencv-doc/examples/data/vtest.avi",
                              description="video file (or image folder) to play once"),
        DeclareLaunchArgument("frames", default_value="0", description="frames to play; 0 = all"),
        DeclareLaunchArgument("rate_hz", default_value="0", description="playback rate; 0 = the video's fps"),
        DeclareLaunchArgument("output_dir", default_value="demo_output", description="where the recorder writes"),
        DeclareLaunchArgument("expected_frames", default_value="0",
                              description="recorder stops after this many results; 0 = when idle"),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([FindPackageShare("pose_ros"), "config", "pose.yaml"]),
            description="pose node parameters (YAML)"),
        DeclareLaunchArgument("model", default_value="", description="model name or path; empty = params_file"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the three nodes"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock time"),
        DeclareLaunchArgument("log_level", default_value="info", description="debug, info, warn, error or fatal"),
        OpaqueFunction(function=_setup),
    ])
