"""The hand-labelled accuracy dev set: its images, its labels, and the labelling aid.

Images come from Debian's opencv-doc samples (``/usr/share/doc/opencv-doc/examples/data``);
a vtest.avi frame is named ``vtest.avi#<index>`` and decoded by reading the video from the
start (seeking is not frame-exact for every codec). ``vtest.avi#<a>+<b>`` is a mosaic: the
frames at half size, two to a row (768x288 for two frames): people half as tall seen at the
same scale as in a whole frame, which is what a farther camera sees. (A lone half-size frame
would not do: the estimator letterboxes every image to its fixed input, so its people would
come back full size; a 768-wide mosaic is scaled like a 768x576 frame, width-bound.)

Two subsets, reported separately so rows stay comparable: ``original`` (``labels/*.yaml``,
``devset_coco.json``) and ``far`` (``labels/far/*.yaml``, ``devset_far_coco.json``: people
20-60 px tall); ``load_coco("original" | "far" | "all")`` reads them. Labels are one YAML file
per image (see README.md); ``python bench/devset/devset.py build`` writes the json files.

``python bench/devset/devset.py crop IMAGE X0 Y0 X1 Y1 [--zoom 4] [--labels] -o out.png``
renders a zoomed crop with a labelled pixel grid (and the labels drawn back on), which is
how the keypoints were read off by eye.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
import yaml

DATA = Path("/usr/share/doc/opencv-doc/examples/data")
HERE = Path(__file__).resolve().parent
LABELS = HERE / "labels"
#: Subsets in id order (the original images keep the ids they had before ``far`` existed).
SUBSETS = ("original", "far")
LABEL_DIRS = {"original": LABELS, "far": LABELS / "far"}
COCO_JSONS = {"original": HERE / "devset_coco.json", "far": HERE / "devset_far_coco.json"}
COCO_JSON = COCO_JSONS["original"]
#: Side of each frame in a ``+`` mosaic, relative to the video's.
MOSAIC_SCALE = 0.5

#: COCO-17 keypoint names in COCO order, and the short names used in the label files.
COCO17 = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
          "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
          "left_knee", "right_knee", "left_ankle", "right_ankle")
SHORT = ("nose", "leye", "reye", "lear", "rear", "lsho", "rsho", "lelb", "relb", "lwri", "rwri",
         "lhip", "rhip", "lkne", "rkne", "lank", "rank")
SHORT_TO_INDEX = {s: i for i, s in enumerate(SHORT)}
#: COCO-17 limbs (0-based), for drawing labels back on the image.
LIMBS = ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
         (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6))


@lru_cache(maxsize=4)
def _video_frames(name: str, wanted: Tuple[int, ...]) -> Dict[int, np.ndarray]:
    cap = cv2.VideoCapture(str(DATA / name))
    if not cap.isOpened():
        raise FileNotFoundError(f"{DATA / name} not readable (apt install opencv-doc)")
    out: Dict[int, np.ndarray] = {}
    index, last = 0, max(wanted)
    try:
        while index <= last:
            ok, frame = cap.read()
            if not ok:
                break
            if index in wanted:
                out[index] = frame
            index += 1
    finally:
        cap.release()
    missing = sorted(set(wanted) - set(out))
    if missing:
        raise ValueError(f"{name} has no frame(s) {missing}")
    return out


def mosaic(frames: List[np.ndarray]) -> np.ndarray:
    """Frames at ``MOSAIC_SCALE``, two to a row in reading order: as wide as one frame."""
    if not frames or len(frames) % 2:
        raise ValueError(f"a mosaic takes an even number of frames, not {len(frames)}")
    h, w = frames[0].shape[:2]
    size = (round(w * MOSAIC_SCALE), round(h * MOSAIC_SCALE))
    small = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    return np.vstack([np.hstack(small[i:i + 2]) for i in range(0, len(small), 2)])


def load_images(names: List[str]) -> Dict[str, np.ndarray]:
    """BGR images by dev-set name (``basketball1.png``, ``vtest.avi#120``,
    ``vtest.avi#180+300``), each video read once."""
    out: Dict[str, np.ndarray] = {}
    by_video: Dict[str, List[str]] = {}
    for name in names:
        if "#" in name:
            video, _ = name.split("#", 1)
            by_video.setdefault(video, []).append(name)
        else:
            image = cv2.imread(str(DATA / name), cv2.IMREAD_COLOR)
            if image is None:
                raise FileNotFoundError(f"{DATA / name} not readable (apt install opencv-doc)")
            out[name] = image
    for video, wanted in by_video.items():
        indices = {n: [int(f) for f in n.split("#", 1)[1].split("+")] for n in wanted}
        decoded = _video_frames(video, tuple(sorted({f for fs in indices.values() for f in fs})))
        for name, frames in indices.items():
            out[name] = decoded[frames[0]] if len(frames) == 1 else mosaic([decoded[f] for f in frames])
    return out


def lead_in(names: List[str], count: int) -> Dict[str, List[np.ndarray]]:
    """For each dev-set image, the ``count`` images a camera showed just before it, oldest
    first: the frames before a ``vtest.avi#<i>`` frame (or mosaics of the frames before each
    of a mosaic's), a still image repeated (a camera on a still scene). How the estimator's
    video state (its lookout) is warmed before the labelled frame is scored."""
    out: Dict[str, List[np.ndarray]] = {}
    for name in names:
        if "#" not in name:
            out[name] = [load_images([name])[name]] * count
            continue
        video, spec = name.split("#", 1)
        ends = [int(f) for f in spec.split("+")]
        if min(ends) < count:
            raise ValueError(f"{name}: fewer than {count} frames before it")
        steps = range(count, 0, -1)
        decoded = _video_frames(video, tuple(sorted({e - k for e in ends for k in steps})))
        out[name] = [decoded[ends[0] - k] if len(ends) == 1 else mosaic([decoded[e - k] for e in ends])
                     for k in steps]
    return out


def label_files(subset: str = "all") -> List[Path]:
    """Label files of ``subset`` (``original``, ``far`` or ``all``), subsets in ``SUBSETS`` order."""
    return [f for s in _subsets(subset) for f in sorted(LABEL_DIRS[s].glob("*.yaml"))]


def _subsets(subset: str) -> Tuple[str, ...]:
    if subset == "all":
        return SUBSETS
    if subset not in SUBSETS:
        raise ValueError(f"unknown dev-set subset {subset!r} (use {', '.join(SUBSETS)} or all)")
    return (subset,)


def label_path(name: str) -> Optional[Path]:
    """The label file of image ``name`` in any subset, or None."""
    stem = name.replace(".", "_").replace("#", "_") + ".yaml"
    return next((d / stem for d in LABEL_DIRS.values() if (d / stem).exists()), None)


def read_labels(path: Path) -> dict:
    """One label file: {image, people: [{box, kp: {short: [x, y, v]}}], ignore: [[x0, y0, x1, y1]]}."""
    data = yaml.safe_load(path.read_text()) or {}
    for i, person in enumerate(data.get("people") or []):
        for short, value in (person.get("kp") or {}).items():
            if short not in SHORT_TO_INDEX:
                raise ValueError(f"{path.name}: person {i}: unknown keypoint {short!r} (use {', '.join(SHORT)})")
            if len(value) != 3 or value[2] not in (1, 2):
                raise ValueError(f"{path.name}: person {i}: {short} must be [x, y, v] with v 1 or 2")
        if len(person.get("box") or ()) != 4:
            raise ValueError(f"{path.name}: person {i}: box must be [x0, y0, x1, y1]")
    return data


def build_coco(subset: str = "all") -> dict:
    """The COCO keypoints ground truth of the label files of ``subset``.

    Image and annotation ids are numbered over all subsets in label-file order (``SUBSETS``
    order, then sorted names) whichever subset is built, so the ``original`` ids never change
    and the subsets' ids never collide; every image carries its ``subset``. A person's ``area`` (OKS's scale) is
    the area of its labelled box: COCO uses the segment area, which is smaller, so OKS here
    is somewhat more lenient than on COCO. An ``ignore`` box becomes an ``iscrowd``
    annotation without keypoints: detections there are neither matches nor false positives.
    """
    wanted = _subsets(subset)
    images, annotations = [], []
    files = label_files("all")
    labels = [read_labels(f) for f in files]
    names = [lab["image"] for lab in labels]
    decoded = load_images(names)
    sizes = {name: decoded[name].shape[1::-1] for name in names}
    for image_id, (path, lab) in enumerate(zip(files, labels), start=1):
        name = lab["image"]
        w, h = sizes[name]
        part = next(s for s in SUBSETS if path.parent == LABEL_DIRS[s])
        images.append({"id": image_id, "file_name": name, "width": w, "height": h,
                       "labels": str(path.relative_to(LABELS)), "subset": part})
        for person in lab.get("people") or []:
            kp = [0] * (3 * len(SHORT))
            for short, (x, y, v) in (person.get("kp") or {}).items():
                i = SHORT_TO_INDEX[short]
                kp[3 * i:3 * i + 3] = [float(x), float(y), int(v)]
            x0, y0, x1, y1 = (float(v) for v in person["box"])
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                "keypoints": kp, "num_keypoints": sum(1 for v in kp[2::3] if v > 0),
                "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0),
                "note": person.get("note", "")})
        for x0, y0, x1, y1 in lab.get("ignore") or []:
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": 1, "iscrowd": 1,
                "keypoints": [0] * (3 * len(SHORT)), "num_keypoints": 0,
                "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                "area": float((x1 - x0) * (y1 - y0)), "note": "ignore region"})
    keep = {i["id"] for i in images if i["subset"] in wanted}
    return {"info": {"description": "pose_ros accuracy dev set, hand-labelled (see README.md)",
                     "subset": subset},
            "images": [i for i in images if i["id"] in keep],
            "annotations": [a for a in annotations if a["image_id"] in keep],
            "categories": [{"id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO17),
                            "skeleton": [[a + 1, b + 1] for a, b in LIMBS]}]}


def write_coco() -> Dict[str, dict]:
    """Write one json per subset; returns them by subset."""
    out = {}
    for subset in SUBSETS:
        out[subset] = build_coco(subset)
        COCO_JSONS[subset].write_text(json.dumps(out[subset], indent=1) + "\n")
    return out


def load_coco(subset: str = "original") -> dict:
    """The committed ground truth of ``subset``: ``original``, ``far``, or ``all`` (both merged;
    their ids are disjoint by construction). What ``bench_accuracy`` scores against."""
    parts = [json.loads(COCO_JSONS[s].read_text()) for s in _subsets(subset)]
    merged = dict(parts[0], images=[i for p in parts for i in p["images"]],
                  annotations=[a for p in parts for a in p["annotations"]])
    merged["info"] = dict(parts[0]["info"], subset=subset)
    return merged


# --------------------------------------------------------------------------- labelling aid

def render_crop(image: np.ndarray, box: Tuple[int, int, int, int], zoom: int = 4, grid: int = 10,
                labels: Optional[dict] = None) -> np.ndarray:
    """``image[y0:y1, x0:x1]`` upscaled ``zoom`` times, with grid lines every ``grid`` source
    pixels numbered in source coordinates on all four edges (thicker every 5 lines), and the
    labels of ``labels`` (a label file's content) drawn back on."""
    x0, y0, x1, y1 = (int(v) for v in box)
    h, w = image.shape[:2]
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    crop = cv2.resize(image[y0:y1, x0:x1], None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
    margin = 30
    canvas = np.full((crop.shape[0] + 2 * margin, crop.shape[1] + 2 * margin, 3), 255, np.uint8)
    canvas[margin:-margin, margin:-margin] = crop

    def to_view(x: float, y: float) -> Tuple[int, int]:
        return int(round((x - x0) * zoom)) + margin, int(round((y - y0) * zoom)) + margin

    font = cv2.FONT_HERSHEY_SIMPLEX
    every = grid * max(1, -(-36 // (grid * zoom)))    # numbers at least 36 view pixels apart
    for gx in range((x0 // grid + 1) * grid, x1, grid):
        vx, _ = to_view(gx, y0)
        major = gx % (5 * grid) == 0
        cv2.line(canvas, (vx, margin), (vx, canvas.shape[0] - margin), (0, 255, 255) if major else (0, 200, 0), 1)
        for vy in (margin - 8, canvas.shape[0] - 8):
            if gx % every == 0:
                cv2.putText(canvas, str(gx), (vx - 12, vy), font, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    for gy in range((y0 // grid + 1) * grid, y1, grid):
        _, vy = to_view(x0, gy)
        major = gy % (5 * grid) == 0
        cv2.line(canvas, (margin, vy), (canvas.shape[1] - margin, vy), (0, 255, 255) if major else (0, 200, 0), 1)
        for vx in (1, canvas.shape[1] - margin + 1):
            if gy % every == 0:
                cv2.putText(canvas, str(gy), (vx, vy + 4), font, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    if labels:
        for person in labels.get("people") or []:
            kp = person.get("kp") or {}
            pts = {SHORT_TO_INDEX[s]: v for s, v in kp.items()}
            for a, b in LIMBS:
                if a in pts and b in pts:
                    cv2.line(canvas, to_view(*pts[a][:2]), to_view(*pts[b][:2]), (255, 255, 255), 1, cv2.LINE_AA)
            for s, (x, y, v) in kp.items():
                colour = (255, 80, 0) if s.startswith("l") and s != "nose" else (0, 0, 255)
                if s == "nose":
                    colour = (0, 220, 0)
                centre = to_view(x, y)
                cv2.circle(canvas, centre, 4, colour, -1 if v == 2 else 1, cv2.LINE_AA)
                cv2.putText(canvas, s, (centre[0] + 5, centre[1] - 3), font, 0.35, colour, 1, cv2.LINE_AA)
            bx0, by0, bx1, by1 = person["box"]
            cv2.rectangle(canvas, to_view(bx0, by0), to_view(bx1, by1), (255, 0, 255), 1)
        for ig in labels.get("ignore") or []:
            cv2.rectangle(canvas, to_view(ig[0], ig[1]), to_view(ig[2], ig[3]), (128, 128, 128), 2)
    return canvas


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="dev-set labelling aid")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("crop", help="render a zoomed crop with a pixel grid")
    c.add_argument("image", help="dev-set image name, e.g. basketball1.png or vtest.avi#120")
    c.add_argument("box", nargs=4, type=int, metavar=("X0", "Y0", "X1", "Y1"))
    c.add_argument("--zoom", type=int, default=4)
    c.add_argument("--grid", type=int, default=10)
    c.add_argument("--labels", action="store_true", help="draw the image's label file on the crop")
    c.add_argument("-o", "--output", required=True)
    sub.add_parser("build", help=f"write {COCO_JSON.name} from the label files")
    args = ap.parse_args(argv)
    if args.cmd == "build":
        for subset, data in write_coco().items():
            people = sum(1 for a in data["annotations"] if not a["iscrowd"])
            print(f"{COCO_JSONS[subset]}: {len(data['images'])} images, {people} people, "
                  f"{len(data['annotations']) - people} ignore regions")
        return 0
    image = load_images([args.image])[args.image]
    labels = None
    if args.labels:
        path = label_path(args.image)
        labels = read_labels(path) if path else None
    cv2.imwrite(args.output, render_crop(image, tuple(args.box), args.zoom, args.grid, labels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
