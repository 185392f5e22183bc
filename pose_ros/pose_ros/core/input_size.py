"""The network input: its stride, its bounds, the scale factors of extra passes, and flags.

One place for what the node's parameters, the estimator's options, the CLI and the launch
arguments all check, so that a value one of them accepts the others accept too.
"""

from __future__ import annotations

import math
from typing import Iterable, Optional, Sequence, Tuple, Union

#: OpenPose networks output one map cell per 8 input pixels; input sides are multiples of it.
NET_STRIDE = 8
#: Smallest network input side. Measured with mobilenet_thin on cv2.dnn: at 8 px (1 output
#: cell) the output does not depend on the image and reaches 4e35 (ghost persons with scores of
#: 1e28), at 16-32 px it overshoots to 1.2-2.1, from 40 px on it stays in range. 64 px (8
#: output cells) leaves a margin.
MIN_INPUT_SIDE = 64
#: Largest network input side: above it one frame takes minutes and gigabytes on a CPU.
MAX_INPUT_SIDE = 2048
#: Largest factor of a multi-scale pass (still bounded by MAX_INPUT_SIDE on the real input).
MAX_SCALE = 4.0

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def parse_flag(value: Union[str, bool, int]) -> bool:
    """``true``/``false`` (and 1/0, yes/no, on/off) as launch files, YAML and CLIs write them."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"must be true or false, got {value!r}")


def parse_scales(value: Union[None, str, float, Iterable[float]]) -> Tuple[float, ...]:
    """``"1.0,1.5"``, ``[1.0, 1.5]`` or ``1.5`` -> a tuple of finite factors in (0, MAX_SCALE].

    None or empty means one pass at the input size, ``(1.0,)``. Raises ValueError with the reason.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    items = [] if value is None else value.replace(",", " ").split() if isinstance(value, str) else list(value)
    if not items:
        return (1.0,)
    try:
        scales = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        raise ValueError(f"scales must be numbers such as 1.0,1.5, got {value!r}") from None
    if any(not (math.isfinite(v) and 0.0 < v <= MAX_SCALE) for v in scales):
        raise ValueError(f"scales must be in (0, {MAX_SCALE:g}], got {list(scales)}")
    return scales


def pass_size(width: int, height: int, scale: float) -> Tuple[int, int]:
    """The network input of one pass at ``scale``: rounded to the stride, never below one stride."""
    return (max(NET_STRIDE, int(round(width * scale / NET_STRIDE)) * NET_STRIDE),
            max(NET_STRIDE, int(round(height * scale / NET_STRIDE)) * NET_STRIDE))


def scales_problem(scales: Sequence[float], width: int, height: int) -> str:
    """Why these passes over a ``width x height`` input are refused, or "" when they are fine.

    The bound holds on the real network input of every pass: ``[4.0]`` on a 2048 input would
    allocate an 8192x6144 network, ``[0.001]`` would run it at 8x8 px and find nobody.
    """
    try:
        scales = parse_scales(list(scales))
    except ValueError as e:
        return str(e)
    for s in scales:
        w, h = pass_size(width, height, s)
        if min(w, h) < MIN_INPUT_SIDE or max(w, h) > MAX_INPUT_SIDE:
            return (f"scale {s:g} of a {width}x{height} input runs the network at {w}x{h}; every pass must "
                    f"stay within {MIN_INPUT_SIDE}..{MAX_INPUT_SIDE} px a side")
    return ""


def input_side_problem(name: str, value: int, multiple: Optional[int] = NET_STRIDE) -> str:
    """Why ``value`` is not a usable network input side, or ""."""
    if not (MIN_INPUT_SIDE <= value <= MAX_INPUT_SIDE):
        return f"{name}={value} must be in {MIN_INPUT_SIDE}..{MAX_INPUT_SIDE}"
    if multiple and value % multiple:
        return f"{name}={value} must be a multiple of {multiple} (the network's stride)"
    return ""
