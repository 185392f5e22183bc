"""Send camera-sized images through shared memory: pose_ros' Fast DDS profile, on by default.

Why: Fast DDS (the default RMW of Humble and Jazzy) has a 512 KB shared-memory segment,
smaller than one 640x480 bgr8 image, so every frame goes over loopback UDP in 64 KB
fragments. Measured on this project's 2-core machines with 768x576 frames at 30 Hz:
a reliable reader waits 15 ms per frame (3.7 ms through shared memory), a best-effort
reader loses about 85 % of them, and the fragment traffic takes CPU from the network: in
paired end-to-end runs the node's latency p50 went from 69-83 to 61-62 ms with the profile. The segment is the
*publisher's*, so the process that publishes images needs the profile; subscribers need
nothing.

The profile is applied only where nobody configured Fast DDS: not when a profiles file or
``FASTDDS_BUILTIN_TRANSPORTS`` is already set, not for another RMW, and not when
``POSE_ROS_LARGE_IMAGES_PROFILE=0``. Pure functions over an environment mapping; no ROS imports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Mapping, MutableMapping, Optional, Tuple

PROFILE_NAME = "fastdds_large_images.xml"
# Fast DDS 2.x (Humble, Jazzy) reads the first, Fast DDS 3.x (Kilted and later) the second.
PROFILE_VARIABLES = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")
USER_TRANSPORT_VARIABLES = PROFILE_VARIABLES + ("FASTDDS_BUILTIN_TRANSPORTS",)
OPT_OUT_VARIABLE = "POSE_ROS_LARGE_IMAGES_PROFILE"
FASTDDS_RMWS = ("rmw_fastrtps_cpp", "rmw_fastrtps_dynamic_cpp")
_OFF = ("0", "false", "off", "no")


def shipped_profile() -> Optional[Path]:
    """The profile installed with pose_ros (share/pose_ros/config), or the source tree's."""
    candidates = []
    try:
        from ament_index_python.packages import get_package_share_directory
        candidates.append(Path(get_package_share_directory("pose_ros")) / "config" / PROFILE_NAME)
    except (ImportError, KeyError):  # no ament, or pose_ros not installed (PackageNotFoundError): source tree
        pass
    candidates.append(Path(__file__).resolve().parents[1] / "config" / PROFILE_NAME)
    return next((path for path in candidates if path.is_file()), None)


def large_image_env(environ: Mapping[str, str], profile: Optional[Path]) -> Tuple[Dict[str, str], str]:
    """The variables to add so a process publishes images through shared memory, and why.

    Returns ``({}, reason)`` when the user's own configuration wins or the profile does not apply.
    """
    if environ.get(OPT_OUT_VARIABLE, "").strip().lower() in _OFF:
        return {}, f"{OPT_OUT_VARIABLE}={environ[OPT_OUT_VARIABLE]}: Fast DDS left as configured"
    rmw = environ.get("RMW_IMPLEMENTATION", "").strip()
    if rmw and rmw not in FASTDDS_RMWS:
        return {}, f"RMW_IMPLEMENTATION={rmw}: the Fast DDS profile does not apply"
    own = [name for name in USER_TRANSPORT_VARIABLES if environ.get(name, "").strip()]
    if own:
        return {}, f"{own[0]} is set: Fast DDS left as configured"
    if profile is None:
        return {}, f"{PROFILE_NAME} not found next to pose_ros: images go through Fast DDS' defaults"
    return ({name: str(profile) for name in PROFILE_VARIABLES},
            f"images through shared memory: Fast DDS profile {profile} (16 MB segments); "
            f"{OPT_OUT_VARIABLE}=0 or your own FASTRTPS_DEFAULT_PROFILES_FILE turns it off")


def apply_large_image_profile(environ: MutableMapping[str, str]) -> str:
    """Add the profile to this process' environment (before ``rclpy.init``); returns the reason."""
    added, why = large_image_env(environ, shipped_profile())
    environ.update(added)
    return why
