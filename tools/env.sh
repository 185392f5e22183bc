# Source this to get the pose_ros development environment (the venv + the colcon workspace).
# Works from any directory; `make` targets source it for you.
_pose_ros_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC1091
. "$_pose_ros_root/.venv/bin/activate"
export AMENT_PREFIX_PATH=${AMENT_PREFIX_PATH:-$VIRTUAL_ENV}
export CMAKE_PREFIX_PATH=${CMAKE_PREFIX_PATH:-$VIRTUAL_ENV}
# shellcheck disable=SC1091
. "$_pose_ros_root/install/setup.bash"
# The executables `ros2 run pose_ros ...` would start (no ros2cli on the pip path): pose_node,
# image_source, pose_recorder, pose_ros_models, pose_ros_infer.
case ":$PATH:" in
  *":$_pose_ros_root/install/pose_ros/lib/pose_ros:"*) ;;
  *) export PATH="$_pose_ros_root/install/pose_ros/lib/pose_ros:$PATH" ;;
esac
unset _pose_ros_root
