"""The pose node over real DDS with the real default model and real images.

Each test starts a PoseNode in its own rclpy context next to a test node that plays
camera and consumer; everything goes through Fast DDS like on a robot.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from plugin_dists import install_dist, install_runtime_example
from pose_ros.core.skeletons import COCO18
from pose_ros.ros.pose_node.node import PARAMS, PoseNode
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from ros_testing import SINGLE_PASS, RosHarness, image_msg
from sample_media import sample_image
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import SetBool

from pose_ros_msgs.msg import PersonKeypointsArray, Skeleton

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
BEST_EFFORT = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
BASKETBALL = sample_image("basketball1.png")  # two players, 640x480 class image


class Rig:
    """A pose node plus a camera publisher and a persons subscriber."""

    def __init__(self, overrides: dict | None = None, camera_qos: QoSProfile = RELIABLE,
                 compressed: bool = False) -> None:
        self.ros = RosHarness()
        params = [Parameter(k, value=v) for k, v in {**SINGLE_PASS, **(overrides or {})}.items()]
        self.pose = self.ros.add(PoseNode(context=self.ros.context, parameter_overrides=params))
        self.client = self.ros.node("camera_and_consumer")
        topic, kind = ("image/compressed", CompressedImage) if compressed else ("image", Image)
        self.camera = self.client.create_publisher(kind, topic, camera_qos)
        self.persons: list[PersonKeypointsArray] = []
        self.client.create_subscription(PersonKeypointsArray, "persons", self.persons.append, RELIABLE)
        assert self.ros.spin_until(lambda: self.camera.get_subscription_count() > 0), "node never subscribed"
        if (overrides or {}).get("input_reliability", "auto") == "auto":
            # auto QoS: the node re-subscribes to match the camera within its 2 s check.
            assert self.ros.spin_until(lambda: self.input_reliability() == camera_qos.reliability, 10)
            assert self.ros.spin_until(lambda: self.camera.get_subscription_count() > 0)

    def input_reliability(self):
        return self.pose._image_sub.qos_profile.reliability

    def send(self, msg) -> None:
        self.camera.publish(msg)

    def send_until_answered(self, msg, timeout_s: float = 20.0) -> PersonKeypointsArray:
        """Best effort may lose a sample (e.g. before discovery settles): resend until answered."""
        stamp = _ns(msg)
        deadline = time.monotonic() + timeout_s
        while not any(_ns(m) == stamp for m in self.persons) and time.monotonic() < deadline:
            self.send(msg)
            self.ros.spin_until(lambda: any(_ns(m) == stamp for m in self.persons), 2.0)
        return self.output_for(stamp, 1.0)

    def output_for(self, stamp_ns: int, timeout_s: float = 20.0) -> PersonKeypointsArray:
        def found():
            return any(_ns(m) == stamp_ns for m in self.persons)
        assert self.ros.spin_until(found, timeout_s), f"no persons output for stamp {stamp_ns}"
        return next(m for m in self.persons if _ns(m) == stamp_ns)

    def close(self) -> None:
        self.ros.close()


def _ns(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


@pytest.fixture
def rig():
    r = Rig()
    yield r
    r.close()


def _assert_basketball_players(out: PersonKeypointsArray) -> None:
    assert out.skeleton == "coco18"
    assert (out.image_width, out.image_height) == (BASKETBALL.shape[1], BASKETBALL.shape[0])
    assert len(out.persons) == 2
    # The left player is seen whole; the right one turns away (head and shoulders).
    assert max(sum(k.score > 0 for k in p.keypoints) for p in out.persons) >= 14
    for person in out.persons:
        assert len(person.keypoints) == COCO18.num_keypoints
        found = [k for k in person.keypoints if k.score > 0]
        assert len(found) >= 5
        assert all(0 <= k.x < out.image_width and 0 <= k.y < out.image_height for k in found)
        neck = person.keypoints[1]
        hips = [person.keypoints[i] for i in (8, 11) if person.keypoints[i].score > 0]
        if neck.score > 0 and hips:
            assert neck.y < min(h.y for h in hips), "neck must be above the hips"
        assert person.bbox.width > 0 and person.bbox.height > person.bbox.width * 0.8
    # The two players stand side by side: their boxes' centres are far apart horizontally.
    cx = sorted(p.bbox.x_offset + p.bbox.width / 2 for p in out.persons)
    assert cx[1] - cx[0] > 100


def test_real_image_gives_two_players_with_the_image_header(rig):
    stamp = 1_700_000_000_123_456_789
    rig.send(image_msg(BASKETBALL, stamp, frame_id="front_camera_optical_frame"))
    out = rig.output_for(stamp)
    assert out.header.frame_id == "front_camera_optical_frame"
    _assert_basketball_players(out)
    assert [p.id for p in out.persons] and all(p.id for p in out.persons), "tracking ids are on by default"


def test_annotated_image_arrives_only_when_subscribed_and_differs_from_input(rig):
    annotated: list[Image] = []
    rig.client.create_subscription(Image, "image_annotated", annotated.append, RELIABLE)
    assert rig.ros.spin_until(lambda: rig.pose._annotated_pub.get_subscription_count() > 0)
    stamp = 1_700_000_001_000_000_000
    rig.send(image_msg(BASKETBALL, stamp))
    rig.output_for(stamp)
    assert rig.ros.spin_until(lambda: bool(annotated))
    img = annotated[0]
    assert (img.encoding, img.width, img.height) == ("bgr8", BASKETBALL.shape[1], BASKETBALL.shape[0])
    assert _ns(img) == stamp
    pixels = np.frombuffer(bytes(img.data), np.uint8).reshape(BASKETBALL.shape)
    changed = np.any(pixels != BASKETBALL, axis=2).mean()
    assert 0.001 < changed < 0.5, "skeletons are drawn on top of the camera image"


def test_skeleton_topic_reaches_a_late_subscriber(rig):
    stamp = 1_700_000_002_000_000_000
    rig.send(image_msg(BASKETBALL, stamp))
    rig.output_for(stamp)
    late = rig.ros.node("late_subscriber")
    skeletons: list[Skeleton] = []
    late.create_subscription(Skeleton, "skeleton", skeletons.append, LATCHED)
    assert rig.ros.spin_until(lambda: bool(skeletons))
    assert skeletons[0].name == "coco18"
    assert list(skeletons[0].keypoint_names) == list(COCO18.keypoint_names)
    assert list(skeletons[0].edges) == COCO18.flat_edges()


@pytest.mark.parametrize("qos", [RELIABLE, BEST_EFFORT], ids=["reliable", "best_effort"])
def test_reliable_and_best_effort_cameras_both_work(qos):
    rig = Rig(camera_qos=qos)
    try:
        assert len(rig.send_until_answered(image_msg(BASKETBALL, 1_700_000_003_000_000_000)).persons) == 2
    finally:
        rig.close()


def test_forced_best_effort_input_still_accepts_a_reliable_camera():
    rig = Rig({"input_reliability": "best_effort"})
    try:
        assert rig.input_reliability() == ReliabilityPolicy.BEST_EFFORT
        assert len(rig.send_until_answered(image_msg(BASKETBALL, 1_700_000_004_000_000_000)).persons) == 2
    finally:
        rig.close()


def test_flood_drops_frames_instead_of_lagging(rig):
    small = cv2.resize(BASKETBALL, (320, 240))
    # A few frames first, to know the processing time on this machine; the flood then comes
    # three times faster than that, whatever the CPU (a fixed 100 Hz was kept up with by
    # OpenVINO on a quick machine, and "most frames dropped" stopped being true).
    for stamp in (1_000, 2_000, 3_000):
        rig.send(image_msg(small, stamp))
        rig.output_for(stamp, 30)
    processing_s = rig.pose._inference.percentile(50) / 1000.0
    interval_s = min(0.01, max(0.002, processing_s / 3))
    before = rig.pose.stats()
    stamps = [2_000_000_000 + i * 10_000_000 for i in range(200)]
    next_at = time.monotonic()
    for stamp in stamps:
        rig.send(image_msg(small, stamp))
        next_at += interval_s
        rig.ros.spin_until(lambda: time.monotonic() >= next_at, 1.0)
    last_input_at = time.monotonic()
    out = rig.output_for(stamps[-1], 30)
    lag_s = time.monotonic() - last_input_at
    stats = rig.pose.stats()
    slowest_s = rig.pose._inference.percentile(100) / 1000.0  # slowest recent frame
    assert lag_s <= 2 * slowest_s + 0.25, f"output lagged {lag_s:.3f}s, processing {slowest_s:.3f}s"
    assert len(out.persons) == 2
    received = stats["frames_received"] - before["frames_received"]
    processed = stats["frames_processed"] - before["frames_processed"]
    dropped = stats["frames_dropped"] - before["frames_dropped"]
    # Depth-1 input: DDS itself may overwrite a sample before the callback runs;
    # whatever reached the node is either processed or counted as dropped.
    assert 20 <= received <= 200
    assert processed + dropped == received
    assert dropped > 0, "frames come 3x faster than processing: some must be dropped"
    assert processed < len(stamps) / 2, (
        f"{processed} of {len(stamps)} frames processed at {1 / interval_s:.0f} Hz with "
        f"{processing_s * 1e3:.1f} ms per frame: the node cannot have kept up")
    assert [_ns(m) for m in rig.persons] == sorted(_ns(m) for m in rig.persons), "outputs stay in order"


def test_out_of_order_frames_are_dropped_as_stale(rig):
    rig.send(image_msg(BASKETBALL, 5_000_000_000))
    rig.output_for(5_000_000_000)
    rig.send(image_msg(BASKETBALL, 4_500_000_000))  # 0.5 s older than the last processed frame
    assert rig.ros.spin_until(lambda: rig.pose.stats()["frames_stale"] == 1)
    rig.send(image_msg(BASKETBALL, 6_000_000_000))
    rig.output_for(6_000_000_000)
    assert not any(_ns(m) == 4_500_000_000 for m in rig.persons)


def _bad_messages():
    good = image_msg(BASKETBALL, 1)
    wrong_encoding = image_msg(BASKETBALL, 1)
    wrong_encoding.encoding = "32FC1"
    short = image_msg(BASKETBALL, 1)
    short.data = bytes(good.data)[: len(good.data) // 2]
    zero = image_msg(np.zeros((0, 0, 3), np.uint8), 1)
    zero.width = zero.height = 0
    huge = image_msg(BASKETBALL[:10, :10], 1)
    huge.width = huge.height = 10000  # declares 10000x10000 (300 MB) but we do not ship it
    huge.step = 30000
    return {"wrong_encoding": (wrong_encoding, "32FC1"), "data_shorter_than_step": (short, "bytes"),
            "zero_size": (zero, "0x0"), "enormous": (huge, "10000")}


@pytest.mark.parametrize("case", list(_bad_messages()))
def test_bad_frame_is_reported_and_next_good_frame_is_processed(rig, case):
    bad, words = _bad_messages()[case]
    bad.header.stamp.sec = 10
    rig.send(bad)
    assert rig.ros.spin_until(lambda: rig.pose.stats()["bad_input"] == 1, 10)
    error = rig.pose.stats()["last_error"]
    assert "bad image" in error
    assert words.lower() in error.lower(), error
    stamp = 20_000_000_000
    rig.send(image_msg(BASKETBALL, stamp))
    assert len(rig.output_for(stamp).persons) == 2
    assert rig.pose.stats()["last_error"] == ""


def test_one_pixel_image_is_refused_clearly_and_the_node_goes_on(rig):
    rig.send(image_msg(BASKETBALL[:1, :1], 30_000_000_000))
    assert rig.ros.spin_until(lambda: rig.pose.stats()["bad_input"] == 1)
    assert "1x1" in rig.pose.stats()["last_error"]
    rig.send(image_msg(BASKETBALL, 31_000_000_000))
    assert len(rig.output_for(31_000_000_000).persons) == 2


def test_zero_stamp_images_are_processed(rig):
    rig.send(image_msg(BASKETBALL, 0))  # zero stamp: processed, latency just not measured
    assert rig.ros.spin_until(lambda: any(_ns(m) == 0 for m in rig.persons), 20)
    assert rig.pose.stats()["bad_input"] == 0


def test_larger_than_max_image_pixels_is_rejected_then_recovers():
    rig = Rig({"max_image_pixels": 100_000})
    try:
        rig.send(image_msg(BASKETBALL, 1_000_000_000))  # 307,200 px > 100,000
        assert rig.ros.spin_until(lambda: rig.pose.stats()["bad_input"] == 1)
        assert "more than the limit 100000" in rig.pose.stats()["last_error"]
        small = cv2.resize(BASKETBALL, (320, 240))  # 76,800 px
        rig.send(image_msg(small, 2_000_000_000))
        assert len(rig.output_for(2_000_000_000).persons) == 2
    finally:
        rig.close()


def test_compressed_transport_handles_corrupt_jpeg_then_a_good_one():
    rig = Rig({"image_transport": "compressed"}, compressed=True)
    try:
        ok, jpeg = cv2.imencode(".jpg", BASKETBALL)
        assert ok
        corrupt = CompressedImage(format="jpeg", data=bytes(jpeg[:200]) + b"\x00" * 100)
        corrupt.header.stamp.sec = 1
        rig.send(corrupt)
        assert rig.ros.spin_until(lambda: rig.pose.stats()["bad_input"] == 1)
        assert "corrupt" in rig.pose.stats()["last_error"]
        good = CompressedImage(format="jpeg", data=jpeg.tobytes())
        good.header.stamp.sec = 2
        rig.send(good)
        assert len(rig.output_for(2_000_000_000).persons) == 2
    finally:
        rig.close()


def test_threshold_change_at_run_time_takes_effect(rig):
    rig.send(image_msg(BASKETBALL, 1_000_000_000))
    assert len(rig.output_for(1_000_000_000).persons) == 2
    result = rig.pose.set_parameters([Parameter("min_parts", value=19)])[0]
    assert result.successful, result.reason
    rig.send(image_msg(BASKETBALL, 2_000_000_000))
    assert rig.output_for(2_000_000_000).persons == [], "nobody has 19 of 18 parts"
    rig.pose.set_parameters([Parameter("min_parts", value=3), Parameter("max_persons", value=1)])
    rig.send(image_msg(BASKETBALL, 3_000_000_000))
    assert len(rig.output_for(3_000_000_000).persons) == 1


@pytest.mark.parametrize("name,value,reason", [
    ("heatmap_threshold", 1.0, "heatmap_threshold"),  # in the descriptor's range, refused by the parser
    ("dnn_backend", "tpu", "one of"),
    ("runtime", "no_such_runtime", "installed: auto, "),
    ("precision", "int8", "one of"),
    ("device", " ", "empty"),
    ("estimator", "no_such_plugin", "openpose_dnn"),
    ("model", "", "empty"),
    ("model", "no_such_model", "mobilenet_thin"),
    ("scales", [1.0, 5.0], "(0, 4]"),
    ("scales", [0.0], "(0, 4]"),
    ("min_keypoint_score", 1.5, "min_keypoint_score"),
])
def test_invalid_parameter_values_are_rejected_with_a_reason(rig, name, value, reason):
    before = rig.pose.get_parameter(name).value
    result = rig.pose.set_parameters([Parameter(name, value=value)])[0]
    assert not result.successful
    assert reason in result.reason
    assert rig.pose.get_parameter(name).value == before


def test_input_size_change_reloads_the_estimator(rig):
    result = rig.pose.set_parameters([Parameter("input_width", value=320), Parameter("input_height", value=240)])
    assert all(r.successful for r in result)
    rig.send(image_msg(BASKETBALL, 1_000_000_000))
    rig.output_for(1_000_000_000)
    assert rig.pose._estimator.describe()["input_size"] == [320, 240]


def test_scales_and_flip_reload_the_estimator_with_them(rig):
    result = rig.pose.set_parameters([Parameter("scales", value=[1.0, 0.5]), Parameter("flip", value=True)])
    assert all(r.successful for r in result), [r.reason for r in result]
    rig.send(image_msg(BASKETBALL, 1_000_000_000))
    _assert_basketball_players(rig.output_for(1_000_000_000, 60.0))
    info = rig.pose._estimator.describe()
    assert (info["scales"], info["flip"]) == ([1.0, 0.5], True)


def test_min_keypoint_score_hides_weak_keypoints_at_run_time(rig):
    rig.send(image_msg(BASKETBALL, 1_000_000_000))
    before = [k.score for p in rig.output_for(1_000_000_000).persons for k in p.keypoints if k.score > 0]
    floor = float(np.median(before))
    assert rig.pose.set_parameters([Parameter("min_keypoint_score", value=floor)])[0].successful
    rig.send(image_msg(BASKETBALL, 2_000_000_000))
    after = [k.score for p in rig.output_for(2_000_000_000).persons for k in p.keypoints if k.score > 0]
    assert after and min(after) >= floor
    assert len(after) < len(before)


def test_enable_service_stops_and_restarts_output(rig):
    client = rig.client.create_client(SetBool, "/pose_node/enable")
    assert client.wait_for_service(timeout_sec=5)
    future = client.call_async(SetBool.Request(data=False))
    assert rig.ros.spin_until(future.done)
    assert future.result().success
    rig.send(image_msg(BASKETBALL, 1_000_000_000))
    assert rig.ros.spin_until(lambda: rig.pose.stats()["ignored_disabled"] == 1)
    assert rig.pose.stats()["frames_received"] == 0 and not rig.persons
    future = client.call_async(SetBool.Request(data=True))
    assert rig.ros.spin_until(future.done)
    rig.send(image_msg(BASKETBALL, 2_000_000_000))
    assert len(rig.output_for(2_000_000_000).persons) == 2


def test_diagnostics_report_rates_latency_and_backend(rig):
    diags: list[DiagnosticArray] = []
    rig.client.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 10)
    for i in range(3):
        stamp = rig.pose.get_clock().now().nanoseconds
        rig.send(image_msg(BASKETBALL, stamp))
        rig.output_for(stamp)

    def has_numbers():
        for array in diags:
            values = {kv.key: kv.value for kv in array.status[0].values}
            if values.get("frames_processed") == "3":
                return True
        return False
    assert rig.ros.spin_until(has_numbers, 5)
    status = [a for a in diags if {kv.key: kv.value for kv in a.status[0].values}.get("frames_processed") == "3"]
    values = {kv.key: kv.value for kv in status[-1].status[0].values}
    assert status[-1].status[0].name == "/pose_node: pose"
    assert values["backend"] == "cpu" and values["model"] == "mobilenet_thin"
    assert values["device"] == "cpu" and values["precision"] == "f32"
    assert values["runtime"] == rig.pose._estimator.describe()["runtime"] != "n/a"
    assert float(values["latency_p50_ms"]) > 0 and float(values["inference_ms"]) > 0
    assert float(values["latency_p95_ms"]) >= float(values["latency_p50_ms"])


FAILING_PLUGIN = '''
from pose_ros.estimators import COMMON_OPTIONS, Estimator
from pose_ros.core.skeletons import COCO18


class Exploding(Estimator):
    """A third-party backend with a bug: every inference raises."""

    @property
    def skeleton(self):
        return COCO18

    def infer(self, image):
        raise RuntimeError("CUDA kernel exploded")

    def describe(self):
        return {"estimator": "exploding", "model": "none", "backend": "none", "target": "none",
                "input_size": None}
'''


@pytest.fixture
def exploding_plugin(tmp_path, monkeypatch):
    """A real entry point in the pose_ros.estimators group, installed in tmp_path."""
    (tmp_path / "exploding_plugin.py").write_text(FAILING_PLUGIN)
    install_dist(tmp_path, "exploding-plugin", "pose_ros.estimators", ["exploding = exploding_plugin:Exploding"])
    monkeypatch.syspath_prepend(str(tmp_path))
    from pose_ros import estimators
    estimators.clear_discovery_cache()
    yield "exploding"
    estimators.clear_discovery_cache()


def test_failing_plugin_is_reported_as_error_and_the_node_recovers(rig, exploding_plugin):
    diags: list[DiagnosticArray] = []
    rig.client.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 10)
    assert rig.pose.set_parameters([Parameter("estimator", value=exploding_plugin)])[0].successful
    rig.send(image_msg(BASKETBALL, 1_000_000_000))
    assert rig.ros.spin_until(lambda: rig.pose.stats()["estimator_errors"] == 1)
    error = rig.pose.stats()["last_error"]
    assert "exploding" in error and "RuntimeError: CUDA kernel exploded" in error and "640x480" in error

    def error_reported():
        return any(a.status[0].level == DiagnosticStatus.ERROR and "exploded" in a.status[0].message
                   for a in diags)
    assert rig.ros.spin_until(error_reported, 5)

    assert rig.pose.set_parameters([Parameter("estimator", value="openpose_dnn")])[0].successful
    rig.send(image_msg(BASKETBALL, 2_000_000_000))
    assert len(rig.output_for(2_000_000_000).persons) == 2
    assert rig.pose.stats()["last_error"] == ""


def test_missing_model_keeps_the_node_alive_with_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("POSE_ROS_MODELS", str(tmp_path))  # an empty model cache
    rig = Rig()
    try:
        stats = rig.pose.stats()
        assert "pose_ros_models fetch mobilenet_thin" in stats["last_error"]
        rig.send(image_msg(BASKETBALL, 1_000_000_000))
        assert rig.ros.spin_until(lambda: rig.pose.stats()["estimator_errors"] >= 1)
        assert rig.persons == []
    finally:
        rig.close()


@pytest.mark.parametrize("name,value", [
    ("input_reliability", "sometimes"),   # not a choice: the node would have no subscription
    ("heatmap_threshold", 1.0),           # within the descriptor range, refused by the parser
    ("input_width", 433),                 # not a multiple of 8: refused by the descriptor
])
def test_invalid_start_up_parameter_falls_back_to_its_default_and_the_node_runs(name, value):
    rig = Rig({name: value})
    try:
        default = next(p.default for p in PARAMS if p.name == name)
        assert rig.pose.get_parameter(name).value == default
        stamp = 1_000_000_000
        assert len(rig.send_until_answered(image_msg(BASKETBALL, stamp)).persons) == 2
    finally:
        rig.close()


def test_start_up_only_parameter_cannot_change_at_run_time(rig):
    result = rig.pose.set_parameters([Parameter("image_transport", value="compressed")])[0]
    assert not result.successful and "start-up" in result.reason
    assert rig.pose.get_parameter("image_transport").value == "raw"


def test_stamps_jumping_back_in_time_restart_the_order_instead_of_silencing_the_node(rig):
    rig.send(image_msg(BASKETBALL, 50_000_000_000))
    first_ids = [p.id for p in rig.output_for(50_000_000_000).persons]
    rig.send(image_msg(BASKETBALL, 2_000_000_000))  # a bag looped: 48 s back
    assert len(rig.output_for(2_000_000_000).persons) == 2
    stats = rig.pose.stats()
    assert stats["time_jumps"] == 1 and stats["frames_stale"] == 0
    again = [p.id for p in rig.output_for(2_000_000_000).persons]
    assert not set(again) & set(first_ids), "tracks from before the jump are forgotten"


def _diag_values(diags: list) -> list:
    return [(a.status[0], {kv.key: kv.value for kv in a.status[0].values}) for a in diags]


def test_runtime_switch_at_run_time_takes_effect_without_restart(rig):
    pytest.importorskip("openvino", reason="switching needs both built-in runtimes")
    diags: list[DiagnosticArray] = []
    rig.client.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 10)
    before = rig.pose._estimator
    cv2.setNumThreads(-1)
    default_threads = cv2.getNumThreads()
    for i, runtime in enumerate(("openvino", "opencv", "openvino")):
        assert rig.pose.set_parameters([Parameter("runtime", value=runtime)])[0].successful
        stamp = (i + 1) * 1_000_000_000
        rig.send(image_msg(BASKETBALL, stamp))
        _assert_basketball_players(rig.output_for(stamp))
        assert rig.pose._estimator.describe()["runtime"] == runtime
        # OpenCV's pool steps aside for OpenVINO's threads and comes back for cv2.dnn
        assert cv2.getNumThreads() == (1 if runtime == "openvino" else default_threads)
        assert rig.ros.spin_until(lambda: any(v.get("runtime") == runtime and v.get("frames_processed") == str(i + 1)
                                              for _, v in _diag_values(diags)), 5)
    assert rig.pose._estimator is not before and rig.pose.stats()["last_error"] == ""


@pytest.fixture
def missing_runtime(tmp_path, monkeypatch):
    """A real pose_ros.runtimes entry point whose library is not installed (runtime_plugin_example)."""
    from pose_ros import runtimes
    install_runtime_example(tmp_path, ["missing_library_example = pose_ros_test_runtime:MissingLibraryRuntime"])
    monkeypatch.syspath_prepend(str(tmp_path))
    runtimes.clear_discovery_cache()
    yield "missing_library_example"
    runtimes.clear_discovery_cache()


def test_unavailable_runtime_is_an_error_naming_the_install_while_the_old_one_serves(rig, missing_runtime):
    diags: list[DiagnosticArray] = []
    rig.client.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 10)
    serving = rig.pose._estimator.describe()["runtime"]
    assert rig.pose.set_parameters([Parameter("runtime", value=missing_runtime)])[0].successful
    rig.send(image_msg(BASKETBALL, 1_000_000_000))
    _assert_basketball_players(rig.output_for(1_000_000_000))   # the previous estimator keeps serving

    def error_reported():
        return any(status.level == DiagnosticStatus.ERROR and "pip install pose-ros-example-accelerator"
                   in status.message and values.get("runtime") == serving for status, values in _diag_values(diags))
    assert rig.ros.spin_until(error_reported, 5)


def test_the_default_zoom_and_budget_find_the_players():
    """The node at its real defaults (zoom passes, 50 ms budget, precision auto): what the
    estimator chose is in the diagnostics, and the two players are found."""
    rig = Rig({"zoom": True, "frame_budget_ms": 50.0, "precision": "auto"})
    try:
        rig.send(image_msg(BASKETBALL, 1_000_000_000))
        found = len(rig.output_for(1_000_000_000).persons)
        info = rig.pose._estimator.describe()
        assert info["frame_budget_ms"] == 50.0 and info["zoom"]["enabled"] is True
        assert info["precision"] in ("f32", "bf16")
        assert found >= 1   # 2 on a quiet machine; the budget follows the measured load
    finally:
        rig.close()


def test_the_node_finds_far_people_on_a_cameras_later_frames():
    """The lookout through the node: it passes the camera to the estimator, so from the second
    frame on far people that no single frame's passes show are scanned for and followed.
    No budget here (every scan tile each frame): the test is about the node's wiring, not load."""
    from labelled_frames import far_sequence, found
    from pose_ros.ros.convert.persons import msg_to_persons

    lead, labelled, labels = far_sequence(3)
    rig = Rig({"zoom": True, "frame_budget_ms": 0.0, "precision": "auto", "scan_scale": 2.0})
    try:
        stamp = 1_000_000_000
        first = rig.send_until_answered(image_msg(labelled, stamp))
        for frame in lead + [labelled]:
            stamp += 100_000_000
            last = rig.send_until_answered(image_msg(frame, stamp))
        assert found(msg_to_persons(first), COCO18, labels) == 0      # the first frame: as a still, nobody
        assert found(msg_to_persons(last), COCO18, labels) >= len(labels) // 2
    finally:
        rig.close()
