"""Inference runtimes: discovery, choice, agreement between cv2.dnn and OpenVINO, plugins.

The agreement tests run the real default model through both runtimes on real frames
(Debian opencv-doc: basketball, messi, vtest.avi) and compare the raw 57-channel maps
and the decoded persons.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from plugin_dists import RUNTIME_EXAMPLE, RUNTIME_EXAMPLE_PKG, install_runtime_example
from pose_ros.estimators import EstimatorError
from pose_ros.estimators.openpose_dnn import COMPILED_CACHE, OpenPoseDnnEstimator
from pose_ros.runtimes import NetworkModel, RuntimeUnavailable, openvino_runtime
from sample_media import SAMPLE_DATA, SINGLE_F32_PASS, sample_image

from pose_ros import models, runtimes

EXAMPLE, EXAMPLE_PKG = RUNTIME_EXAMPLE, RUNTIME_EXAMPLE_PKG
openvino = pytest.importorskip("openvino", reason="the openvino runtime needs `pip install openvino`")


def vtest_frames(indices=(0, 150, 400)) -> list:
    cap = cv2.VideoCapture(str(SAMPLE_DATA / "vtest.avi"))
    frames = []
    for index in indices:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
        assert ok, f"vtest.avi frame {index} unreadable"
        frames.append(frame)
    cap.release()
    return frames


FRAMES = {"basketball1": sample_image("basketball1.png"), "basketball2": sample_image("basketball2.png"),
          "messi5": sample_image("messi5.jpg"),
          **{f"vtest_{i}": f for i, f in zip((0, 150, 400), vtest_frames())}}


@pytest.fixture(scope="module")
def pair():
    """The default model on both built-in runtimes."""
    return {name: OpenPoseDnnEstimator(runtime=name, **SINGLE_F32_PASS) for name in ("opencv", "openvino")}


@pytest.mark.parametrize("frame", sorted(FRAMES))
def test_both_runtimes_give_the_same_maps(pair, frame):
    blob = pair["opencv"].prepare(FRAMES[frame])[1]
    ref, got = pair["opencv"]._forward(blob), pair["openvino"]._forward(blob)
    assert ref.shape == got.shape and ref.shape[1] == 57
    assert float(np.abs(ref - got).max()) <= 1e-4


@pytest.mark.parametrize("frame", sorted(FRAMES))
def test_both_runtimes_find_the_same_persons(pair, frame):
    ref, got = (pair[name].infer(FRAMES[frame]).persons for name in ("opencv", "openvino"))
    assert len(ref) == len(got)
    if frame.startswith("basketball1"):
        assert len(ref) == 2, "the sample shows two players"
    for a, b in zip(ref, got):
        assert np.array_equal(a.keypoints[:, 2] > 0, b.keypoints[:, 2] > 0)
        found = a.keypoints[:, 2] > 0
        assert np.abs(a.keypoints[found, :2] - b.keypoints[found, :2]).max(initial=0) <= 0.5
        assert abs(a.score - b.score) < 1e-3


def test_openvino_runs_the_precision_asked_for(pair):
    info = pair["openvino"].describe()
    assert info["runtime"] == "openvino" and info["precision"] == "f32"
    assert info["performance_hint"].upper().endswith("LATENCY")
    assert info["threads"] == runtimes.usable_cpu_count()
    assert info["cache_dir"] == str(models.cache_dir() / COMPILED_CACHE)
    assert any(p.is_file() for p in (models.cache_dir() / COMPILED_CACHE).iterdir()), "compiled blob cached"


def test_openvino_reports_a_precision_the_user_asks_for(model_file):
    capabilities = openvino_runtime.core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    wanted = "bf16" if "BF16" in capabilities else "f16" if "FP16" in capabilities else None
    if wanted is None:
        pytest.skip(f"this CPU offers neither BF16 nor FP16 inference ({capabilities})")
    info = OpenPoseDnnEstimator(runtime="openvino", precision=wanted, warmup=False).describe()
    assert info["precision"] == wanted and info["requested_precision"] == wanted


def test_precision_auto_takes_bf16_only_where_the_cpu_has_amx():
    info = OpenPoseDnnEstimator(runtime="openvino", precision="auto", warmup=False).describe()
    assert info["precision"] == ("bf16" if openvino_runtime.native_bf16() else "f32")
    assert openvino_runtime.native_bf16(frozenset({"avx512_bf16", "avx512f"})) is False   # AMD Zen 4
    assert openvino_runtime.native_bf16(frozenset({"amx_bf16", "amx_tile"})) is True



def test_auto_prefers_openvino_and_falls_back_to_opencv_for_caffe():
    assert runtimes.choose_runtime("auto", "tensorflow")[0] == "openvino"
    assert runtimes.choose_runtime("auto", "caffe")[0] == "opencv", "OpenVINO has no Caffe reader"
    assert OpenPoseDnnEstimator(warmup=False).describe()["runtime"] == "openvino"


def test_named_runtime_that_cannot_load_the_format_is_refused():
    with pytest.raises(RuntimeUnavailable, match="cannot load caffe models"):
        runtimes.choose_runtime("openvino", "caffe")


def test_openvino_missing_device_falls_back_loudly_or_refuses(model_file, caplog):
    network = NetworkModel(format="tensorflow", weights=model_file, output="Openpose/concat_stage7")
    if "NPU" in openvino_runtime.core().available_devices:
        pytest.skip("this machine has an NPU: no fallback to exercise")
    rt = runtimes.load_runtime("openvino", network, device="npu")
    info = rt.describe()
    assert info["device"] == "cpu" and info["requested_device"] == "npu"
    assert "lists no device NPU" in info["fallback_reason"]
    assert any("FALLING BACK TO CPU" in r.getMessage() for r in caplog.records)
    with pytest.raises(RuntimeUnavailable, match="'NPU' is not usable"):
        runtimes.load_runtime("openvino", network, device="npu", strict=True)


def test_openvino_names_a_missing_output(model_file):
    with pytest.raises(RuntimeUnavailable, match="has no output 'nowhere'"):
        runtimes.load_runtime("openvino", NetworkModel("tensorflow", model_file, output="nowhere"))


def test_openvino_rejects_a_corrupt_model_file(tmp_path):
    bad = tmp_path / "graph.pb"
    bad.write_bytes(b"\x08\x01 this is not a protobuf graph" * 10)
    with pytest.raises(EstimatorError, match="OpenVINO could not read"):
        OpenPoseDnnEstimator(model=str(bad), runtime="openvino")


@pytest.mark.parametrize("runtime, device, legacy, expected", [
    ("auto", "cpu", "cpu", ("auto", "cpu")),          # a 0.1 params file: no preference
    ("auto", "cpu", "cuda", ("opencv", "cuda")),      # 0.1 dnn_backend:=cuda keeps meaning cv2.dnn CUDA
    ("openvino", "gpu", "opencl", ("openvino", "gpu")),  # the new parameters win
    ("auto", "gpu", "cpu_fp16", ("opencv", "gpu")),
])
def test_legacy_dnn_backend_folds_into_runtime_and_device(runtime, device, legacy, expected):
    assert runtimes.fold_legacy_backend(runtime, device, legacy) == expected


# --------------------------------------------------------------------------- third-party runtimes


def example_entry_points() -> list:
    """The entry-point lines the example's setup.py declares (so test and example cannot drift)."""
    lines = re.findall(r'"(\w+ = [\w.]+:\w+)"', (EXAMPLE / "setup.py").read_text())
    assert len(lines) == 2, "runtime_plugin_example/setup.py declares two runtimes"
    return lines


@pytest.fixture
def runtime_plugin(tmp_path, monkeypatch):
    """The example installed as a distribution on sys.path, with a fresh discovery cache."""
    install_runtime_example(tmp_path, example_entry_points())
    monkeypatch.syspath_prepend(str(tmp_path))
    runtimes.clear_discovery_cache()
    yield tmp_path
    runtimes.clear_discovery_cache()
    for mod in [m for m in sys.modules if m == EXAMPLE_PKG or m.startswith(EXAMPLE_PKG + ".")]:
        del sys.modules[mod]


def test_third_party_runtime_is_found_and_runs_the_estimator(runtime_plugin, pair):
    assert {"opencv", "openvino", "readnet_example"} <= set(runtimes.available_runtimes())
    est = OpenPoseDnnEstimator(runtime="readnet_example", **SINGLE_F32_PASS)
    assert est.describe()["runtime"] == "readnet_example"
    image = FRAMES["basketball1"]
    persons, ref = est.infer(image).persons, pair["opencv"].infer(image).persons
    assert len(persons) == len(ref) == 2
    assert all(np.allclose(a.keypoints, b.keypoints) for a, b in zip(persons, ref))


def test_runtime_with_a_missing_library_names_the_install_command(runtime_plugin):
    with pytest.raises(EstimatorError) as err:
        OpenPoseDnnEstimator(runtime="missing_library_example")
    message = str(err.value)
    assert "runtime 'missing_library_example' is not available" in message
    assert "No module named 'pose_ros_example_accelerator'" in message
    assert "`pip install pose-ros-example-accelerator`" in message


def test_auto_skips_a_runtime_that_cannot_import(monkeypatch):
    monkeypatch.setattr(openvino_runtime.OpenVinoRuntime, "unavailable_reason",
                        classmethod(lambda cls: "ImportError: No module named 'openvino'"))
    name, why = runtimes.choose_runtime("auto", "tensorflow")
    assert name == "opencv" and "pip install openvino" in why


@pytest.mark.parametrize("runtime, environ, expected", [
    ("openvino", {}, 1),                      # OpenCV's pool out of OpenVINO's way
    ("readnet_example", {}, 1),
    ("opencv", {}, -1),                       # cv2.dnn runs in OpenCV's pool: the default back
    ("openvino", {"OPENCV_FOR_THREADS_NUM": "2"}, None),   # the user's choice wins
])
def test_opencv_threads_beside_a_runtime(runtime, environ, expected):
    assert runtimes.opencv_threads_beside(runtime, environ) == expected


def test_openvino_leaves_the_home_directory_alone(tmp_path):
    """OpenVINO's telemetry wrote ~/intel/openvino_ga_cid and counted runs in ~/intel/stats
    (reliability round 3, 3.7). A whole estimator run in a fresh process with a fresh HOME."""
    import os
    import subprocess

    home = tmp_path / "home"
    home.mkdir()
    script = ("from pose_ros.estimators.openpose_dnn import OpenPoseDnnEstimator\n"
              "import numpy as np\n"
              "est = OpenPoseDnnEstimator(runtime='openvino')\n"
              "assert est.describe()['runtime'] == 'openvino'\n"
              "est.infer(np.zeros((240, 320, 3), np.uint8))\n")
    # the model cache stays where it is (POSE_ROS_MODELS), only the home directory is new
    cache = models.model_path(models.get_model("mobilenet_thin"), "weights").parent.parent
    env = dict(os.environ, HOME=str(home), POSE_ROS_MODELS=str(cache))
    env.pop("CI", None)   # openvino_telemetry turns itself off under CI=true: not what users run
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not (home / "intel").exists(), sorted(str(p.relative_to(home)) for p in home.rglob("*"))
