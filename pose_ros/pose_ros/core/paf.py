"""Bottom-up multi-person parsing of OpenPose outputs (Cao et al. 2017,
arXiv:1611.08050): keypoint peaks from the heatmaps, limb candidates scored by
integrating the Part Affinity Fields, greedy bipartite matching per limb and
assembly of the matched limbs into people.

Everything runs at the network-output resolution (e.g. 54x46) instead of
upsampling 57 maps to the source size first: peaks get a sub-pixel refinement
and the candidate pairs of all limbs are scored in one vectorised numpy pass
(PAF read at the nearest cell of each sample point). Only the greedy matching
and the assembly, which touch a handful of connections per limb, are Python
loops. About 1-2 ms for 10 people on one core (see bench/bench_parse.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import List, Optional, Tuple

import numpy as np

from pose_ros.core.field_checks import check_fields
from pose_ros.core.geometry import LetterboxTransform, map_to_net
from pose_ros.core.persons import Person
from pose_ros.core.skeletons import Skeleton


@dataclass
class DecodeParams:
    """Thresholds of the parser.

    Person score: the mean over the person's detected keypoints (heatmap peak
    value) and accepted limbs (mean PAF alignment + distance prior), i.e.
    ``(sum(keypoint scores) + sum(limb scores)) / (n_keypoints + n_limbs)``, so it
    is roughly in [0, 1] whatever the skeleton size.

    ``min_person_score`` defaults to 0.3 rather than 0.2: with the default
    mobilenet_thin model on OpenCV's basketball1.png the two players score 0.75
    and 0.56 while a ghost assembled on the ball scores 0.25 (basketball2: 0.76
    and 0.40; messi5: Messi 0.64, spectators 0.21-0.42).

    A person assembled from at least ``many_parts`` keypoints needs only
    ``min_score_many_parts``: small pedestrians have weak heatmap peaks and score
    0.2-0.3 though they are whole, while what scores that low with fewer than 6
    parts is a ghost or a fragment. On the hand-labelled dev set (bench/devset, default
    432x368 input) persons of 10+ parts scoring 0.2-0.3 were 8 real people, 3 partial
    matches and 2 false positives; those with fewer than 6 parts were 3 false positives
    and 4 detections in ignore regions. Keeping the first group raises COCO AP from 0.054 to
    0.065 with 5 more false positives, where lowering ``min_person_score`` itself to 0.2
    gives 0.064 with 9 more (bench/RESULTS.md, "Accuracy").

    ``min_keypoint_score`` stays 0 by default: on the dev set a floor of 0.1 changed
    nothing and 0.2-0.3 lowered AP (a weak keypoint near the right place still counts
    for OKS); it is there for users who prefer no keypoint to a doubtful one.
    """

    heatmap_threshold: float = 0.1    # min heatmap peak
    paf_threshold: float = 0.05       # min PAF . unit-vector per sample
    paf_samples: int = 10             # samples along each candidate limb
    min_paf_fraction: float = 0.8     # fraction of samples that must pass paf_threshold
    min_parts: int = 3                # drop persons with fewer detected keypoints
    min_person_score: float = 0.3     # drop persons whose score (see class doc) is lower
    min_score_many_parts: float = 0.2  # ... unless they have at least many_parts keypoints
    many_parts: int = 10
    max_persons: int = 0              # 0 = unlimited; else keep the best N by score
    min_keypoint_score: float = 0.0   # keypoints scoring lower are output as not detected

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
            ("min_keypoint_score", 0.0 <= self.min_keypoint_score <= 1.0, "must be in [0, 1]"),
            ("min_score_many_parts", np.isfinite(self.min_score_many_parts), "must be finite"),
            ("many_parts", int(self.many_parts) == self.many_parts and self.many_parts >= 1,
             "must be an integer >= 1"),
        )
        check_fields(self, checks)


def _peaks_flat(heatmaps: np.ndarray, threshold: float) -> Tuple[np.ndarray, np.ndarray]:
    """All peaks of all maps: (channel index (n,), x/y/score (n, 3) float32),
    sorted by channel. See ``find_peaks``."""
    hm = np.asarray(heatmaps, dtype=np.float32)
    k, h, w = hm.shape
    padded = np.full((k, h + 2, w + 2), -np.inf, dtype=np.float32)
    padded[:, 1:-1, 1:-1] = hm
    # Only cells above the threshold can be peaks: gather their 3x3 neighbourhoods
    # in one fancy-indexing pass instead of comparing whole maps.
    flat = np.flatnonzero(hm > threshold)
    ch, rest = np.divmod(flat, h * w)
    ys, xs = np.divmod(rest, w)
    centre = (ch * (h + 2) + ys + 1) * (w + 2) + xs + 1
    nb = padded.ravel()[_nb_offsets(w + 2)[:, None] + centre]          # (9, n)
    c = nb[4]
    is_peak = (c > nb[:4].max(axis=0)) & (c >= nb[5:].max(axis=0))
    ch, ys, xs, nb, c = ch[is_peak], ys[is_peak], xs[is_peak], nb[:, is_peak], c[is_peak]
    # Quadratic (parabola) fit through the peak and its two neighbours, per axis;
    # no shift on an axis where the peak touches the border (-inf neighbour).
    out = np.empty((len(ch), 3), dtype=np.float32)
    for col, lo, hi, base in ((0, nb[3], nb[5], xs), (1, nb[1], nb[7], ys)):
        den = lo - 2.0 * c + hi
        with np.errstate(invalid="ignore", divide="ignore"):
            off = np.where(np.isfinite(den) & (den < 0), 0.5 * (lo - hi) / den, 0.0)
        out[:, col] = base + np.clip(off, -0.5, 0.5)
    out[:, 2] = c
    return ch, out


def _nb_offsets(row: int) -> np.ndarray:
    """Flat offsets of a 3x3 neighbourhood in raster order (centre at index 4)
    for rows ``row`` elements long. A peak must be strictly higher than the
    neighbours before it and at least as high as the ones after, so a flat top
    of equal cells yields exactly one peak."""
    return np.array([dy * row + dx for dy in (-1, 0, 1) for dx in (-1, 0, 1)], dtype=np.intp)


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


@lru_cache(maxsize=16)
def _limb_tables(skeleton: Skeleton) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Limb endpoints and PAF channels of ``skeleton`` as index arrays."""
    limbs = np.array(skeleton.limbs, dtype=np.intp).reshape(-1, 2)
    chans = np.array(skeleton.paf_channels, dtype=np.intp).reshape(-1, 2)
    return limbs[:, 0], limbs[:, 1], chans[:, 0], chans[:, 1]


def _score_pairs(peaks: np.ndarray, bounds: np.ndarray, pafs: np.ndarray, skeleton: Skeleton,
                 p: DecodeParams) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Score every candidate pair of every limb in one vectorised pass.

    Each pair (peak of part a, peak of part b) is sampled at ``paf_samples``
    evenly spaced points from a to b; the PAF is read at the nearest cell and
    projected on the segment's unit vector. score = mean projection + distance
    prior ``min(0.5 * H / length - 1, 0)`` (penalises limbs longer than half the
    map height, as in the reference implementation of Cao et al.). A pair passes
    when at least ``min_paf_fraction`` of the samples exceed ``paf_threshold``
    and the score is positive.

    Pairs are first tested on only ``allowed_failures + 1`` samples: if all of
    those fail, the pair cannot pass, so most wrong pairs are dropped after a
    fraction of the work; the result is the same as testing every sample.

    Returns limb index, global peak ids of a and b, and score of the passing
    pairs, ordered by limb (skeleton order) then score (best first).
    """
    la, lb, cx, cy = _limb_tables(skeleton)
    n = np.diff(bounds)
    na, nb = n[la], n[lb]
    cnt = na * nb
    total = int(cnt.sum())
    empty = np.zeros(0, dtype=np.intp)
    if total == 0:
        return empty, empty, empty, np.zeros(0, dtype=np.float32)
    limb = np.repeat(np.arange(len(la)), cnt)
    r = np.arange(total) - (np.cumsum(cnt) - cnt)[limb]
    nbp = nb[limb]
    ia = r // nbp
    ga = bounds[la][limb] + ia
    gb = bounds[lb][limb] + (r - ia * nbp)

    _, map_h, map_w = pafs.shape
    px, py = peaks[:, 0], peaks[:, 1]
    ax, ay = px[ga], py[ga]
    dx, dy = px[gb] - ax, py[gb] - ay
    length = np.sqrt(dx * dx + dy * dy)
    keep = np.flatnonzero(length > 1e-6)
    samples = int(p.paf_samples)
    need = _needed_passes(samples, float(p.min_paf_fraction))
    t_all = np.linspace(0.0, 1.0, samples, dtype=np.float32)
    sampler = _PafSampler(pafs, cx, cy)
    if 0 < samples - need + 1 < samples:
        # exact early rejection on a subset of samples spread along the segment
        pick = np.linspace(0, samples - 1, samples - need + 3).round().astype(np.intp)[1:-1]
        pick = np.unique(pick)[:samples - need + 1]
        if len(pick) == samples - need + 1:
            q = keep
            dots = sampler.dots(limb[q], ax[q], ay[q], dx[q], dy[q], length[q], t_all[pick])
            keep = keep[(dots > p.paf_threshold).any(axis=1)]
    q = keep
    dots = sampler.dots(limb[q], ax[q], ay[q], dx[q], dy[q], length[q], t_all)
    prior = np.minimum(np.float32(0.5 * map_h) / length[q] - 1.0, 0.0)
    score = dots.mean(axis=1) + prior
    ok = ((dots > p.paf_threshold).sum(axis=1) >= need) & (score > 0)
    sel = q[ok]
    score = score[ok]
    order = np.lexsort((-score, limb[sel]))
    sel = sel[order]
    return limb[sel], ga[sel], gb[sel], score[order]


@lru_cache(maxsize=64)
def _needed_passes(samples: int, fraction: float) -> int:
    """Smallest number of passing samples m with m / samples >= fraction."""
    return next(m for m in range(samples + 1) if m / samples >= fraction or m == samples)


class _PafSampler:
    """Reads limb PAFs at arbitrary points (nearest cell) as projections on the
    limb direction; one object per frame, so the flattening happens once."""

    def __init__(self, pafs: np.ndarray, cx: np.ndarray, cy: np.ndarray) -> None:
        self.flat = pafs.ravel()
        _, self.h, self.w = pafs.shape
        hw = self.h * self.w
        self.base_x, self.base_y = cx * hw, cy * hw

    def dots(self, limb: np.ndarray, ax: np.ndarray, ay: np.ndarray, dx: np.ndarray,
             dy: np.ndarray, length: np.ndarray, t: np.ndarray) -> np.ndarray:
        """(P, S) PAF . unit-vector at points a + t * d."""
        t = t[None, :]
        xi = (np.clip(ax[:, None] + t * dx[:, None], 0.0, self.w - 1.0) + 0.5).astype(np.intp)
        yi = (np.clip(ay[:, None] + t * dy[:, None], 0.0, self.h - 1.0) + 0.5).astype(np.intp)
        cell = yi * self.w + xi
        vx = self.flat[cell + self.base_x[limb][:, None]]
        vy = self.flat[cell + self.base_y[limb][:, None]]
        return (vx * (dx / length)[:, None] + vy * (dy / length)[:, None])


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
    limb, ga, gb, sc = _score_pairs(peaks, bounds, np.asarray(pafs, dtype=np.float32),
                                    skeleton, p)

    # person state: slots[i][k] = global peak id or -1; owner[peak] = person or -1
    slots: List[List[int]] = []
    limb_sum: List[float] = []
    limb_cnt: List[int] = []
    alive: List[bool] = []
    owner = [-1] * len(peaks)
    limbs = skeleton.limbs
    current = -1
    used_a: set = set()
    used_b: set = set()
    # Greedy bipartite matching per limb (pairs come best first within a limb),
    # limbs in skeleton order so people grow outwards from the torso.
    for li, i, j, s in zip(limb.tolist(), ga.tolist(), gb.tolist(), sc.tolist()):
        if li != current:
            current = li
            used_a, used_b = set(), set()
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        a, b = limbs[li]
        _connect(i, j, a, b, s, n_kp, slots, limb_sum, limb_cnt, alive, owner)

    return _finish(peaks, slots, limb_sum, limb_cnt, alive, p, transform, map_w, map_h)


def _connect(ga: int, gb: int, a: int, b: int, s: float, n_kp: int, slots: List[List[int]],
             limb_sum: List[float], limb_cnt: List[int], alive: List[bool],
             owner: List[int]) -> None:
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
    many = n_found >= p.many_parts
    # The score floor only hides weak keypoints from the output: assembly, the person score
    # and many_parts above used them. A person left with fewer than min_parts is dropped.
    if p.min_keypoint_score > 0:
        found = found & (kp_scores >= p.min_keypoint_score)
        n_found = found.sum(axis=1)
    keep = (n_found >= p.min_parts) & ((score >= p.min_person_score)
                                       | (many & (score >= p.min_score_many_parts)))
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
    # boxes of all people at once (what persons.bbox_from_keypoints computes one by one)
    inf = np.float32(np.inf)
    x, y = kps[..., 0], kps[..., 1]
    x0, y0 = np.where(found, x, inf).min(axis=1), np.where(found, y, inf).min(axis=1)
    x1, y1 = np.where(found, x, -inf).max(axis=1), np.where(found, y, -inf).max(axis=1)
    boxes = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1).tolist()
    scores = score.tolist()
    return [Person(keypoints=kps[i], score=scores[i], bbox=tuple(boxes[i])) for i in order.tolist()]


def as_chw(output: np.ndarray) -> np.ndarray:
    """A network blob (1, C, H, W) or maps (C, H, W) as (C, H, W); ValueError for anything else."""
    out = np.asarray(output)
    if out.ndim == 4:
        if out.shape[0] != 1:
            raise ValueError(f"expected a batch of 1, got output shape {out.shape}")
        out = out[0]
    if out.ndim != 3:
        raise ValueError(f"output must be (1, C, H, W) or (C, H, W), got shape {out.shape}")
    return out


def decode_output(output: np.ndarray, skeleton: Skeleton, params: Optional[DecodeParams] = None,
                  transform: Optional[LetterboxTransform] = None) -> List[Person]:
    """Decode a whole network blob (1, C, H, W) or (C, H, W): heatmaps first
    (with background when the skeleton has one), then the PAF block."""
    out = as_chw(output)
    expected = skeleton.output_channels
    if out.shape[0] != expected:
        raise ValueError(f"skeleton {skeleton.name} expects {expected} output channels "
                         f"({skeleton.heatmap_channels} heatmaps + {2 * len(skeleton.limbs)} PAF), "
                         f"got {out.shape[0]}")
    return decode(out[:skeleton.heatmap_channels], out[skeleton.paf_offset:], skeleton,
                  params, transform)
