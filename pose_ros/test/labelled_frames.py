"""Hand-labelled frames from the accuracy dev set (bench/devset) for tests that count people:
the vtest.avi frames with their labelled pedestrians, and who of them a detector found."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np
import pytest
from pose_ros.core.persons import Person
from pose_ros.core.skeletons import Skeleton
from pose_ros.formats.coco_format import coco17_keypoints, oks

DEVSET = Path(__file__).resolve().parents[2] / "bench" / "devset"


def devset():
    if not (DEVSET / "devset.py").exists():
        pytest.skip("bench/devset is not part of this checkout (installed package)")
    spec = importlib.util.spec_from_file_location("devset", DEVSET / "devset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def vtest_frame(index: int) -> np.ndarray:
    """Frame ``index`` of vtest.avi, decoded from the start (frame-exact)."""
    return devset().load_images([f"vtest.avi#{index}"])[f"vtest.avi#{index}"]


def vtest_frames(count: int) -> List[Tuple[str, np.ndarray, List[dict]]]:
    """(name, BGR frame, labelled people) of the ``count`` vtest frames with the most people;
    each label is a COCO annotation (``keypoints`` as (17, 3), ``area``)."""
    ds = devset()
    gt = ds.load_coco("original")
    people = {i["id"]: [a for a in gt["annotations"] if a["image_id"] == i["id"] and not a["iscrowd"]]
              for i in gt["images"] if i["file_name"].startswith("vtest")}
    names = {i["id"]: i["file_name"] for i in gt["images"]}
    chosen = sorted(people, key=lambda i: (-len(people[i]), i))[:count]
    images = ds.load_images([names[i] for i in chosen])
    return [(names[i], images[names[i]],
             [dict(a, keypoints=np.array(a["keypoints"], float).reshape(17, 3)) for a in people[i]])
            for i in chosen]


def far_sequence(lead_in: int) -> Tuple[List[np.ndarray], np.ndarray, List[dict]]:
    """The first far mosaic of the dev set (people 27-57 px tall) as a camera shows it: the
    ``lead_in`` mosaics before it (oldest first), the labelled mosaic, and its labels."""
    ds = devset()
    gt = ds.load_coco("far")
    image = gt["images"][0]
    labels = [dict(a, keypoints=np.array(a["keypoints"], float).reshape(17, 3))
              for a in gt["annotations"] if a["image_id"] == image["id"] and not a["iscrowd"]]
    name = image["file_name"]
    return ds.lead_in([name], lead_in)[name], ds.load_images([name])[name], labels


def matches(persons: Sequence[Person], skeleton: Skeleton, labels: List[dict], threshold: float = 0.5) -> np.ndarray:
    """(people, labels) boolean: detection i matches label j at OKS >= ``threshold``."""
    dets = [coco17_keypoints(p, skeleton) for p in persons]
    return np.array([[oks(d, a["keypoints"], a["area"]) >= threshold for a in labels] for d in dets],
                    dtype=bool).reshape(len(dets), len(labels))


def found(persons: Sequence[Person], skeleton: Skeleton, labels: List[dict]) -> int:
    """Labelled people matched one-to-one (greedy, detections best score first) at OKS >= 0.5."""
    hit = matches(sorted(persons, key=lambda p: -p.score), skeleton, labels)
    taken = set()
    for row in hit:
        free = [j for j in np.flatnonzero(row) if j not in taken]
        if free:
            taken.add(free[0])
    return len(taken)
