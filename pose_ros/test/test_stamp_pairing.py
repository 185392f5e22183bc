"""Pairing colour results with depth frames by stamp: early, late, missing and jittered depth."""

import threading

import pytest
from pose_ros.streams.stamp_pairing import StampPairer

MS = 1_000_000


def test_exact_stamp_already_buffered_pairs_at_once():
    p = StampPairer(tolerance_ns=20 * MS)
    assert p.add_depth(100 * MS, "d100") == []
    out = p.add_result(100 * MS, "r100")
    assert [(o.result, o.depth, o.reason) for o in out] == [("r100", "d100", "")]


def test_nearest_within_tolerance_once_a_later_depth_is_in():
    p = StampPairer(tolerance_ns=20 * MS)
    for t in (0, 33, 66):
        p.add_depth(t * MS, f"d{t}")
    out = p.add_result(40 * MS, "r40")  # 33 is 7 ms away, 66 is 26 ms away
    assert out[0].depth == "d33" and out[0].depth_stamp_ns == 33 * MS


def test_late_depth_completes_a_waiting_result():
    p = StampPairer(tolerance_ns=20 * MS)
    p.add_depth(0, "d0")
    assert p.add_result(100 * MS, "r100") == []    # depth for 100 ms not here yet
    assert p.pending() == 1
    assert p.add_depth(66 * MS, "d66") == []      # still before the result: a nearer one may come
    done = p.add_depth(101 * MS, "d101")
    assert [(d.result, d.depth) for d in done] == [("r100", "d101")]
    assert p.pending() == 0


def test_depth_too_far_in_time_gives_no_pairing_with_the_reason():
    p = StampPairer(tolerance_ns=20 * MS)
    p.add_depth(0, "d0")
    p.add_depth(500 * MS, "d500")
    out = p.add_result(250 * MS, "r250")
    assert out[0].depth is None and "within 20 ms" in out[0].reason and "250 ms away" in out[0].reason


def test_missing_depth_never_holds_more_than_max_pending_results():
    p = StampPairer(tolerance_ns=20 * MS, max_pending=2)
    decided = []
    for i in range(6):
        decided += p.add_result(i * 100 * MS, f"r{i}")
        assert p.pending() <= 2
    assert [d.result for d in decided] == ["r0", "r1", "r2", "r3"]  # oldest first, none lost
    assert all(d.depth is None and d.reason == "no depth image received yet" for d in decided)


def test_buffer_keeps_only_the_newest_depth_frames():
    p = StampPairer(tolerance_ns=5 * MS, keep=3)
    for t in range(10):
        p.add_depth(t * 10 * MS, t)
    assert p.add_result(10 * MS, "old")[0].depth is None  # dropped from the buffer
    assert p.add_result(90 * MS, "new")[0].depth == 9


def test_depth_clock_jumping_back_forgets_the_old_frames():
    p = StampPairer(tolerance_ns=5 * MS)
    p.add_depth(50_000 * MS, "late")
    p.add_depth(10 * MS, "restarted")
    out = p.add_result(10 * MS, "r")
    assert out[0].depth == "restarted"
    assert p.add_result(50_000 * MS, "r2") == []  # newest depth is older now: it waits
    assert p.pending() == 1


def test_results_and_depth_from_two_threads_all_get_paired_exactly():
    p = StampPairer(tolerance_ns=1 * MS, keep=600, max_pending=600, window_ns=10_000 * MS)
    decided, lock = [], threading.Lock()

    def depth_feed():
        for t in range(500):
            out = p.add_depth(t * 10 * MS, t)
            with lock:
                decided.extend(out)

    thread = threading.Thread(target=depth_feed)
    thread.start()
    for t in range(500):
        out = p.add_result(t * 10 * MS, t)
        with lock:
            decided.extend(out)
    thread.join()
    with lock:
        decided.extend(p.add_depth(10_000 * MS, -1))
    assert sorted(d.result for d in decided) == list(range(500))
    paired = [d for d in decided if d.depth is not None]
    assert all(d.depth == d.result for d in paired)
    assert len(paired) == 500  # the queue was long enough: no result had to give up waiting


def test_bad_arguments():
    with pytest.raises(ValueError):
        StampPairer(tolerance_ns=-1)


def test_a_depth_flood_still_pairs_colour_frames_a_network_pass_behind():
    """Depth at 500 Hz with a count-bounded buffer of 10 covered 20 ms: a colour frame finished
    100 ms after its stamp never found its pair (reliability round 3, 3.5)."""
    p = StampPairer(tolerance_ns=50 * MS)
    for t in range(1000):                 # 2 s of depth at 500 Hz
        p.add_depth(t * 2 * MS, t)
    assert len(p._stamps) <= p.keep       # memory stays bounded by the count
    for behind_ms in (0, 100, 300, 1000, 1900):
        stamp = (999 * 2 - behind_ms) * MS
        decided = p.add_result(stamp, behind_ms)[0]
        assert decided.depth is not None, behind_ms
        assert abs(decided.depth_stamp_ns - stamp) <= 50 * MS


def test_depth_older_than_the_window_is_forgotten():
    p = StampPairer(tolerance_ns=50 * MS, window_ns=500 * MS)
    for t in range(0, 2001, 100):
        p.add_depth(t * MS, t)
    assert min(p._stamps) >= 1500 * MS
    assert p.add_result(1000 * MS, "old")[0].depth is None
