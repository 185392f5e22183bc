"""The shipped Fast DDS profile lets a best-effort subscriber keep up with a 30 Hz camera.

Without it, Fast DDS sends each 1.3 MB frame as loopback UDP fragments and a best-effort
reader loses most of them (12.8 of 30 Hz measured here); with it, frames go through a
16 MB shared-memory segment. pose_ros' image publishers (image_source, pose_node) apply it
themselves unless Fast DDS is configured already (pose_ros.bringup.dds_profile); the receivers
here never have it: the publisher's segment is what counts.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pose_ros.bringup import dds_profile

PKG_ROOT = Path(__file__).resolve().parents[1]
PROFILE = PKG_ROOT / "config" / "fastdds_large_images.xml"
VIDEO = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"

RECEIVER = textwrap.dedent("""
    import sys, time
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    rclpy.init()
    node = rclpy.create_node("best_effort_receiver")
    stamps = []
    node.create_subscription(Image, "image_raw", lambda m: stamps.append(time.monotonic()),
                             QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
    deadline = time.monotonic() + 20
    while len(stamps) < 5 and time.monotonic() < deadline:   # discovery, first frames
        rclpy.spin_once(node, timeout_sec=0.05)
    stamps.clear()
    start = time.monotonic()
    while time.monotonic() - start < 4.0:
        rclpy.spin_once(node, timeout_sec=0.05)
    print(len(stamps) / 4.0)
""")


def _best_effort_rate(source_env: dict) -> tuple:
    """Frames/s a best-effort reader (no profile) gets from image_source at 30 Hz, and its log."""
    receiver_env = {k: v for k, v in source_env.items() if k not in dds_profile.USER_TRANSPORT_VARIABLES}
    receiver_env[dds_profile.OPT_OUT_VARIABLE] = "0"
    source = subprocess.Popen(
        [sys.executable, "-m", "pose_ros.apps.image_source", "--ros-args", "-p", f"source:={VIDEO}",
         "-p", "rate_hz:=30.0", "-p", "loop:=true", "-p", "wait_for_subscribers:=0"],
        env=source_env, cwd=PKG_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out = subprocess.run([sys.executable, "-c", RECEIVER], env=receiver_env, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return float(out.stdout.strip().splitlines()[-1]), source
    finally:
        source.terminate()
        source.wait(10)


def _env(**changes: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in dds_profile.USER_TRANSPORT_VARIABLES
           and k != dds_profile.OPT_OUT_VARIABLE}
    env["RMW_IMPLEMENTATION"] = os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    env.update(changes)
    return env


def test_best_effort_subscriber_receives_nearly_every_30hz_frame_with_the_profile():
    rate_hz, _ = _best_effort_rate(_env(FASTRTPS_DEFAULT_PROFILES_FILE=str(PROFILE)))
    assert rate_hz >= 25.0, f"best-effort reader got {rate_hz:.1f} of 30 Hz with the profile"


def test_image_source_applies_the_profile_itself_when_fast_dds_is_not_configured():
    """No variable set by anyone: image_source's own process takes the profile and says so."""
    rate_hz, source = _best_effort_rate(_env())
    log = source.stdout.read()
    assert "images through shared memory" in log and dds_profile.PROFILE_NAME in log, log
    assert rate_hz >= 25.0, f"best-effort reader got {rate_hz:.1f} of 30 Hz from image_source\n{log}"


def test_a_users_own_profile_or_the_opt_out_is_left_alone():
    _, source = _best_effort_rate(_env(**{dds_profile.OPT_OUT_VARIABLE: "0"}))
    log = source.stdout.read()
    assert "images through shared memory" not in log, log


# --------------------------------------------------------------------------- the decision alone


def test_profile_is_found_in_the_source_tree():
    assert dds_profile.shipped_profile() is not None
    assert dds_profile.shipped_profile().name == dds_profile.PROFILE_NAME


@pytest.mark.parametrize("environ", [{}, {"RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"},
                                     {"RMW_IMPLEMENTATION": "rmw_fastrtps_dynamic_cpp"},
                                     {"POSE_ROS_LARGE_IMAGES_PROFILE": "1"}])
def test_profile_added_for_both_fast_dds_generations(environ):
    added, why = dds_profile.large_image_env(environ, PROFILE)
    assert added == {"FASTRTPS_DEFAULT_PROFILES_FILE": str(PROFILE), "FASTDDS_DEFAULT_PROFILES_FILE": str(PROFILE)}
    assert str(PROFILE) in why


@pytest.mark.parametrize("environ,reason", [
    ({"POSE_ROS_LARGE_IMAGES_PROFILE": "0"}, "POSE_ROS_LARGE_IMAGES_PROFILE=0"),
    ({"POSE_ROS_LARGE_IMAGES_PROFILE": "off"}, "POSE_ROS_LARGE_IMAGES_PROFILE=off"),
    ({"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}, "rmw_cyclonedds_cpp"),
    ({"FASTRTPS_DEFAULT_PROFILES_FILE": "/etc/mine.xml"}, "FASTRTPS_DEFAULT_PROFILES_FILE is set"),
    ({"FASTDDS_DEFAULT_PROFILES_FILE": "/etc/mine.xml"}, "FASTDDS_DEFAULT_PROFILES_FILE is set"),
    ({"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA"}, "FASTDDS_BUILTIN_TRANSPORTS is set"),
])
def test_users_configuration_wins(environ, reason):
    added, why = dds_profile.large_image_env(environ, PROFILE)
    assert added == {} and reason in why


def test_missing_profile_is_said_not_invented():
    added, why = dds_profile.large_image_env({}, None)
    assert added == {} and "not found" in why


def test_apply_changes_only_the_given_environment():
    environ = {"PATH": "/bin"}
    why = dds_profile.apply_large_image_profile(environ)
    assert environ["FASTRTPS_DEFAULT_PROFILES_FILE"].endswith(dds_profile.PROFILE_NAME), why
    assert dds_profile.apply_large_image_profile(environ).endswith("is set: Fast DDS left as configured")
