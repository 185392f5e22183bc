"""The pose node as a managed (lifecycle) node, driven over DDS through ``lifecycle_msgs`` services.

A camera streams real images the whole time; every transition is asked for through
``/pose_node/change_state`` and checked through ``/pose_node/get_state``, /diagnostics, what a
consumer receives and what the node holds (subscriptions, worker thread, estimator, RSS).
"""

from __future__ import annotations

import gc
import threading
import weakref

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from pose_ros.ros.convert.images import stamp_ns
from pose_ros.ros.pose_node.node import PoseNode
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_testing import SINGLE_PASS, RosHarness, image_msg
from sample_media import sample_image
from sensor_msgs.msg import Image

from pose_ros_msgs.msg import PersonKeypointsArray

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
BASKETBALL = sample_image("basketball1.png")
FRAME_PERIOD_S = 0.1   # the camera's rate: 10 Hz, frames keep coming through every transition
MIN_CLEANUP_DROP_MB = 20.0   # measured: cv2.dnn 180 -> 137 MB, OpenVINO 300 -> 235 MB


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))


def _worker_threads() -> list:
    return [t for t in threading.enumerate() if t.name == "pose_worker"]


class ManagedRig:
    """A pose node (autostart false unless told) with a 10 Hz camera, a consumer, /diagnostics
    and lifecycle service clients, all in one private context."""

    def __init__(self, overrides: dict | None = None) -> None:
        self.ros = RosHarness()
        params = {"autostart": False, **SINGLE_PASS, **(overrides or {})}
        self.pose = self.ros.add(PoseNode(context=self.ros.context,
                                          parameter_overrides=[Parameter(k, value=v) for k, v in params.items()]))
        self.client = self.ros.node("lifecycle_manager_and_camera")
        self.camera = self.client.create_publisher(Image, "image", RELIABLE)
        self.sent: list[int] = []          # stamps the camera published, in order
        self.persons: list[PersonKeypointsArray] = []
        self.diagnostics: list[dict] = []  # (level, message, values) of this node's statuses
        self.client.create_subscription(PersonKeypointsArray, "persons", self.persons.append, RELIABLE)
        self.client.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self.client.create_timer(FRAME_PERIOD_S, self._send_frame)
        self._change = self.client.create_client(ChangeState, "/pose_node/change_state")
        self._get = self.client.create_client(GetState, "/pose_node/get_state")
        assert self._change.wait_for_service(timeout_sec=10) and self._get.wait_for_service(timeout_sec=10)

    def _send_frame(self) -> None:
        stamp = self.client.get_clock().now().nanoseconds
        self.camera.publish(image_msg(BASKETBALL, stamp))
        self.sent.append(stamp)

    def _on_diagnostics(self, array: DiagnosticArray) -> None:
        for status in array.status:
            if status.name == "/pose_node: pose":
                values = {kv.key: kv.value for kv in status.values}
                self.diagnostics.append({"level": status.level, "message": status.message, "values": values})

    def change(self, transition: int) -> bool:
        future = self._change.call_async(ChangeState.Request(transition=Transition(id=transition)))
        assert self.ros.spin_until(future.done, 30), f"no answer to transition {transition}"
        return future.result().success

    def state(self) -> str:
        future = self._get.call_async(GetState.Request())
        assert self.ros.spin_until(future.done, 10)
        return future.result().current_state.label

    def diagnosed(self, state: str, since: int = 0) -> dict:
        """The first status reporting ``state`` from the ``since``-th status on (waits for it)."""
        def found():
            return next((d for d in self.diagnostics[since:] if d["values"].get("lifecycle_state") == state), None)
        assert self.ros.spin_until(lambda: found() is not None, 10), self.diagnostics[-3:]
        return found()

    def outputs_after(self, stamp: int) -> list:
        return [m for m in self.persons if stamp_ns(m.header) > stamp]

    def frames_sent_after(self, stamp: int, count: int) -> None:
        """Wait until the camera published ``count`` more frames after ``stamp`` (evidence, not a sleep)."""
        assert self.ros.spin_until(lambda: sum(s > stamp for s in self.sent) >= count, 10 + count * FRAME_PERIOD_S)

    def close(self) -> None:
        self.ros.close()



@pytest.fixture
def rig():
    r = ManagedRig()
    yield r
    r.close()


def _assert_silent_while(rig: ManagedRig, state: str) -> None:
    """Frames keep coming, yet the node subscribes nothing, runs no worker, publishes no persons."""
    start = rig.sent[-1] if rig.sent else 0
    seen = len(rig.diagnostics)
    rig.frames_sent_after(start, 10)
    assert rig.diagnosed(state, since=seen)["level"] == DiagnosticStatus.OK
    assert rig.ros.spin_until(lambda: rig.camera.get_subscription_count() == 0)
    assert list(rig.pose.subscriptions) == [] and not _worker_threads()
    assert list(rig.pose.timers) == [rig.pose._diagnostics.timer], "only the diagnostics timer runs"
    assert rig.outputs_after(start) == []


def _only_diagnostics_and_parameter_events(node: PoseNode) -> bool:
    return {p.topic_name for p in node.publishers} == {"/diagnostics", "/parameter_events"}


def test_every_transition_over_the_lifecycle_services_with_frames_flowing(rig):
    assert rig.state() == "unconfigured"
    assert "configure" in rig.diagnosed("unconfigured")["message"]
    _assert_silent_while(rig, "unconfigured")

    assert rig.change(Transition.TRANSITION_CONFIGURE)
    assert rig.state() == "inactive"
    _assert_silent_while(rig, "inactive")   # the model is loaded, nothing else happens
    estimator = weakref.ref(rig.pose._estimator)

    assert rig.change(Transition.TRANSITION_ACTIVATE)
    activated = rig.sent[-1]
    assert rig.state() == "active"
    assert rig.ros.spin_until(lambda: len(rig.outputs_after(activated)) >= 2, 30), "no output once active"
    assert len(rig.outputs_after(activated)[-1].persons) == 2
    assert rig.diagnosed("active", since=len(rig.diagnostics))["message"] == "running"
    rss_active = _rss_mb()

    # deactivate: output stops (frames still come), the model stays loaded
    assert rig.change(Transition.TRANSITION_DEACTIVATE)
    deactivated = rig.sent[-1]
    received = rig.pose.stats()["frames_received"]
    _assert_silent_while(rig, "inactive")
    assert rig.outputs_after(deactivated) == [] and rig.pose.stats()["frames_received"] == received
    assert rig.pose._estimator is estimator()

    # activate again: output resumes with the same model
    assert rig.change(Transition.TRANSITION_ACTIVATE)
    reactivated = rig.sent[-1]
    assert rig.ros.spin_until(lambda: len(rig.outputs_after(reactivated)) >= 2, 30), "output did not resume"
    assert rig.pose._estimator is estimator()

    # deactivate + cleanup: the estimator is freed and the process shrinks
    assert rig.change(Transition.TRANSITION_DEACTIVATE) and rig.change(Transition.TRANSITION_CLEANUP)
    assert rig.state() == "unconfigured"
    gc.collect()
    assert estimator() is None, f"the estimator is still referenced by {gc.get_referrers(estimator())}"
    rss_clean = _rss_mb()
    assert rss_active - rss_clean >= MIN_CLEANUP_DROP_MB, f"RSS {rss_active:.0f} MB -> {rss_clean:.0f} MB"
    assert _only_diagnostics_and_parameter_events(rig.pose), "cleanup destroys the publishers"
    _assert_silent_while(rig, "unconfigured")

    # and round again, then shutdown straight from active
    assert rig.change(Transition.TRANSITION_CONFIGURE) and rig.change(Transition.TRANSITION_ACTIVATE)
    again = rig.sent[-1]
    assert rig.ros.spin_until(lambda: len(rig.outputs_after(again)) >= 1, 30)
    assert rig.change(Transition.TRANSITION_ACTIVE_SHUTDOWN)
    assert rig.state() == "finalized"
    assert not _worker_threads() and list(rig.pose.subscriptions) == []


CONFIGURE, ACTIVATE = Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE


@pytest.mark.parametrize("state,path,shutdown", [
    ("unconfigured", [], Transition.TRANSITION_UNCONFIGURED_SHUTDOWN),
    ("inactive", [CONFIGURE], Transition.TRANSITION_INACTIVE_SHUTDOWN),
    ("active", [CONFIGURE, ACTIVATE], Transition.TRANSITION_ACTIVE_SHUTDOWN),
])
def test_shutdown_from_any_state_is_clean(rig, state, path, shutdown):
    for transition in path:
        assert rig.change(transition)
    assert rig.state() == state
    assert rig.change(shutdown)
    assert rig.state() == "finalized"
    assert rig.pose._pipeline is None and not _worker_threads()
    assert list(rig.pose.subscriptions) == [] and list(rig.pose.timers) == [rig.pose._diagnostics.timer]
    assert rig.ros.spin_until(lambda: rig.camera.get_subscription_count() == 0)
    assert _only_diagnostics_and_parameter_events(rig.pose)
    assert rig.diagnosed("finalized", since=len(rig.diagnostics))["level"] == DiagnosticStatus.OK


def test_a_missing_model_file_fails_configure_and_leaves_the_node_unconfigured_with_the_reason(tmp_path):
    model = tmp_path / "pose_model.pb"
    model.write_bytes(b"weights")   # exists when the parameter is set: the check accepts it
    rig = ManagedRig({"model": str(model)})
    try:
        model.unlink()                 # ... and is gone by configure (a disk not mounted yet)
        assert not rig.change(Transition.TRANSITION_CONFIGURE)
        assert rig.state() == "unconfigured"
        status = rig.diagnosed("unconfigured", since=len(rig.diagnostics))
        assert status["level"] == DiagnosticStatus.ERROR
        assert status["message"].startswith("unconfigured: configure failed: cannot load estimator")
        assert str(model) in status["message"] and "retrying" not in status["message"]
        assert str(model) in rig.pose.stats()["last_error"]
        assert list(rig.pose.subscriptions) == [] and rig.pose._pipeline is None
        assert _only_diagnostics_and_parameter_events(rig.pose)

        # the manager fixes the parameter and configures again: the reason goes away
        assert rig.pose.set_parameters([Parameter("model", value="mobilenet_thin")])[0].successful
        assert rig.change(Transition.TRANSITION_CONFIGURE) and rig.change(Transition.TRANSITION_ACTIVATE)
        since = rig.sent[-1]
        assert rig.ros.spin_until(lambda: len(rig.outputs_after(since)) >= 1, 30)
        assert rig.pose.stats()["last_error"] == ""
    finally:
        rig.close()


def test_a_model_not_fetched_fails_configure_with_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("POSE_ROS_MODELS", str(tmp_path))  # an empty model cache
    rig = ManagedRig()
    try:
        assert not rig.change(Transition.TRANSITION_CONFIGURE)
        assert rig.state() == "unconfigured"
        status = rig.diagnosed("unconfigured", since=len(rig.diagnostics))
        assert status["level"] == DiagnosticStatus.ERROR
        assert "pose_ros_models fetch mobilenet_thin" in status["message"]
    finally:
        rig.close()


def test_start_up_parameters_change_only_while_unconfigured(rig):
    assert rig.pose.set_parameters([Parameter("output_depth", value=5)])[0].successful
    assert rig.change(Transition.TRANSITION_CONFIGURE)
    refused = rig.pose.set_parameters([Parameter("output_depth", value=7)])[0]
    assert not refused.successful and "start-up" in refused.reason
    assert rig.pose._annotated_pub.qos_profile.depth == 5   # read by configure
    assert rig.change(Transition.TRANSITION_CLEANUP)
    assert rig.pose.set_parameters([Parameter("output_depth", value=7)])[0].successful


def test_autostart_runs_at_once_and_reports_active():
    rig = ManagedRig({"autostart": True})
    try:
        assert rig.state() == "active"
        since = rig.sent[-1] if rig.sent else 0
        assert rig.ros.spin_until(lambda: len(rig.outputs_after(since)) >= 1, 30)
        assert rig.diagnosed("active")["values"]["lifecycle_state"] == "active"
        assert not rig.pose.set_parameters([Parameter("autostart", value=False)])[0].successful   # read-only
    finally:
        rig.close()
