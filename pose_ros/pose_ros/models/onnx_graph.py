"""OpenVINO's graph of a model, written as ONNX operators (the translation of :mod:`.onnx_export`).

OpenVINO parses the TensorFlow ``.pb`` and folds its batch norms and constants; each of its ops
in topological order becomes the equivalent ONNX node (opset :data:`OPSET`), NCHW in and out,
weights as initializers. An op without a translation is refused by name.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from .manifest import ModelError

#: Bump when the translation changes: exports of an older version are made again.
EXPORTER_VERSION = 1
OPSET = 13
#: Transpose orders: NHWC -> NCHW, and NCHW -> NHWC.
NCHW, NHWC = [0, 3, 1, 2], [0, 2, 3, 1]
_PADS = {"same_upper": "SAME_UPPER", "same_lower": "SAME_LOWER", "valid": "VALID"}
_ELEMENTWISE = {"Add": "Add", "Subtract": "Sub", "Multiply": "Mul", "Divide": "Div"}
_UNARY = {"Relu": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh"}


class ExportError(ModelError):
    """The graph cannot be exported, or the export does not match its source; says why."""


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
