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
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*")

#: The formats :func:`compressed_to_bgr` decodes: what image_transport's ``compressed``
#: plugin produces (jpeg, png; tiff in newer releases). Their size is read from the
#: header before decoding; every other format cv2.imdecode knows (WebP, BMP, PxM,
#: JPEG 2000, OpenEXR, HDR, GIF, AVIF...) is refused unread, so none of them can make
#: OpenCV allocate a decompression bomb.
COMPRESSED_FORMATS = ("jpeg", "png", "tiff")


class _Unreadable(Exception):
    """The header of an accepted format could not be read (truncated or malformed)."""


def _jpeg_size(buf: np.ndarray) -> Tuple[int, int]:
    """(width, height) from the first frame header, walking markers the way libjpeg does.

    libjpeg skips junk between segments with only a warning ("extraneous bytes before
    marker"), so a parser that stops at the first non-0xFF byte can be steered past its
    check by a single junk byte while libjpeg still finds - and allocates - the frame.
    Here junk is skipped the same way, and a stream without a readable frame header
    before its scan is refused (libjpeg refuses it too).
    """
    n, i = buf.size, 2
    while True:
        while i < n and buf[i] != 0xFF:           # junk before a marker: libjpeg skips it
            i += 1
        while i < n and buf[i] == 0xFF:           # fill bytes
            i += 1
        if i >= n:
            raise _Unreadable("no frame header before the end of the data")
        marker = int(buf[i])
        i += 1
        if marker == 0x00:                        # a stuffed 0xFF00 is not a marker
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:   # markers without a length field
            continue
        if marker in (0xD9, 0xDA):
            raise _Unreadable("end of image or start of scan before any frame header")
        if i + 2 > n:
            raise _Unreadable("truncated segment length")
        length = _be16(buf, i)
        if length < 2:
            raise _Unreadable(f"segment length {length}")
        if marker in _JPEG_SOF:
            if i + 7 > n or length < 8:
                raise _Unreadable("truncated frame header")
            return _be16(buf, i + 5), _be16(buf, i + 3)
        i += length


def _tiff_size(buf: np.ndarray) -> Tuple[int, int]:
    """(width, height) from the first image file directory (the page imdecode reads)."""
    little = bytes(buf[:2]) == b"II"

    def u(i: int, size: int) -> int:
        if i + size > buf.size:
            raise _Unreadable("truncated image file directory")
        return int.from_bytes(bytes(buf[i:i + size]), "little" if little else "big")
    ifd = u(4, 4)
    entries = u(ifd, 2)
    found = {}
    for k in range(entries):
        e = ifd + 2 + 12 * k
        tag, kind = u(e, 2), u(e + 2, 2)
        if tag in (256, 257):                     # ImageWidth, ImageLength: SHORT or LONG
            if kind not in (3, 4) or u(e + 4, 4) != 1:
                raise _Unreadable(f"tag {tag} has type {kind}")
            found[tag] = u(e + 8, 2) if kind == 3 else u(e + 8, 4)
    if 256 not in found or 257 not in found:
        raise _Unreadable("no ImageWidth/ImageLength in the first directory")
    return found[256], found[257]


def compressed_header(buf: np.ndarray) -> Tuple[str, int, int]:
    """(format, width, height) of a JPEG, PNG or TIFF payload, from its header alone.

    Raises ImageConversionError for any other format and for a header that cannot be
    read, so nothing is ever decoded whose size was not checked first.
    """
    head = bytes(buf[:8])
    try:
        if head.startswith(b"\xff\xd8"):
            return ("jpeg",) + _jpeg_size(buf)
        if head == _PNG_SIGNATURE:
            if buf.size < 24 or bytes(buf[12:16]) != b"IHDR":   # libpng requires IHDR first
                raise _Unreadable("no IHDR chunk first")
            return "png", _be32(buf, 16), _be32(buf, 20)
        if head[:4] in _TIFF_SIGNATURES:
            return ("tiff",) + _tiff_size(buf)
    except _Unreadable as exc:
        kind = "jpeg" if head.startswith(b"\xff\xd8") else "png" if head == _PNG_SIGNATURE else "tiff"
        raise ImageConversionError(f"corrupt or unsupported compressed image ({buf.size} bytes): "
                                   f"cannot read the {kind} header: {exc}") from None
    raise ImageConversionError(
        f"corrupt or unsupported compressed image ({buf.size} bytes, starts {head[:4].hex()}): only "
        f"{', '.join(COMPRESSED_FORMATS)} are accepted (what image_transport's compressed plugin produces; "
        "their size is checked before decoding)")


def peek_compressed_size(buf: np.ndarray) -> Optional[Tuple[int, int]]:
    """(width, height) from a JPEG, PNG or TIFF header, or None when it cannot be read."""
    try:
        return compressed_header(buf)[1:]
    except ImageConversionError:
        return None


def compressed_to_bgr(data: BufferLike, format: str = "",
                      max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` payload (JPEG, PNG or TIFF) to BGR (H, W, 3).

    ``format`` is the message's informational field (e.g. ``"bgr8; jpeg compressed bgr8"``);
    image_transport always compresses colour as BGR, so only ``compressedDepth``
    (16-bit depth with a custom header) is refused from it. The payload's own header
    decides the format, and its size is checked against ``max_pixels`` before
    anything is decoded. Grey images decode to 3 channels.

    OpenCV has its own ceiling, ``OPENCV_IO_MAX_IMAGE_PIXELS`` (default 2^30, the top of
    the node's ``max_image_pixels`` range); it is read once when OpenCV loads, so it
    cannot follow a run-time limit, and it applies only after the header was parsed.
    """
    if "compresseddepth" in str(format).lower():
        raise ImageConversionError(
            f"compressedDepth images ({format!r}) are not supported; use jpeg or png compression")
    buf = _as_bytes_view(data)
    if buf.size == 0:
        raise ImageConversionError("compressed image data is empty")
    kind, width, height = compressed_header(buf)
    _check_size(width, height, max_pixels)
    try:
        image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error as exc:   # e.g. OpenCV's own pixel ceiling
        raise ImageConversionError(f"cannot decode the {kind} image ({buf.size} bytes): "
                                   f"{str(exc).strip().splitlines()[-1]}") from None
    if image is None:
        raise ImageConversionError(
            f"corrupt or unsupported compressed image ({buf.size} bytes, {kind} {width}x{height}, "
            f"format {format!r}): cv2.imdecode could not decode it")
    if (image.shape[1], image.shape[0]) not in ((width, height), (height, width)):   # EXIF may rotate
        raise ImageConversionError(f"{kind} decoded to {image.shape[1]}x{image.shape[0]}, "
                                   f"its header says {width}x{height}")
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
