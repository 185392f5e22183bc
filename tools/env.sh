# Source this to get the pose_ros development environment (the venv + the colcon workspace).
# Works from any directory; `make` targets source it for you.
_pose_ros_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC1091
. "$_pose_ros_root/.venv/bin/activate"
export AMENT_PREFIX_PATH=${AMENT_PREFIX_PATH:-$VIRTUAL_ENV}
export CMAKE_PREFIX_PATH=${CMAKE_PREFIX_PATH:-$VIRTUAL_ENV}
# shellcheck disable=SC1091
. "$_pose_ros_root/install/setup.bash"
unset _pose_ros_root
