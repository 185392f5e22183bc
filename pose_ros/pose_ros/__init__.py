"""pose_ros: multi-person 2D human pose for ROS 2 with OpenCV's DNN module.

The package is split so that everything except :mod:`pose_ros.ros.pose_node.node` (and the other
ROS adapters) imports without rclpy: the parsing core, skeletons, drawing and the
estimator plugins are plain Python + numpy + OpenCV.
"""

__version__ = "0.1.0"

from pose_ros import _moved

_moved.install()
