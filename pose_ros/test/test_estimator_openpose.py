"""The cv2.dnn OpenPose estimator with the real default model on real photos.

Images: Debian opencv-doc samples. ``basketball1.png`` (a mono PNG) shows two
players: the left one faces the camera, the right one is seen from the side/back.
``messi5.jpg`` shows Messi facing the camera (his right arm stretched to the image's
left) in front of a blurred crowd. The regions below are hand-labelled boxes around
each player (x0, y0, x1, y1 in source pixels).

A person facing the camera has their right side on the image's LEFT, so their
RShoulder/RHip have a SMALLER x than LShoulder/LHip.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from pose_ros.core.paf import DecodeParams
from pose_ros.estimators import EstimatorError
from pose_ros.estimators.openpose_dnn import OpenPoseDnnEstimator, resolve_precision
from pose_ros.runtimes import opencv_support, openvino_runtime
from pose_ros.runtimes.opencv_dnn import BACKENDS, backend_problem
from sample_media import SINGLE_F32_PASS

from pose_ros import models

DATA = Path("/usr/share/doc/opencv-doc/examples/data")
LEFT_PLAYER = (25, 70, 180, 480)
RIGHT_PLAYER = (430, 15, 640, 480)
MESSI = (60, 55, 460, 342)


def sample(name: str, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{path} missing: install Debian/Ubuntu package opencv-doc")
    image = cv2.imread(str(path), flags)
    assert image is not None, f"cannot decode {path}"
    return image



@pytest.fixture(scope="module")
def estimator(model_file) -> OpenPoseDnnEstimator:
    """One f32 pass: most tests here count people, and the defaults' zoom passes and budget
    follow the machine's load (they are tested in test_zoom and test_budget)."""
    return OpenPoseDnnEstimator(**SINGLE_F32_PASS)


@pytest.fixture(scope="module")
def default_estimator(model_file) -> OpenPoseDnnEstimator:
    return OpenPoseDnnEstimator()


@pytest.fixture(scope="module")
def basketball(estimator):
    return estimator.infer(sample("basketball1.png"))


@pytest.fixture(scope="module")
def messi(estimator):
    return estimator.infer(sample("messi5.jpg"))


def kp(person, name: str, estimator) -> np.ndarray:
    i = estimator.skeleton.index(name)
    assert person.keypoints[i, 2] > 0, f"{name} not detected"
    return person.keypoints[i, :2]


def inside(person, box) -> bool:
    x0, y0, x1, y1 = box
    pts = person.keypoints[person.keypoints[:, 2] > 0, :2]
    return bool(len(pts)) and bool(np.all((pts[:, 0] >= x0) & (pts[:, 0] <= x1)
                                          & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)))


def largest(result):
    return max(result.persons, key=lambda p: p.bbox[2] * p.bbox[3])


# --------------------------------------------------------------------------- accuracy


def test_two_players_each_on_their_own_body(basketball):
    assert len(basketball.persons) == 2
    assert (basketball.image_width, basketball.image_height) == (640, 480)
    on_left = [p for p in basketball.persons if inside(p, LEFT_PLAYER)]
    on_right = [p for p in basketball.persons if inside(p, RIGHT_PLAYER)]
    assert len(on_left) == 1 and len(on_right) == 1
    assert on_left[0].num_detected >= 14          # whole body visible
    assert on_right[0].num_detected >= 4          # seen from behind: head and shoulders


def test_front_facing_player_is_upright_and_not_mirrored(basketball, estimator):
    player = next(p for p in basketball.persons if inside(p, LEFT_PLAYER))
    nose, neck = kp(player, "Nose", estimator), kp(player, "Neck", estimator)
    hips_y = min(kp(player, "RHip", estimator)[1], kp(player, "LHip", estimator)[1])
    assert nose[1] < neck[1] < hips_y                                  # y grows downwards
    for side in "RL":
        assert kp(player, f"{side}Hip", estimator)[1] < kp(player, f"{side}Knee", estimator)[1] \
            < kp(player, f"{side}Ankle", estimator)[1]
    for part in ("Shoulder", "Hip", "Eye"):
        assert kp(player, "R" + part, estimator)[0] < kp(player, "L" + part, estimator)[0], part


def test_messi_found_upright_and_not_mirrored(messi, estimator):
    player = largest(messi)
    assert inside(player, MESSI)
    assert player.num_detected >= 12
    assert player.score == max(p.score for p in messi.persons)
    hips_y = min(kp(player, "RHip", estimator)[1], kp(player, "LHip", estimator)[1])
    assert kp(player, "Nose", estimator)[1] < kp(player, "Neck", estimator)[1] < hips_y
    assert kp(player, "RShoulder", estimator)[0] < kp(player, "LShoulder", estimator)[0]
    assert kp(player, "RHip", estimator)[0] < kp(player, "LHip", estimator)[0]
    # his right arm is the one stretched out to the image's left
    assert kp(player, "RElbow", estimator)[0] < kp(player, "RShoulder", estimator)[0]


def test_mono_input_matches_bgr(estimator, basketball):
    gray = sample("basketball1.png", cv2.IMREAD_GRAYSCALE)   # the PNG itself is mono
    assert gray.ndim == 2
    for image in (gray, gray[:, :, None]):
        result = estimator.infer(image)
        assert len(result.persons) == len(basketball.persons)
        for a, b in zip(result.persons, basketball.persons):
            np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-3)


def test_manifest_preprocessing_beats_the_common_copy_paste(model_file, messi):
    """Raw BGR is right for this graph; mean 127.5 + swapRB (seen in many samples) is not."""
    wrong = OpenPoseDnnEstimator(mean=127.5, swap_rb=True, warmup=False)
    wrong_result = wrong.infer(sample("messi5.jpg"))
    assert wrong.describe()["preprocessing"] == {"scale": 1.0, "mean": [127.5] * 3, "swap_rb": True}
    found_right = sum(p.num_detected for p in messi.persons)
    found_wrong = sum(p.num_detected for p in wrong_result.persons)
    assert found_wrong < found_right / 2


# --------------------------------------------------------------------------- API behaviour


@pytest.mark.parametrize("image", [np.zeros((1, 1, 3), np.uint8), np.zeros((0, 0, 3), np.uint8),
                                   np.zeros((0, 10), np.uint8), None])
def test_unusable_images_raise(estimator, image):
    with pytest.raises(EstimatorError):
        estimator.infer(image)


def test_timings_reported(basketball, default_estimator):
    assert set(basketball.timings_ms) == {"preprocess", "forward", "parse"}
    assert all(v > 0 for v in basketball.timings_ms.values())
    timings = default_estimator.infer(sample("basketball1.png")).timings_ms
    assert set(timings) == {"preprocess", "forward", "parse", "zoom"}


def test_describe_reports_what_runs(default_estimator, model_file):
    info = default_estimator.describe()
    assert info["estimator"] == "openpose_dnn" and info["model"] == "mobilenet_thin"
    assert info["runtime"] in ("openvino", "opencv") and info["requested_runtime"] == "auto"
    expected = "bf16" if info["runtime"] == "openvino" and openvino_runtime.native_bf16() else "f32"
    assert info["device"] == info["backend"] == "cpu" and info["precision"] == expected
    assert info["requested_precision"] == "auto" and info["precision_choice"].startswith(f"auto: {expected} (")
    assert info["fallback_reason"] is None
    # the budget keeps 432x368 unless this machine runs it at over 75 ms (see test_budget)
    width, height = info["input_size"]
    assert info["max_input_size"] == [432, 368] and info["input_choice"].startswith(f"{width}x{height}: ")
    assert info["model_files"]["weights"] == str(model_file)
    assert info["model_state"] == models.VERIFIED
    assert info["opencv"] == cv2.__version__


def test_precision_auto_takes_bf16_only_on_amx_with_openvino():
    amx = "amx_bf16" in openvino_runtime.cpu_flags()
    assert resolve_precision("auto", "openvino", "cpu")[0] == ("bf16" if amx else "f32")
    assert resolve_precision("auto", "opencv", "cpu")[0] == "f32"
    assert resolve_precision("auto", "openvino", "gpu")[0] == "f32"
    assert resolve_precision("f16", "openvino", "gpu") == ("f16", "requested")
    assert openvino_runtime.native_bf16(frozenset({"avx512_bf16", "avx512f"})) is False   # AMD EPYC Zen 4
    assert openvino_runtime.native_bf16(frozenset({"amx_bf16", "amx_tile"})) is True


def test_the_defaults_report_their_budget_and_zoom(default_estimator):
    info = default_estimator.describe()
    assert info["frame_budget_ms"] == 50.0 and info["max_input_size"] == [432, 368]
    assert info["input_choice"].endswith("1.5x the 50 ms frame budget")
    assert info["cost_model"]["ms_per_mpx"] > 0 and info["cost_model"]["overhead_ms"] >= 0
    assert info["zoom"]["enabled"] is True and info["zoom"]["scale"] == 1.25


@pytest.mark.parametrize("options", [{"zoom_scale": -1}, {"zoom_scale": 9}, {"frame_budget_ms": "soon"},
                                     {"frame_budget_ms": -5}, {"precision": "int8"}, {"zoom": "maybe"}])
def test_bad_zoom_budget_and_precision_options_are_refused(model_file, options):
    with pytest.raises(EstimatorError):
        OpenPoseDnnEstimator(warmup=False, **options)


def test_legacy_backend_option_selects_cv2_dnn(model_file):
    info = OpenPoseDnnEstimator(backend="cpu", warmup=False).describe()
    assert info["runtime"] == "opencv" and info["backend"] == "cpu" and info["target"] == "DNN_TARGET_CPU"
    assert info["dnn_backend"] == "DNN_BACKEND_OPENCV" and info["fallback_reason"] is None


def test_unavailable_backend_falls_back_loudly_or_refuses(model_file, caplog):
    caps = opencv_support.opencv_capabilities()
    unusable = {name: backend_problem(name, caps) for name in BACKENDS}
    unusable = {name: problem for name, problem in unusable.items() if problem is not None}
    if not unusable:
        pytest.skip("every backend is usable with this OpenCV: no fallback to exercise")
    for name, problem in unusable.items():
        with caplog.at_level(logging.WARNING):
            est = OpenPoseDnnEstimator(backend=name, warmup=False)
        info = est.describe()
        assert info["backend"] == "cpu" and info["requested_backend"] == name
        assert info["fallback_reason"] == problem
        assert any("FALLING BACK TO CPU" in r.getMessage() and name in r.getMessage()
                   for r in caplog.records)
        with pytest.raises(EstimatorError, match=f"backend '{name}' is not usable"):
            OpenPoseDnnEstimator(backend=name, strict_backend=True, warmup=False)


def test_cuda_runs_when_available(model_file):
    if not opencv_support.opencv_capabilities()["cuda"]:
        pytest.skip("this OpenCV has no usable CUDA (the fallback is covered by the test above)")
    est = OpenPoseDnnEstimator(backend="cuda", **SINGLE_F32_PASS)
    assert est.describe()["backend"] == "cuda" and est.describe()["target"] == "DNN_TARGET_CUDA"
    assert len(est.infer(sample("basketball1.png")).persons) == 2


@pytest.mark.parametrize("options, message", [
    ({"input_width": 430}, "multiple of 8"),
    ({"input_height": -368}, "multiple of 8"),
    ({"input_width": "wide"}, "must be an integer"),
    ({"backend": "tpu"}, "cuda_fp16"),
    ({"runtime": "opencv", "device": "tpu"}, "cuda_fp16"),
    ({"runtime": "tensorrt_9000"}, "unknown runtime 'tensorrt_9000'; plugins found: .*opencv"),
    ({"precision": "int4"}, "f32, f16, bf16"),
    ({"runtime": "opencv", "precision": "bf16"}, "bf16"),
    ({"colour": "red"}, "unknown option"),
    ({"decode_params": {"heatmap_threshold": 2.0}}, "heatmap_threshold"),
    ({"decode_params": {"bogus": 1}}, "unknown field"),
    ({"model": "resnet_9000"}, "mobilenet_thin"),
    ({"skeleton": "body25"}, "apply to a model file path"),
    ({"mean": "grey"}, "must be numbers"),
    ({"strict_backend": "maybe"}, "true or false"),
    ({"scales": [1.0, 0.0]}, "scales must be in"),
    ({"scales": [1.0, 9.0]}, "scales must be in"),
    ({"scales": ["big"]}, "scales must be numbers"),
    ({"flip": "sometimes"}, "true or false"),
])
def test_bad_options_raise(model_file, options, message):
    with pytest.raises(EstimatorError, match=message):
        OpenPoseDnnEstimator(warmup=False, **options)


def test_missing_model_says_how_to_fetch(monkeypatch, tmp_path):
    monkeypatch.setenv("POSE_ROS_MODELS", str(tmp_path))
    with pytest.raises(EstimatorError, match="pose_ros_models fetch mobilenet_thin"):
        OpenPoseDnnEstimator()


def test_model_file_path_with_explicit_options(model_file, basketball):
    est = OpenPoseDnnEstimator(model=str(model_file), output="Openpose/concat_stage7",
                               skeleton="coco18", input_width=432, input_height=368, **SINGLE_F32_PASS)
    assert est.describe()["format"] == "tensorflow"          # from the .pb suffix
    assert est.describe()["model_state"] == "user file"
    result = est.infer(sample("basketball1.png"))
    assert len(result.persons) == len(basketball.persons)
    for a, b in zip(result.persons, basketball.persons):
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-3)


def test_wrong_skeleton_for_a_model_file_is_caught_at_start(model_file):
    with pytest.raises(EstimatorError, match="needs 78 channels"):
        OpenPoseDnnEstimator(model=str(model_file), output="Openpose/concat_stage7", skeleton="body25")


def test_decode_params_change_at_run_time(estimator):
    image = sample("basketball1.png")
    original = estimator.decode_params
    try:
        estimator.set_decode_params(DecodeParams(min_parts=15))
        result = estimator.infer(image)
        assert len(result.persons) == 1 and inside(result.persons[0], LEFT_PLAYER)
        with pytest.raises(EstimatorError, match="paf_samples"):
            estimator.set_decode_params(DecodeParams(paf_samples=1))
        assert estimator.decode_params.min_parts == 15          # rejected change not applied
    finally:
        estimator.set_decode_params(original)


def compute_scale(w: int, h: int) -> float:
    return min(432 / w, 368 / h)


def test_trimmed_padding_gives_the_same_people_on_a_smaller_network_input(model_file):
    image = cv2.imread(str(DATA / "basketball1.png"))
    full = OpenPoseDnnEstimator(trim_padding=False, zoom=False, precision="f32", frame_budget_ms=0)
    assert full.network_input_size(640, 480) == (432, 368)
    # f32: in bf16 the untrimmed input also shows a ghost (score 0.28) by the left player's head
    trimmed = OpenPoseDnnEstimator(zoom=False, precision="f32", frame_budget_ms=0)
    assert trimmed.network_input_size(640, 480) == (432, 328)
    a, b = trimmed.infer(image).persons, full.infer(image).persons
    assert len(a) == len(b) == 2
    # The network sees the same pixels shifted by the removed padding; CNN outputs are
    # not exactly shift-invariant, so keypoints move by a fraction of a feature-map cell
    # (8 network pixels = 11.9 source pixels here), a rare one by a little more.
    cell = 8 / compute_scale(640, 480)
    for pa, pb in zip(a, b):
        both = (pa.keypoints[:, 2] > 0) & (pb.keypoints[:, 2] > 0)
        assert both.sum() >= 5
        dist = np.linalg.norm(pa.keypoints[both, :2] - pb.keypoints[both, :2], axis=1) / cell
        assert np.median(dist) < 0.5 and np.mean(dist < 1.0) >= 0.85, dist


@pytest.mark.parametrize("size", [(1920, 35), (640, 12), (4000, 8), (10000, 2),
                                  (35, 1920), (12, 640), (8, 4000), (2, 10000)])
def test_near_degenerate_strips_give_valid_results_not_ghosts(estimator, size):
    # A real photo squeezed into a strip: before the minimum network side it ran at 432x8
    # and came out as 5-14 persons with scores up to 1e28 (or NaN heatmaps).
    from pose_ros.core.result_check import result_problem
    strip = cv2.resize(sample("messi5.jpg"), size, interpolation=cv2.INTER_AREA)
    result = estimator.infer(strip)
    assert result_problem(result, size[0], size[1], estimator.skeleton.num_keypoints) is None
    assert min(estimator.network_input_size(*size)) >= 64


# --------------------------------------------------------------------------- multi-scale, flip


def _mirror_persons(persons, width: int, skeleton):
    """Persons of an image, as they should come out of the mirrored image."""
    out = []
    for p in persons:
        k = p.keypoints.copy()
        k[:, 0] = np.where(k[:, 2] > 0, width - 1 - k[:, 0], 0.0)
        for a, b in skeleton.left_right:
            k[[a, b]] = k[[b, a]]
        out.append(k)
    return out


def test_flip_test_is_mirror_symmetric_on_a_real_image(model_file):
    """With the flip test, the mirrored image gives the mirrored people: the mirrored pass's
    channels are swapped back correctly (a missing swap or x negation breaks this)."""
    est = OpenPoseDnnEstimator(flip=True, precision="f32", zoom=False)   # bf16 rounds each side its own way
    assert est.describe()["flip"] is True
    image = sample("basketball1.png")
    a = est.infer(image).persons
    b = est.infer(np.ascontiguousarray(image[:, ::-1])).persons
    assert len(a) == len(b) == 2
    expected = sorted(_mirror_persons(a, image.shape[1], est.skeleton), key=lambda k: k[k[:, 2] > 0, 0].mean())
    got = sorted((p.keypoints for p in b), key=lambda k: k[k[:, 2] > 0, 0].mean())
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(e[:, 2] > 0, g[:, 2] > 0)
        np.testing.assert_allclose(g[g[:, 2] > 0, :2], e[e[:, 2] > 0, :2], atol=0.05)
    front = next(p for p in a if inside(p, LEFT_PLAYER))      # and still not mirrored itself
    for part in ("Shoulder", "Hip"):
        assert kp(front, "R" + part, est)[0] < kp(front, "L" + part, est)[0], part


def test_two_scales_find_the_players_where_one_scale_does(model_file, basketball):
    est = OpenPoseDnnEstimator(scales=[1.0, 1.5], **SINGLE_F32_PASS)
    assert est.describe()["scales"] == [1.0, 1.5]
    result = est.infer(sample("basketball1.png"))
    assert len(result.persons) == 2
    for box in (LEFT_PLAYER, RIGHT_PLAYER):
        assert sum(inside(p, box) for p in result.persons) == 1
    single = next(p for p in basketball.persons if inside(p, LEFT_PLAYER))
    fused = next(p for p in result.persons if inside(p, LEFT_PLAYER))
    both = (single.keypoints[:, 2] > 0) & (fused.keypoints[:, 2] > 0)
    assert both.sum() >= 14
    cell = 8 / compute_scale(640, 480)
    dist = np.linalg.norm(single.keypoints[both, :2] - fused.keypoints[both, :2], axis=1) / cell
    assert np.median(dist) < 0.5, dist


def test_scales_accept_the_text_a_launch_argument_gives(model_file):
    assert OpenPoseDnnEstimator(warmup=False, scales="1.0, 0.5").describe()["scales"] == [1.0, 0.5]
    assert OpenPoseDnnEstimator(warmup=False, scales=[]).describe()["scales"] == [1.0]
    assert OpenPoseDnnEstimator(warmup=False, scales=1.5).describe()["scales"] == [1.5]
