"""The keypoints JSON record: content, JSON round trip and the validator."""

import copy
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pose_ros.core.persons import Person, PoseResult
from pose_ros.core.skeletons import BODY25, COCO18, MPI15, Skeleton
from pose_ros.formats.keypoints_json import (
    SCHEMA_VERSION,
    SchemaError,
    dumps_line,
    frame_record,
    read_jsonl,
    result_record,
    validate_record,
)


def _person(skeleton, seed, found=None, track_id=""):
    rng = np.random.default_rng(seed)
    k = skeleton.num_keypoints
    kp = np.zeros((k, 3), np.float32)
    found = np.arange(k) if found is None else np.asarray(found)
    kp[found, 0] = rng.uniform(0, 640, len(found))
    kp[found, 1] = rng.uniform(0, 480, len(found))
    kp[found, 2] = rng.uniform(0.1, 1.0, len(found))
    return Person(keypoints=kp, score=float(rng.uniform(0.2, 1)), track_id=track_id)


def test_record_carries_every_field_of_the_persons():
    a = _person(COCO18, 1, found=[0, 1, 2, 5], track_id="7")
    b = _person(COCO18, 2)
    rec = frame_record([a, b], COCO18, 640, 480, stamp=12.25, frame=3)
    assert rec["schema"] == SCHEMA_VERSION
    assert (rec["frame"], rec["stamp"], rec["skeleton"]) == (3, 12.25, "coco18")
    assert rec["image"] == {"width": 640, "height": 480}
    assert [p["id"] for p in rec["people"]] == ["7", "1"]   # untracked -> index in the list
    first = rec["people"][0]
    assert [k["name"] for k in first["keypoints"]] == list(COCO18.keypoint_names)
    got = np.array([[k["x"], k["y"], k["score"]] for k in first["keypoints"]])
    np.testing.assert_allclose(got[:, :2], a.keypoints[:, :2], atol=0.005)
    np.testing.assert_allclose(got[:, 2], a.keypoints[:, 2], atol=5e-5)
    # Undetected parts stay in place with score 0, so index i is always keypoint i.
    assert got[3].tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(first["bbox"], a.bbox, atol=0.005)
    assert first["score"] == pytest.approx(a.score, abs=5e-5)
    validate_record(rec, COCO18)


def test_result_record_looks_the_skeleton_up_and_handles_no_people():
    res = PoseResult(persons=[], skeleton="body25", image_width=32, image_height=24)
    rec = result_record(res, frame=0)
    assert rec["people"] == [] and rec["skeleton"] == "body25" and rec["stamp"] is None
    validate_record(rec, BODY25)
    res = PoseResult(persons=[_person(MPI15, 3)], skeleton="mpi15", image_width=640, image_height=480)
    validate_record(result_record(res), MPI15)


def test_source_is_optional_and_must_be_a_string():
    rec = frame_record([], COCO18, 8, 8, source="a/b.png")
    assert rec["source"] == "a/b.png"
    validate_record(rec)
    assert "source" not in frame_record([], COCO18, 8, 8)
    rec["source"] = 3
    with pytest.raises(SchemaError, match="record.source"):
        validate_record(rec)


def test_keypoint_count_must_match_the_skeleton():
    with pytest.raises(ValueError, match="18 keypoints, the skeleton has 25"):
        frame_record([_person(COCO18, 1)], BODY25, 640, 480)


def test_nan_is_refused_when_writing():
    p = _person(COCO18, 1)
    p.keypoints[0, 0] = np.nan
    with pytest.raises(ValueError):
        dumps_line(frame_record([p], COCO18, 640, 480))


def _valid():
    return json.loads(dumps_line(frame_record([_person(COCO18, 4), _person(COCO18, 5)], COCO18, 640, 480,
                                              stamp=1.5, frame=2)))


@pytest.mark.parametrize("path, value, message", [
    (("schema",), 2, "record.schema"),
    (("frame",), -1, "record.frame"),
    (("frame",), 1.5, "record.frame"),
    (("stamp",), "now", "record.stamp"),
    (("image", "width"), 0, "record.image.width"),
    (("skeleton",), "", "record.skeleton"),
    (("people",), {}, "record.people"),
    (("people", 1, "id"), 3, r"record.people\[1\].id"),
    (("people", 0, "score"), -0.1, r"record.people\[0\].score"),
    (("people", 0, "bbox"), [1, 2, 3], r"record.people\[0\].bbox"),
    (("people", 0, "bbox", 2), -4.0, r"record.people\[0\].bbox\[2\]"),
    (("people", 0, "keypoints", 3, "x"), None, r"record.people\[0\].keypoints\[3\].x"),
    (("people", 0, "keypoints", 3, "score"), True, r"record.people\[0\].keypoints\[3\].score"),
    (("people", 1, "keypoints", 0, "name"), "Head", r"record.people\[1\].keypoints"),
])
def test_validator_names_the_broken_field(path, value, message):
    rec = _valid()
    node = rec
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(SchemaError, match=message):
        validate_record(rec)


def test_validator_rejects_missing_extra_and_truncated():
    rec = _valid()
    del rec["people"][0]["keypoints"][0]["y"]
    with pytest.raises(SchemaError, match="missing y"):
        validate_record(rec)
    rec = _valid()
    rec["people"][0]["extra"] = 1
    with pytest.raises(SchemaError, match="unexpected extra"):
        validate_record(rec)
    rec = _valid()
    rec["people"][1]["keypoints"].pop()
    with pytest.raises(SchemaError, match="differ"):
        validate_record(rec)
    with pytest.raises(SchemaError, match="expected 'body25'"):
        validate_record(_valid(), BODY25)


def test_plugin_skeleton_needs_only_consistent_names():
    tiny = Skeleton(name="tiny3", keypoint_names=("a", "b", "c"), limbs=((0, 1), (1, 2)),
                    paf_channels=((0, 1), (2, 3)))
    rec = json.loads(dumps_line(frame_record([_person(tiny, 1), _person(tiny, 2)], tiny, 10, 10)))
    validate_record(rec)
    rec["people"][1]["keypoints"][2]["name"] = "d"
    with pytest.raises(SchemaError, match="differ"):
        validate_record(rec)


def test_read_jsonl_validates_and_reports_the_line(tmp_path):
    path = tmp_path / "k.jsonl"
    good = dumps_line(frame_record([_person(COCO18, 9)], COCO18, 640, 480, frame=0))
    bad = copy.deepcopy(json.loads(good))
    bad["image"]["height"] = -1
    path.write_text(good + "\n\n" + good + "\n")
    assert len(read_jsonl(str(path))) == 2
    path.write_text(good + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(SchemaError, match=r"k.jsonl:2: record.image.height"):
        read_jsonl(str(path))
    path.write_text(good + "\n{not json\n")
    with pytest.raises(SchemaError, match="k.jsonl:2: not JSON"):
        read_jsonl(str(path))


_coord = st.floats(-1e4, 1e4, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.lists(st.tuples(_coord, _coord, st.floats(0, 1, width=32)),
                                   min_size=18, max_size=18),
                          st.floats(0, 50, width=32), st.sampled_from(["", "3", "abc"])),
                max_size=4),
       st.integers(1, 4000), st.integers(1, 4000))
def test_any_persons_round_trip_through_json(people, w, h):
    persons = [Person(keypoints=np.array(kp, np.float32), score=s, track_id=t) for kp, s, t in people]
    rec = frame_record(persons, COCO18, w, h, stamp=0.0, frame=0)
    back = json.loads(dumps_line(rec))
    assert back == rec
    validate_record(back, COCO18)
    assert len(back["people"]) == len(persons)
