"""Each test run gets its own ROS_DOMAIN_ID and localhost-only discovery, so runs on
one machine (or next to a live robot) never see each other's topics."""

import os

os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
