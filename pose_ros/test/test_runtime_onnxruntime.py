"""The ``onnxruntime`` runtime on ONNX Runtime's CPU execution provider: the same maps and persons
as cv2.dnn on real frames, loud fallbacks when CUDA or TensorRT is asked for and cannot run
(in the estimator's describe() and as WARN in the node's diagnostics, over real DDS), and the
install command when ONNX Runtime is not installed.

Where this machine really has a usable CUDA device the fallback tests skip, saying so.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from plugin_dists import install_dist
from pose_ros.estimators import EstimatorError
from pose_ros.estimators.openpose_dnn import COMPILED_CACHE, OpenPoseDnnEstimator
from pose_ros.runtimes import NetworkModel, RuntimeUnavailable
from pose_ros.runtimes.onnxruntime_runtime import GPU_WHEELS, OnnxRuntime
from sample_media import SINGLE_F32_PASS, sample_image
from test_runtimes import vtest_frames

from pose_ros import models, runtimes

ort = pytest.importorskip("onnxruntime", reason="the onnxruntime runtime needs `pip install onnxruntime`")
SETUP_PY = Path(__file__).resolve().parent.parent / "setup.py"
FRAMES = {"basketball1": sample_image("basketball1.png"), "basketball2": sample_image("basketball2.png"),
          "messi5": sample_image("messi5.jpg"), **{f"vtest_{i}": f for i, f in zip((0, 400), vtest_frames((0, 400)))}}


def entry_point_line() -> str:
    lines = re.findall(r'"(onnxruntime = [\w.]+:\w+)"', SETUP_PY.read_text())
    assert lines == ["onnxruntime = pose_ros.runtimes.onnxruntime_runtime:OnnxRuntime"], "setup.py declares it"
    return lines[0]


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """The runtime found through its entry point. An install older than setup.py's line (colcon not
    run since) gets that same line as a dist-info on sys.path, as pip would have written it."""
    extra = None
    runtimes.clear_discovery_cache()
    if "onnxruntime" not in runtimes.available_runtimes():
        extra = tmp_path_factory.mktemp("entry_point")
        install_dist(extra, "pose-ros-onnxruntime-entry", "pose_ros.runtimes", [entry_point_line()])
        sys.path.insert(0, str(extra))
        runtimes.clear_discovery_cache()
    yield extra
    if extra is not None:
        sys.path.remove(str(extra))
    runtimes.clear_discovery_cache()


@pytest.fixture(scope="module")
def pair(registered):
    return {name: OpenPoseDnnEstimator(runtime=name, **SINGLE_F32_PASS) for name in ("opencv", "onnxruntime")}


def cuda_usable() -> bool:
    return OnnxRuntime.device_problem("cuda") is None


def test_setup_py_registers_the_runtime(registered):
    entry_point_line()
    assert runtimes.available_runtimes()["onnxruntime"].value == "pose_ros.runtimes.onnxruntime_runtime:OnnxRuntime"


@pytest.mark.parametrize("frame", sorted(FRAMES))
def test_same_maps_as_cv2_dnn(pair, frame):
    blob = pair["opencv"].prepare(FRAMES[frame])[1]
    ref, got = pair["opencv"]._forward(blob), pair["onnxruntime"]._forward(blob)
    assert ref.shape == got.shape and ref.shape[1] == 57 and got.dtype == np.float32
    assert float(np.abs(ref - got).max()) <= 1e-4


@pytest.mark.parametrize("frame", sorted(FRAMES))
def test_same_persons_as_cv2_dnn(pair, frame):
    ref, got = (pair[name].infer(FRAMES[frame]).persons for name in ("opencv", "onnxruntime"))
    assert len(ref) == len(got) and (frame != "basketball1" or len(ref) == 2)
    for a, b in zip(ref, got):
        assert np.array_equal(a.keypoints[:, 2] > 0, b.keypoints[:, 2] > 0)
        found = a.keypoints[:, 2] > 0
        assert np.abs(a.keypoints[found, :2] - b.keypoints[found, :2]).max(initial=0) <= 0.5
        assert abs(a.score - b.score) < 1e-3


def test_describe_says_what_runs_and_from_which_file(pair):
    info = pair["onnxruntime"].describe()
    weights = models.resolve("mobilenet_thin").weights
    assert (info["runtime"], info["device"], info["precision"]) == ("onnxruntime", "cpu", "f32")
    assert info["providers"] == ["CPUExecutionProvider"] and info["fallback_reason"] is None
    assert info["model_file"] == str(weights.with_suffix(".onnx")) and info["exported_from"] == weights.name
    assert info["version"] == f"ONNX Runtime {ort.__version__}" and info["threads"] == runtimes.usable_cpu_count()


def test_a_users_onnx_file_runs_as_it_is(pair):
    path = models.resolve("mobilenet_thin").weights.with_suffix(".onnx")   # made by the pair fixture
    est = OpenPoseDnnEstimator(model=str(path), runtime="onnxruntime", input_width=432, input_height=368,
                               **SINGLE_F32_PASS)
    info = est.describe()
    assert info["format"] == "onnx" and info["exported_from"] is None and info["model_file"] == str(path)
    assert len(est.infer(FRAMES["basketball1"]).persons) == 2


def test_a_cuda_request_without_cuda_falls_back_loudly_or_is_refused(registered, caplog):
    if cuda_usable():
        pytest.skip("CUDA is usable through ONNX Runtime on this machine: no fallback to exercise")
    problem = OnnxRuntime.device_problem("cuda")
    with caplog.at_level(logging.WARNING):
        info = OpenPoseDnnEstimator(runtime="onnxruntime", device="cuda", warmup=False).describe()
    assert (info["device"], info["requested_backend"], info["providers"]) == ("cpu", "cuda", ["CPUExecutionProvider"])
    assert info["fallback_reason"].startswith("cuda: ") and info["precision"] == "f32"
    if "CUDAExecutionProvider" not in ort.get_available_providers():   # the CPU wheel: say which to install
        assert "has no CUDAExecutionProvider" in problem and info["fallback_reason"].endswith(GPU_WHEELS)
    assert any("FALLING BACK" in r.getMessage() and "'cuda'" in r.getMessage() for r in caplog.records)
    with pytest.raises(EstimatorError, match="onnxruntime device 'cuda' is not usable"):
        OpenPoseDnnEstimator(runtime="onnxruntime", device="cuda", strict_backend=True, warmup=False)


def test_tensorrt_fp16_falls_back_through_cuda_to_the_cpu_in_f32(registered):
    if cuda_usable():
        pytest.skip("CUDA is usable through ONNX Runtime on this machine: no fallback to exercise")
    info = OpenPoseDnnEstimator(runtime="onnxruntime", device="tensorrt", precision="f16", zoom=False,
                                frame_budget_ms=0).describe()
    assert (info["device"], info["precision"], info["requested_precision"]) == ("cpu", "f32", "f16")
    assert re.match(r"tensorrt: .*; cuda: .*", info["fallback_reason"])


@pytest.mark.parametrize("device, precision, message", [
    ("cpu", "f16", "'f16' runs on cuda and tensorrt"),
    ("cuda", "bf16", "precision 'bf16' unknown"),
    ("npu", "f32", "device 'npu' unknown"),
    ("cuda:x", "f32", "device 'cuda:x' unknown"),
])
def test_what_it_cannot_do_is_refused_with_the_reason(device, precision, message):
    network = NetworkModel("onnx", models.resolve("mobilenet_thin").weights.with_suffix(".onnx"))
    with pytest.raises(RuntimeUnavailable, match=re.escape(message)):
        OnnxRuntime(network, device=device, precision=precision)


def test_auto_keeps_openvino_on_the_cpu_and_takes_onnxruntime_for_cuda(registered):
    assert runtimes.choose_runtime("auto", "tensorflow")[0] == "openvino"
    name, why = runtimes.choose_runtime("auto", "tensorflow", device="cuda")
    assert name == "onnxruntime"
    if cuda_usable():
        assert why == "auto (cuda is usable through onnxruntime)"
    else:   # it still takes ONNX Runtime, which then falls back loudly saying what to install
        assert OnnxRuntime.device_problem("cuda") in why
    assert runtimes.choose_runtime("auto", "caffe", device="cuda")[0] == "opencv", "ORT does not load Caffe"
    assert runtimes.choose_runtime("auto", "tensorflow", device="cuda_fp16")[0] == "opencv", "cv2.dnn's name"


def test_the_node_warns_in_diagnostics_while_cuda_falls_back(registered):
    if cuda_usable():
        pytest.skip("CUDA is usable through ONNX Runtime on this machine: no fallback to report")
    from diagnostic_msgs.msg import DiagnosticArray
    from ros_testing import image_msg
    from test_node import Rig
    rig = Rig({"runtime": "onnxruntime", "device": "cuda"})
    try:
        statuses = []
        rig.client.create_subscription(DiagnosticArray, "/diagnostics", lambda a: statuses.extend(a.status), 10)
        stamp = rig.pose.get_clock().now().nanoseconds
        rig.send(image_msg(FRAMES["basketball1"], stamp))
        assert len(rig.output_for(stamp).persons) == 2, "the fallback still serves, on the CPU"
        problem = OnnxRuntime.device_problem("cuda").split(";")[0]

        def warned() -> bool:
            return any(s.level == DiagnosticStatus.WARN and "'cuda'" in s.message and problem in s.message
                       for s in statuses)
        assert rig.ros.spin_until(warned, 5), [s.message for s in statuses]
        values = {kv.key: kv.value for kv in statuses[-1].values}
        assert (values["runtime"], values["device"]) == ("onnxruntime", "cpu")
    finally:
        rig.close()


def test_an_onnxruntime_that_is_not_installed_gives_the_install_command(registered):
    """The missing-library case for real: ``import onnxruntime`` fails in a fresh interpreter."""
    script = textwrap.dedent(f"""
        import json, sys
        sys.modules["onnxruntime"] = None          # what Python does for a package that is not there
        sys.path[:0] = {[str(Path(__file__).resolve().parent.parent)] + ([str(registered)] if registered else [])!r}
        from pose_ros import runtimes
        from pose_ros.estimators import EstimatorError
        from pose_ros.estimators.openpose_dnn import OpenPoseDnnEstimator
        try:
            OpenPoseDnnEstimator(runtime="onnxruntime", warmup=False)
            error = None
        except EstimatorError as e:
            error = str(e)
        print(json.dumps({{"error": error, "auto_cuda": runtimes.choose_runtime("auto", "tensorflow", "cuda")}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["error"].startswith("runtime 'onnxruntime' is not available: ModuleNotFoundError: import of "
                                      "onnxruntime halted")
    assert "install it with `pip install onnxruntime`" in result["error"]
    assert "pip install onnxruntime-gpu" in result["error"], "NVIDIA users are told their wheel"
    name, why = result["auto_cuda"]
    assert name == "opencv" and "pip install onnxruntime" in why


def test_tensorrt_engines_are_cached_beside_openvinos_blobs():
    network = NetworkModel("onnx", models.resolve("mobilenet_thin").weights.with_suffix(".onnx"),
                           cache_dir=models.cache_dir() / COMPILED_CACHE)
    rt = OnnxRuntime(network)
    name, options = rt._provider("tensorrt")
    assert name == "TensorrtExecutionProvider" and options["trt_engine_cache_enable"]
    assert options["trt_engine_cache_path"] == str(models.cache_dir() / COMPILED_CACHE / "tensorrt")
    assert options["trt_fp16_enable"] is False
