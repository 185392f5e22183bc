"""The shipped Fast DDS profile lets a best-effort subscriber keep up with a 30 Hz camera.

Without it, Fast DDS sends each 1.3 MB frame as loopback UDP fragments and a best-effort
reader loses most of them (12.8 of 30 Hz measured here); with it, frames go through a
16 MB shared-memory segment.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

PROFILE = Path(__file__).resolve().parents[1] / "config" / "fastdds_large_images.xml"
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


def test_best_effort_subscriber_receives_nearly_every_30hz_frame_with_the_profile():
    env = dict(os.environ, FASTRTPS_DEFAULT_PROFILES_FILE=str(PROFILE),
               RMW_IMPLEMENTATION=os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp"))
    source = subprocess.Popen(
        [sys.executable, "-m", "pose_ros.image_source", "--ros-args", "-p", f"source:={VIDEO}",
         "-p", "rate_hz:=30.0", "-p", "loop:=true", "-p", "wait_for_subscribers:=0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        out = subprocess.run([sys.executable, "-c", RECEIVER], env=env, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        rate_hz = float(out.stdout.strip().splitlines()[-1])
        assert rate_hz >= 25.0, f"best-effort reader got {rate_hz:.1f} of 30 Hz with the profile"
    finally:
        source.terminate()
        source.wait(10)
