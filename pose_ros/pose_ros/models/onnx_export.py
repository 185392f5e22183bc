"""An ONNX copy of a TensorFlow graph, made by pose_ros itself: no TensorFlow, no tf2onnx.

Why: ONNX Runtime is how Python reaches CUDA and TensorRT (desktop NVIDIA cards, Jetson),
but it does not read TensorFlow's ``.pb``. tf2onnx does, at the price of a 1.5 GB
TensorFlow install. OpenVINO already parses the ``.pb`` (and folds its batch norms and
constants while doing so), so this module walks OpenVINO's graph and writes the same
operators with the ``onnx`` helper API: NCHW in, NCHW out, weights as initializers.

The export sits next to the source (``graph_opt.pb`` -> ``graph_opt.onnx``) with a JSON
sidecar holding its sha256, the source's sha256 and the exporter version, so a later load
tells a stale or damaged export from a good one and makes it again. Each export is checked
before it is kept: ONNX Runtime on the new file against OpenVINO on the source, same input,
max abs difference of the maps <= :data:`MAX_ABS_DIFF`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from .cache import cache_dir, digests_of
from .manifest import ModelError

log = logging.getLogger(__name__)

#: Bump when the translation changes: exports of an older version are made again.
EXPORTER_VERSION = 1
OPSET = 13
SIDECAR_SUFFIX = ".onnx.json"
#: Largest difference of any output value accepted between the export and its source, relative to
#: the largest output value when that is above 1 (float32 rounding grows with the values; a wrong
#: translation is off by the values themselves). The pose maps stay within 1: an absolute 1e-4.
MAX_ABS_DIFF = 1e-4
#: Size of the self-check input: the default model input (432x368).
CHECK_SHAPE = (1, 3, 368, 432)
#: Transpose orders: NHWC -> NCHW, and NCHW -> NHWC.
NCHW, NHWC = [0, 3, 1, 2], [0, 2, 3, 1]
_PADS = {"same_upper": "SAME_UPPER", "same_lower": "SAME_LOWER", "valid": "VALID"}
_ELEMENTWISE = {"Add": "Add", "Subtract": "Sub", "Multiply": "Mul", "Divide": "Div"}
_UNARY = {"Relu": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh"}


class ExportError(ModelError):
    """The graph cannot be exported, or the export does not match its source; says why."""


@dataclass(frozen=True)
class ExportRecord:
    """What the sidecar says about one export."""

    source: str
    source_sha256: str
    onnx_sha256: str
    output: str
    input: str
    max_abs_diff: Optional[float]   # the self-check's result; None when ONNX Runtime was missing
    max_abs_value: Optional[float]  # the largest output value of the self-check's reference
    exporter_version: int = EXPORTER_VERSION
    opset: int = OPSET
    openvino: str = ""
    onnx: str = ""


def _openvino():
    # As in pose_ros.runtimes.openvino_runtime (a layer above, not importable here): make
    # OpenVINO's telemetry import fail so nothing is written to ~/intel.
    sys.modules.setdefault("openvino_telemetry", None)
    try:
        import openvino  # noqa: PLC0415 - optional dependency
    except ImportError as e:
        raise ExportError(f"the ONNX export reads the TensorFlow graph with OpenVINO ({e}); "
                          "install it with `pip install openvino`") from e
    return openvino


def _onnx():
    try:
        import onnx  # noqa: PLC0415 - optional dependency
    except ImportError as e:
        raise ExportError(f"the ONNX export needs the onnx package ({e}); install it with `pip install onnx`") from e
    return onnx


def plain_name(name: str) -> str:
    """A TensorFlow tensor name without its ``:0`` port (ONNX Runtime's TensorRT profiles split on ':')."""
    return name[:-2] if name.endswith(":0") else name


class _Emitter:
    """OpenVINO ops in, ONNX nodes and initializers out, one op at a time in topological order."""

    def __init__(self, onnx_mod) -> None:
        self.onnx = onnx_mod
        self.nodes: List = []
        self.initializers: List = []
        self.inputs: List = []
        self.outputs: List = []
        self._names: Dict[tuple, str] = {}     # (op instance id, port) -> ONNX tensor name
        self._producer: Dict[str, object] = {}  # tensor name -> the ONNX node that writes it
        self._used: set = set()
        self.dropped: set = set()                # "input" / "output": an NHWC edge transpose left out

    def unique(self, base: str) -> str:
        name, i = base, 1
        while name in self._used:
            name, i = f"{base}_{i}", i + 1
        self._used.add(name)
        return name

    def tensor(self, value) -> str:
        """The ONNX name of an OpenVINO output (``op.input_value(i)``), making constants initializers."""
        node = value.get_node()
        key = (node.get_instance_id(), value.get_index())
        if key not in self._names and node.get_type_name() == "Constant":
            self._names[key] = self.constant(node.get_friendly_name(), node.get_data())
        if key not in self._names:
            raise ExportError(f"{node.get_type_name()} {node.get_friendly_name()!r} is used before it is made")
        return self._names[key]

    def constant(self, base: str, array: np.ndarray) -> str:
        name = self.unique(base)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def alias(self, op, name: str, port: int = 0) -> None:
        self._names[(op.get_instance_id(), port)] = name

    def node(self, op_type: str, op, inputs: List[str], **attributes) -> str:
        out = self.unique(op.get_friendly_name())
        node = self.onnx.helper.make_node(op_type, inputs, [out], name=out, **attributes)
        self.nodes.append(node)
        self._producer[out] = node
        self.alias(op, out)
        return out

    def producer(self, name: str):
        return self._producer.get(name)


def _consumers(op, port: int = 0) -> list:
    return [t.get_node() for t in op.output(port).get_target_inputs()]


def _const(value) -> Optional[np.ndarray]:
    node = value.get_node()
    return node.get_data() if node.get_type_name() == "Constant" else None


def _window(attrs: dict) -> dict:
    """Padding attributes of a convolution or pooling op (TensorFlow's SAME is SAME_UPPER)."""
    pad = str(attrs.get("auto_pad", "explicit")).lower()
    if pad in _PADS:
        return {"auto_pad": _PADS[pad]}
    return {"pads": list(attrs.get("pads_begin", [])) + list(attrs.get("pads_end", []))}


def _translate(em: _Emitter, op) -> None:
    """Emit the ONNX equivalent of one OpenVINO op (see :data:`SUPPORTED`)."""
    kind, attrs = op.get_type_name(), op.get_attributes()
    if kind == "Constant":
        return                                     # made an initializer where it is used
    if kind == "Parameter":
        return _parameter(em, op)
    if kind == "Result":
        return _result(em, op)
    if kind == "Transpose":
        return _transpose(em, op)
    if kind in ("Convolution", "GroupConvolution"):
        weights = _const(op.input_value(1))
        if weights is None:
            raise ExportError(f"{kind} {op.get_friendly_name()!r} has computed weights; only constants export")
        group = 1
        if kind == "GroupConvolution":             # [G, O/G, I/G, kh, kw] -> [O, I/G, kh, kw], group=G
            group = weights.shape[0]
            weights = weights.reshape((-1,) + weights.shape[2:])
        w = em.constant(op.get_friendly_name() + "/weights", weights)
        em.node("Conv", op, [em.tensor(op.input_value(0)), w], group=group, kernel_shape=list(weights.shape[2:]),
                strides=list(attrs["strides"]), dilations=list(attrs["dilations"]), **_window(attrs))
        return None
    if kind in _ELEMENTWISE:
        if str(attrs.get("auto_broadcast", "numpy")).lower() not in ("numpy", "none"):
            raise ExportError(f"{kind} {op.get_friendly_name()!r}: broadcast {attrs['auto_broadcast']} "
                              "has no ONNX form")
        if kind == "Add" and _fold_bias(em, op):
            return None
        em.node(_ELEMENTWISE[kind], op, [em.tensor(op.input_value(i)) for i in range(2)])
        return None
    if kind in _UNARY:
        em.node(_UNARY[kind], op, [em.tensor(op.input_value(0))])
        return None
    if kind == "Clamp":                            # ReLU6 and friends
        low = em.constant(op.get_friendly_name() + "/min", np.array(attrs["min"], np.float32))
        high = em.constant(op.get_friendly_name() + "/max", np.array(attrs["max"], np.float32))
        em.node("Clip", op, [em.tensor(op.input_value(0)), low, high])
        return None
    if kind == "Concat":
        em.node("Concat", op, [em.tensor(op.input_value(i)) for i in range(op.get_input_size())], axis=attrs["axis"])
        return None
    if kind in ("MaxPool", "AvgPool"):
        return _pool(em, op, attrs)
    raise ExportError(f"{kind} ({op.get_friendly_name()!r}) has no ONNX translation in pose_ros' exporter; "
                      f"it translates: {', '.join(SUPPORTED)}")


def _parameter(em: _Emitter, op) -> None:
    """The graph input, NCHW: a TensorFlow graph's NHWC input and its first Transpose become one."""
    shape = [d.get_length() if d.is_static else -1 for d in op.get_output_partial_shape(0)]
    name = em.unique(plain_name(sorted(op.output(0).get_names())[0] if op.output(0).get_names()
                             else op.get_friendly_name()))
    nhwc = len(shape) == 4 and all(c.get_type_name() == "Transpose" and list(_const(c.input_value(1))) == NCHW
                                   for c in _consumers(op))
    if nhwc:
        shape = [shape[i] for i in NCHW]
    dims = [d if d >= 0 else label for d, label in zip(shape, ("batch", "channels", "height", "width"))]
    em.inputs.append(em.onnx.helper.make_tensor_value_info(name, em.onnx.TensorProto.FLOAT, dims))
    em.alias(op, name)


def _transpose(em: _Emitter, op) -> None:
    source = op.input_value(0)
    perm = _const(op.input_value(1))
    if perm is None:
        raise ExportError(f"Transpose {op.get_friendly_name()!r} has a computed order; only constants export")
    perm = [int(p) for p in perm]
    into_input = source.get_node().get_type_name() == "Parameter" and perm == NCHW
    into_output = perm == NHWC and all(c.get_type_name() == "Result" for c in _consumers(op))
    if into_input or into_output:                 # the layout change at the graph's edges: NCHW stays
        em.alias(op, em.tensor(source))
        em.dropped.add("input" if into_input else "output")
        return
    em.node("Transpose", op, [em.tensor(source)], perm=perm)


def _result(em: _Emitter, op) -> None:
    value = op.input_value(0)
    names = sorted(value.get_names()) or [op.get_friendly_name()]
    name = em.unique(plain_name(names[0]))
    source = em.tensor(value)
    before = value.get_node().input_value(0) if value.get_node().get_input_size() else None
    if before is not None and value.get_node().get_type_name() == "Transpose" and em.tensor(before) == source:
        value = before                            # the edge transpose was dropped: the NCHW shape
    labels = ("batch", "channels", "out_height", "out_width")
    dims = [d.get_length() if d.is_static else (labels[i] if i < 4 else f"d{i}")
            for i, d in enumerate(value.get_partial_shape())]
    em.nodes.append(em.onnx.helper.make_node("Identity", [source], [name], name=name))
    em.outputs.append(em.onnx.helper.make_tensor_value_info(name, em.onnx.TensorProto.FLOAT, dims))


def _fold_bias(em: _Emitter, op) -> bool:
    """Conv followed by Add(per-channel constant): the constant becomes the Conv's bias input."""
    for data, bias in ((0, 1), (1, 0)):
        value = _const(op.input_value(bias))
        conv = em.producer(em.tensor(op.input_value(data)))
        if (value is None or conv is None or conv.op_type != "Conv" or len(conv.input) != 2
                or len(_consumers(op.input_value(data).get_node())) != 1):
            continue
        channels = np.asarray(value).squeeze()
        if channels.ndim != 1 or value.ndim not in (1, 4) or (value.ndim == 4 and value.shape[1] != value.size):
            continue
        conv.input.append(em.constant(op.get_friendly_name() + "/bias", channels.astype(np.float32)))
        em.alias(op, conv.output[0])
        return True
    return False


def _pool(em: _Emitter, op, attrs: dict) -> None:
    if op.get_output_size() > 1 and _consumers(op, 1):
        raise ExportError(f"MaxPool {op.get_friendly_name()!r}: its indices output is used; ONNX export skips it")
    common = {"kernel_shape": list(attrs["kernel"]), "strides": list(attrs["strides"]),
              "ceil_mode": int(str(attrs.get("rounding_type", "floor")).lower() == "ceil"), **_window(attrs)}
    if op.get_type_name() == "MaxPool":
        if "dilations" in attrs:
            common["dilations"] = list(attrs["dilations"])
        em.node("MaxPool", op, [em.tensor(op.input_value(0))], **common)
    else:
        em.node("AveragePool", op, [em.tensor(op.input_value(0))],
                count_include_pad=int(not attrs.get("exclude-pad", False)), **common)


SUPPORTED = ("Parameter", "Result", "Constant", "Transpose", "Convolution", "GroupConvolution",
             *_ELEMENTWISE, *_UNARY, "Clamp", "Concat", "MaxPool", "AvgPool")


def _read(source: Path, output: Optional[str]):
    """OpenVINO's model of ``source``, cut down to the output named ``output`` (TensorFlow's ``:0`` optional)."""
    ov = _openvino()
    try:
        network = ov.Core().read_model(str(source))
    except Exception as e:  # noqa: BLE001 - OpenVINO raises its own RuntimeError subclasses
        raise ExportError(f"OpenVINO could not read {source}: {str(e).strip().splitlines()[0]}") from e
    if output:
        names = {n for o in network.outputs for n in o.get_names()}
        name = output if output in names else output + ":0"
        if name not in names:
            raise ExportError(f"{source} has no output {output!r} (outputs: {', '.join(sorted(names))})")
        network = ov.Model([network.output(name)], network.get_parameters(), network.get_friendly_name())
    if len(network.inputs) != 1 or len(network.outputs) != 1:
        raise ExportError(f"{source}: the exporter takes one input and one output; it has "
                          f"{len(network.inputs)} and {len(network.outputs)} (name the output)")
    return network


def to_onnx(source: Path, output: Optional[str] = None):
    """The ONNX model (``onnx.ModelProto``) of the graph ``source`` (a TensorFlow ``.pb``, or anything
    OpenVINO reads); ``output`` names its output. Metadata ``pose_ros.nhwc_edges`` says which
    NHWC edge (input, output) became NCHW."""
    onnx_mod = _onnx()
    network = _read(source, output)
    em = _Emitter(onnx_mod)
    for op in network.get_ordered_ops():
        _translate(em, op)
    graph = onnx_mod.helper.make_graph(em.nodes, Path(source).stem, em.inputs, em.outputs, em.initializers)
    model = onnx_mod.helper.make_model(graph, opset_imports=[onnx_mod.helper.make_opsetid("", OPSET)],
                                       producer_name="pose_ros.models.onnx_export",
                                       producer_version=str(EXPORTER_VERSION))
    model.ir_version = min(model.ir_version, 8)   # readable by ONNX Runtime builds back to 1.14 (Jetson)
    onnx_mod.helper.set_model_props(model, {"pose_ros.nhwc_edges": ",".join(sorted(em.dropped))})
    onnx_mod.checker.check_model(model)
    return model


def self_check(model, source: Path, output: Optional[str]) -> Tuple[Optional[float], Optional[float]]:
    """(max abs difference, max abs value of the reference): ONNX Runtime on the export against
    OpenVINO on the source (f32 both) on one random input; Nones when ONNX Runtime is not installed."""
    try:
        import onnxruntime  # noqa: PLC0415 - optional dependency
    except ImportError:
        return None, None
    sizes = {"batch": CHECK_SHAPE[0], "height": CHECK_SHAPE[2], "width": CHECK_SHAPE[3]}
    shape = [d.dim_value or sizes.get(d.dim_param, 1) for d in model.graph.input[0].type.tensor_type.shape.dim]
    blob = np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: blob})[0]
    edges = {p.value for p in model.metadata_props if p.key == "pose_ros.nhwc_edges"}
    edges = set(next(iter(edges), "").split(","))
    compiled = _openvino().Core().compile_model(_read(source, output), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    ref = compiled.create_infer_request().infer({0: blob.transpose(NHWC) if "input" in edges else blob})
    ref = ref[compiled.output(0)]
    ref = ref.transpose(NCHW) if "output" in edges else ref     # NHWC -> NCHW, as the export gives
    if ref.shape != got.shape:
        raise ExportError(f"the ONNX export of {source} outputs {got.shape}, the source {ref.shape}")
    return float(np.abs(ref - got).max()), float(np.abs(ref).max())


#: ONNX ops whose float16 form computes what the float32 form does (no float attributes,
#: no float constants outside the initializers): a graph of only these converts safely.
FLOAT16_SAFE = frozenset({"Conv", "Relu", "Clip", "Sigmoid", "Tanh", "Concat", "MaxPool", "AveragePool",
                          "Add", "Sub", "Mul", "Div", "Identity", "Transpose"})


def float16_copy(model):
    """A copy of ``model`` computing in float16 (half the weights' bytes, the GPU's fast path), with
    float32 input and output kept, so callers feed and read the same arrays as before."""
    onnx_mod = _onnx()
    unsafe = sorted({n.op_type for n in model.graph.node} - FLOAT16_SAFE)
    if unsafe:
        raise ExportError(f"no float16 copy of a graph with {', '.join(unsafe)} "
                          f"(converted safely: {', '.join(sorted(FLOAT16_SAFE))})")
    half = onnx_mod.ModelProto()
    half.CopyFrom(model)
    graph = half.graph
    for init in graph.initializer:
        if init.data_type == onnx_mod.TensorProto.FLOAT:
            array = onnx_mod.numpy_helper.to_array(init).astype(np.float16)
            init.CopyFrom(onnx_mod.numpy_helper.from_array(array, init.name))
    ends = {v.name: f"{v.name}/float16" for v in list(graph.input) + list(graph.output)}
    for node in graph.node:
        node.input[:] = [ends.get(x, x) for x in node.input]
        node.output[:] = [ends.get(x, x) for x in node.output]
    make = onnx_mod.helper.make_node
    casts_in = [make("Cast", [v.name], [ends[v.name]], to=onnx_mod.TensorProto.FLOAT16) for v in graph.input]
    casts_out = [make("Cast", [ends[v.name]], [v.name], to=onnx_mod.TensorProto.FLOAT) for v in graph.output]
    nodes = casts_in + list(graph.node) + casts_out
    del graph.node[:]
    graph.node.extend(nodes)
    onnx_mod.checker.check_model(half)
    return half


def float16_bytes(onnx_path: Path) -> bytes:
    """:func:`float16_copy` of the file ``onnx_path``, serialised (what ONNX Runtime loads)."""
    return float16_copy(_onnx().load(str(onnx_path))).SerializeToString()


# --------------------------------------------------------------------------- the cached export


def export_path(source: Path) -> Path:
    """Where the export of ``source`` lives: beside it in the model cache, else in the cache's
    ``onnx`` folder (a user's own ``.pb`` stays untouched wherever it is)."""
    source = Path(source).resolve()
    cache = cache_dir().expanduser().resolve()
    if cache in source.parents:
        return source.with_suffix(".onnx")
    sha = digests_of(source, ["sha256"])["sha256"]
    return cache / "onnx" / f"{source.stem}-{sha[:16]}.onnx"


def sidecar(onnx_path: Path) -> Path:
    return onnx_path.with_suffix(SIDECAR_SUFFIX)


def stale_reason(onnx_path: Path, source: Path, output: Optional[str]) -> Optional[str]:
    """Why the export at ``onnx_path`` cannot be used for ``source`` (None: it can)."""
    try:
        record = json.loads(sidecar(onnx_path).read_text())
    except FileNotFoundError:
        return "not exported yet" if not onnx_path.exists() else f"{sidecar(onnx_path).name} is missing"
    except (OSError, ValueError) as e:
        return f"{sidecar(onnx_path).name} is unreadable ({e})"
    if not isinstance(record, dict) or record.get("exporter_version") != EXPORTER_VERSION:
        return f"made by exporter version {record.get('exporter_version') if isinstance(record, dict) else '?'}, " \
               f"this is {EXPORTER_VERSION}"
    if output and plain_name(output) != record.get("output"):
        return f"exports output {record.get('output')!r}, {output!r} is wanted"
    if digests_of(source, ["sha256"])["sha256"] != record.get("source_sha256"):
        return f"{Path(source).name} changed since the export"
    if not onnx_path.exists():
        return f"{onnx_path.name} is missing"
    got = digests_of(onnx_path, ["sha256"])["sha256"]
    if got != record.get("onnx_sha256"):
        return f"{onnx_path.name} has sha256 {got}, the export wrote {record.get('onnx_sha256')} (damaged?)"
    return None


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)                      # as the downloaded files (mkstemp makes 0600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export(source: Path, dest: Optional[Path] = None, output: Optional[str] = None) -> ExportRecord:
    """Export ``source`` to ``dest`` (default :func:`export_path`), check it, write its sidecar."""
    source = Path(source)
    dest = Path(dest) if dest else export_path(source)
    model = to_onnx(source, output)
    data = model.SerializeToString()
    diff, peak = self_check(model, source, output)
    if diff is not None and diff > MAX_ABS_DIFF * max(1.0, peak):
        raise ExportError(f"the ONNX export of {source} differs from the source by {diff:.3g} "
                          f"(> {MAX_ABS_DIFF:g} x max(1, largest value {peak:.3g})); not kept")
    record = ExportRecord(source=source.name, source_sha256=digests_of(source, ["sha256"])["sha256"],
                          onnx_sha256=hashlib.sha256(data).hexdigest(),
                          output=model.graph.output[0].name, input=model.graph.input[0].name,
                          max_abs_diff=diff, max_abs_value=peak, openvino=_openvino().get_version().split("-")[0],
                          onnx=_onnx().__version__)
    sidecar(dest).unlink(missing_ok=True)         # no window where an old sidecar vouches for new bytes
    _write_atomically(dest, data)
    _write_atomically(sidecar(dest), (json.dumps(asdict(record), indent=2) + "\n").encode())
    log.info("exported %s to %s (sha256 %s, max abs diff %s)", source, dest, record.onnx_sha256, diff)
    return record


def ensure_export(source: Path, output: Optional[str] = None, dest: Optional[Path] = None) -> Path:
    """The path of a good export of ``source``, made (once) when missing, stale or damaged."""
    dest = Path(dest) if dest else export_path(source)
    reason = stale_reason(dest, Path(source), output)
    if reason:
        if dest.exists() or sidecar(dest).exists():
            log.warning("ONNX export %s is not usable (%s): exporting again", dest, reason)
        export(source, dest, output)
    return dest
