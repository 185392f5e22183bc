"""Multi-scale and flip-test map fusion, on maps rendered from known people."""

import numpy as np
import pytest
from pose_ros.core.map_fusion import flip_permutation, fuse, resize_maps, unflip
from pose_ros.core.paf import DecodeParams, decode
from pose_ros.core.skeletons import BODY25, COCO18, MPI15, Skeleton
from pose_ros.core.synthetic import random_people, render_maps

W, H = 54, 46


def _blob(people, skeleton, w=W, h=H):
    heat, pafs = render_maps(people, skeleton, w, h)
    return np.concatenate([heat, pafs])


def _mirrored(person, skeleton, w=W):
    """What the person looks like in the horizontally mirrored image: x mirrored, and each
    left part now looks like (and is detected as) the right one."""
    out = person.copy()
    out[:, 0] = w - 1 - person[:, 0]
    for a, b in skeleton.left_right:
        out[[a, b]] = out[[b, a]]
    return out


@pytest.mark.parametrize("skeleton", [COCO18, BODY25, MPI15])
def test_unflip_of_the_mirrored_image_maps_gives_the_original_maps(skeleton):
    people = random_people(np.random.default_rng(1), 3, skeleton, W, H)
    original = _blob(people, skeleton)
    mirrored = _blob([_mirrored(p, skeleton) for p in people], skeleton)
    np.testing.assert_allclose(unflip(mirrored, skeleton), original, atol=1e-5)


def test_unflip_is_its_own_inverse_and_keeps_a_batch_axis_out():
    rng = np.random.default_rng(2)
    maps = rng.normal(size=(1, COCO18.output_channels, H, W)).astype(np.float32)
    back = unflip(unflip(maps, COCO18), COCO18)
    np.testing.assert_allclose(back, maps[0], atol=0)


def test_the_flip_swaps_left_and_right_and_negates_x_of_the_limb_fields():
    source, sign = flip_permutation(COCO18)
    lsho, rsho = COCO18.index("LShoulder"), COCO18.index("RShoulder")
    assert source[lsho] == rsho and source[rsho] == lsho
    assert source[COCO18.index("Nose")] == COCO18.index("Nose")
    off = COCO18.paf_offset
    neck_r = COCO18.limbs.index((1, 2))            # Neck -> RShoulder
    neck_l = COCO18.limbs.index((1, 5))            # Neck -> LShoulder
    cx, cy = COCO18.paf_channels[neck_r]
    mcx, mcy = COCO18.paf_channels[neck_l]
    assert (source[off + cx], sign[off + cx]) == (off + mcx, -1.0)
    assert (source[off + cy], sign[off + cy]) == (off + mcy, 1.0)


def test_a_limb_listed_the_other_way_round_negates_y_instead():
    # toy skeleton: limb 0 is C->L, its mirror is listed as R->C (reversed)
    sk = Skeleton(name="toy", keypoint_names=("Center", "LArm", "RArm"), limbs=((0, 1), (2, 0)),
                  paf_channels=((0, 1), (2, 3)), has_background=False, left_right=((2, 1),))
    source, sign = flip_permutation(sk)
    assert source[3:].tolist() == [3 + 2, 3 + 3, 3 + 0, 3 + 1]
    assert sign[3:].tolist() == [1.0, -1.0, 1.0, -1.0]
    person = np.array([[20.0, 20.0, 1], [30.0, 25.0, 1], [10.0, 24.0, 1]], np.float32)
    original = _blob([person], sk)
    mirrored = _blob([_mirrored(person, sk)], sk)
    np.testing.assert_allclose(unflip(mirrored, sk), original, atol=1e-5)


def test_a_skeleton_without_mirrored_limbs_is_refused():
    sk = Skeleton(name="lopsided", keypoint_names=("Center", "LArm", "RArm"), limbs=((0, 1),),
                  paf_channels=((0, 1),), has_background=False, left_right=((2, 1),))
    with pytest.raises(ValueError, match="no mirrored limb"):
        flip_permutation(sk)


def test_averaging_with_the_unflipped_mirror_pass_finds_the_same_people():
    people = random_people(np.random.default_rng(3), 4, COCO18, W, H)
    original = _blob(people, COCO18)
    mirrored = _blob([_mirrored(p, COCO18) for p in people], COCO18)
    fused = fuse([original, unflip(mirrored, COCO18)], W, H)
    k = COCO18.heatmap_channels
    a = decode(original[:k], original[k:], COCO18, DecodeParams())
    b = decode(fused[:k], fused[k:], COCO18, DecodeParams())
    assert len(a) == len(b) == 4
    np.testing.assert_allclose(sorted(p.keypoints[:, :2].sum() for p in a),
                               sorted(p.keypoints[:, :2].sum() for p in b), atol=1e-3)


def test_fusing_two_scales_keeps_keypoints_where_the_finer_pass_puts_them():
    people = random_people(np.random.default_rng(4), 3, COCO18, W, H)
    coarse = _blob(people, COCO18)
    fine_people = [np.concatenate([(p[:, :2] + 0.5) * 2 - 0.5, p[:, 2:]], axis=1) for p in people]
    fine = _blob(fine_people, COCO18, 2 * W, 2 * H)
    fused = fuse([coarse, fine], 2 * W, 2 * H)
    assert fused.shape == (COCO18.output_channels, 2 * H, 2 * W)
    k = COCO18.heatmap_channels
    found = decode(fused[:k], fused[k:], COCO18, DecodeParams())
    assert len(found) == 3
    truth = np.concatenate([p[:, :2] for p in fine_people])
    got = np.concatenate([p.keypoints[p.keypoints[:, 2] > 0, :2] for p in found])
    nearest = np.sqrt(((got[:, None] - truth[None]) ** 2).sum(-1)).min(axis=1)
    assert nearest.max() < 0.75     # cells of the fused (fine) grid


def test_resize_maps_handles_more_channels_than_opencv_resizes_at_once():
    rng = np.random.default_rng(5)
    maps = rng.random((600, 10, 12)).astype(np.float32)
    out = resize_maps(maps, 24, 20)
    assert out.shape == (600, 20, 24)
    np.testing.assert_allclose(out[599], resize_maps(maps[599:600], 24, 20)[0], atol=1e-6)
    assert resize_maps(maps, 12, 10) is not None and np.array_equal(resize_maps(maps, 12, 10), maps)


def test_fuse_of_copies_is_the_copy_and_mismatched_channels_are_refused():
    maps = np.random.default_rng(6).random((5, 8, 9)).astype(np.float32)
    np.testing.assert_allclose(fuse([maps, maps, maps], 9, 8), maps, atol=1e-6)
    with pytest.raises(ValueError, match="channel"):
        fuse([maps, maps[:4]], 9, 8)
    with pytest.raises(ValueError):
        fuse([], 9, 8)
