"""Keypoints as JSON: the one record format written by ``pose_ros_infer`` and ``pose_recorder``.

Both tools call :func:`frame_record`, so a file written offline by the CLI and one
recorded from the ROS topics read the same way. One record describes one frame::

    {"schema": 1, "frame": 0, "stamp": 12.5, "image": {"width": 768, "height": 576},
     "skeleton": "coco18",
     "people": [{"id": "1", "score": 0.83, "bbox": [x, y, w, h],
                 "keypoints": [{"name": "Nose", "x": 301.5, "y": 88.25, "score": 0.91}, ...]}]}

An optional ``"source"`` string names the file a frame came from (folders of images).
Keypoints are dense, in skeleton order, like :class:`~pose_ros.core.persons.Person`: a part
that was not found has score 0 and x = y = 0. Coordinates are source-image pixels.
Videos and folders are written as JSON Lines (one record per line) so a partial file
from an interrupted run is still readable line by line.

ROS-free on purpose (numpy + the standard library only).
"""

from __future__ import annotations

import json
import math
from numbers import Real
from typing import Any, Iterable, List, Optional, Sequence

from pose_ros.core.persons import Person, PoseResult
from pose_ros.core.skeletons import Skeleton, get_skeleton

SCHEMA_VERSION = 1

# Rounding keeps files small without losing anything a 2D pose model can resolve.
_XY_DECIMALS = 2
_SCORE_DECIMALS = 4

_RECORD_KEYS = ("schema", "frame", "stamp", "image", "skeleton", "people")
# Present only when known: the file a frame came from (folders of images).
_OPTIONAL_RECORD_KEYS = ("source",)
_PERSON_KEYS = ("id", "score", "bbox", "keypoints")
_KEYPOINT_KEYS = ("name", "x", "y", "score")


class SchemaError(ValueError):
    """A record does not follow the keypoints JSON format; the message names the field."""


def _person_record(person: Person, names: Sequence[str], index: int) -> dict:
    kp = person.keypoints
    if len(kp) != len(names):
        raise ValueError(f"person {index} has {len(kp)} keypoints, the skeleton has {len(names)}")
    return {
        "id": person.track_id or str(index),
        "score": round(float(person.score), _SCORE_DECIMALS),
        "bbox": [round(float(v), _XY_DECIMALS) for v in person.bbox],
        "keypoints": [
            {"name": name, "x": round(x, _XY_DECIMALS), "y": round(y, _XY_DECIMALS),
             "score": round(s, _SCORE_DECIMALS)}
            for name, (x, y, s) in zip(names, kp.astype(float).tolist())
        ],
    }


def frame_record(persons: Iterable[Person], skeleton: Skeleton, image_width: int, image_height: int,
                 stamp: Optional[float] = None, frame: Optional[int] = None,
                 source: Optional[str] = None) -> dict:
    """A JSON-able dict for the persons found in one frame.

    ``stamp`` is seconds (ROS header time, or video position), ``frame`` the index of
    the frame in its input; either may be None when unknown. ``source`` (e.g. the image
    file name) is added only when given. A person without a ``track_id`` gets its index
    in the list as id, so every id is a non-empty string.
    """
    names = list(skeleton.keypoint_names)
    record = {
        "schema": SCHEMA_VERSION,
        "frame": None if frame is None else int(frame),
        "stamp": None if stamp is None else float(stamp),
        "image": {"width": int(image_width), "height": int(image_height)},
        "skeleton": skeleton.name,
        "people": [_person_record(p, names, i) for i, p in enumerate(persons)],
    }
    if source is not None:
        record["source"] = str(source)
    return record


def result_record(result: PoseResult, skeleton: Optional[Skeleton] = None,
                  stamp: Optional[float] = None, frame: Optional[int] = None,
                  source: Optional[str] = None) -> dict:
    """:func:`frame_record` of an estimator's :class:`PoseResult` (skeleton looked up by name if not given)."""
    skeleton = skeleton or get_skeleton(result.skeleton)
    return frame_record(result.persons, skeleton, result.image_width, result.image_height,
                        stamp=stamp, frame=frame, source=source)


def dumps_line(record: dict) -> str:
    """One compact JSON line (no trailing newline); NaN/inf are refused rather than written."""
    return json.dumps(record, separators=(",", ":"), allow_nan=False)


# --------------------------------------------------------------------------- validation


def _fail(where: str, what: str) -> None:
    raise SchemaError(f"{where}: {what}")


def _check_number(value: Any, where: str, minimum: Optional[float] = None) -> None:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        _fail(where, f"expected a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        _fail(where, f"must be >= {minimum}, got {value!r}")


def _check_keys(obj: Any, keys: Sequence[str], where: str, optional: Sequence[str] = ()) -> None:
    if not isinstance(obj, dict):
        _fail(where, f"expected an object, got {type(obj).__name__}")
    missing = [k for k in keys if k not in obj]
    extra = [k for k in obj if k not in keys and k not in optional]
    if missing:
        _fail(where, f"missing {', '.join(missing)}")
    if extra:
        _fail(where, f"unexpected {', '.join(extra)}")


def _check_person(person: Any, where: str, names: Optional[List[str]]) -> List[str]:
    _check_keys(person, _PERSON_KEYS, where)
    if not isinstance(person["id"], str) or not person["id"]:
        _fail(f"{where}.id", f"expected a non-empty string, got {person['id']!r}")
    _check_number(person["score"], f"{where}.score", 0.0)
    bbox = person["bbox"]
    if not isinstance(bbox, list) or len(bbox) != 4:
        _fail(f"{where}.bbox", f"expected [x, y, w, h], got {bbox!r}")
    for i, v in enumerate(bbox):
        _check_number(v, f"{where}.bbox[{i}]", 0.0 if i >= 2 else None)
    kps = person["keypoints"]
    if not isinstance(kps, list) or not kps:
        _fail(f"{where}.keypoints", "expected a non-empty list")
    got_names = []
    for j, kp in enumerate(kps):
        kw = f"{where}.keypoints[{j}]"
        _check_keys(kp, _KEYPOINT_KEYS, kw)
        if not isinstance(kp["name"], str) or not kp["name"]:
            _fail(f"{kw}.name", f"expected a non-empty string, got {kp['name']!r}")
        _check_number(kp["x"], f"{kw}.x")
        _check_number(kp["y"], f"{kw}.y")
        _check_number(kp["score"], f"{kw}.score", 0.0)
        got_names.append(kp["name"])
    if names is not None and got_names != names:
        _fail(f"{where}.keypoints", f"names {got_names} differ from {names}")
    return got_names


def validate_record(record: Any, skeleton: Optional[Skeleton] = None) -> None:
    """Raise :class:`SchemaError` naming the first field that breaks the format.

    Checks types, finiteness, non-negative scores and box sizes, and that every person
    lists the same keypoint names in the same order (those of ``skeleton`` when given,
    else of the record's skeleton when it is a built-in one).
    """
    _check_keys(record, _RECORD_KEYS, "record", _OPTIONAL_RECORD_KEYS)
    if "source" in record and not isinstance(record["source"], str):
        _fail("record.source", f"expected a string, got {record['source']!r}")
    if record["schema"] != SCHEMA_VERSION:
        _fail("record.schema", f"expected {SCHEMA_VERSION}, got {record['schema']!r}")
    frame = record["frame"]
    if frame is not None and (isinstance(frame, bool) or not isinstance(frame, int) or frame < 0):
        _fail("record.frame", f"expected null or an integer >= 0, got {frame!r}")
    if record["stamp"] is not None:
        _check_number(record["stamp"], "record.stamp")
    _check_keys(record["image"], ("width", "height"), "record.image")
    for key in ("width", "height"):
        value = record["image"][key]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            _fail(f"record.image.{key}", f"expected a positive integer, got {value!r}")
    if not isinstance(record["skeleton"], str) or not record["skeleton"]:
        _fail("record.skeleton", f"expected a non-empty string, got {record['skeleton']!r}")
    if skeleton is not None and skeleton.name != record["skeleton"]:
        _fail("record.skeleton", f"expected {skeleton.name!r}, got {record['skeleton']!r}")
    names: Optional[List[str]] = list(skeleton.keypoint_names) if skeleton else None
    if names is None:
        try:
            names = list(get_skeleton(record["skeleton"]).keypoint_names)
        except ValueError:
            names = None   # a plugin's skeleton: persons must still agree with each other
    if not isinstance(record["people"], list):
        _fail("record.people", f"expected a list, got {type(record['people']).__name__}")
    for i, person in enumerate(record["people"]):
        names = _check_person(person, f"record.people[{i}]", names)


def read_jsonl(path: str) -> List[dict]:
    """All records of a JSON Lines file (blank lines skipped), each validated."""
    records = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise SchemaError(f"{path}:{n}: not JSON: {e}") from None
            try:
                validate_record(record)
            except SchemaError as e:
                raise SchemaError(f"{path}:{n}: {e}") from None
            records.append(record)
    return records
