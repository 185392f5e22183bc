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
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from .cache import cache_dir, digests_of
from .manifest import ModelError  # noqa: F401 - ExportError's base, for callers
from .onnx_graph import (EXPORTER_VERSION, NCHW, NHWC, OPSET, ExportError, _onnx, _openvino, _read,  # noqa: F401
                         plain_name, to_onnx)

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".onnx.json"
#: Largest difference of any output value accepted between the export and its source, relative to
#: the largest output value when that is above 1 (float32 rounding grows with the values; a wrong
#: translation is off by the values themselves). The pose maps stay within 1: an absolute 1e-4.
MAX_ABS_DIFF = 1e-4
#: Size of the self-check input: the default model input (432x368).
CHECK_SHAPE = (1, 3, 368, 432)


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
