"""Letterbox geometry: known numbers, padding on the right axis, exact round trips."""

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pose_ros.core.geometry import MIN_NETWORK_SIDE, apply_letterbox, compute_letterbox, map_to_net, trimmed_input_size


def test_known_numbers_640x480_to_432x368():
    t = compute_letterbox(640, 480, 432, 368)
    assert t.scale == pytest.approx(0.675)          # limited by the width: 432 / 640
    assert (t.pad_x, t.pad_y) == (0, 22)            # 480 * 0.675 = 324 rows, (368 - 324) / 2
    assert (t.content_w, t.content_h) == (432, 324)
    # source pixel centres of the corners land on the content corners
    corners = t.source_to_net(np.array([[0.0, 0.0], [639.0, 479.0]]))
    np.testing.assert_allclose(corners, [[-0.1625, 21.8375], [431.1625, 345.1625]], atol=1e-9)
    # the centre of the source goes to the centre of the network input
    np.testing.assert_allclose(t.source_to_net(np.array([319.5, 239.5])), [215.5, 183.5])


def test_wide_image_pads_top_and_bottom():
    t = compute_letterbox(1920, 480, 432, 368)
    assert t.pad_x == 0 and t.pad_y > 0
    assert t.scale == pytest.approx(432 / 1920)
    assert t.pad_y == (368 - round(480 * 432 / 1920)) // 2


def test_tall_image_pads_left_and_right():
    t = compute_letterbox(300, 1000, 432, 368)
    assert t.pad_y == 0 and t.pad_x > 0
    assert t.scale == pytest.approx(368 / 1000)
    assert t.pad_x == (432 - round(300 * 368 / 1000)) // 2


def test_same_size_is_identity():
    t = compute_letterbox(432, 368, 432, 368)
    assert (t.scale, t.pad_x, t.pad_y) == (1.0, 0, 0)
    xy = np.array([[0.0, 0.0], [431.0, 367.0], [12.25, 100.5]])
    np.testing.assert_allclose(t.source_to_net(xy), xy)


@pytest.mark.parametrize("bad", [(0, 480, 432, 368), (640, -1, 432, 368), (640, 480, 432.5, 368)])
def test_rejects_bad_sizes(bad):
    with pytest.raises(ValueError):
        compute_letterbox(*bad)


@settings(max_examples=60, deadline=None)
@given(src_w=st.integers(1, 4000), src_h=st.integers(1, 4000),
       net_w=st.integers(16, 1000), net_h=st.integers(16, 1000),
       fx=st.floats(0, 1), fy=st.floats(0, 1))
def test_round_trip_source_net_source(src_w, src_h, net_w, net_h, fx, fy):
    t = compute_letterbox(src_w, src_h, net_w, net_h)
    xy = np.array([fx * (src_w - 1), fy * (src_h - 1)])
    back = t.net_to_source(t.source_to_net(xy))
    np.testing.assert_allclose(back, xy, atol=1e-4)
    # the content fits the canvas and is centred (padding differs by at most 1 px)
    assert 0 <= t.pad_x and t.pad_x + t.content_w <= net_w
    assert 0 <= t.pad_y and t.pad_y + t.content_h <= net_h
    assert net_w - t.content_w - 2 * t.pad_x in (0, 1)
    assert net_h - t.content_h - 2 * t.pad_y in (0, 1)


def test_apply_letterbox_places_resized_content_between_padding():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    t = compute_letterbox(640, 480, 432, 368)
    out = apply_letterbox(img, t, pad_value=7)
    assert out.shape == (368, 432, 3) and out.dtype == np.uint8
    assert (out[:22] == 7).all() and (out[22 + 324:] == 7).all()
    expected = cv2.resize(img, (432, 324), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(out[22:22 + 324], expected)


def test_apply_letterbox_enlarges_with_linear_and_keeps_gray():
    img = np.arange(20 * 10, dtype=np.uint8).reshape(20, 10)   # tall, 2-D
    t = compute_letterbox(10, 20, 432, 368)
    out = apply_letterbox(img, t)
    assert out.shape == (368, 432)
    expected = cv2.resize(img, (t.content_w, t.content_h), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(out[:, t.pad_x:t.pad_x + t.content_w], expected)
    assert (out[:, :t.pad_x] == 0).all() and (out[:, t.pad_x + t.content_w:] == 0).all()


def test_apply_letterbox_rejects_mismatched_image():
    t = compute_letterbox(640, 480, 432, 368)
    with pytest.raises(ValueError, match="640x480"):
        apply_letterbox(np.zeros((100, 100, 3), np.uint8), t)
    with pytest.raises(ValueError, match="uint8"):
        apply_letterbox(np.zeros((480, 640, 3), np.float32), t)


def test_map_to_net_pixel_centre_convention():
    # stride 8: cell 0 covers input pixels 0..7, whose centre is 3.5
    xy = map_to_net(np.array([[0.0, 0.0], [53.0, 45.0], [-0.5, -0.5]]), 54, 46, 432, 368)
    np.testing.assert_allclose(xy, [[3.5, 3.5], [427.5, 363.5], [-0.5, -0.5]])


def test_map_to_net_then_source_for_the_default_model():
    t = compute_letterbox(640, 480, 432, 368)
    # map cell (27, 23) is the centre region of the 54x46 output
    src = t.net_to_source(map_to_net(np.array([26.5, 22.5]), 54, 46, 432, 368))
    np.testing.assert_allclose(src, [319.5, 239.5], atol=1e-9)


def test_trimmed_input_keeps_the_scale_and_drops_the_padding():
    assert trimmed_input_size(768, 576, 432, 368, 8) == (432, 328)    # 4:3: content 432x324
    assert trimmed_input_size(1280, 720, 432, 368, 8) == (432, 248)   # 16:9: content 432x243
    assert trimmed_input_size(480, 640, 432, 368, 8) == (280, 368)    # portrait: height-limited
    assert trimmed_input_size(432, 368, 432, 368, 8) == (432, 368)    # exact fit: unchanged
    for src in ((768, 576), (1280, 720), (480, 640), (33, 1000)):
        full = compute_letterbox(*src, 432, 368)
        trimmed = compute_letterbox(*src, *trimmed_input_size(*src, 432, 368, 8))
        assert trimmed.scale == full.scale
        assert (trimmed.content_w, trimmed.content_h) == (full.content_w, full.content_h)
        # padding below one stride, except where a side is padded up to MIN_NETWORK_SIDE
        assert trimmed.pad_x < 8 or trimmed.net_w == MIN_NETWORK_SIDE
        assert trimmed.pad_y < 8 or trimmed.net_h == MIN_NETWORK_SIDE


@pytest.mark.parametrize("src,expected", [
    ((1920, 35), (432, 64)), ((640, 12), (432, 64)), ((4000, 8), (432, 64)), ((10000, 2), (432, 64)),
    ((35, 1920), (64, 368)), ((12, 640), (64, 368)), ((8, 4000), (64, 368)), ((2, 10000), (64, 368)),
])
def test_near_degenerate_images_reach_the_network_at_a_sane_size(src, expected):
    # Before the floor, 1920x35 ran at 432x8: one output row, ghost persons with scores of 1e28.
    assert trimmed_input_size(*src, 432, 368, 8) == expected
    t = compute_letterbox(*src, *expected)
    assert t.scale == compute_letterbox(*src, 432, 368).scale   # same scale, only padded


def test_the_floor_never_exceeds_the_configured_input():
    assert trimmed_input_size(1920, 35, 64, 32, 8) == (64, 32)
    assert trimmed_input_size(1920, 35, 432, 368, 8, min_side=100) == (432, 104)
