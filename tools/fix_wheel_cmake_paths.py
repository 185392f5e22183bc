"""Rewrite the Python paths baked into the ROS 2 Jazzy PyPI wheels' CMake exports.

The wheels were built under /opt/python/cp311-cp311; their exported CMake targets
name that interpreter's include dir and numpy's include dir, so any message package
depending on std_msgs fails at CMake generate time with "includes non-existent
path". We point them at this venv's interpreter and numpy. Idempotent.
"""

import sys
import sysconfig
from pathlib import Path

import numpy

BUILDER_PREFIX = "/opt/python/cp311-cp311"
REPLACEMENTS = {
    f"{BUILDER_PREFIX}/lib/python3.11/site-packages/numpy/_core/include": numpy.get_include(),
    f"{BUILDER_PREFIX}/include/python3.11": sysconfig.get_paths()["include"],
}


def main(prefix: str) -> int:
    changed = 0
    for path in Path(prefix, "share").glob("*/cmake/**/*.cmake"):
        text = path.read_text(errors="surrogateescape")
        new = text
        for old, repl in REPLACEMENTS.items():
            new = new.replace(old, repl)
        if new != text:
            path.write_text(new, errors="surrogateescape")
            changed += 1
    print(f"fixed {changed} CMake files under {prefix}/share")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else sys.prefix))
