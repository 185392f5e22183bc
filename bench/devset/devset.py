"""The hand-labelled accuracy dev set: its images, its labels, and the labelling aid.

Images come from Debian's opencv-doc samples (``/usr/share/doc/opencv-doc/examples/data``);
a vtest.avi frame is named ``vtest.avi#<index>`` and decoded by reading the video from the
start (seeking is not frame-exact for every codec). Labels are one YAML file per image in
``labels/`` (see README.md); ``build_coco.py`` turns them into ``devset_coco.json``.

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
COCO_JSON = HERE / "devset_coco.json"

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


def load_images(names: List[str]) -> Dict[str, np.ndarray]:
    """BGR images by dev-set name (``basketball1.png``, ``vtest.avi#120``), each video read once."""
    out: Dict[str, np.ndarray] = {}
    by_video: Dict[str, List[int]] = {}
    for name in names:
        if "#" in name:
            video, frame = name.split("#", 1)
            by_video.setdefault(video, []).append(int(frame))
        else:
            image = cv2.imread(str(DATA / name), cv2.IMREAD_COLOR)
            if image is None:
                raise FileNotFoundError(f"{DATA / name} not readable (apt install opencv-doc)")
            out[name] = image
    for video, frames in by_video.items():
        decoded = _video_frames(video, tuple(sorted(set(frames))))
        for f in frames:
            out[f"{video}#{f}"] = decoded[f]
    return out


def label_files() -> List[Path]:
    return sorted(LABELS.glob("*.yaml"))


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


def build_coco() -> dict:
    """The COCO keypoints ground truth of every label file.

    Images get ids in label-file order (sorted names). A person's ``area`` (OKS's scale) is
    the area of its labelled box: COCO uses the segment area, which is smaller, so OKS here
    is somewhat more lenient than on COCO. An ``ignore`` box becomes an ``iscrowd``
    annotation without keypoints: detections there are neither matches nor false positives.
    """
    images, annotations = [], []
    files = label_files()
    labels = [read_labels(f) for f in files]
    names = [lab["image"] for lab in labels]
    decoded = load_images(names)
    sizes = {name: decoded[name].shape[1::-1] for name in names}
    for image_id, (path, lab) in enumerate(zip(files, labels), start=1):
        name = lab["image"]
        w, h = sizes[name]
        images.append({"id": image_id, "file_name": name, "width": w, "height": h, "labels": path.name})
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
    return {"info": {"description": "pose_ros accuracy dev set, hand-labelled (see README.md)"},
            "images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO17),
                            "skeleton": [[a + 1, b + 1] for a, b in LIMBS]}]}


def write_coco(path: Path = COCO_JSON) -> dict:
    data = build_coco()
    path.write_text(json.dumps(data, indent=1) + "\n")
    return data


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
        data = write_coco()
        people = sum(1 for a in data["annotations"] if not a["iscrowd"])
        print(f"{COCO_JSON}: {len(data['images'])} images, {people} people, "
              f"{len(data['annotations']) - people} ignore regions")
        return 0
    image = load_images([args.image])[args.image]
    labels = None
    if args.labels:
        path = LABELS / (args.image.replace(".", "_").replace("#", "_") + ".yaml")
        labels = read_labels(path) if path.exists() else None
    cv2.imwrite(args.output, render_crop(image, tuple(args.box), args.zoom, args.grid, labels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
