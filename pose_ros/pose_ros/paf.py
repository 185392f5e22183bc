"""Bottom-up multi-person parsing of OpenPose outputs (Cao et al. 2017,
arXiv:1611.08050): keypoint peaks from the heatmaps, limb candidates scored by
integrating the Part Affinity Fields, greedy bipartite matching per limb and
assembly of the matched limbs into people.

Everything runs at the network-output resolution (e.g. 54x46) instead of
upsampling 57 maps to the source size first: peaks get a sub-pixel refinement,
the PAF is sampled bilinearly, and all candidate pairs of a limb are scored in
one vectorised numpy pass. Only the greedy matching and the assembly, which
touch a handful of connections per limb, are Python loops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from pose_ros.geometry import LetterboxTransform, map_to_net
from pose_ros.persons import Person
from pose_ros.skeletons import Skeleton

# Neighbours of the 3x3 non-maximum suppression. A peak must be strictly higher
# than the neighbours that come before it in raster order and at least as high as
# the ones after, so a flat top of two equal cells yields exactly one peak.
_NEIGHBOURS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))


@dataclass
class DecodeParams:
    """Thresholds of the parser.

    Person score: the mean over the person's detected keypoints (heatmap peak
    value) and accepted limbs (mean PAF alignment + distance prior), i.e.
    ``(sum(keypoint scores) + sum(limb scores)) / (n_keypoints + n_limbs)``, so it
    is roughly in [0, 1] whatever the skeleton size.
    """

    heatmap_threshold: float = 0.1    # min heatmap peak
    paf_threshold: float = 0.05       # min PAF . unit-vector per sample
    paf_samples: int = 10             # samples along each candidate limb
    min_paf_fraction: float = 0.8     # fraction of samples that must pass paf_threshold
    min_parts: int = 3                # drop persons with fewer detected keypoints
    min_person_score: float = 0.2     # drop persons whose score (see class doc) is lower
    max_persons: int = 0              # 0 = unlimited; else keep the best N by score

    def validate(self) -> None:
        """Raise ValueError naming the first out-of-range field."""
        checks = (
            ("heatmap_threshold", 0.0 <= self.heatmap_threshold < 1.0, "must be in [0, 1)"),
            ("paf_threshold", -1.0 <= self.paf_threshold < 1.0, "must be in [-1, 1)"),
            ("paf_samples", int(self.paf_samples) == self.paf_samples and self.paf_samples >= 2,
             "must be an integer >= 2"),
            ("min_paf_fraction", 0.0 <= self.min_paf_fraction <= 1.0, "must be in [0, 1]"),
            ("min_parts", int(self.min_parts) == self.min_parts and self.min_parts >= 1,
             "must be an integer >= 1"),
            ("min_person_score", np.isfinite(self.min_person_score), "must be finite"),
            ("max_persons", int(self.max_persons) == self.max_persons and self.max_persons >= 0,
             "must be an integer >= 0"),
        )
        for name, ok, why in checks:
            if not ok:
                raise ValueError(f"DecodeParams.{name}={getattr(self, name)!r} {why}")


def _peaks_flat(heatmaps: np.ndarray, threshold: float) -> Tuple[np.ndarray, np.ndarray]:
    """All peaks of all maps: (channel index (n,), x/y/score (n, 3) float32),
    sorted by channel. See ``find_peaks``."""
    hm = np.asarray(heatmaps, dtype=np.float32)
    k, h, w = hm.shape
    padded = np.full((k, h + 2, w + 2), -np.inf, dtype=np.float32)
    padded[:, 1:-1, 1:-1] = hm
    is_peak = hm > threshold
    for dy, dx in _NEIGHBOURS:
        nb = padded[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
        is_peak &= (hm > nb) if (dy, dx) < (0, 0) else (hm >= nb)
    ch, ys, xs = np.nonzero(is_peak)
    c = hm[ch, ys, xs]
    # Quadratic (parabola) fit through the peak and its two neighbours, per axis;
    # no shift on an axis where the peak touches the border.
    py, px = ys + 1, xs + 1
    offsets = []
    for lo, hi in ((padded[ch, py, px - 1], padded[ch, py, px + 1]),
                   (padded[ch, py - 1, px], padded[ch, py + 1, px])):
        den = lo - 2.0 * c + hi
        with np.errstate(invalid="ignore", divide="ignore"):
            off = np.where(np.isfinite(den) & (den < 0), 0.5 * (lo - hi) / den, 0.0)
        offsets.append(np.clip(off, -0.5, 0.5))
    out = np.empty((len(ch), 3), dtype=np.float32)
    out[:, 0] = xs + offsets[0]
    out[:, 1] = ys + offsets[1]
    out[:, 2] = c
    return ch, out


def find_peaks(heatmaps: np.ndarray, threshold: float) -> List[np.ndarray]:
    """Local maxima of each heatmap above ``threshold``.

    ``heatmaps`` is (K, H, W) at network-output resolution. Returns, per map, an
    (n, 3) float32 array of x, y, score in map coordinates. A peak is a cell above
    the threshold that dominates its 3x3 neighbourhood; its position is refined by
    a separable quadratic fit through the peak and its left/right (up/down)
    neighbours, clamped to +-0.5 cell (exact at the apex of a parabola, within
    ~0.05 cell for a sampled Gaussian). The score is the peak cell's value.
    """
    hm = np.asarray(heatmaps)
    if hm.ndim != 3:
        raise ValueError(f"heatmaps must be (K, H, W), got shape {hm.shape}")
    ch, pk = _peaks_flat(hm, threshold)
    bounds = np.searchsorted(ch, np.arange(hm.shape[0] + 1))
    return [pk[bounds[i]:bounds[i + 1]] for i in range(hm.shape[0])]


def _score_limb(pa: np.ndarray, pb: np.ndarray, paf_xy: np.ndarray, map_w: int, map_h: int,
                t: np.ndarray, p: DecodeParams) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score all (a, b) candidate pairs of one limb at once.

    ``paf_xy`` is the limb's (2, H*W) flattened PAF. Returns the indices into
    ``pa`` / ``pb`` and the scores of the pairs that pass, best first.
    """
    d = pb[None, :, :2] - pa[:, None, :2]                        # (na, nb, 2)
    length = np.sqrt(np.einsum("ijk,ijk->ij", d, d))              # (na, nb)
    safe = np.maximum(length, 1e-6)
    ux, uy = d[..., 0] / safe, d[..., 1] / safe
    # Sample points along every segment, then bilinear interpolation of the PAF.
    sx = np.clip(pa[:, None, None, 0] + t * d[:, :, None, 0], 0.0, map_w - 1.0)
    sy = np.clip(pa[:, None, None, 1] + t * d[:, :, None, 1], 0.0, map_h - 1.0)
    x0 = np.minimum(sx.astype(np.intp), map_w - 2) if map_w > 1 else np.zeros(sx.shape, np.intp)
    y0 = np.minimum(sy.astype(np.intp), map_h - 2) if map_h > 1 else np.zeros(sy.shape, np.intp)
    fx, fy = sx - x0, sy - y0
    i00 = y0 * map_w + x0
    step_x = 1 if map_w > 1 else 0
    step_y = map_w if map_h > 1 else 0
    v00, v01 = paf_xy[:, i00], paf_xy[:, i00 + step_x]
    v10, v11 = paf_xy[:, i00 + step_y], paf_xy[:, i00 + step_y + step_x]
    top = v00 + (v01 - v00) * fx
    bot = v10 + (v11 - v10) * fx
    v = top + (bot - top) * fy                                    # (2, na, nb, S)
    dots = v[0] * ux[..., None] + v[1] * uy[..., None]           # (na, nb, S)
    with np.errstate(divide="ignore"):
        prior = np.minimum(0.5 * map_h / safe - 1.0, 0.0)
    score = dots.mean(axis=-1) + prior
    frac = (dots > p.paf_threshold).mean(axis=-1)
    ok = (length > 1e-6) & (frac >= p.min_paf_fraction) & (score > 0)
    ia, ib = np.nonzero(ok)
    s = score[ia, ib]
    order = np.argsort(-s, kind="stable")
    return ia[order], ib[order], s[order]


def _check_maps(heatmaps: np.ndarray, pafs: np.ndarray, skeleton: Skeleton) -> None:
    k, n_limbs = skeleton.num_keypoints, len(skeleton.limbs)
    if heatmaps.ndim != 3 or pafs.ndim != 3:
        raise ValueError(f"heatmaps and pafs must be 3-D (C, H, W), got {heatmaps.shape} "
                         f"and {pafs.shape}")
    if heatmaps.shape[0] not in (k, k + 1):
        raise ValueError(f"skeleton {skeleton.name} expects {k} or {k + 1} heatmap channels, "
                         f"got {heatmaps.shape[0]}")
    if pafs.shape[0] != 2 * n_limbs:
        raise ValueError(f"skeleton {skeleton.name} expects {2 * n_limbs} PAF channels, "
                         f"got {pafs.shape[0]}")
    if heatmaps.shape[1:] != pafs.shape[1:]:
        raise ValueError(f"heatmaps {heatmaps.shape[1:]} and pafs {pafs.shape[1:]} differ in size")
    if not np.isfinite(heatmaps).all():
        raise ValueError("heatmaps contain NaN or inf")
    if not np.isfinite(pafs).all():
        raise ValueError("pafs contain NaN or inf")


def decode(heatmaps: np.ndarray, pafs: np.ndarray, skeleton: Skeleton,
           params: Optional[DecodeParams] = None,
           transform: Optional[LetterboxTransform] = None) -> List[Person]:
    """Parse one frame's heatmaps (K or K+1, H, W) and PAFs (2L, H, W) into people.

    The PAF block is in network order; ``skeleton.paf_channels`` says which
    channels belong to which limb. With ``transform`` the keypoints are mapped
    map -> network input -> source pixels and clipped to the source image;
    without, they stay in map coordinates. People come sorted by score, best
    first; no peak is ever given to two people.
    """
    p = params or DecodeParams()
    p.validate()
    heatmaps = np.asarray(heatmaps)
    pafs = np.asarray(pafs)
    _check_maps(heatmaps, pafs, skeleton)
    n_kp = skeleton.num_keypoints
    _, map_h, map_w = heatmaps.shape

    ch, peaks = _peaks_flat(heatmaps[:n_kp], p.heatmap_threshold)
    bounds = np.searchsorted(ch, np.arange(n_kp + 1))
    paf_flat = np.ascontiguousarray(pafs, dtype=np.float32).reshape(pafs.shape[0], -1)
    t = np.linspace(0.0, 1.0, int(p.paf_samples), dtype=np.float32)

    # person state: slots[i][k] = global peak id or -1; owner[peak] = person or -1
    slots: List[List[int]] = []
    limb_sum: List[float] = []
    limb_cnt: List[int] = []
    alive: List[bool] = []
    owner = [-1] * len(peaks)

    for (a, b), (cx, cy) in zip(skeleton.limbs, skeleton.paf_channels):
        a0, a1, b0, b1 = bounds[a], bounds[a + 1], bounds[b], bounds[b + 1]
        if a0 == a1 or b0 == b1:
            continue
        ia, ib, sc = _score_limb(peaks[a0:a1], peaks[b0:b1], paf_flat[[cx, cy]],
                                 map_w, map_h, t, p)
        used_a, used_b = set(), set()
        limit = min(a1 - a0, b1 - b0)
        for i, j, s in zip(ia.tolist(), ib.tolist(), sc.tolist()):
            if i in used_a or j in used_b:
                continue
            used_a.add(i)
            used_b.add(j)
            _connect(a0 + i, b0 + j, a, b, s, n_kp, slots, limb_sum, limb_cnt, alive, owner)
            if len(used_a) == limit:
                break

    return _finish(peaks, slots, limb_sum, limb_cnt, alive, p, transform, map_w, map_h)


def _connect(ga: int, gb: int, a: int, b: int, s: float, n_kp: int, slots: List[List[int]],
             limb_sum: List[float], limb_cnt: List[int], alive: List[bool], owner: List[int]) -> None:
    """Add the connection peak ``ga`` (part a) - peak ``gb`` (part b) to the people.

    Creates a person, extends one, or merges two that share no part; a
    connection that would give a person a second peak for a part is dropped.
    """
    pa, pb = owner[ga], owner[gb]
    if pa < 0 and pb < 0:
        row = [-1] * n_kp
        row[a], row[b] = ga, gb
        owner[ga] = owner[gb] = len(slots)
        slots.append(row)
        limb_sum.append(s)
        limb_cnt.append(1)
        alive.append(True)
        return
    if pa == pb:                       # a redundant limb inside one person
        limb_sum[pa] += s
        limb_cnt[pa] += 1
        return
    if pb < 0 or pa < 0:
        person, part, peak = (pa, b, gb) if pb < 0 else (pb, a, ga)
        if slots[person][part] >= 0:   # already has another peak for that part
            return
        slots[person][part] = peak
        owner[peak] = person
        limb_sum[person] += s
        limb_cnt[person] += 1
        return
    ra, rb = slots[pa], slots[pb]
    if any(x >= 0 and y >= 0 for x, y in zip(ra, rb)):
        return                         # both people have some part: not the same person
    for k, g in enumerate(rb):
        if g >= 0:
            ra[k] = g
            owner[g] = pa
    limb_sum[pa] += limb_sum[pb] + s
    limb_cnt[pa] += limb_cnt[pb] + 1
    alive[pb] = False


def _finish(peaks: np.ndarray, slots: List[List[int]], limb_sum: List[float], limb_cnt: List[int],
            alive: List[bool], p: DecodeParams, transform: Optional[LetterboxTransform],
            map_w: int, map_h: int) -> List[Person]:
    """Score, filter, sort and convert the assembled people."""
    if not slots:
        return []
    rows = np.array(slots, dtype=np.intp)[np.array(alive, dtype=bool)]
    sums = np.array(limb_sum)[np.array(alive, dtype=bool)]
    cnts = np.array(limb_cnt)[np.array(alive, dtype=bool)]
    found = rows >= 0
    n_found = found.sum(axis=1)
    kp_scores = np.where(found, peaks[rows, 2], 0.0)
    score = (kp_scores.sum(axis=1) + sums) / (n_found + cnts)
    keep = (n_found >= p.min_parts) & (score >= p.min_person_score)
    rows, found, score = rows[keep], found[keep], score[keep]
    order = np.argsort(-score, kind="stable")
    if p.max_persons:
        order = order[:p.max_persons]

    kps = np.where(found[..., None], peaks[rows], 0.0).astype(np.float32)   # (P, K, 3)
    if transform is not None and len(order):
        xy = map_to_net(kps[..., :2], map_w, map_h, transform.net_w, transform.net_h)
        xy = transform.net_to_source(xy)
        xy[..., 0] = np.clip(xy[..., 0], 0.0, transform.src_w - 1.0)
        xy[..., 1] = np.clip(xy[..., 1], 0.0, transform.src_h - 1.0)
        kps[..., :2] = np.where(found[..., None], xy, 0.0)
    return [Person(keypoints=kps[i], score=float(score[i])) for i in order]


def decode_output(output: np.ndarray, skeleton: Skeleton, params: Optional[DecodeParams] = None,
                  transform: Optional[LetterboxTransform] = None) -> List[Person]:
    """Decode a whole network blob (1, C, H, W) or (C, H, W): heatmaps first
    (with background when the skeleton has one), then the PAF block."""
    out = np.asarray(output)
    if out.ndim == 4:
        if out.shape[0] != 1:
            raise ValueError(f"expected a batch of 1, got output shape {out.shape}")
        out = out[0]
    if out.ndim != 3:
        raise ValueError(f"output must be (1, C, H, W) or (C, H, W), got shape {out.shape}")
    expected = skeleton.output_channels
    if out.shape[0] != expected:
        raise ValueError(f"skeleton {skeleton.name} expects {expected} output channels "
                         f"({skeleton.heatmap_channels} heatmaps + {2 * len(skeleton.limbs)} PAF), "
                         f"got {out.shape[0]}")
    return decode(out[:skeleton.heatmap_channels], out[skeleton.paf_offset:], skeleton,
                  params, transform)
