"""PersonTracker on synthetic people walking through a scene."""

import numpy as np
import pytest
from pose_ros.core.persons import Person
from pose_ros.core.skeletons import COCO18, MPI15
from pose_ros.core.tracking import PersonTracker, box_iou, greedy_match, match_cost

# A COCO-18 stick figure in units of its height, origin at the top centre.
_TEMPLATE = {
    "Nose": (0.0, 0.06), "Neck": (0.0, 0.16), "RShoulder": (-0.12, 0.16), "RElbow": (-0.15, 0.32),
    "RWrist": (-0.16, 0.46), "LShoulder": (0.12, 0.16), "LElbow": (0.15, 0.32),
    "LWrist": (0.16, 0.46),
    "RHip": (-0.07, 0.52), "RKnee": (-0.07, 0.74), "RAnkle": (-0.07, 0.97), "LHip": (0.07, 0.52),
    "LKnee": (0.07, 0.74), "LAnkle": (0.07, 0.97), "REye": (-0.03, 0.04), "LEye": (0.03, 0.04),
    "REar": (-0.06, 0.05), "LEar": (0.06, 0.05),
}
_SHAPE = np.array([_TEMPLATE[n] for n in COCO18.keypoint_names], np.float32)


def person(x: float, y: float, height: float = 200.0, rng=None, drop: float = 0.0) -> Person:
    """A standing person whose head top is at (x, y); jitter and random missed parts optional."""
    kp = np.zeros((COCO18.num_keypoints, 3), np.float32)
    kp[:, :2] = _SHAPE * height + (x, y)
    kp[:, 2] = 0.8
    if rng is not None:
        kp[:, :2] += rng.normal(0, 2.0, size=(len(kp), 2))
        kp[rng.random(len(kp)) < drop, 2] = 0
        kp[kp[:, 2] == 0, :2] = 0
    return Person(kp, 0.8)


def test_returns_the_same_list_with_ids_set():
    tracker = PersonTracker()
    frame = [person(100, 50), person(400, 50)]
    out = tracker.update(frame)
    assert out is frame
    assert [p.track_id for p in frame] == ["1", "2"]
    assert tracker.update([]) == []


def test_ids_stable_under_small_motion_jitter_and_missing_parts():
    rng = np.random.default_rng(0)
    tracker = PersonTracker()
    starts = [(80, 40), (300, 60), (520, 30)]
    first = None
    for f in range(30):
        frame = [person(x + 3 * f, y + np.sin(f / 3) * 4, rng=rng, drop=0.2) for x, y in starts]
        order = rng.permutation(len(frame))  # detection order must not matter
        shuffled = [frame[i] for i in order]
        tracker.update(shuffled)
        ids = [p.track_id for p in frame]
        if first is None:
            first = ids
        assert ids == first, f"frame {f}"
    assert sorted(first) == ["1", "2", "3"]
    assert tracker.num_tracks == 3


@pytest.mark.parametrize("dy", [70, 10])
def test_crossing_people_do_not_swap(dy):
    # A walks right, B (shorter) walks left dy px lower; their boxes overlap mid-way.
    # At dy = 10 the poses nearly coincide while crossing: only the motion tells them apart.
    rng = np.random.default_rng(1)
    tracker = PersonTracker()
    ids_a, ids_b = set(), set()
    overlapped = False
    for f in range(40):
        a = person(60 + 12 * f, 100, rng=rng)
        b = person(540 - 12 * f, 100 + dy, height=180, rng=rng)
        overlapped |= bool(box_iou(np.array([a.bbox]), np.array([b.bbox]))[0, 0] > 0.3)
        tracker.update([b, a] if f % 2 else [a, b])
        ids_a.add(a.track_id)
        ids_b.add(b.track_id)
    assert overlapped  # the scenario really makes them cross
    assert ids_a == {"1"} and ids_b == {"2"}


def test_person_leaving_and_new_one_entering_gets_new_id():
    tracker = PersonTracker(max_age=2)
    for f in range(5):
        tracker.update([person(100 + 2 * f, 50)])
    assert tracker.update([person(110, 50)])[0].track_id == "1"
    # A leaves; C enters on the other side of the image.
    c = tracker.update([person(500, 60)])[0]
    assert c.track_id == "2"
    # After A's track expired, someone standing exactly where A was is a new person.
    tracker.update([person(502, 60)])
    tracker.update([person(504, 60)])
    frame = tracker.update([person(506, 60), person(110, 50)])
    assert [p.track_id for p in frame] == ["2", "3"]


def test_ids_are_never_reused_and_count_up():
    rng = np.random.default_rng(2)
    tracker = PersonTracker(max_age=0)
    seen = []
    for f in range(12):
        # Every frame a different person somewhere far from the previous one.
        frame = tracker.update([person(50 + 250 * (f % 3), 30 + 120 * (f % 2), rng=rng)])
        seen.append(frame[0].track_id)
    assert seen == [str(i) for i in range(1, 13)]


def test_reset_forgets_tracks_but_keeps_counting_unless_asked():
    tracker = PersonTracker()
    tracker.update([person(100, 50), person(400, 50)])
    tracker.reset()
    assert tracker.num_tracks == 0
    assert tracker.update([person(100, 50)])[0].track_id == "3"
    tracker.reset(restart_ids=True)
    assert tracker.update([person(100, 50)])[0].track_id == "1"


@pytest.mark.parametrize("max_age", [0, 1, 3])
def test_expiry_after_max_age_unseen_frames(max_age):
    # Unseen for exactly max_age frames: same id when it comes back.
    tracker = PersonTracker(max_age=max_age)
    tracker.update([person(100, 50)])
    for _ in range(max_age):
        tracker.update([])
    assert tracker.update([person(101, 50)])[0].track_id == "1"
    # Unseen for max_age + 1 frames: the track is gone, the person gets a new id.
    for _ in range(max_age + 1):
        tracker.update([])
    assert tracker.num_tracks == 0
    assert tracker.update([person(102, 50)])[0].track_id == "2"


def test_velocity_bridges_a_short_gap_in_fast_motion():
    # 40 px per frame (a third of the body width); unseen for 2 frames it has moved
    # 120 px, which a static match would reject, but the predicted position matches.
    tracker = PersonTracker(max_age=3)
    for f in range(4):
        tracker.update([person(50 + 40 * f, 50)])
    tracker.update([])  # frames 4 and 5: not detected
    tracker.update([])
    assert tracker.update([person(50 + 40 * 6, 50)])[0].track_id == "1"
    static = PersonTracker(max_age=3)
    static.update([person(170, 50)])
    assert static.update([person(290, 50)])[0].track_id == "2"


def test_two_identical_detections_never_share_an_id():
    tracker = PersonTracker()
    tracker.update([person(100, 50)])
    frame = tracker.update([person(100, 50), person(100, 50)])
    assert sorted(p.track_id for p in frame) == ["1", "2"]


def test_single_keypoint_person_is_tracked():
    def dot(x):
        kp = np.zeros((COCO18.num_keypoints, 3), np.float32)
        kp[0] = (x, 80, 0.9)
        return Person(kp, 0.9)
    tracker = PersonTracker()
    assert [tracker.update([dot(100 + 2 * f)])[0].track_id for f in range(5)] == ["1"] * 5


def test_skeleton_change_starts_new_tracks_and_mixed_counts_are_refused():
    tracker = PersonTracker()
    tracker.update([person(100, 50)])
    mpi = Person(np.concatenate([person(100, 50).keypoints[:MPI15.num_keypoints]]), 0.8)
    assert tracker.update([mpi])[0].track_id == "2"
    with pytest.raises(ValueError, match="same keypoint count"):
        tracker.update([person(100, 50), mpi])


def test_cost_terms():
    a, b = person(100, 50), person(400, 50)
    kps = np.stack([a.keypoints, b.keypoints])
    boxes = np.array([a.bbox, b.bbox])
    cost = match_cost(kps, boxes, kps, boxes, 0.5)
    np.testing.assert_allclose(np.diag(cost), 0.0, atol=1e-9)
    np.testing.assert_allclose(cost[0, 1], 1.0)  # disjoint boxes, far keypoints
    moved = person(110, 50)
    m_kps, m_boxes = moved.keypoints[None], np.array([moved.bbox])
    c_iou = match_cost(kps[:1], boxes[:1], m_kps, m_boxes, 1.0)[0, 0]
    c_kp = match_cost(kps[:1], boxes[:1], m_kps, m_boxes, 0.0)[0, 0]
    iou = box_iou(boxes[:1], np.array([moved.bbox]))[0, 0]
    np.testing.assert_allclose(c_iou, 1 - iou)
    diag = np.hypot(a.bbox[2], a.bbox[3])
    np.testing.assert_allclose(c_kp, 10 / diag, rtol=1e-5)


def test_greedy_match_takes_cheapest_first_and_respects_threshold():
    cost = np.array([[0.1, 0.2], [0.15, 0.9]])
    assert greedy_match(cost, 0.5) == [(0, 0)]  # row 1 only fits col 0, already taken
    assert greedy_match(cost, 1.0) == [(0, 0), (1, 1)]
    assert greedy_match(np.zeros((0, 3)), 0.5) == []


@pytest.mark.parametrize("kwargs", [{"iou_weight": 1.5}, {"max_cost": 0.0}, {"max_age": -1}, {"max_age_s": -0.5}])
def test_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        PersonTracker(**kwargs)


@pytest.mark.parametrize("fps", [3.0, 30.0])
def test_max_age_is_in_seconds_of_stamps_whatever_the_frame_rate(fps):
    tracker = PersonTracker(max_age_s=1.0)
    t = 100.0
    for f in range(int(fps)):  # one second of a walk at 60 px/s
        tracker.update([person(100 + 60 * f / fps, 50)], t)
        t += 1 / fps
    last = t - 1 / fps
    # Unseen for 0.9 s (however many frames that is): the same id.
    while t < last + 0.9:
        tracker.update([], t)
        t += 1 / fps
    assert tracker.update([person(100 + 60 * (t - 100.0), 50)], t)[0].track_id == "1"
    last = t
    # Unseen for more than 1.0 s: the track is gone.
    tracker.update([], last + 0.99)
    assert tracker.num_tracks == 1
    tracker.update([], last + 1.01)
    assert tracker.num_tracks == 0


def test_stamped_velocity_bridges_a_gap_the_same_at_any_rate():
    # 120 px/s; unseen for 1 s it has moved 120 px, which a static match would reject.
    for fps in (4.0, 20.0):
        tracker = PersonTracker(max_age_s=2.0)
        for f in range(int(fps)):
            tracker.update([person(50 + 120 * f / fps, 50)], f / fps)
        t_back = (int(fps) - 1) / fps + 1.0
        assert tracker.update([person(50 + 120 * t_back, 50)], t_back)[0].track_id == "1", fps


def test_stamps_going_back_or_disappearing_restart_tracks_but_not_ids():
    tracker = PersonTracker()
    tracker.update([person(100, 50)], 10.0)
    assert tracker.update([person(101, 50)], 10.1)[0].track_id == "1"
    assert tracker.update([person(102, 50)], 5.0)[0].track_id == "2"  # the bag looped
    assert tracker.update([person(103, 50)])[0].track_id == "3"       # no stamp any more
    assert tracker.update([person(104, 50)])[0].track_id == "3"


def test_repeated_stamp_keeps_the_track_and_its_velocity():
    tracker = PersonTracker()
    for f in range(3):
        tracker.update([person(100 + 10 * f, 50)], f * 0.1)
    assert tracker.update([person(120, 50)], 0.2)[0].track_id == "1"
    assert tracker.update([person(130, 50)], 0.3)[0].track_id == "1"
