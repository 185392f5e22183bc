"""Camera buffers <-> BGR numpy images, without cv_bridge and without ROS.

cv_bridge is not on PyPI and its Python half breaks on NumPy 2, so the node
converts ``sensor_msgs/Image`` and ``CompressedImage`` payloads here from plain
arguments (the message fields). Everything is validated *before* any large
allocation, because the sizes come from the network and may be wrong or hostile.

Every encoding that cv_bridge converts to ``bgr8`` is accepted with cv_bridge's results
(8- and 16-bit mono/RGB/BGR with or without alpha, YUV 4:2:2, the four Bayer patterns in 8
and 16 bits), plus Jazzy's semi-planar ``nv21`` and ``nv24``; a test compares the outputs
with cv_bridge's wherever ROS 2's cv_bridge imports.

Raw buffers become views where the layout allows it (``bgr8``, padded or not):
the returned array may then be read-only and share memory with ``data``; pass
``copy=True`` for a private, writable, contiguous array. Colour conversions
(rgb, alpha, mono, YUV, Bayer, 16-bit) always produce a new array.
"""

from __future__ import annotations

import array
from dataclasses import dataclass
from typing import Optional, Tuple, Union

import cv2
import numpy as np

BufferLike = Union[bytes, bytearray, memoryview, array.array, np.ndarray]


class ImageConversionError(ValueError):
    """A buffer could not be turned into an image; the message says why."""


# Default ceiling on width * height: large enough for any real camera, small enough
# that a corrupt header cannot make us allocate gigabytes.
MAX_PIXELS = 8192 * 8192

@dataclass(frozen=True)
class _Spec:
    """How one ``sensor_msgs/Image`` encoding becomes BGR8 (cv_bridge's ``bgr8`` semantics)."""

    bpp: int               # bytes per pixel of the first (or only) plane
    code: Optional[int]    # cv2.cvtColor code to BGR (None: already BGR, or see ``kind``)
    kind: str = "packed"   # packed | mono | yuv422 | bayer | nv21 | nv24
    bits: int = 8          # 16: scaled to 8 bits after the colour conversion, as cv_bridge does


# ROS 'yuv422' is UYVY (cv_bridge: COLOR_YUV2BGR_UYVY); 'yuv422_yuy2' and the newer 'yuyv' are
# YUYV. Bayer names are shifted between ROS and OpenCV: ROS names the first two pixels of the
# first row, OpenCV the second and third pixels of the second row, so ROS bayer_rggb is
# OpenCV's BayerBG (cv_bridge's own mapping).
_ENCODINGS = {
    "bgr8": _Spec(3, None),
    "rgb8": _Spec(3, cv2.COLOR_RGB2BGR),
    "bgra8": _Spec(4, cv2.COLOR_BGRA2BGR),
    "rgba8": _Spec(4, cv2.COLOR_RGBA2BGR),
    "mono8": _Spec(1, cv2.COLOR_GRAY2BGR, "mono"),
    "mono16": _Spec(2, cv2.COLOR_GRAY2BGR, "mono", 16),
    "bgr16": _Spec(6, None, bits=16),
    "rgb16": _Spec(6, cv2.COLOR_RGB2BGR, bits=16),
    "bgra16": _Spec(8, cv2.COLOR_BGRA2BGR, bits=16),
    "rgba16": _Spec(8, cv2.COLOR_RGBA2BGR, bits=16),
    "yuv422": _Spec(2, cv2.COLOR_YUV2BGR_UYVY, "yuv422"),
    "uyvy": _Spec(2, cv2.COLOR_YUV2BGR_UYVY, "yuv422"),
    "yuv422_yuy2": _Spec(2, cv2.COLOR_YUV2BGR_YUY2, "yuv422"),
    "yuyv": _Spec(2, cv2.COLOR_YUV2BGR_YUY2, "yuv422"),
    "bayer_rggb8": _Spec(1, cv2.COLOR_BayerBG2BGR, "bayer"),
    "bayer_bggr8": _Spec(1, cv2.COLOR_BayerRG2BGR, "bayer"),
    "bayer_gbrg8": _Spec(1, cv2.COLOR_BayerGR2BGR, "bayer"),
    "bayer_grbg8": _Spec(1, cv2.COLOR_BayerGB2BGR, "bayer"),
    "bayer_rggb16": _Spec(2, cv2.COLOR_BayerBG2BGR, "bayer", 16),
    "bayer_bggr16": _Spec(2, cv2.COLOR_BayerRG2BGR, "bayer", 16),
    "bayer_gbrg16": _Spec(2, cv2.COLOR_BayerGR2BGR, "bayer", 16),
    "bayer_grbg16": _Spec(2, cv2.COLOR_BayerGB2BGR, "bayer", 16),
    # Semi-planar YUV (Jazzy's sensor_msgs): a Y plane of ``height`` rows of ``step`` bytes, then
    # the chroma plane. nv21: 4:2:0, height/2 rows of interleaved V,U with the same stride;
    # nv24: 4:4:4, height rows of interleaved U,V with twice the stride.
    "nv21": _Spec(1, cv2.COLOR_YUV2BGR_NV21, "nv21"),
    "nv24": _Spec(1, None, "nv24"),
}

SUPPORTED_ENCODINGS: Tuple[str, ...] = tuple(_ENCODINGS)

# BT.601 limited range, the YUV -> RGB that OpenCV's YUV 4:2:2 and 4:2:0 conversions use, as a
# cv2.transform matrix on (Y, U, V) pixels giving (B, G, R), so nv24 looks like nv21 and yuyv.
_YUV601_TO_BGR = np.array([
    [1.164, 2.018, 0.0, -1.164 * 16 - 2.018 * 128],
    [1.164, -0.391, -0.813, -1.164 * 16 + (0.391 + 0.813) * 128],
    [1.164, 0.0, 1.596, -1.164 * 16 - 1.596 * 128],
], dtype=np.float32)


def _to_8bit(image16: np.ndarray) -> np.ndarray:
    """cv_bridge's 16 -> 8 bit scaling, ``round(v * 255 / 65535)``: its ``convertTo`` with that
    scale. OpenCV's convertScaleAbs computes the same for every uint16 value (a test checks all
    65536), 15x faster than numpy integer arithmetic."""
    return cv2.convertScaleAbs(image16, alpha=255.0 / 65535.0)


def _plane_rows(flat: np.ndarray, offset: int, rows: int, stride: int, row_bytes: int) -> np.ndarray:
    return flat[offset:offset + rows * stride].reshape(rows, stride)[:, :row_bytes]


def _required_bytes(spec: _Spec, height: int, step: int) -> int:
    if spec.kind == "nv21":
        return height * step + (height // 2) * step
    if spec.kind == "nv24":
        return height * step + height * 2 * step
    return height * step


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


def packed_step(encoding: str, width: int) -> int:
    """The row length in bytes of ``width`` pixels of ``encoding`` without padding (the Y plane's,
    for nv21/nv24)."""
    return int(width) * _ENCODINGS[_normalise_encoding(encoding)].bpp


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

    Every encoding cv_bridge converts to ``bgr8`` is accepted, with its results: 16-bit data
    is scaled to 8 bits as cv_bridge scales it (after demosaicing, for Bayer). ``step`` is the
    row length in bytes and may exceed ``width * bytes_per_pixel`` (padded rows); bytes after
    the image are ignored. ``is_bigendian`` matters for 16-bit encodings. Mono images come
    back as 3-channel BGR because the estimators want 3 channels; ``want_color=False`` keeps
    them 2-D (H, W) instead (colour encodings are always BGR). The result may be a read-only
    view of ``data`` (see the module doc); ``copy=True`` guarantees a writable private array.
    """
    enc = _normalise_encoding(encoding)
    width, height, step = int(width), int(height), int(step)
    _check_size(width, height, max_pixels)
    spec = _ENCODINGS[enc]
    row_bytes = width * spec.bpp
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} is smaller than width * bytes per pixel = {width} * {spec.bpp} = {row_bytes} "
            f"for encoding {enc!r}")
    if spec.kind in ("yuv422", "nv21") and width % 2:
        raise ImageConversionError(
            f"encoding {enc!r} shares chroma between pixel pairs and needs an even width, got {width}")
    if spec.kind == "nv21" and height % 2:
        raise ImageConversionError(f"encoding {enc!r} shares chroma between row pairs and needs an "
                                   f"even height, got {height}")

    flat = _as_bytes_view(data)
    needed = _required_bytes(spec, height, step)
    if flat.size < needed:
        raise ImageConversionError(
            f"image data has {flat.size} bytes but {enc!r} with height {height} and step {step} "
            f"needs {needed}")

    # (H, step) rows, cut to the pixel bytes: all views.
    rows = _plane_rows(flat, 0, height, step, row_bytes)
    if spec.kind in ("nv21", "nv24"):
        return _semi_planar_to_bgr(flat, rows, spec, width, height, step)

    channels = spec.bpp * 8 // spec.bits
    if spec.bits == 16:
        dtype = np.dtype(">u2" if is_bigendian else "<u2")
        # A strided uint8 view cannot be reinterpreted as uint16 in place, so compact first.
        pixels = np.ascontiguousarray(rows).view(dtype).astype(np.uint16, copy=False)
    else:
        pixels = rows
    pixels = pixels.reshape(height, width, channels) if channels > 1 else pixels.reshape(height, width)

    if spec.kind == "mono":
        gray = _to_8bit(pixels) if spec.bits == 16 else pixels
        if not want_color:
            return gray.copy() if copy and spec.bits == 8 else gray
        return cv2.cvtColor(gray, spec.code)
    if spec.code is None:
        if spec.bits == 16:
            return _to_8bit(pixels)
        return pixels.copy() if copy else pixels   # bgr8: the zero-copy path
    # Colour (or demosaic) at the source depth first, then scale: cv_bridge's order.
    bgr = cv2.cvtColor(pixels, spec.code)
    return _to_8bit(bgr) if spec.bits == 16 else bgr


def _semi_planar_to_bgr(flat: np.ndarray, rows: np.ndarray, spec: _Spec, width: int, height: int,
                        step: int) -> np.ndarray:
    """nv21 through OpenCV; nv24 (which OpenCV lacks) with the same BT.601 limited-range matrix."""
    if spec.kind == "nv21":
        # cvtColor wants the Y rows and the chroma rows as one packed (H * 3/2, W) array.
        chroma = _plane_rows(flat, height * step, height // 2, step, width)
        return cv2.cvtColor(np.concatenate([rows, chroma]), spec.code)
    uv = _plane_rows(flat, height * step, height, 2 * step, 2 * width).reshape(height, width, 2)
    return cv2.transform(np.concatenate([rows[:, :, None], uv], axis=2), _YUV601_TO_BGR)


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


#: What image_transport's compressed plugin writes into ``CompressedImage.format`` for colour JPEG.
JPEG_FORMAT = "bgr8; jpeg compressed bgr8"


def bgr_to_jpeg(image: np.ndarray, quality: int = 80) -> bytes:
    """BGR (H, W, 3) uint8 -> JPEG bytes at ``quality`` (1-100), as image_transport sends them.

    A camera on another host: one 640x480 frame at 30 fps is 221 Mbit/s raw and about 12
    Mbit/s as JPEG q80 (26 at image_transport's default q95).
    """
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"jpeg quality must be in 1..100, got {quality}")
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ImageConversionError(f"cannot encode a {image.shape} image as JPEG")
    return buf.tobytes()
