"""Raw and compressed camera buffers -> BGR, checked against hand-built buffers."""

import array
import os

import cv2
import numpy as np
import pytest
from pose_ros.media.image_convert import (
    MAX_PIXELS,
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    bgr_to_raw,
    compressed_to_bgr,
    packed_step,
    peek_compressed_size,
    raw_to_bgr,
)

DATA = "/usr/share/doc/opencv-doc/examples/data"


def _known_bgr(h: int = 6, w: int = 8) -> np.ndarray:
    """Distinct value per pixel and channel, so any swap or shift shows."""
    rng = np.random.default_rng(h * 100 + w)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _pad_rows(pixels: np.ndarray, pad: int) -> tuple:
    """Pack (H, W, C) or (H, W) bytes into rows of width*C + pad bytes, padding = 0xAB."""
    h = pixels.shape[0]
    rows = pixels.reshape(h, -1)
    padded = np.full((h, rows.shape[1] + pad), 0xAB, dtype=np.uint8)
    padded[:, :rows.shape[1]] = rows
    return padded.tobytes(), padded.shape[1]


def _bgr_to_yuv601(bgr: np.ndarray) -> tuple:
    """BT.601 limited-range Y, U, V planes (float), the inverse of what OpenCV decodes."""
    b, g, r = [bgr[..., i].astype(np.float64) for i in range(3)]
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    return y, u, v


def _pairwise_constant(h: int, w: int) -> np.ndarray:
    """BGR image whose horizontal pixel pairs share a colour, so 4:2:2 loses no chroma."""
    half = _known_bgr(h, w // 2)
    return np.repeat(half, 2, axis=1)


def _pack_yuv422(bgr: np.ndarray, order: str) -> np.ndarray:
    """(H, W, 2) packed YUYV or UYVY bytes for an image with pairwise-constant colour."""
    y, u, v = _bgr_to_yuv601(bgr)
    y8 = np.clip(np.rint(y), 0, 255).astype(np.uint8)
    u8 = np.clip(np.rint(u[:, 0::2]), 0, 255).astype(np.uint8)
    v8 = np.clip(np.rint(v[:, 0::2]), 0, 255).astype(np.uint8)
    h, w = y8.shape
    quads = np.empty((h, w // 2, 4), dtype=np.uint8)
    if order == "yuyv":
        planes = (y8[:, 0::2], u8, y8[:, 1::2], v8)
    else:  # uyvy
        planes = (u8, y8[:, 0::2], v8, y8[:, 1::2])
    for i, plane in enumerate(planes):
        quads[..., i] = plane
    return quads.reshape(h, w, 2)


# ----------------------------------------------------------------- raw colour encodings

@pytest.mark.parametrize("encoding,to_buffer", [
    ("bgr8", lambda im: im),
    ("rgb8", lambda im: im[..., ::-1]),
    ("bgra8", lambda im: np.dstack([im, np.full(im.shape[:2], 7, np.uint8)])),
    ("rgba8", lambda im: np.dstack([im[..., ::-1], np.full(im.shape[:2], 200, np.uint8)])),
])
@pytest.mark.parametrize("pad", [0, 5])
def test_colour_encodings_pixel_exact(encoding, to_buffer, pad):
    bgr = _known_bgr()
    data, step = _pad_rows(np.ascontiguousarray(to_buffer(bgr)), pad)
    out = raw_to_bgr(data, bgr.shape[1], bgr.shape[0], step, encoding)
    assert out.dtype == np.uint8 and out.shape == bgr.shape
    np.testing.assert_array_equal(out, bgr)


@pytest.mark.parametrize("pad", [0, 3])
def test_mono8_expands_to_three_equal_channels(pad):
    gray = _known_bgr()[..., 0].copy()
    data, step = _pad_rows(gray, pad)
    out = raw_to_bgr(data, gray.shape[1], gray.shape[0], step, "mono8")
    assert out.shape == gray.shape + (3,)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray)
    flat = raw_to_bgr(data, gray.shape[1], gray.shape[0], step, "mono8", want_color=False)
    np.testing.assert_array_equal(flat, gray)


def _cv_bridge_8bit(values16: np.ndarray) -> np.ndarray:
    """cv_bridge's 16 -> 8 bit scaling (convertTo with 255/65535, rounded), in float64."""
    return np.rint(values16.astype(np.float64) * 255.0 / 65535.0).astype(np.uint8)


@pytest.mark.parametrize("bigendian", [False, True])
def test_mono16_is_scaled_to_8_bits_as_cv_bridge_scales(bigendian):
    rng = np.random.default_rng(3)
    values = rng.integers(0, 65536, size=(5, 7), dtype=np.uint16)
    values[0, :4] = (0, 128, 65535, 32896)  # 32896 = 128 * 257: exactly 128
    data = values.astype(">u2" if bigendian else "<u2").tobytes()
    out = raw_to_bgr(data, 7, 5, 14, "mono16", is_bigendian=bigendian, want_color=False)
    np.testing.assert_array_equal(out, _cv_bridge_8bit(values))
    assert out[0, :4].tolist() == [0, 0, 255, 128]
    # Reading with the wrong byte order gives other values: endianness matters.
    wrong = raw_to_bgr(data, 7, 5, 14, "mono16", is_bigendian=not bigendian, want_color=False)
    np.testing.assert_array_equal(wrong, _cv_bridge_8bit(values.byteswap()))


def test_every_16_bit_value_scales_exactly_like_cv_bridge():
    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    out = raw_to_bgr(values.astype("<u2").tobytes(), 256, 256, 512, "mono16", want_color=False)
    np.testing.assert_array_equal(out, _cv_bridge_8bit(values))


@pytest.mark.parametrize("encoding,order", [("bgr16", [0, 1, 2]), ("rgb16", [2, 1, 0]),
                                            ("bgra16", [0, 1, 2, None]), ("rgba16", [2, 1, 0, None])])
@pytest.mark.parametrize("bigendian", [False, True])
@pytest.mark.parametrize("pad", [0, 6])
def test_16_bit_colour_is_scaled_like_cv_bridge(encoding, order, bigendian, pad):
    rng = np.random.default_rng(len(encoding) + pad)
    bgr16 = rng.integers(0, 65536, size=(4, 5, 3), dtype=np.uint16)
    channels = [bgr16[..., c] if c is not None else np.full((4, 5), 4321, np.uint16) for c in order]
    buffer16 = np.stack(channels, axis=-1).astype(">u2" if bigendian else "<u2")
    data, step = _pad_rows(buffer16.view(np.uint8).reshape(4, -1), pad)
    out = raw_to_bgr(data, 5, 4, step, encoding, is_bigendian=bigendian)
    assert out.dtype == np.uint8 and out.shape == (4, 5, 3)
    np.testing.assert_array_equal(out, _cv_bridge_8bit(bgr16))


# ROS pattern -> which BGR channel each pixel of the 2x2 tile samples (row-major).
_BAYER_TILES = {"rggb": (2, 1, 1, 0), "bggr": (0, 1, 1, 2), "gbrg": (1, 0, 2, 1), "grbg": (1, 2, 0, 1)}


def _mosaic(bgr: np.ndarray, pattern: str) -> np.ndarray:
    """What a Bayer sensor with ROS pattern ``pattern`` records of ``bgr``: one channel per pixel."""
    tile = _BAYER_TILES[pattern]
    out = np.empty(bgr.shape[:2], bgr.dtype)
    for i, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        out[dy::2, dx::2] = bgr[dy::2, dx::2, tile[i]]
    return out


def _colour_blocks(block: int = 8) -> np.ndarray:
    """4x4 blocks of saturated and mixed colours; demosaicing is exact inside a block."""
    colours = np.array([[0, 0, 255], [0, 255, 0], [255, 0, 0], [0, 255, 255], [255, 0, 255], [255, 255, 0],
                        [30, 60, 200], [200, 60, 30], [60, 200, 30], [128, 128, 128], [10, 20, 30],
                        [250, 240, 230], [0, 0, 0], [255, 255, 255], [90, 10, 170], [170, 90, 10]], np.uint8)
    return np.repeat(np.repeat(colours.reshape(4, 4, 3), block, axis=0), block, axis=1)


@pytest.mark.parametrize("pattern", sorted(_BAYER_TILES))
@pytest.mark.parametrize("bits", [8, 16])
def test_bayer_patterns_demosaic_to_the_recorded_colours(pattern, bits):
    """ROS names the first row's pixels (bayer_rggb8: R G / G B); OpenCV's codes are shifted
    (ROS rggb is COLOR_BayerBG2BGR). A swapped mapping turns red into blue and fails here."""
    block = 8
    bgr = _colour_blocks(block)
    raw = _mosaic(bgr, pattern)
    if bits == 16:
        raw = raw.astype(np.uint16) * 257  # the same colours at full 16-bit scale
    data, step = _pad_rows(raw.view(np.uint8).reshape(raw.shape[0], -1), 4)
    out = raw_to_bgr(data, bgr.shape[1], bgr.shape[0], step, f"bayer_{pattern}{bits}")
    inner = np.zeros(bgr.shape[:2], bool)  # away from block edges, where colours mix
    for y0 in range(0, bgr.shape[0], block):
        for x0 in range(0, bgr.shape[1], block):
            inner[y0 + 2:y0 + block - 2, x0 + 2:x0 + block - 2] = True
    np.testing.assert_array_equal(out[inner], bgr[inner])


@pytest.mark.parametrize("pattern", sorted(_BAYER_TILES))
def test_bayer_of_a_real_photo_comes_back_close_to_it(pattern):
    photo = cv2.imread(os.path.join(DATA, "messi5.jpg"), cv2.IMREAD_COLOR)
    raw = _mosaic(photo, pattern)
    out = raw_to_bgr(raw.tobytes(), photo.shape[1], photo.shape[0], photo.shape[1], f"bayer_{pattern}8")
    error = np.abs(out.astype(int) - photo.astype(int)).mean()
    swapped = np.abs(out[..., ::-1].astype(int) - photo.astype(int)).mean()
    assert error < 6 and swapped > 2 * error, (error, swapped)


def _block_constant(h: int, w: int) -> np.ndarray:
    """BGR image whose 2x2 blocks share a colour, so 4:2:0 chroma loses nothing."""
    return np.repeat(np.repeat(_known_bgr(h // 2, w // 2), 2, axis=0), 2, axis=1)


def _nv21(bgr: np.ndarray, pad: int) -> tuple:
    y, u, v = (np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in _bgr_to_yuv601(bgr))
    vu = np.stack([v[0::2, 0::2], u[0::2, 0::2]], axis=-1).reshape(y.shape[0] // 2, -1)
    data, step = _pad_rows(np.concatenate([y, vu]), pad)
    return data, step


def _nv24(bgr: np.ndarray, pad: int) -> tuple:
    y, u, v = (np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in _bgr_to_yuv601(bgr))
    h, w = y.shape
    y_rows, step = _pad_rows(y, pad)
    uv = np.stack([u, v], axis=-1).reshape(h, 2 * w)
    uv_rows, uv_step = _pad_rows(uv, 2 * step - 2 * w)
    assert uv_step == 2 * step
    return y_rows + uv_rows, step


@pytest.mark.parametrize("pad", [0, 4])
def test_nv21_recovers_known_colours(pad):
    bgr = _block_constant(6, 8)
    data, step = _nv21(bgr, pad)
    out = raw_to_bgr(data, 8, 6, step, "nv21")
    assert np.abs(out.astype(int) - bgr.astype(int)).max() <= 2


@pytest.mark.parametrize("pad", [0, 3])
def test_nv24_recovers_known_colours_at_full_chroma_resolution(pad):
    bgr = _known_bgr(6, 7)  # every pixel its own colour: 4:4:4 keeps it
    data, step = _nv24(bgr, pad)
    out = raw_to_bgr(data, 7, 6, step, "nv24")
    assert np.abs(out.astype(int) - bgr.astype(int)).max() <= 2


def test_nv24_and_nv21_of_the_same_scene_agree():
    """Both YUV layouts use OpenCV's BT.601 limited-range colours, like yuyv and uyvy."""
    bgr = _block_constant(8, 8)
    nv21 = raw_to_bgr(*_nv21(bgr, 0)[:1], 8, 8, 8, "nv21")
    nv24 = raw_to_bgr(_nv24(bgr, 0)[0], 8, 8, 8, "nv24")
    assert np.abs(nv21.astype(int) - nv24.astype(int)).max() <= 1


def test_nv21_needs_even_sizes_and_both_planes():
    with pytest.raises(ImageConversionError, match="even height"):
        raw_to_bgr(bytes(8 * 5 * 2), 8, 5, 8, "nv21")
    with pytest.raises(ImageConversionError, match=r"48 bytes.*72"):
        raw_to_bgr(bytes(48), 8, 6, 8, "nv21")  # the Y plane alone
    with pytest.raises(ImageConversionError, match=r"144"):
        raw_to_bgr(bytes(48), 8, 6, 8, "nv24")


@pytest.mark.parametrize("encoding,order", [("yuv422_yuy2", "yuyv"), ("yuyv", "yuyv"),
                                            ("yuv422", "uyvy"), ("uyvy", "uyvy")])
@pytest.mark.parametrize("pad", [0, 6])
def test_yuv422_recovers_known_colours(encoding, order, pad):
    bgr = _pairwise_constant(6, 8)
    packed = _pack_yuv422(bgr, order)
    data, step = _pad_rows(packed, pad)
    out = raw_to_bgr(data, 8, 6, step, encoding)
    assert out.shape == bgr.shape
    # Only 8-bit rounding in both directions (and clipping of out-of-gamut colours).
    diff = np.abs(out.astype(int) - bgr.astype(int))
    assert diff.max() <= 2, diff.max()


def test_yuyv_padded_rows_match_opencv_on_packed_rows():
    rng = np.random.default_rng(11)
    packed = rng.integers(0, 256, size=(5, 10, 2), dtype=np.uint8)
    data, step = _pad_rows(packed, 4)
    out = raw_to_bgr(data, 10, 5, step, "yuyv")
    np.testing.assert_array_equal(out, cv2.cvtColor(packed, cv2.COLOR_YUV2BGR_YUY2))


def test_yuv422_rejects_odd_width():
    with pytest.raises(ImageConversionError, match="even width"):
        raw_to_bgr(bytes(3 * 2 * 2), 3, 2, 6, "yuyv")


def test_bgr8_is_a_view_and_copy_makes_it_writable():
    bgr = _known_bgr()
    data, step = _pad_rows(bgr, 2)
    view = raw_to_bgr(data, 8, 6, step, "bgr8")
    assert not view.flags.writeable  # shares the immutable bytes
    assert np.shares_memory(view, np.frombuffer(data, np.uint8))
    private = raw_to_bgr(data, 8, 6, step, "bgr8", copy=True)
    assert private.flags.writeable and private.flags.c_contiguous
    np.testing.assert_array_equal(private, bgr)


def test_accepts_array_bytearray_memoryview_and_ndarray():
    bgr = _known_bgr(3, 4)
    raw = bgr.tobytes()
    for data in (array.array("B", raw), bytearray(raw), memoryview(raw), bgr,
                 np.frombuffer(raw, np.uint8)):
        np.testing.assert_array_equal(raw_to_bgr(data, 4, 3, 12, "bgr8"), bgr)


def test_one_by_one_and_trailing_bytes_ignored():
    out = raw_to_bgr(bytes([10, 20, 30, 99, 99]), 1, 1, 3, "rgb8")
    np.testing.assert_array_equal(out, [[[30, 20, 10]]])


def test_encoding_name_is_case_insensitive():
    out = raw_to_bgr(bytes([1, 2, 3]), 1, 1, 3, "RGB8")
    np.testing.assert_array_equal(out, [[[3, 2, 1]]])


# ----------------------------------------------------------------- raw errors

def test_short_data_reports_both_sizes():
    with pytest.raises(ImageConversionError, match=r"71 bytes.*72"):
        raw_to_bgr(bytes(71), 8, 3, 24, "bgr8")


@pytest.mark.parametrize("w,h", [(0, 4), (4, 0), (-1, 4)])
def test_zero_or_negative_size(w, h):
    with pytest.raises(ImageConversionError, match="positive"):
        raw_to_bgr(bytes(64), w, h, 12, "bgr8")


def test_step_smaller_than_row():
    with pytest.raises(ImageConversionError, match="step 11"):
        raw_to_bgr(bytes(100), 4, 2, 11, "bgr8")


def test_huge_declared_size_rejected_before_reading_data():
    # 100k x 100k bgr8 would be 30 GB; the check must not touch (or need) that much data.
    with pytest.raises(ImageConversionError, match="more than the limit"):
        raw_to_bgr(b"", 100_000, 100_000, 300_000, "bgr8")
    with pytest.raises(ImageConversionError, match="more than the limit"):
        raw_to_bgr(bytes(48), 4, 4, 12, "bgr8", max_pixels=15)
    assert raw_to_bgr(bytes(48), 4, 4, 12, "bgr8", max_pixels=16).shape == (4, 4, 3)


def test_unknown_encoding_lists_supported():
    with pytest.raises(ImageConversionError) as info:
        raw_to_bgr(bytes(12), 2, 2, 6, "32FC1")
    msg = str(info.value)
    assert "32FC1" in msg
    for enc in SUPPORTED_ENCODINGS:
        assert enc in msg


def test_supported_encodings_cover_the_required_ones():
    for enc in ("bgr8", "rgb8", "bgra8", "rgba8", "mono8", "mono16", "bgr16", "rgb16", "bgra16", "rgba16",
                "yuv422_yuy2", "yuyv", "yuv422", "uyvy", "nv21", "nv24") + tuple(
                    f"bayer_{p}{b}" for p in _BAYER_TILES for b in (8, 16)):
        assert enc in SUPPORTED_ENCODINGS
    assert MAX_PIXELS == 8192 * 8192


def test_error_is_a_value_error():
    assert issubclass(ImageConversionError, ValueError)


# ----------------------------------------------------------------- compressed

@pytest.mark.parametrize("name", ["messi5.jpg", "basketball1.png"])
def test_real_files_decode_like_imread(name):
    path = os.path.join(DATA, name)
    with open(path, "rb") as f:
        blob = f.read()
    out = compressed_to_bgr(blob, "bgr8; jpeg compressed bgr8")
    expected = cv2.imread(path, cv2.IMREAD_COLOR)
    assert out.shape == expected.shape and out.shape[2] == 3
    np.testing.assert_array_equal(out, expected)
    assert peek_compressed_size(np.frombuffer(blob, np.uint8)) == (out.shape[1], out.shape[0])


def test_png_round_trip_is_lossless_and_jpeg_is_close():
    bgr = _known_bgr(40, 60)
    ok, png = cv2.imencode(".png", bgr)
    assert ok
    np.testing.assert_array_equal(compressed_to_bgr(png.tobytes(), "png"), bgr)
    smooth = cv2.GaussianBlur(bgr, (9, 9), 3)  # JPEG is near-exact on smooth content
    ok, jpg = cv2.imencode(".jpg", smooth, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    out = compressed_to_bgr(jpg, "jpeg")
    assert out.shape == smooth.shape
    assert np.abs(out.astype(int) - smooth.astype(int)).mean() < 3


def test_grey_png_decodes_to_three_channels():
    gray = _known_bgr(5, 5)[..., 1].copy()
    ok, png = cv2.imencode(".png", gray)
    out = compressed_to_bgr(png)
    assert out.shape == (5, 5, 3)
    np.testing.assert_array_equal(out[..., 2], gray)


def test_corrupt_jpeg():
    with open(os.path.join(DATA, "messi5.jpg"), "rb") as f:
        blob = f.read()
    with pytest.raises(ImageConversionError, match="corrupt or unsupported"):
        compressed_to_bgr(b"\x00\x01garbage" * 10)
    with pytest.raises(ImageConversionError, match="corrupt or unsupported"):
        compressed_to_bgr(blob[:200])  # header only, no scan data


def test_empty_compressed():
    with pytest.raises(ImageConversionError, match="empty"):
        compressed_to_bgr(b"")


def test_compressed_depth_refused():
    ok, png = cv2.imencode(".png", np.zeros((4, 4), np.uint16))
    with pytest.raises(ImageConversionError, match="compressedDepth"):
        compressed_to_bgr(png, "16UC1; compressedDepth")


def test_compressed_size_limit_checked_from_header():
    ok, png = cv2.imencode(".png", np.zeros((30, 40, 3), np.uint8))
    ok, jpg = cv2.imencode(".jpg", np.zeros((30, 40, 3), np.uint8))
    for blob in (png, jpg):
        assert peek_compressed_size(blob.reshape(-1)) == (40, 30)
        with pytest.raises(ImageConversionError, match="more than the limit"):
            compressed_to_bgr(blob, max_pixels=40 * 30 - 1)
        assert compressed_to_bgr(blob, max_pixels=40 * 30).shape == (30, 40, 3)


def test_png_bomb_header_rejected_without_decoding():
    # A PNG header claiming 60000 x 60000: refused from the header alone.
    ok, png = cv2.imencode(".png", np.zeros((2, 2, 3), np.uint8))
    blob = bytearray(png.tobytes())
    blob[16:20] = (60000).to_bytes(4, "big")
    blob[20:24] = (60000).to_bytes(4, "big")
    with pytest.raises(ImageConversionError, match="60000x60000"):
        compressed_to_bgr(bytes(blob))


# ----------------------------------------------------------------- publishing

def test_bgr_to_raw_round_trip():
    bgr = _known_bgr(5, 7)
    data, step, enc = bgr_to_raw(bgr[:, ::1])
    assert isinstance(data, array.array) and data.typecode == "B"
    assert (step, enc) == (21, "bgr8") and len(data) == 5 * 21
    np.testing.assert_array_equal(raw_to_bgr(data, 7, 5, step, enc), bgr)


def test_bgr_to_raw_packs_a_padded_view():
    bgr = _known_bgr(4, 6)
    data, step = _pad_rows(bgr, 3)
    view = raw_to_bgr(data, 6, 4, step, "bgr8")
    out, out_step, enc = bgr_to_raw(view)
    assert out_step == 18 and len(out) == 72
    assert bytes(out) == bgr.tobytes()


def test_bgr_to_raw_mono_and_bgra():
    gray = _known_bgr(3, 5)[..., 0].copy()
    data, step, enc = bgr_to_raw(gray)
    assert (step, enc) == (5, "mono8") and bytes(data) == gray.tobytes()
    assert bgr_to_raw(gray[..., None])[1:] == (5, "mono8")
    bgra = np.zeros((2, 3, 4), np.uint8)
    assert bgr_to_raw(bgra)[1:] == (12, "bgra8")


@pytest.mark.parametrize("bad", [np.zeros((2, 2, 3), np.float32), np.zeros((2, 2, 2), np.uint8),
                                 np.zeros((0, 3, 3), np.uint8), np.zeros(5, np.uint8)])
def test_bgr_to_raw_rejects(bad):
    with pytest.raises(ImageConversionError):
        bgr_to_raw(bad)


# ----------------------------------------------------------------- parity with ROS 2 cv_bridge

def _ros2_cv_bridge():
    """ROS 2's cv_bridge from an apt ROS prefix, or skip: it is in no registry, and PyPI's
    `cv-bridge` is ROS 1's code (it would compare against other semantics)."""
    module = pytest.importorskip("cv_bridge", reason="ROS 2 cv_bridge is apt-only (ros-$ROS_DISTRO-cv-bridge)")
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    if not any(os.path.realpath(module.__file__).startswith(os.path.realpath(p) + os.sep) for p in prefixes):
        pytest.skip(f"cv_bridge at {module.__file__} is not a ROS 2 package (PyPI's is ROS 1's)")
    return module


def _payload(encoding: str, w: int, h: int, rng) -> tuple:
    """(data, step) of random pixels for ``encoding``, rows packed (cv_bridge's Python side
    reads rows as packed)."""
    if encoding in ("nv21", "nv24"):
        step = packed_step(encoding, w)
        size = step * h * 3 // 2 if encoding == "nv21" else step * h * 3
        return rng.integers(0, 256, size, dtype=np.uint8).tobytes(), step
    step = packed_step(encoding, w)
    return rng.integers(0, 256, h * step, dtype=np.uint8).tobytes(), step


def test_same_bgr8_as_cv_bridge_for_every_encoding_both_convert():
    cv_bridge = _ros2_cv_bridge()
    from sensor_msgs.msg import Image

    bridge = cv_bridge.CvBridge()
    rng = np.random.default_rng(5)
    w, h = 16, 10
    checked, refused = [], {}
    for encoding in SUPPORTED_ENCODINGS:
        data, step = _payload(encoding, w, h, rng)
        msg = Image(height=h, width=w, encoding=encoding, is_bigendian=0, step=step)
        msg.data = data
        try:
            theirs = bridge.imgmsg_to_cv2(msg, desired_encoding="bgr8")
        except Exception as exc:  # cv_bridge does not convert this one (e.g. nv24 on Humble)
            refused[encoding] = f"{type(exc).__name__}: {exc}"
            continue
        ours = raw_to_bgr(data, w, h, step, encoding)
        np.testing.assert_array_equal(ours, theirs, err_msg=f"{encoding} differs from cv_bridge")
        checked.append(encoding)
    required = {"bgr8", "rgb8", "bgra8", "rgba8", "mono8", "mono16", "rgb16", "bgr16", "yuv422",
                "bayer_rggb8", "bayer_bggr8", "bayer_gbrg8", "bayer_grbg8", "bayer_rggb16"}
    assert required <= set(checked), f"cv_bridge refused {refused}"


# ----------------------------------------------------------------- decompression bombs

def _encoded(ext: str, size=(16, 16)) -> bytearray:
    ok, blob = cv2.imencode(ext, _known_bgr(size[1], size[0]))
    assert ok, ext
    return bytearray(blob.tobytes())


def _jpeg_with_junk_before_sof(width: int, height: int) -> bytes:
    """A real JPEG claiming width x height, one junk byte before its frame header.

    libjpeg skips the junk with a warning and decodes (allocates) the claimed size;
    a header check that stops at the junk let it through (11 s, +5 GB RSS).
    """
    blob = _encoded(".jpg")
    sof = blob.index(b"\xff\xc0")
    blob[sof + 5:sof + 7] = height.to_bytes(2, "big")
    blob[sof + 7:sof + 9] = width.to_bytes(2, "big")
    return bytes(blob[:sof] + b"\x00" + blob[sof:])


def _tiff_claiming(width: int, height: int) -> bytes:
    blob = _encoded(".tiff")
    little = blob[:2] == b"II"
    order = "little" if little else "big"
    ifd = int.from_bytes(blob[4:8], order)
    for k in range(int.from_bytes(blob[ifd:ifd + 2], order)):
        e = ifd + 2 + 12 * k
        tag, kind = int.from_bytes(blob[e:e + 2], order), int.from_bytes(blob[e + 2:e + 4], order)
        if tag in (256, 257):
            size = 2 if kind == 3 else 4
            blob[e + 8:e + 8 + size] = (width if tag == 256 else height).to_bytes(size, order)
    return bytes(blob)


def _webp_claiming(width: int, height: int) -> bytes:
    blob = _encoded(".webp", (16, 16))
    vp8l = blob.index(b"VP8L")
    assert blob[vp8l + 8] == 0x2F, "lossless WebP expected"
    bits = (width - 1) | ((height - 1) << 14) | (int.from_bytes(blob[vp8l + 9:vp8l + 13], "little") & ~((1 << 28) - 1))
    blob[vp8l + 9:vp8l + 13] = bits.to_bytes(4, "little")
    return bytes(blob)


def _bmp_claiming(width: int, height: int) -> bytes:
    blob = _encoded(".bmp")
    blob[18:22], blob[22:26] = width.to_bytes(4, "little"), height.to_bytes(4, "little")
    return bytes(blob)


def _ppm_claiming(width: int, height: int) -> bytes:
    return f"P6\n{width} {height}\n255\n".encode() + bytes(16 * 16 * 3)


def _other_formats() -> dict:
    """Every other format this OpenCV encodes (so imdecode reads it too), as cv2 writes it."""
    out = {}
    for ext in (".webp", ".bmp", ".ppm", ".pgm", ".pfm", ".ras", ".hdr", ".exr", ".jp2", ".gif", ".avif",
                ".sr", ".pxm", ".pam"):
        try:
            ok, blob = cv2.imencode(ext, _known_bgr(64, 64))
        except cv2.error:
            continue
        if ok and cv2.imdecode(blob, cv2.IMREAD_COLOR) is not None:
            out[ext] = blob.tobytes()
    return out


def test_jpeg_with_junk_before_its_frame_header_is_still_size_checked():
    bomb = _jpeg_with_junk_before_sof(30000, 30000)
    assert len(bomb) < 1000
    assert peek_compressed_size(np.frombuffer(bomb, np.uint8)) == (30000, 30000)
    with pytest.raises(ImageConversionError, match="30000x30000 has 900000000 pixels"):
        compressed_to_bgr(bomb)
    small = _jpeg_with_junk_before_sof(16, 16)   # the same trick at a harmless size decodes
    assert compressed_to_bgr(small).shape == (16, 16, 3)


def test_tiff_is_decoded_and_its_header_size_checked():
    bgr = _known_bgr(12, 20)
    ok, tiff = cv2.imencode(".tiff", bgr)
    np.testing.assert_array_equal(compressed_to_bgr(tiff.tobytes(), "tiff"), bgr)
    with pytest.raises(ImageConversionError, match="30000x30000"):
        compressed_to_bgr(_tiff_claiming(30000, 30000))


def test_formats_image_transport_does_not_produce_are_refused_unread():
    others = _other_formats()
    assert ".webp" in others and ".bmp" in others, sorted(others)
    for ext, blob in others.items():
        with pytest.raises(ImageConversionError, match="only jpeg, png, tiff are accepted"):
            compressed_to_bgr(blob)


def test_truncated_jpeg_header_is_refused_not_decoded():
    blob = _encoded(".jpg")
    with pytest.raises(ImageConversionError, match="cannot read the jpeg header"):
        compressed_to_bgr(bytes(blob[:blob.index(b"\xff\xc0") + 4]))


_BOMB_SCRIPT = r"""
import resource, sys
import numpy as np
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import test_image_convert as t
from pose_ros.media.image_convert import ImageConversionError, compressed_to_bgr
bombs = {"jpeg junk 30000x30000": t._jpeg_with_junk_before_sof(30000, 30000),
         "png 30000x30000": None, "tiff 30000x30000": t._tiff_claiming(30000, 30000),
         "webp 16383x16383": t._webp_claiming(16383, 16383), "bmp 30000x30000": t._bmp_claiming(30000, 30000),
         "ppm 30000x30000": t._ppm_claiming(30000, 30000)}
png = t._encoded(".png")
png[16:20], png[20:24] = (30000).to_bytes(4, "big"), (30000).to_bytes(4, "big")
bombs["png 30000x30000"] = bytes(png)
bombs.update({"plain " + ext: blob for ext, blob in t._other_formats().items()})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for name, blob in bombs.items():
    try:
        compressed_to_bgr(blob)
        print("DECODED", name)
    except ImageConversionError as e:
        print("refused", name, len(blob), "bytes:", e)
growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(f"RSS growth {growth_mb:.1f} MB")
"""


def test_crafted_bombs_of_every_format_are_refused_with_bounded_memory(tmp_path):
    import resource
    import subprocess
    import sys
    here = os.path.dirname(os.path.abspath(__file__))
    pkg = os.path.dirname(here)

    def limit_memory():   # a bomb that got through fails here instead of taking the machine
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    proc = subprocess.run([sys.executable, "-c", _BOMB_SCRIPT, pkg, here], capture_output=True, text=True,
                          timeout=120, preexec_fn=limit_memory)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert not [ln for ln in lines if ln.startswith("DECODED")], proc.stdout
    assert sum(ln.startswith("refused") for ln in lines) >= 8, proc.stdout
    growth = float(lines[-1].split()[2])
    assert growth < 32, proc.stdout
