"""Persons as COCO keypoint *results* (the list ``pycocotools``' ``COCO.loadRes`` reads).

COCO-17 is what COCO keypoint AP is measured on; our skeletons (COCO-18, BODY-25, ...)
name their keypoints differently and add some (Neck, MidHip, feet). The conversion goes
by keypoint *name* (``LShoulder`` -> ``left_shoulder``), never by index, so any skeleton
whose names follow the OpenPose convention converts, and keypoints COCO-17 lacks are
dropped.

A keypoint our parser did not find has score 0 and x = y = 0 (see
:class:`~pose_ros.core.persons.Person`). It is written as ``[0, 0, 0]``: visibility 0 marks it
absent, it is not a detection at the image corner. A found keypoint is written with its
score as the third value (always > 0). ``COCOeval`` itself reads only x and y of a result,
so an absent keypoint counts as a miss there, and the metrics in ``bench/bench_accuracy.py``
read the third value to tell absent from present.

ROS-free (numpy only).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, List

import numpy as np

from pose_ros.core.persons import Person
from pose_ros.core.skeletons import Skeleton

#: COCO-17 keypoint names, in COCO's order.
COCO17_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
                "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
                "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
#: COCO's category id of "person".
PERSON_CATEGORY = 1


def coco_name(name: str) -> str:
    """OpenPose-style keypoint name -> COCO style: ``LShoulder`` -> ``left_shoulder``,
    ``REye`` -> ``right_eye``, ``Nose`` -> ``nose``, ``LBigToe`` -> ``left_big_toe``."""
    side = ""
    if len(name) > 1 and name[0] in "LR" and name[1].isupper():
        side, name = ("left_" if name[0] == "L" else "right_"), name[1:]
    return side + re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@lru_cache(maxsize=16)
def coco17_indices(skeleton: Skeleton) -> np.ndarray:
    """For each COCO-17 keypoint, its index in ``skeleton`` (-1 where the skeleton lacks it)."""
    by_name = {coco_name(n): i for i, n in enumerate(skeleton.keypoint_names)}
    return np.array([by_name.get(n, -1) for n in COCO17_NAMES], dtype=np.intp)


def coco17_keypoints(person: Person, skeleton: Skeleton) -> np.ndarray:
    """(17, 3) float array x, y, v for one person: v = keypoint score, 0 when absent
    (not found, or not in the skeleton); an absent keypoint has x = y = 0."""
    idx = coco17_indices(skeleton)
    kp = np.asarray(person.keypoints, dtype=np.float64)
    if kp.shape != (skeleton.num_keypoints, 3):
        raise ValueError(f"person has keypoints of shape {kp.shape}, skeleton {skeleton.name} "
                         f"needs ({skeleton.num_keypoints}, 3)")
    out = np.zeros((len(COCO17_NAMES), 3))
    have = idx >= 0
    out[have] = kp[idx[have]]
    out[out[:, 2] <= 0] = 0.0
    return out


def coco_results(persons: Iterable[Person], skeleton: Skeleton, image_id: int) -> List[dict]:
    """COCO keypoint results of one image: one dict per person with at least one COCO-17
    keypoint (``image_id``, ``category_id``, ``keypoints`` as 51 numbers, ``score``)."""
    out = []
    for person in persons:
        kp = coco17_keypoints(person, skeleton)
        if not (kp[:, 2] > 0).any():
            continue
        out.append({"image_id": int(image_id), "category_id": PERSON_CATEGORY,
                    "keypoints": [round(float(v), 3) for v in kp.ravel()],
                    "score": round(float(person.score), 5)})
    return out


#: COCO's per-keypoint OKS sigmas (pycocotools cocoeval.py), COCO-17 order.
OKS_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0


def oks(detected: np.ndarray, label: np.ndarray, area: float) -> float:
    """COCO's object keypoint similarity of a (17, 3) detection to a (17, 3) label, over the
    labelled keypoints; a keypoint the detection lacks contributes 0; 0.0 for an empty label."""
    seen = label[:, 2] > 0
    if not seen.any():
        return 0.0
    d2 = ((detected[:, :2] - label[:, :2]) ** 2).sum(axis=1)
    sim = np.exp(-d2 / (2.0 * (2 * OKS_SIGMAS) ** 2 * (area + np.spacing(1))))
    sim[detected[:, 2] <= 0] = 0.0
    return float(sim[seen].mean())
