"""Camera on one host, pose node on another: two network namespaces joined by a veth pair.

The test makes its own hosts (``ip netns``, as root) so that the camera's images really cross
a network link: UDP only (Fast DDS' shared memory would bypass the link between processes of
one machine), default discovery (multicast on the link), each side in its own namespace with
nothing but ``lo`` and its end of the veth. Nothing leaves the namespaces; they are removed
afterwards. Where namespaces cannot be made (not root, no iproute2, a container without
CAP_NET_ADMIN) it is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Dict, List

import pytest

PKG_ROOT = Path(__file__).resolve().parents[1]
VIDEO = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
SUBNET = "10.213.{}.{}"

COUNTER = textwrap.dedent("""
    import sys, time
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import QoSProfile
    from pose_ros_msgs.msg import PersonKeypointsArray

    rclpy.init()
    node = Node("far_side_counter")
    seen = []
    node.create_subscription(PersonKeypointsArray, sys.argv[1], lambda m: seen.append(len(m.persons)),
                             QoSProfile(depth=10))
    deadline = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < deadline and sum(1 for n in seen if n > 0) < int(sys.argv[3]):
        rclpy.spin_once(node, timeout_sec=0.1)
    print("messages", len(seen), "with_people", sum(1 for n in seen if n > 0), flush=True)
""")


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)


class TwoHosts:
    """Namespaces ``cam`` and ``infer`` with one veth link between them."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.ns = {"cam": f"pr_cam_{tag}", "infer": f"pr_inf_{tag}"}
        self.link = (f"prc{tag}", f"pri{tag}")
        self.net = int(tag[:2], 16) % 200 + 20
        self.procs: List[subprocess.Popen] = []

    def make(self) -> str:
        """Build the two hosts; "" or the reason it cannot be done here."""
        if os.geteuid() != 0:
            return "needs root to create network namespaces"
        if shutil.which("ip") is None:
            return "needs iproute2 (ip)"
        steps = [("netns", "add", self.ns["cam"]), ("netns", "add", self.ns["infer"]),
                 ("link", "add", self.link[0], "type", "veth", "peer", "name", self.link[1])]
        for name, end in zip(("cam", "infer"), self.link):
            ns, address = self.ns[name], SUBNET.format(self.net, 1 if name == "cam" else 2)
            steps += [("link", "set", end, "netns", ns),
                      ("-n", ns, "addr", "add", f"{address}/24", "dev", end),
                      ("-n", ns, "link", "set", "lo", "up"),
                      ("-n", ns, "link", "set", end, "up", "multicast", "on"),
                      ("-n", ns, "route", "add", "224.0.0.0/4", "dev", end)]
        for step in steps:
            done = _ip(*step)
            if done.returncode != 0:
                return f"cannot build the test network (ip {' '.join(step)}): {done.stderr.strip()}"
        return ""

    def start(self, host: str, argv: List[str], env: Dict[str, str], log: Path) -> subprocess.Popen:
        out = open(log, "w")
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns[host], *argv], cwd=PKG_ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, text=True)
        self.procs.append(proc)
        return proc

    def rx_bytes(self, host: str) -> int:
        """Bytes received on ``host``'s end of the link."""
        end = self.link[0 if host == "cam" else 1]
        done = _ip("-n", self.ns[host], "-j", "-s", "link", "show", end)
        return int(json.loads(done.stdout)[0]["stats64"]["rx"]["bytes"])

    def remove(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(2)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for ns in self.ns.values():
            _ip("netns", "del", ns)   # the veth goes with its namespace


@pytest.fixture
def hosts():
    two = TwoHosts()
    reason = two.make()
    if reason:
        two.remove()
        pytest.skip(reason)
    yield two
    two.remove()


def _dds_env() -> Dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(
        [str(PKG_ROOT), os.environ.get("PYTHONPATH", "")]))
    env["ROS_DOMAIN_ID"] = str(100 + os.getpid() % 100)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "SUBNET"   # the other host is not localhost
    env.pop("ROS_LOCALHOST_ONLY", None)
    env["FASTDDS_BUILTIN_TRANSPORTS"] = "UDPv4"       # across the link, not through /dev/shm
    env["POSE_ROS_LARGE_IMAGES_PROFILE"] = "0"
    return env


@pytest.mark.parametrize("transport", ["raw", "compressed"])
def test_persons_flow_from_a_camera_on_another_host(hosts, tmp_path, transport):
    env = _dds_env()
    hosts.start("cam", [sys.executable, "-m", "pose_ros.apps.image_source", "--ros-args", "-p",
                        f"source:={VIDEO}", "-p", "loop:=true", "-p", "rate_hz:=5.0"], env, tmp_path / "cam.log")
    hosts.start("infer", [sys.executable, "-m", "pose_ros.ros.pose_node.node", "--ros-args",
                          "-r", "image:=image_raw", "-r", "image/compressed:=image_raw/compressed",
                          "-p", f"image_transport:={transport}"],
                env, tmp_path / "node.log")
    t0 = time.monotonic()
    counter = subprocess.run(["ip", "netns", "exec", hosts.ns["infer"], sys.executable, "-c", COUNTER,
                              "/persons", "90", "5"], cwd=PKG_ROOT, env=env, capture_output=True, text=True,
                             timeout=120)
    logs = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(tmp_path.glob("*.log")))
    words = counter.stdout.split()
    assert words[:1] == ["messages"], counter.stderr + logs
    with_people = int(words[3])
    assert with_people >= 5, f"{counter.stdout} after {time.monotonic() - t0:.0f} s\n{logs}"
    # The images really crossed the link: at least the frames that gave those persons.
    frame_bytes = 768 * 576 * 3 if transport == "raw" else 20_000
    received = hosts.rx_bytes("infer")
    assert received >= with_people * frame_bytes, logs
    if transport == "compressed":   # and only JPEG crossed: far less than one raw frame per message
        assert received < int(words[1]) * 768 * 576 * 3 / 4, (received, counter.stdout)
