"""Letterbox preprocessing geometry: one place that knows how source pixels,
network-input pixels and feature-map cells relate.

Every mapping uses the *pixel-centre* convention (pixel ``i`` covers
``[i - 0.5, i + 0.5)`` and its centre is ``i``), the same one ``cv2.resize`` uses,
so keypoints found on the coarse network output land on the right source pixel
instead of drifting by half a cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pose_ros.core.input_size import MIN_INPUT_SIDE

#: Smallest network input side :func:`trimmed_input_size` returns: the short side is padded up
#: to it, so a 1920x35 strip runs at 432x64, not 432x8 (why 64: :mod:`pose_ros.core.input_size`).
MIN_NETWORK_SIDE = MIN_INPUT_SIDE


@dataclass(frozen=True)
class LetterboxTransform:
    """Aspect-preserving resize of a ``src_w x src_h`` image into a centred
    ``net_w x net_h`` canvas.

    ``scale`` multiplies source pixels into network-input pixels (same for x and
    y); ``pad_x`` / ``pad_y`` are the columns / rows of padding on the left / top.
    The resized content is ``round(src * scale)`` pixels wide/high, so the far
    edge may differ from ``scale`` by at most half a pixel; mappings use the one
    ``scale`` so that they stay exact inverses of each other.
    """

    src_w: int
    src_h: int
    net_w: int
    net_h: int
    scale: float
    pad_x: int
    pad_y: int

    @property
    def content_w(self) -> int:
        """Width of the resized image inside the canvas."""
        return min(self.net_w, max(1, int(round(self.src_w * self.scale))))

    @property
    def content_h(self) -> int:
        """Height of the resized image inside the canvas."""
        return min(self.net_h, max(1, int(round(self.src_h * self.scale))))

    def net_to_source(self, xy: np.ndarray) -> np.ndarray:
        """Network-input pixel coordinates (..., 2) -> source pixel coordinates."""
        xy = np.asarray(xy, dtype=np.float64)
        pad = np.array([self.pad_x, self.pad_y], dtype=np.float64)
        return (xy - pad + 0.5) / self.scale - 0.5

    def source_to_net(self, xy: np.ndarray) -> np.ndarray:
        """Source pixel coordinates (..., 2) -> network-input pixel coordinates."""
        xy = np.asarray(xy, dtype=np.float64)
        pad = np.array([self.pad_x, self.pad_y], dtype=np.float64)
        return (xy + 0.5) * self.scale - 0.5 + pad


def compute_letterbox(src_w: int, src_h: int, net_w: int, net_h: int) -> LetterboxTransform:
    """The largest aspect-preserving fit of the source into the network input,
    centred, so that people are not squashed (the network was trained on
    undistorted images)."""
    for name, v in (("src_w", src_w), ("src_h", src_h), ("net_w", net_w), ("net_h", net_h)):
        if int(v) != v or v <= 0:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    scale = min(net_w / src_w, net_h / src_h)
    new_w = min(net_w, max(1, int(round(src_w * scale))))
    new_h = min(net_h, max(1, int(round(src_h * scale))))
    return LetterboxTransform(int(src_w), int(src_h), int(net_w), int(net_h), float(scale),
                              (net_w - new_w) // 2, (net_h - new_h) // 2)


def trimmed_input_size(src_w: int, src_h: int, max_w: int, max_h: int, multiple: int,
                       min_side: int = MIN_NETWORK_SIDE) -> tuple[int, int]:
    """The smallest network input, in steps of ``multiple``, that holds the letterboxed
    source at the scale ``max_w`` x ``max_h`` gives it, and is at least ``min_side``
    (capped by ``max_w`` / ``max_h``) on each side.

    Why: a fixed 432x368 input wastes a third of the forward pass on padding for a 16:9
    camera (content 432x243). Trimming the padding keeps the scale, so detections are
    the same, and the network does less work. The floor keeps near-degenerate images
    (a 4000x8 strip) from reaching the network at a size where its output is garbage.
    """
    for name, v in (("src_w", src_w), ("src_h", src_h), ("max_w", max_w), ("max_h", max_h),
                     ("multiple", multiple), ("min_side", min_side)):
        if int(v) != v or v <= 0:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    t = compute_letterbox(src_w, src_h, max_w, max_h)

    def up(v: int, limit: int) -> int:
        return min(limit, -(-max(v, min_side) // multiple) * multiple)
    return up(t.content_w, max_w), up(t.content_h, max_h)


def apply_letterbox(image: np.ndarray, t: LetterboxTransform, pad_value: int = 0) -> np.ndarray:
    """Resize ``image`` (H, W) or (H, W, C) uint8 as ``t`` says and pad it.

    INTER_AREA when shrinking (it averages, so no aliasing), INTER_LINEAR when
    enlarging. Returns (net_h, net_w, C) uint8, or (net_h, net_w) for a 2-D input.
    """
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {image.shape}")
    h, w = image.shape[:2]
    if (w, h) != (t.src_w, t.src_h):
        raise ValueError(f"image is {w}x{h} but the transform expects {t.src_w}x{t.src_h}")
    new_w, new_h = t.content_w, t.content_h
    interp = cv2.INTER_AREA if t.scale < 1.0 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interp)
    if resized.ndim < image.ndim:  # cv2 drops a single channel axis
        resized = resized[:, :, None]
    out_shape = (t.net_h, t.net_w) + image.shape[2:]
    out = np.full(out_shape, pad_value, dtype=np.uint8)
    out[t.pad_y:t.pad_y + new_h, t.pad_x:t.pad_x + new_w] = resized
    return out


def map_to_net(xy: np.ndarray, map_w: int, map_h: int, net_w: int, net_h: int) -> np.ndarray:
    """Feature-map cell coordinates (..., 2) -> network-input pixels.

    Pixel-centre convention: ``x_net = (x_map + 0.5) * (net_w / map_w) - 0.5``.
    """
    xy = np.asarray(xy, dtype=np.float64)
    stride = np.array([net_w / map_w, net_h / map_h], dtype=np.float64)
    return (xy + 0.5) * stride - 0.5
