"""Merge the people of several passes over one frame, so that nobody comes out twice.

A person small enough to be zoomed is usually found by the coarse pass too, and a person in
the overlap of two crops by both crops. Two detections are the same person when their
keypoints agree (an OKS-like similarity over the keypoints both have, scaled by the person's
size), or when one is a piece of the other: at most half as many keypoints, agreeing with
the other's where both have some, all inside the other's box (what a crop that cut a person
sees, or a part the coarse parser could not join).

Passes come in order of trust and a detection of a later pass is kept only when it is
nobody found by an earlier one, or when what the earlier one found is only a piece of it
(then the whole person replaces the piece). The zoom stage trusts the coarse pass for near
people (zoomed, they exceed the network's field of view) and the zoom passes for the rest
(finer maps: on the dev set's vtest frames, preferring them over the coarse detection with
more keypoints raised AP from 0.200 to 0.213, bf16, zoom without budget).
"""

from __future__ import annotations

from typing import List, Sequence

import numpy as np

from pose_ros.core.persons import Person

#: Similarity at or above which two detections are one person. OKS 0.5 is COCO's "same
#: person" criterion (AP50); different people walking past each other score below 0.2.
SAME_PERSON = 0.5
#: Keypoint spread of the similarity, as a share of the person's size (COCO's sigmas are
#: 0.025-0.107 of the scale; 0.1 is lenient for the fine and coarse maps of one body).
SPREAD = 0.1


def similarity(a: Person, b: Person) -> float:
    """OKS-like agreement of two detections of one skeleton, in [0, 1].

    Mean over the keypoints both detected of ``exp(-d^2 / (2 (SPREAD * size)^2))``, ``size``
    the larger of the two boxes' diagonals; 0 when they share fewer than two keypoints.
    """
    ka, kb = a.keypoints, b.keypoints
    both = (ka[:, 2] > 0) & (kb[:, 2] > 0)
    if both.sum() < 2:
        return 0.0
    size = max(np.hypot(a.bbox[2], a.bbox[3]), np.hypot(b.bbox[2], b.bbox[3]), 1.0)
    d2 = ((ka[both, :2] - kb[both, :2]) ** 2).sum(axis=1)
    return float(np.exp(-d2 / (2.0 * (SPREAD * size) ** 2)).mean())


def _fragment_of(small: Person, large: Person) -> bool:
    """Whether the keypoints of ``small`` could be part of ``large``: where both have a
    keypoint they agree (:func:`similarity`; not checked with fewer than two in common), and
    every keypoint of ``small`` lies inside ``large``'s box grown by a tenth."""
    own = small.keypoints[:, 2] > 0
    if int((own & (large.keypoints[:, 2] > 0)).sum()) >= 2 and similarity(small, large) < SAME_PERSON:
        return False
    x, y, w, h = large.bbox
    pad = 0.1 * max(w, h, 1.0)
    pts = small.keypoints[own, :2]
    return bool(((pts[:, 0] >= x - pad) & (pts[:, 0] <= x + w + pad)
                 & (pts[:, 1] >= y - pad) & (pts[:, 1] <= y + h + pad)).all())


def piece_of(small: Person, large: Person) -> bool:
    """Whether ``small`` is a piece of ``large``: at most half its keypoints, and
    :func:`_fragment_of`."""
    return small.num_detected <= large.num_detected // 2 and _fragment_of(small, large)


def same_person(a: Person, b: Person) -> bool:
    """Whether ``a`` and ``b`` are detections of one person (see module doc)."""
    return similarity(a, b) >= SAME_PERSON or piece_of(a, b) or piece_of(b, a)


def merge_passes(passes: Sequence[Sequence[Person]]) -> List[Person]:
    """One list of people from several passes given in order of trust (see module doc):
    within a pass the higher score first; the result sorted by score, best first."""
    kept: List[Person] = []
    for persons in passes:
        for p in sorted(persons, key=lambda p: -p.score):
            twin = next((i for i, q in enumerate(kept) if same_person(p, q)), None)
            if twin is None:
                kept.append(p)
            elif piece_of(kept[twin], p):
                kept[twin] = p
    return sorted(kept, key=lambda p: -p.score)
