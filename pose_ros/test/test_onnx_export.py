"""pose_ros' own ONNX export of the TensorFlow model (no TensorFlow): the graph it writes, its
maps against cv2.dnn on real frames, its cache record, and what it refuses.

The reference is cv2.dnn reading the original ``.pb``; the export is run by ONNX Runtime on
its CPU provider. Frames: Debian opencv-doc's basketball, messi and vtest.avi.
"""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
from pose_ros.core.paf import decode_output
from pose_ros.estimators.openpose_dnn import OpenPoseDnnEstimator
from pose_ros.models import cli, onnx_export
from sample_media import SINGLE_F32_PASS, sample_image
from test_runtimes import vtest_frames

from pose_ros import models

onnx = pytest.importorskip("onnx", reason="the ONNX export needs `pip install onnx`")
ort = pytest.importorskip("onnxruntime", reason="the export is checked with `pip install onnxruntime`")
OUTPUT = "Openpose/concat_stage7"
FRAMES = {"basketball1": sample_image("basketball1.png"), "messi5": sample_image("messi5.jpg"),
          "vtest_150": vtest_frames((150,))[0]}


@pytest.fixture(scope="module")
def source():
    return models.resolve("mobilenet_thin").weights


@pytest.fixture(scope="module")
def exported(source, tmp_path_factory):
    """A fresh export of the default model, in a folder of its own."""
    dest = tmp_path_factory.mktemp("export") / "graph_opt.onnx"
    record = onnx_export.export(source, dest, OUTPUT)
    return dest, record


@pytest.fixture(scope="module")
def opencv():
    return OpenPoseDnnEstimator(runtime="opencv", **SINGLE_F32_PASS)


def cpu_session(model) -> "ort.InferenceSession":
    data = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def test_the_export_is_the_graph_in_onnx_operators_nchw_with_its_weights(exported):
    dest, record = exported
    model = onnx.load(str(dest))
    onnx.checker.check_model(model, full_check=True)
    ops = [n.op_type for n in model.graph.node]
    # mobilenet_thin as OpenVINO reads it: 72 convolutions, 71 depthwise, 72 bias Adds, 60 ReLU, 7 concats,
    # 1 max-pool; each bias Add is folded into its Conv (ONNX's bias input), the edge transposes dropped.
    assert {op: ops.count(op) for op in set(ops)} == {"Conv": 143, "Relu": 60, "Concat": 7, "MaxPool": 1,
                                                      "Identity": 1}
    assert sum(1 for n in model.graph.node if n.op_type == "Conv" and len(n.input) == 3) == 72
    assert sum(1 for n in model.graph.node for a in n.attribute if a.name == "group" and a.i > 1) == 71
    (image,), (out,) = model.graph.input, model.graph.output
    dims = [d.dim_value or d.dim_param for d in image.type.tensor_type.shape.dim]
    assert (image.name, dims) == ("image", ["batch", 3, "height", "width"])
    assert out.name == OUTPUT == record.output and out.type.tensor_type.shape.dim[1].dim_value == 57
    assert model.opset_import[0].version == onnx_export.OPSET
    weights = sum(onnx.numpy_helper.to_array(i).size for i in model.graph.initializer)
    assert weights * 4 == pytest.approx(dest.stat().st_size, rel=0.01), "weights are initializers"
    assert record.max_abs_diff is not None and record.max_abs_diff <= onnx_export.MAX_ABS_DIFF


@pytest.mark.parametrize("frame", sorted(FRAMES))
def test_the_export_gives_cv2_dnns_maps_and_persons(exported, opencv, frame):
    boxed, blob, transform = opencv.prepare(FRAMES[frame])
    ref = opencv._forward(blob)
    got = cpu_session(exported[0]).run(None, {"image": blob})[0]
    assert got.shape == ref.shape and ref.shape[1] == 57
    assert float(np.abs(ref - got).max()) <= 1e-4
    want = decode_output(ref, opencv.skeleton, opencv.decode_params, transform)
    have = decode_output(got, opencv.skeleton, opencv.decode_params, transform)
    assert len(have) == len(want) and (frame != "basketball1" or len(want) == 2)
    for a, b in zip(want, have):
        assert np.array_equal(a.keypoints[:, 2] > 0, b.keypoints[:, 2] > 0)
        assert np.abs(a.keypoints[:, :2] - b.keypoints[:, :2]).max() <= 0.5


def test_odd_input_sizes_pad_as_tensorflow_does(exported, opencv):
    """TensorFlow's SAME padding puts the odd pixel at the end (ONNX SAME_UPPER): an odd size shows it."""
    blob = np.random.default_rng(2).uniform(0, 255, (1, 3, 99, 131)).astype(np.float32)
    ref = opencv._forward(blob)
    got = cpu_session(exported[0]).run(None, {"image": blob})[0]
    assert got.shape == ref.shape == (1, 57, 13, 17)
    assert float(np.abs(ref - got).max()) <= 1e-4


def test_ops_beyond_mobilenet_translate_to_what_openvino_computes(tmp_path):
    """A small OpenVINO graph of the ops the default model lacks (explicit asymmetric pads, grouped
    convolution, Multiply/Subtract/Divide, Clamp, Sigmoid, Tanh, average pooling, ceil rounding, an
    inner Transpose), exported and run on odd sizes against OpenVINO itself."""
    ov = pytest.importorskip("openvino")
    ops, rng = ov.opset13, np.random.default_rng(1)

    def const(*shape):
        return ops.constant(rng.normal(0, 0.5, shape).astype(np.float32))
    x = ops.parameter(ov.PartialShape([-1, 4, -1, -1]), np.float32, name="image")
    c = ops.convolution(x, const(6, 4, 3, 3), [1, 1], [1, 0], [0, 1], [1, 1])
    g = ops.group_convolution(c, const(2, 3, 3, 1, 1), [1, 1], [0, 0], [0, 0], [1, 1])
    clamped = ops.clamp(ops.subtract(ops.multiply(g, const(1, 6, 1, 1)), const(1)), 0.0, 6.0)
    avg = ops.avg_pool(clamped, [2, 2], [0, 0], [1, 1], [3, 3], exclude_pad=True, rounding_type="ceil")
    inner = ops.transpose(ops.transpose(ops.tanh(avg), ops.constant(np.array([0, 1, 3, 2]))),
                          ops.constant(np.array([0, 1, 3, 2])))
    peak = ops.max_pool(ops.divide(ops.sigmoid(c), const(1)), [2, 2], [1, 1], [0, 0], [0, 0], [2, 2],
                        rounding_type="ceil", auto_pad="same_upper")
    model = ov.Model([ops.concat([inner, peak.output(0)], 1)], [x], "zoo")
    xml = tmp_path / "zoo.xml"
    ov.save_model(model, str(xml), compress_to_fp16=False)

    record = onnx_export.export(xml, tmp_path / "zoo.onnx")
    assert record.max_abs_diff <= onnx_export.MAX_ABS_DIFF * record.max_abs_value
    exported = onnx.load(str(tmp_path / "zoo.onnx"))
    assert {"Conv", "Mul", "Sub", "Clip", "Sigmoid", "Div", "Tanh", "AveragePool", "MaxPool", "Transpose",
            "Concat"} <= {n.op_type for n in exported.graph.node}
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    for shape in ((1, 4, 37, 51), (2, 4, 16, 9)):
        blob = rng.uniform(-2, 2, shape).astype(np.float32)
        ref = compiled.create_infer_request().infer({0: blob})[compiled.output(0)]
        got = cpu_session(tmp_path / "zoo.onnx").run(None, {"image": blob})[0]
        assert got.shape == ref.shape
        assert float(np.abs(ref - got).max()) <= 1e-4 * max(1.0, float(np.abs(ref).max()))


def test_the_float16_copy_computes_in_half_precision_and_finds_the_same_persons(exported, opencv):
    half = onnx_export.float16_copy(onnx.load(str(exported[0])))
    floats = {i.data_type for i in half.graph.initializer}
    assert floats == {onnx.TensorProto.FLOAT16}
    assert half.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT, "callers still feed f32"
    boxed, blob, transform = opencv.prepare(FRAMES["basketball1"])
    ref = opencv._forward(blob)
    got = cpu_session(half.SerializeToString()).run(None, {"image": blob})[0]
    assert got.dtype == np.float32
    diff = float(np.abs(ref - got).max())
    assert 1e-4 < diff < 0.05, "half precision: close, not identical"
    assert len(decode_output(got, opencv.skeleton, opencv.decode_params, transform)) == 2


def test_a_graph_with_an_op_the_float16_copy_cannot_convert_is_refused(exported):
    model = onnx.load(str(exported[0]))
    model.graph.node[-1].op_type = "Softmax"
    with pytest.raises(onnx_export.ExportError, match="no float16 copy of a graph with Softmax"):
        onnx_export.float16_copy(model)


def test_the_sidecar_tells_a_good_export_from_a_damaged_or_stale_one(exported, source, tmp_path, caplog):
    dest = tmp_path / "graph_opt.onnx"
    shutil.copy(exported[0], dest)
    shutil.copy(onnx_export.sidecar(exported[0]), onnx_export.sidecar(dest))
    record = json.loads(onnx_export.sidecar(dest).read_text())
    assert record["onnx_sha256"] == models.file_digests(dest)["sha256"]
    assert record["source_sha256"] == models.get_model("mobilenet_thin").files["weights"].sha256
    assert onnx_export.stale_reason(dest, source, OUTPUT) is None

    with open(dest, "r+b") as f:      # one flipped byte in the weights
        f.seek(dest.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert "(damaged?)" in onnx_export.stale_reason(dest, source, OUTPUT)
    assert "exports output" in onnx_export.stale_reason(dest, source, "Openpose/other")
    with caplog.at_level(logging.WARNING):
        assert onnx_export.ensure_export(source, OUTPUT, dest) == dest
    assert any("is not usable" in r.getMessage() and "damaged" in r.getMessage() for r in caplog.records)
    assert onnx_export.stale_reason(dest, source, OUTPUT) is None, "exported again"

    other = tmp_path / "changed.pb"
    other.write_bytes(source.read_bytes() + b"\0")
    assert onnx_export.stale_reason(dest, other, OUTPUT) == "changed.pb changed since the export"
    record["exporter_version"] = onnx_export.EXPORTER_VERSION - 1
    onnx_export.sidecar(dest).write_text(json.dumps(record))
    assert "made by exporter version" in onnx_export.stale_reason(dest, source, OUTPUT)
    onnx_export.sidecar(dest).unlink()
    assert onnx_export.stale_reason(dest, source, OUTPUT) == "graph_opt.onnx.json is missing"


def test_the_export_lives_beside_cached_weights_and_a_users_file_stays_untouched(source, tmp_path):
    assert onnx_export.export_path(source) == source.with_suffix(".onnx")
    own = tmp_path / "mine" / "net.pb"
    own.parent.mkdir()
    own.write_bytes(b"a user's graph")
    sha = models.file_digests(own)["sha256"]
    assert onnx_export.export_path(own) == models.cache_dir().resolve() / "onnx" / f"net-{sha[:16]}.onnx"


def test_an_op_without_translation_is_named(tmp_path):
    ov = pytest.importorskip("openvino")
    x = ov.opset13.parameter([1, 3, 8, 8], np.float32, name="image")
    model = ov.Model([ov.opset13.softmax(x, 1)], [x], "softmax_net")
    xml = tmp_path / "softmax.xml"
    ov.save_model(model, str(xml))
    with pytest.raises(onnx_export.ExportError, match=r"Softmax .* has no ONNX translation.*Convolution"):
        onnx_export.to_onnx(xml)


def test_the_cli_exports_once_and_refuses_a_caffe_model(source, capsys):
    assert cli.main(["export-onnx", "mobilenet_thin"]) == 0
    assert cli.main(["export-onnx", "mobilenet_thin"]) == 0
    out = capsys.readouterr().out
    assert f"{source.with_suffix('.onnx')}: up to date" in out
    assert cli.main(["export-onnx", "coco"]) == 1
    assert "'coco' is a caffe model; export-onnx converts TensorFlow graphs" in capsys.readouterr().err
