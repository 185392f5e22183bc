"""The lookout: on video, scan the frame for people too small to leave any evidence in the
coarse pass, and keep looking where small people were found.

Why: people 25-60 px tall in a 768-px frame (pedestrians 30-50 m away) leave no heatmap
cell above threshold at the coarse input, so the evidence zoom (:mod:`pose_ros.core.zoom`)
never looks at them: 0 of the 27 people of the dev set's ``far`` subset were found by any
real-time setting. The whole frame at 2x finds 24 of 27, at four times the frame budget. A
camera's frames follow each other, though, so that cost can be spread: each frame runs the
next one or two **scan tiles** (fixed-size crops at ``scale``, in turn over the frame) with
whatever budget is left, and every person found that is not near is **followed**: the next
frames run a small crop at the same scale around where they were, until they have been
missed ``follow_frames`` times. A newcomer far away is found within one scan cycle (24 tiles
for a 768x576 frame, one or two a frame: about a second at 20 fps out), then kept every frame.

Pure bookkeeping: boxes in, crops out; no clock, no network. One :class:`Lookout` per
camera; the estimator runs the crops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np

from pose_ros.core.field_checks import check_fields
from pose_ros.core.zoom import SHAPE_QUANTUM, Crop, fit_box, quantised


@dataclass(frozen=True)
class LookoutParams:
    """How the lookout scans and follows (defaults measured on the dev set's far subset).

    scale          network pixels per source pixel of scan tiles and follow crops (the whole far
                   mosaic in 384-px tiles found 24/27 people at 2.0, 11/27 at 1.6, 24/27 at 2.5
                   in 1.7x the time)
    tile           network side of a scan tile, a multiple of the shape quantum (one shape:
                   OpenVINO prepares each input shape once). On video (20 frames before each
                   far image, 50 ms budget, bf16): 320 px found 17/27 far people, 384 px 9/27
                   (a larger tile fits the budget left less often), 256 px 13/27 (more cut people)
    overlap        share of a tile shared with its neighbours, so that a far person on a
                   tile border is whole in one of them
    follow_frames  frames a person is followed after they were last found (0: none)
                   (6: 20/27 far people with 320-px tiles, 3: 17/27)
    follow_margin  a follow crop is the person's box grown by this share of its height on
                   every side (room for the walk between two processed frames)
    scan_every     a scan tile runs at least every this many frames, before the follow and
                   evidence crops take the budget (0: only with what they leave); without it
                   the followed people of a busy scene starve the scan and newcomers are
                   never found
    """

    scale: float = 2.0
    tile: int = 320
    overlap: float = 0.3
    follow_frames: int = 6
    follow_margin: float = 0.3
    scan_every: int = 1

    def validate(self) -> None:
        checks = (("scale", 0.0 < self.scale <= 4.0, "must be in (0, 4]"),
                  ("tile", self.tile >= SHAPE_QUANTUM and self.tile % SHAPE_QUANTUM == 0,
                   f"must be a positive multiple of {SHAPE_QUANTUM}"),
                  ("overlap", 0.0 <= self.overlap < 0.9, "must be in [0, 0.9)"),
                  ("follow_frames", int(self.follow_frames) == self.follow_frames and self.follow_frames >= 0,
                   "must be an integer >= 0"),
                  ("follow_margin", self.follow_margin >= 0, "must be >= 0"),
                  ("scan_every", int(self.scan_every) == self.scan_every and self.scan_every >= 0,
                   "must be an integer >= 0"))
        check_fields(self, checks)


def _starts(length: int, span: float, stride: float) -> List[int]:
    """Tile starts along one side: every ``stride`` from 0, the last one flush with the end."""
    if span >= length:
        return [0]
    starts = [int(round(s)) for s in np.arange(0.0, length - span, stride)]
    last = int(round(length - span))
    if starts[-1] < last:
        starts.append(last)
    return starts


def scan_tiles(image_w: int, image_h: int, params: LookoutParams) -> Tuple[Crop, ...]:
    """The scan tiles of an image, row by row: ``tile`` network pixels square (less where the
    image is smaller than a tile at ``scale``), overlapping by ``overlap``."""
    span = params.tile / params.scale
    stride = span * (1.0 - params.overlap)
    tiles = []
    for y0 in _starts(image_h, span, stride):
        for x0 in _starts(image_w, span, stride):
            x1, y1 = min(image_w, int(round(x0 + span))), min(image_h, int(round(y0 + span)))
            net_w = min(params.tile, quantised((x1 - x0) * params.scale))
            net_h = min(params.tile, quantised((y1 - y0) * params.scale))
            tiles.append(Crop(x0, y0, x1, y1, net_w, net_h, 0.0))
    return tuple(tiles)


def follow_crop(box: Sequence[float], image_w: int, image_h: int, params: LookoutParams) -> Crop:
    """The crop that follows a person last seen in ``box`` (x, y, w, h, source pixels): the box
    grown by ``follow_margin`` of its longer side, at ``scale``, fitted to the image as the zoom
    passes' crops are (:func:`pose_ros.core.zoom.fit_box`)."""
    x, y, w, h = (float(v) for v in box)
    pad = params.follow_margin * max(h, w)
    return fit_box(x - pad, y - pad, x + w + pad, y + h + pad, image_w, image_h, params.scale, 1.0)


class Lookout:
    """Scan position and followed people of one camera (see module doc).

    ``follow`` and ``tiles`` plan a frame; ``remember`` closes it with the people found.
    A frame of another size starts over: the tiles and boxes of the old one mean nothing.
    The first frame (of a camera, or after a new size) runs nothing extra, so that one image
    gives the same people whether it is a still or a camera's first frame.
    """

    def __init__(self, params: LookoutParams) -> None:
        params.validate()
        self.params = params
        self._size: Tuple[int, int] = (0, 0)
        self._first = True
        self._tiles: Tuple[Crop, ...] = ()
        self._cursor = 0
        self._since_scan = 0
        self._run_now = 0
        self._followed: List[Tuple[Tuple[float, float, float, float], int]] = []   # (box, frames missed)

    def start_frame(self, image_w: int, image_h: int) -> None:
        """Begin a frame of ``image_w x image_h``; a new size resets the lookout."""
        if (image_w, image_h) != self._size:
            self._size = (image_w, image_h)
            self._first = True
            self._tiles = scan_tiles(image_w, image_h, self.params)
            self._cursor = 0
            self._since_scan = 0
            self._followed = []

    @property
    def scan_due(self) -> bool:
        """Whether this frame must run a scan tile first (see ``scan_every``)."""
        return not self._first and self.params.scan_every > 0 and self._since_scan + 1 >= self.params.scan_every

    @property
    def tile_count(self) -> int:
        return len(self._tiles)

    @property
    def followed(self) -> int:
        return len(self._followed)

    def follow(self, regions: np.ndarray) -> List[Crop]:
        """Crops around the people followed, most recently seen first, except those whose
        centre lies in one of the evidence ``regions`` (rows x0, y0, x1, y1, ...: the evidence
        zoom looks there anyway)."""
        w, h = self._size
        r = np.asarray(regions, np.float64).reshape(-1, 5)
        crops = []
        for box, _ in sorted(self._followed, key=lambda f: f[1]):
            cx, cy = box[0] + box[2] / 2.0, box[1] + box[3] / 2.0
            if not ((r[:, 0] <= cx) & (cx <= r[:, 2]) & (r[:, 1] <= cy) & (cy <= r[:, 3])).any():
                crops.append(follow_crop(box, w, h, self.params))
        return crops

    def tiles(self, fits) -> List[Crop]:
        """The next scan tiles, in turn, while ``fits(crops so far + the next)`` says yes;
        at most one whole cycle per frame (several calls in one frame count together)."""
        chosen: List[Crop] = []
        while not self._first and len(chosen) + self._run_now < len(self._tiles):
            tile = self._tiles[self._cursor]
            if not fits(chosen + [tile]):
                break
            chosen.append(tile)
            self._cursor = (self._cursor + 1) % len(self._tiles)
        self._run_now += len(chosen)
        return chosen

    def remember(self, boxes: Sequence[Sequence[float]]) -> None:
        """Close the frame: follow the people found in ``boxes`` (x, y, w, h; the not-near
        ones), and those followed before and missed now, up to ``follow_frames`` times."""
        self._since_scan = 0 if self._run_now else self._since_scan + 1
        self._run_now = 0
        self._first = False
        found = [tuple(float(v) for v in b) for b in boxes]
        if self.params.follow_frames == 0:
            found = []
        kept = [(b, 0) for b in found]
        for box, missed in self._followed:
            if missed + 1 < self.params.follow_frames and not any(_overlaps(box, b) for b in found):
                kept.append((box, missed + 1))
        self._followed = kept


def _overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether two (x, y, w, h) boxes intersect."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]
