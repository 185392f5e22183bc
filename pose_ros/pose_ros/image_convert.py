"""Camera buffers <-> BGR numpy images, without cv_bridge and without ROS.

cv_bridge is not on PyPI and its Python half breaks on NumPy 2, so the node
converts ``sensor_msgs/Image`` and ``CompressedImage`` payloads here from plain
arguments (the message fields). Everything is validated *before* any large
allocation, because the sizes come from the network and may be wrong or hostile.

Raw buffers become views where the layout allows it (``bgr8``, padded or not):
the returned array may then be read-only and share memory with ``data``; pass
``copy=True`` for a private, writable, contiguous array. Colour conversions
(rgb, alpha, mono, YUV 4:2:2) always produce a new array.
"""

from __future__ import annotations

import array
from typing import Optional, Tuple, Union

import cv2
import numpy as np

BufferLike = Union[bytes, bytearray, memoryview, array.array, np.ndarray]


class ImageConversionError(ValueError):
    """A buffer could not be turned into an image; the message says why."""


# Default ceiling on width * height: large enough for any real camera, small enough
# that a corrupt header cannot make us allocate gigabytes.
MAX_PIXELS = 8192 * 8192

# encoding -> (bytes per pixel, cv2 conversion code to BGR or None for no conversion).
# ROS 'yuv422' is UYVY (cv_bridge maps it to COLOR_YUV2BGR_UYVY); 'yuv422_yuy2' and
# the newer 'yuyv' name are YUYV. 'mono16' is reduced to 8 bits by dropping the low byte.
_ENCODINGS = {
    "bgr8": (3, None),
    "rgb8": (3, cv2.COLOR_RGB2BGR),
    "bgra8": (4, cv2.COLOR_BGRA2BGR),
    "rgba8": (4, cv2.COLOR_RGBA2BGR),
    "mono8": (1, cv2.COLOR_GRAY2BGR),
    "mono16": (2, cv2.COLOR_GRAY2BGR),
    "yuv422": (2, cv2.COLOR_YUV2BGR_UYVY),
    "uyvy": (2, cv2.COLOR_YUV2BGR_UYVY),
    "yuv422_yuy2": (2, cv2.COLOR_YUV2BGR_YUY2),
    "yuyv": (2, cv2.COLOR_YUV2BGR_YUY2),
}

SUPPORTED_ENCODINGS: Tuple[str, ...] = tuple(_ENCODINGS)

_MONO = ("mono8", "mono16")
_YUV422 = ("yuv422", "uyvy", "yuv422_yuy2", "yuyv")


def _as_bytes_view(data: BufferLike) -> np.ndarray:
    """Flat uint8 view of any buffer-protocol object (no copy when contiguous)."""
    if isinstance(data, np.ndarray):
        flat = data.reshape(-1)
        return flat if flat.dtype == np.uint8 else flat.view(np.uint8)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError as exc:
        raise ImageConversionError(
            f"image data must be bytes-like or a numpy array, got {type(data).__name__}") from exc


def _normalise_encoding(encoding: str) -> str:
    enc = str(encoding).strip().lower()
    if enc not in _ENCODINGS:
        raise ImageConversionError(
            f"unsupported image encoding {encoding!r}; "
            f"supported: {', '.join(SUPPORTED_ENCODINGS)}")
    return enc


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageConversionError(f"image size must be positive, got {width}x{height}")
    if width * height > max_pixels:
        raise ImageConversionError(
            f"image {width}x{height} has {width * height} pixels, "
            f"more than the limit {max_pixels}")


def raw_to_bgr(data: BufferLike, width: int, height: int, step: int, encoding: str,
               is_bigendian: bool = False, max_pixels: int = MAX_PIXELS, *,
               want_color: bool = True, copy: bool = False) -> np.ndarray:
    """Convert a raw ``sensor_msgs/Image`` payload to a uint8 BGR image (H, W, 3).

    ``step`` is the row length in bytes and may exceed ``width * bytes_per_pixel``
    (padded rows); bytes after ``height * step`` are ignored. ``is_bigendian`` only
    matters for ``mono16``. Mono images come back as 3-channel BGR because the
    estimators want 3 channels; ``want_color=False`` keeps them 2-D (H, W) instead
    (colour encodings are always BGR). The result may be a read-only view of
    ``data`` (see the module doc); ``copy=True`` guarantees a writable private array.
    """
    enc = _normalise_encoding(encoding)
    width, height, step = int(width), int(height), int(step)
    _check_size(width, height, max_pixels)
    bpp, code = _ENCODINGS[enc]
    row_bytes = width * bpp
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} is smaller than width * bytes per pixel = {width} * {bpp} = {row_bytes} "
            f"for encoding {enc!r}")
    if enc in _YUV422 and width % 2:
        raise ImageConversionError(
            f"encoding {enc!r} packs pixel pairs and needs an even width, got {width}")

    flat = _as_bytes_view(data)
    needed = height * step
    if flat.size < needed:
        raise ImageConversionError(
            f"image data has {flat.size} bytes but height * step = "
            f"{height} * {step} = {needed} are needed")

    # (H, step) rows, cut to the pixel bytes, split into pixels: all views.
    rows = flat[:needed].reshape(height, step)[:, :row_bytes]

    if enc == "mono16":
        dtype = np.dtype(">u2" if is_bigendian else "<u2")
        # A strided uint8 view cannot be reinterpreted as uint16 in place, so compact first.
        gray16 = np.ascontiguousarray(rows).view(dtype).reshape(height, width)
        gray = (gray16 >> 8).astype(np.uint8)
    elif enc == "mono8":
        gray = rows
    else:
        pixels = rows.reshape(height, width, bpp)
        if code is None:
            return pixels.copy() if copy else pixels
        return cv2.cvtColor(pixels, code)

    if not want_color:
        return gray.copy() if copy and enc == "mono8" else gray
    return cv2.cvtColor(gray, code)


def _be16(buf: np.ndarray, i: int) -> int:
    return (int(buf[i]) << 8) | int(buf[i + 1])


def _be32(buf: np.ndarray, i: int) -> int:
    return (_be16(buf, i) << 16) | _be16(buf, i + 2)


# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic...):
# C4 (DHT), C8 (reserved) and CC (DAC) share the range but are not frames.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def peek_compressed_size(buf: np.ndarray) -> Optional[Tuple[int, int]]:
    """(width, height) from a PNG or JPEG header, or None when unknown.

    Lets :func:`compressed_to_bgr` refuse a decompression bomb before decoding it;
    only headers are read (a few segment hops), never pixel data.
    """
    n = buf.size
    if n >= 24 and bytes(buf[:8]) == b"\x89PNG\r\n\x1a\n" and bytes(buf[12:16]) == b"IHDR":
        return _be32(buf, 16), _be32(buf, 20)
    if n < 4 or buf[0] != 0xFF or buf[1] != 0xD8:
        return None
    i = 2
    while i + 4 <= n:
        if buf[i] != 0xFF:
            return None
        marker = int(buf[i + 1])
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length field
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        if marker in _JPEG_SOF:
            if i + 9 > n:
                return None
            return _be16(buf, i + 7), _be16(buf, i + 5)
        i += 2 + _be16(buf, i + 2)
    return None


def compressed_to_bgr(data: BufferLike, format: str = "",
                      max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` payload (JPEG, PNG, ...) to BGR (H, W, 3).

    ``format`` is the message's informational field (e.g. ``"bgr8; jpeg compressed bgr8"``);
    image_transport always compresses colour as BGR, so only ``compressedDepth``
    (16-bit depth with a custom header) is refused from it. Grey images decode to 3 channels.
    """
    if "compresseddepth" in str(format).lower():
        raise ImageConversionError(
            f"compressedDepth images ({format!r}) are not supported; use jpeg or png compression")
    buf = _as_bytes_view(data)
    if buf.size == 0:
        raise ImageConversionError("compressed image data is empty")
    size = peek_compressed_size(buf)
    if size is not None:
        _check_size(size[0], size[1], max_pixels)
    image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageConversionError(
            f"corrupt or unsupported compressed image ({buf.size} bytes, format {format!r}); "
            "supported: whatever cv2.imdecode reads, e.g. jpeg, png")
    _check_size(image.shape[1], image.shape[0], max_pixels)
    return image


def bgr_to_raw(image: np.ndarray) -> Tuple[array.array, int, str]:
    """(data, step, encoding) to publish ``image`` as a ``sensor_msgs/Image``.

    (H, W, 3) uint8 -> ``bgr8``, (H, W, 4) -> ``bgra8``, (H, W) or (H, W, 1) -> ``mono8``.
    ``data`` is an ``array.array('B')`` because rclpy assigns that type to a uint8[]
    field as is, whereas bytes or lists are checked element by element. Rows are packed.
    """
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ImageConversionError(f"can only publish uint8 images, got dtype {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        encoding, channels = "mono8", 1
    elif img.ndim == 3 and img.shape[2] in (3, 4):
        encoding, channels = ("bgr8", 3) if img.shape[2] == 3 else ("bgra8", 4)
    else:
        raise ImageConversionError(
            f"cannot publish an image of shape {img.shape}; supported: (H, W) mono8, "
            "(H, W, 3) bgr8, (H, W, 4) bgra8")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ImageConversionError(
            f"image size must be positive, got {img.shape[1]}x{img.shape[0]}")
    out = array.array("B")
    out.frombytes(np.ascontiguousarray(img).reshape(-1).data)
    return out, img.shape[1] * channels, encoding
