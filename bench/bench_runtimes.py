#!/usr/bin/env python3
"""Runtime benchmark: the same network on cv2.dnn and on OpenVINO, interleaved.

For each input size (432x368, the trimmed 4:3 size 432x328, and 320x240), both runtimes
run the default model on the same blobs, prepared from vtest.avi frames exactly as
``openpose_dnn`` prepares them, in alternating order, so that load from other processes
hits both alike. Reported per runtime: forward p50/p95, the ratio to cv2.dnn, the
arithmetic rate (2 x multiply-accumulates of the network's convolutions, counted from
the graph, per second) and its share of a measured peak: a float32 matrix product
through numpy's BLAS on the same cores (a practical peak, below the FMA units' paper
peak). Also the max abs difference of the 57 output channels.

Run: ``python bench/bench_runtimes.py [--quick]`` (after ``source tools/env.sh``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

_PKG = str(Path(__file__).resolve().parent.parent / "pose_ros")
if _PKG not in sys.path:
    sys.path.insert(0, _PKG)

from bench_estimator import MODEL, VIDEO, pct, read_frames  # noqa: E402
from pose_ros.estimators import load_estimator  # noqa: E402
from pose_ros.runtimes import usable_cpu_count  # noqa: E402

SIZES: Tuple[Tuple[int, int], ...] = ((432, 368), (432, 328), (320, 240))
RUNTIMES = ("opencv", "openvino")
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "neon", "asimd")


def cpu_isa() -> str:
    """The SIMD extensions that matter for inference, from /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.split(":", 1)[1].split())
            break
    return " ".join(f for f in ISA_FLAGS if f in flags) or "none of " + ", ".join(ISA_FLAGS)


def network_macs(width: int, height: int, weights: Path) -> float:
    """Multiply-accumulates of the graph's convolutions at this input size (OpenVINO's graph walk)."""
    import openvino

    model = openvino.Core().read_model(str(weights))
    model.reshape([1, height, width, 3])
    macs = 0
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind in ("Convolution", "GroupConvolution"):
            out = int(np.prod(list(op.get_output_shape(0))))
            kernel = list(op.input_value(1).get_shape())
            per_output = int(np.prod(kernel[1:] if kind == "Convolution" else kernel[2:]))
            macs += out * per_output
    return float(macs)


_GEMM_PROBE = """
import time, numpy as np
n, best = {n}, float("inf")
a = np.random.default_rng(0).standard_normal((n, n), np.float32)
b = a.T.copy()
a @ b
for _ in range({repeats}):
    t0 = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t0)
print(2.0 * n ** 3 / best / 1e9)
"""


def matmul_peak_gflops(n: int = 2048, repeats: int = 8) -> float:
    """float32 GEMM rate through numpy's BLAS (best of ``repeats``): a practical peak for these cores.

    Run in a child process without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: some machines here
    set them to dodge old OpenBLAS bugs, and they hold a current OpenBLAS to slower kernels.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    out = subprocess.run([sys.executable, "-c", _GEMM_PROBE.format(n=n, repeats=repeats)], env=env,
                         capture_output=True, text=True, check=True, timeout=300)
    return float(out.stdout.strip().splitlines()[-1])


def blobs_for(estimator, frames: Sequence[np.ndarray]) -> List[np.ndarray]:
    """The network inputs ``openpose_dnn.infer`` builds for these frames (letterbox, trim, blob)."""
    return [estimator.prepare(frame)[1] for frame in frames]


def run(runs: int = 20, sizes: Sequence[Tuple[int, int]] = SIZES, video: str = VIDEO) -> Dict[str, object]:
    """Interleaved forward timings of both runtimes at each size; see the module docstring."""
    frames = read_frames(video, 8)
    peak = matmul_peak_gflops()
    rows = []
    for width, height in sizes:
        est = {name: load_estimator("openpose_dnn", model=MODEL, input_width=width, input_height=height,
                                    runtime=name, trim_padding=False) for name in RUNTIMES}
        blobs = blobs_for(est["opencv"], frames)
        weights = Path(est["opencv"].describe()["model_files"]["weights"])
        macs = network_macs(width, height, weights)
        diff = max(float(np.abs(est["opencv"]._forward(b) - est["openvino"]._forward(b)).max()) for b in blobs)
        times: Dict[str, List[float]] = {name: [] for name in RUNTIMES}
        for i in range(runs):
            order = RUNTIMES if i % 2 == 0 else RUNTIMES[::-1]
            for name in order:
                t0 = time.perf_counter()
                est[name]._forward(blobs[i % len(blobs)])
                times[name].append((time.perf_counter() - t0) * 1e3)
        ref = pct(times["opencv"], 50)
        for name in RUNTIMES:
            p50 = pct(times[name], 50)
            gflops = 2.0 * macs / (p50 / 1e3) / 1e9
            info = est[name].describe()
            rows.append({"runtime": name, "width": width, "height": height, "runs": runs,
                         "forward_p50_ms": p50, "forward_p95_ms": pct(times[name], 95),
                         "speedup_vs_opencv": ref / p50, "gmac": macs / 1e9, "gflops": gflops,
                         "peak_share": gflops / peak, "max_abs_diff": diff,
                         "precision": info.get("precision"), "device": info.get("device"),
                         "threads": info.get("threads"), "version": info.get("version")})
    return {"rows": rows, "peak_gflops": peak, "isa": cpu_isa(), "cores": usable_cpu_count()}


def describe(row: Dict[str, object]) -> str:
    return (f"{row['runtime']:8s} {row['width']}x{row['height']}: p50 {row['forward_p50_ms']:.1f} ms "
            f"(p95 {row['forward_p95_ms']:.1f}), {row['speedup_vs_opencv']:.2f}x cv2.dnn, "
            f"{row['gflops']:.0f} GFLOP/s = {row['peak_share'] * 100:.0f}% of the GEMM peak, "
            f"{row['precision']}, max diff {row['max_abs_diff']:.1e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="6 runs per size instead of 20")
    ap.add_argument("--runs", type=int, help="runs per runtime and size")
    args = ap.parse_args()
    result = run(args.runs or (6 if args.quick else 20))
    print(f"ISA: {result['isa']}; {result['cores']} usable cores; float32 GEMM peak "
          f"{result['peak_gflops']:.0f} GFLOP/s")
    for row in result["rows"]:
        print(describe(row))


if __name__ == "__main__":
    main()
