#!/usr/bin/env python3
"""Accuracy on the hand-labelled dev set (bench/devset): COCO keypoint AP and friends.

For each configuration (the defaults, the old single-pass defaults, other input sizes, the
flip test, multi-scale, zoom passes, precision, and parser settings) the estimator runs on
every image of the dev set's ``original`` subset (23 images, 114 people) and, separately, of
its ``far`` subset (2 images, 27 people 27-57 px tall), and its persons are converted to
COCO-17 results (``pose_ros.formats.coco_format``). Printed per row:

* AP, AP50, AR: ``pycocotools`` COCOeval, ``iouType="keypoints"`` (OKS, COCO sigmas);
* PCK@0.2: share of the labelled keypoints found within 0.2 torso diameters (left
  shoulder to right hip, else right shoulder to left hip, else 0.3 x box height) of the
  label, by the person matched to that label (one-to-one, greedy by OKS, OKS >= 0.1);
  a keypoint of a person nobody matched counts as missed;
* found: labelled people matched at OKS >= 0.5 (the AP50 criterion);
* swaps: left/right pairs (eyes, ears, shoulders, ..., ankles) labelled and detected in
  a matched person whose two points are each within the PCK distance of the *other*
  side's label and not both of their own;
* FP: detections matched to no labelled person at OKS >= 0.5 and not inside an ignore
  region (most of their keypoints in its box);
* AP near: AP of the original subset's large-people rows alone (basketball1/2, messi5:
  people 250-400 px tall), which must not drop when far people are sought;
* far: AP and people found on the ``far`` subset;
* video (rows with a frame budget): the same, each image scored as the last frame of a camera
  after the :data:`LEAD_IN` frames before it (``devset.lead_in``: the video's previous frames,
  a still image repeated), which is what the lookout (``scan_scale``) needs to work;
* ms: ``estimator.infer`` wall time per image after a warm-up pass: two timing rounds
  interleaved over the configurations, the faster round per image (drops most of what
  other processes on a shared machine add), median over the images.

Parser-only settings (``min_person_score``, ``min_score_many_parts``,
``min_keypoint_score``) re-decode the maps captured in the defaults run (``sweep``), so a
sweep costs no network time; each row changes one field from the defaults
(``min_score_many_parts = 0.3`` is the parser before that field existed).

Run: ``python bench/bench_accuracy.py [--quick]`` (after ``source tools/env.sh``).
``run()`` returns the rows for ``bench/run_all.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

_HERE = Path(__file__).resolve().parent
for _p in (str(_HERE.parent / "pose_ros"), str(_HERE / "devset")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import devset  # noqa: E402
from pose_ros.core.paf import DecodeParams, decode_output  # noqa: E402
from pose_ros.core.skeletons import COCO18  # noqa: E402
from pose_ros.estimators import load_estimator, openpose_dnn  # noqa: E402
from pose_ros.formats.coco_format import coco_results, oks  # noqa: E402

#: (left, right) COCO-17 index pairs.
LEFT_RIGHT = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))
PCK_ALPHA = 0.2

#: The defaults before issue 21: one f32 pass at 432x368, no zoom, no budget, no lookout. The
#: rows below that name no precision or zoom are variations of these, comparable with older runs.
OLD_DEFAULTS = {"precision": "f32", "zoom": False, "frame_budget_ms": 0, "scan_scale": 0}
SINGLE_PASS = "single pass 432x368 f32 (old defaults)"

#: (name, estimator options) of the configurations measured by default.
CONFIGS: Tuple[Tuple[str, dict], ...] = (
    ("defaults (zoom, 50 ms budget, precision auto)", {}),
    (SINGLE_PASS, OLD_DEFAULTS),
    ("input 320x240", {**OLD_DEFAULTS, "input_width": 320, "input_height": 240}),
    ("input 656x368", {**OLD_DEFAULTS, "input_width": 656, "input_height": 368}),
    ("input 656x496", {**OLD_DEFAULTS, "input_width": 656, "input_height": 496}),
    ("input 864x736", {**OLD_DEFAULTS, "input_width": 864, "input_height": 736}),
    ("flip", {**OLD_DEFAULTS, "flip": True}),
    ("scales 1.0, 1.5", {**OLD_DEFAULTS, "scales": [1.0, 1.5]}),
    ("scales 1.0, 2.0", {**OLD_DEFAULTS, "scales": [1.0, 2.0]}),
    ("scales 1.0, 1.5 + flip", {**OLD_DEFAULTS, "scales": [1.0, 1.5], "flip": True}),
    ("zoom f32, no budget", {**OLD_DEFAULTS, "zoom": True}),
    ("zoom bf16, no budget", {**OLD_DEFAULTS, "zoom": True, "precision": "bf16"}),
    ("single pass bf16", {**OLD_DEFAULTS, "precision": "bf16"}),
    ("defaults without the lookout (scan_scale 0)", {"scan_scale": 0}),
)
QUICK_CONFIGS = (CONFIGS[0][0], SINGLE_PASS, "input 656x496", "zoom f32, no budget",
                 "defaults without the lookout (scan_scale 0)")
#: Frames run through the estimator, as one camera, before each labelled image is scored in
#: the "video" columns (at 20 fps out, a second of camera): what the lookout has seen by then.
LEAD_IN = 20
#: Images of the large-people rows (everything in the original subset but vtest frames).
NEAR_PREFIXES = ("basketball", "messi")


# --------------------------------------------------------------------------- data

def load_devset(subset: str = "original") -> Tuple[dict, Dict[int, np.ndarray]]:
    """(COCO ground truth dict, image id -> BGR image) of a dev-set subset (``original``,
    ``far`` or ``all``), images grouped by size (so cv2.dnn re-plans once per size)."""
    gt = devset.load_coco(subset)
    decoded = devset.load_images([i["file_name"] for i in gt["images"]])
    images = {i["id"]: decoded[i["file_name"]] for i in gt["images"]}
    order = sorted(images, key=lambda i: (images[i].shape, i))
    return gt, {i: images[i] for i in order}


# --------------------------------------------------------------------------- metrics

def coco_ap(gt: dict, results: List[dict]) -> Dict[str, float]:
    """pycocotools' keypoint AP, AP50 and AR (all areas, 20 detections per image)."""
    if not results:
        return {"AP": 0.0, "AP50": 0.0, "AR": 0.0}
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = json.loads(json.dumps(gt))
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(json.loads(json.dumps(results))), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"AP": float(ev.stats[0]), "AP50": float(ev.stats[1]), "AR": float(ev.stats[5])}


def _torso(gt: np.ndarray, box: Sequence[float]) -> float:
    for a, b in ((5, 12), (6, 11)):
        if gt[a, 2] > 0 and gt[b, 2] > 0:
            return float(np.hypot(*(gt[a, :2] - gt[b, :2])))
    return 0.3 * float(box[3])


def _in_ignore(dt: np.ndarray, boxes: List[Sequence[float]]) -> bool:
    pts = dt[dt[:, 2] > 0, :2]
    for x, y, w, h in boxes:
        inside = (pts[:, 0] >= x) & (pts[:, 0] <= x + w) & (pts[:, 1] >= y) & (pts[:, 1] <= y + h)
        if len(pts) and inside.mean() > 0.5:
            return True
    return False


def match_metrics(gt: dict, results: List[dict]) -> Dict[str, float]:
    """PCK@0.2 torso, people found, left/right swaps and false positives (see module doc)."""
    by_image: Dict[int, List[dict]] = {}
    for r in results:
        by_image.setdefault(r["image_id"], []).append(r)
    labelled = correct = found = people = swaps = pairs = fp = 0
    for img in gt["images"]:
        anns = [a for a in gt["annotations"] if a["image_id"] == img["id"]]
        persons = [a for a in anns if not a["iscrowd"]]
        ignore = [a["bbox"] for a in anns if a["iscrowd"]]
        g = [np.array(a["keypoints"], float).reshape(17, 3) for a in persons]
        dets = sorted(by_image.get(img["id"], []), key=lambda r: -r["score"])
        d = [np.array(r["keypoints"], float).reshape(17, 3) for r in dets]
        sim = np.array([[oks(di, gj, a["area"]) for gj, a in zip(g, persons)] for di in d]).reshape(len(d), len(g))
        # one-to-one, greedy by OKS
        pairs_found: Dict[int, int] = {}
        order = np.dstack(np.unravel_index(np.argsort(-sim, axis=None), sim.shape))[0] if sim.size else []
        used_d, used_g = set(), set()
        for i, j in order:
            if sim[i, j] < 0.1:
                break
            if i in used_d or j in used_g:
                continue
            used_d.add(i)
            used_g.add(j)
            pairs_found[j] = i
        people += len(g)
        # at OKS >= 0.5, COCO-style: detections by score, each to its best free label
        taken = set()
        for i in range(len(d)):
            best = max((j for j in range(len(g)) if j not in taken and sim[i, j] >= 0.5),
                       key=lambda j: sim[i, j], default=None)
            if best is None:
                fp += not _in_ignore(d[i], ignore)
            else:
                taken.add(best)
        found += len(taken)
        for j, (gj, a) in enumerate(zip(g, persons)):
            lab = gj[:, 2] > 0
            labelled += int(lab.sum())
            if j not in pairs_found:
                continue
            di = d[pairs_found[j]]
            thr = PCK_ALPHA * _torso(gj, a["bbox"])
            dist = np.hypot(*(di[:, :2] - gj[:, :2]).T)
            ok = lab & (di[:, 2] > 0) & (dist <= thr)
            correct += int(ok.sum())
            for left, right in LEFT_RIGHT:
                if not (gj[left, 2] > 0 and gj[right, 2] > 0 and di[left, 2] > 0 and di[right, 2] > 0):
                    continue
                pairs += 1
                crossed = (np.hypot(*(di[left, :2] - gj[right, :2])) <= thr
                           and np.hypot(*(di[right, :2] - gj[left, :2])) <= thr)
                swaps += bool(crossed and not (ok[left] and ok[right]))
    return {"PCK": correct / max(labelled, 1), "found": found, "people": people,
            "swaps": swaps, "pairs": pairs, "FP": fp}


def score(gt: dict, results: List[dict]) -> Dict[str, float]:
    return {**coco_ap(gt, results), **match_metrics(gt, results)}


def subset_gt(gt: dict, image_ids) -> dict:
    """The ground truth restricted to some images."""
    ids = set(image_ids)
    return dict(gt, images=[i for i in gt["images"] if i["id"] in ids],
                annotations=[a for a in gt["annotations"] if a["image_id"] in ids])


def near_ids(gt: dict) -> List[int]:
    """Ids of the large-people images (basketball1/2, messi5)."""
    return [i["id"] for i in gt["images"] if i["file_name"].startswith(NEAR_PREFIXES)]


def near_ap(gt: dict, results: List[dict]) -> float:
    """AP over the large-people rows alone."""
    ids = set(near_ids(gt))
    return coco_ap(subset_gt(gt, ids), [r for r in results if r["image_id"] in ids])["AP"]


# --------------------------------------------------------------------------- running

class _Capture:
    """Records the network output and letterbox of each ``infer`` (for re-decoding)."""

    def __init__(self) -> None:
        self.maps: list = []

    def __enter__(self):
        self._orig = openpose_dnn.decode_output

        def spy(out, skeleton, params, transform):
            self.maps.append((np.array(out, copy=True), transform))
            return self._orig(out, skeleton, params, transform)
        openpose_dnn.decode_output = spy
        return self

    def __exit__(self, *exc) -> None:
        openpose_dnn.decode_output = self._orig


def detect(est, images: Dict[int, np.ndarray]) -> List[dict]:
    """COCO results of ``est`` on every image."""
    results: List[dict] = []
    for image_id, image in images.items():
        results.extend(coco_results(est.infer(image).persons, est.skeleton, image_id))
    return results


def detect_video(est, gt: dict, images: Dict[int, np.ndarray], lead_in: int = LEAD_IN) -> List[dict]:
    """COCO results of ``est`` on every image as the last frame of a camera: the ``lead_in``
    frames before it (``devset.lead_in``) run first, as one stream per image."""
    names = {i["id"]: i["file_name"] for i in gt["images"]}
    frames = devset.lead_in([names[i] for i in images], lead_in)
    results: List[dict] = []
    for image_id, image in images.items():
        stream = f"{names[image_id]} ({lead_in} frames)"
        for frame in frames[names[image_id]]:
            est.infer(frame, stream=stream)
        results.extend(coco_results(est.infer(image, stream=stream).persons, est.skeleton, image_id))
    return results


def evaluate_video(est, gt: dict, images: Dict[int, np.ndarray], far: Tuple[dict, Dict[int, np.ndarray]]) -> dict:
    """The video columns of a row: AP and people found on both subsets after :data:`LEAD_IN`
    frames of each image's camera."""
    original, far_scores = score(gt, detect_video(est, gt, images)), score(far[0], detect_video(est, *far))
    return {"AP_video": original["AP"], "found_video": original["found"], "AP_far_video": far_scores["AP"],
            "found_far_video": far_scores["found"]}


def evaluate_config(name: str, est, gt: dict, images: Dict[int, np.ndarray], capture: bool = False,
                    far: Optional[Tuple[dict, Dict[int, np.ndarray]]] = None) -> dict:
    """One pass of estimator ``est`` over the dev set: the metrics (and optionally the maps);
    with ``far`` (ground truth, images) also the far subset's AP50/AP and people found."""
    with (_Capture() if capture else contextlib.nullcontext()) as cap:
        results = detect(est, images)
    row = {"name": name, **score(gt, results), "AP_near": near_ap(gt, results), "describe": est.describe()}
    if capture:
        row["maps"] = list(zip(images, cap.maps))
    if far is not None:
        far_scores = score(far[0], detect(est, far[1]))
        row.update(AP_far=far_scores["AP"], AP50_far=far_scores["AP50"], found_far=far_scores["found"],
                   people_far=far_scores["people"])
        if getattr(est, "accepts_stream", False) and row["describe"].get("frame_budget_ms", 0) > 0:
            row.update(evaluate_video(est, gt, images, far))
    return row


def time_configs(estimators: Dict[str, object], images: Dict[int, np.ndarray], rounds: int) -> Dict[str, float]:
    """ms per image of each estimator: rounds interleaved over the configurations (so load from
    other processes spreads over all of them), the fastest round per image, median over images."""
    best: Dict[str, Dict[int, float]] = {name: {} for name in estimators}
    for _ in range(rounds):
        for name, est in estimators.items():
            for image_id, image in images.items():
                t0 = time.perf_counter()
                est.infer(image)
                ms = (time.perf_counter() - t0) * 1e3
                best[name][image_id] = min(ms, best[name].get(image_id, ms))
    return {name: float(np.median(list(t.values()))) for name, t in best.items()}


def sweep(gt: dict, maps: List[tuple], **fields: Sequence[float]) -> List[dict]:
    """Re-decode captured maps with each value of each DecodeParams field (others default)."""
    rows = []
    for field, values in fields.items():
        for v in values:
            params = replace(DecodeParams(), **{field: v})
            results: List[dict] = []
            t0 = time.perf_counter()
            for image_id, (out, transform) in maps:
                results.extend(coco_results(decode_output(out, COCO18, params, transform), COCO18, image_id))
            ms = (time.perf_counter() - t0) * 1e3 / max(len(maps), 1)
            rows.append({"name": f"{field} = {v:g}", "field": field, "value": v, "parse_ms": ms,
                         **score(gt, results)})
    return rows


def run(quick: bool = False, configs: Optional[Sequence[str]] = None) -> Tuple[List[dict], List[dict]]:
    """(configuration rows, parser sweep rows)."""
    gt, images = load_devset()
    far = load_devset("far")
    chosen = configs or (QUICK_CONFIGS if quick else [c[0] for c in CONFIGS])
    estimators = {name: load_estimator("openpose_dnn", **options) for name, options in CONFIGS if name in chosen}
    rows = []
    for name, est in estimators.items():     # also warms cv2.dnn up for every input shape
        rows.append(evaluate_config(name, est, gt, images, capture=name == SINGLE_PASS, far=far))
        print(f"   accuracy: {describe(rows[-1])}", file=sys.stderr, flush=True)
    ms = time_configs(estimators, images, rounds=1 if quick else 2)
    for row in rows:
        row["ms"] = ms[row["name"]]
    sweep_rows = []
    captured = next((r for r in rows if "maps" in r), None)
    if captured is not None:
        sweep_rows = sweep(gt, captured.pop("maps"),
                           min_person_score=(0.1, 0.2, 0.25, 0.3, 0.35, 0.4),
                           min_score_many_parts=(0.1, 0.15, 0.2, 0.25, 0.3),
                           min_keypoint_score=(0.0, 0.1, 0.2, 0.3))
    return rows, sweep_rows


def describe(r: dict) -> str:
    return (f"{r['name']}: AP {r['AP']:.3f}, AP50 {r['AP50']:.3f}, AR {r['AR']:.3f}, PCK@0.2 {r['PCK']:.3f}, "
            f"found {r['found']}/{r['people']}, swaps {r['swaps']}/{r['pairs']}, FP {r['FP']}"
            + (f", AP near {r['AP_near']:.3f}" if "AP_near" in r else "")
            + (f", far AP {r['AP_far']:.3f} found {r['found_far']}/{r['people_far']}" if "AP_far" in r else "")
            + (f"; video: AP {r['AP_video']:.3f} found {r['found_video']}, far AP {r['AP_far_video']:.3f} "
               f"found {r['found_far_video']}" if "AP_video" in r else "")
            + (f", {r['ms']:.0f} ms/image" if "ms" in r else "")
            + (f", parse {r['parse_ms']:.2f} ms/image" if "parse_ms" in r else ""))


def table(rows: List[dict], sweep_rows: List[dict]) -> str:
    head = ("| Setting | AP | AP50 | AR | PCK@0.2 | found | L/R swaps | FP | AP near | far AP | far found "
            "| video AP / found | video far AP / found | ms/image |")
    lines = [head, "|" + "---|" * 14]
    for r in rows:
        far = (f"{r['AP_far']:.3f} | {r['found_far']}/{r['people_far']}" if "AP_far" in r else "n/a | n/a")
        lines.append(f"| {r['name']} | {r['AP']:.3f} | {r['AP50']:.3f} | {r['AR']:.3f} | {r['PCK']:.3f} | "
                     f"{r['found']}/{r['people']} | {r['swaps']}/{r['pairs']} | {r['FP']} | "
                     f"{r.get('AP_near', float('nan')):.3f} | {far} | {video_cells(r)} | {r['ms']:.0f} |")
    for r in sweep_rows:
        lines.append(f"| single pass, {r['name']} | {r['AP']:.3f} | {r['AP50']:.3f} | {r['AR']:.3f} | "
                     f"{r['PCK']:.3f} | {r['found']}/{r['people']} | {r['swaps']}/{r['pairs']} | {r['FP']} | "
                     f"n/a | n/a | n/a | n/a | n/a | parse {r['parse_ms']:.1f} |")
    return "\n".join(lines)


def video_cells(r: dict) -> str:
    """The two video cells of a row ("same" where the estimator keeps nothing across frames)."""
    if "AP_video" not in r:
        return "n/a | n/a"
    return (f"{r['AP_video']:.3f} / {r['found_video']}/{r['people']} | "
            f"{r['AP_far_video']:.3f} / {r['found_far_video']}/{r.get('people_far', '?')}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_CONFIGS)}; one pass each")
    ap.add_argument("--config", action="append", choices=[c[0] for c in CONFIGS], help="run only these")
    args = ap.parse_args()
    rows, sweep_rows = run(args.quick, args.config)
    print(table(rows, sweep_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
