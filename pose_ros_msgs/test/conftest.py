"""Each test run gets its own ROS_DOMAIN_ID and localhost-only discovery, so runs on
one machine (or next to a live robot) never see each other's topics."""

import os

os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
# ROS_AUTOMATIC_DISCOVERY_RANGE exists from Iron on; Humble knows only ROS_LOCALHOST_ONLY
# (deprecated on Jazzy, where setting it warns, so only on Humble).
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
if os.environ.get("ROS_DISTRO") == "humble":
    os.environ.setdefault("ROS_LOCALHOST_ONLY", "1")
