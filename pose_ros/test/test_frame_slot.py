"""The one-frame mailbox keeps only the newest frame and counts what it drops."""

import threading

from pose_ros.streams.frame_slot import LatestFrameSlot
from pose_ros.streams.rate_stats import LatencyWindow, RateMeter


def test_newer_frame_replaces_an_untaken_one_and_is_counted_as_dropped():
    slot = LatestFrameSlot()
    assert slot.put("a", 1)
    assert slot.put("b", 2)
    assert slot.take(0) == "b"
    assert slot.snapshot() == {"received": 2, "taken": 1, "dropped": 1, "replaced": 1, "stale": 0,
                               "time_jumps": 0, "cleared": 0, "future": 0}


def test_cleared_frames_are_counted_so_the_counters_add_up():
    slot = LatestFrameSlot()
    for i in range(1, 101):
        slot.put(i, i)
        if i % 3 == 0:
            assert slot.clear()
        elif i % 3 == 1:
            assert slot.take(0) == i
    assert not slot.clear()   # nothing pending: nothing counted
    snap = slot.snapshot()
    assert snap["cleared"] == 33
    assert snap["received"] == snap["taken"] + snap["dropped"]


def test_a_stamp_from_the_future_does_not_make_the_next_good_frames_stale():
    now = 1_000_000_000_000
    slot = LatestFrameSlot()
    assert slot.put("future", now + 900_000_000, now_ns=now)   # 0.9 s ahead of the clock
    assert slot.take(0) == "future"
    for i in range(1, 9):   # the next good frames, 33 ms apart
        t = now + i * 33_000_000
        assert slot.put(i, t, now_ns=t), f"good frame {i} rejected as stale"
        assert slot.take(0) == i
    snap = slot.snapshot()
    assert snap["future"] == 1 and snap["stale"] == 0
    # within the tolerance, or with an unknown clock, a stamp orders frames as before
    assert slot.put("a", now + 10**9, now_ns=now + 10**9 - 100_000_000)
    assert not slot.put("late", now + 10**9 - 50_000_000, now_ns=0)


def test_frame_older_than_the_last_taken_is_rejected_as_stale():
    slot = LatestFrameSlot()
    slot.put("new", 200)
    assert slot.take(0) == "new"
    assert not slot.put("old", 100)
    assert slot.take(0) is None
    assert slot.snapshot()["stale"] == 1


def test_frame_older_than_the_waiting_one_is_rejected_and_waiting_one_kept():
    slot = LatestFrameSlot()
    slot.put("new", 200)
    assert not slot.put("old", 100)
    assert slot.take(0) == "new"


def test_a_stamp_far_in_the_past_is_a_time_jump_not_a_stale_frame():
    slot = LatestFrameSlot(jump_back_s=1.0)
    slot.put("t=50s", 50_000_000_000)
    slot.take(0)
    assert slot.put("bag looped: t=2s", 2_000_000_000)
    assert slot.take(0) == "bag looped: t=2s"
    assert slot.put("t=2.1s", 2_100_000_000)   # ordering restarted from the jump
    assert not slot.put("t=1.5s", 1_500_000_000)  # 0.6 s back: a late frame, stale
    assert slot.snapshot()["time_jumps"] == 1 and slot.snapshot()["stale"] == 1


def test_zero_stamps_are_never_stale():
    slot = LatestFrameSlot()
    slot.put("stamped", 500)
    slot.take(0)
    assert slot.put("unstamped", 0)
    assert slot.take(0) == "unstamped"
    assert slot.put("unstamped again", 0)


def test_take_times_out_empty_and_close_wakes_a_waiting_worker():
    slot = LatestFrameSlot()
    assert slot.take(0.01) is None
    got = []
    worker = threading.Thread(target=lambda: got.append(slot.take(30)))
    worker.start()
    slot.close()
    worker.join(5)
    assert not worker.is_alive() and got == [None]


def test_worker_thread_receives_frames_put_from_another_thread():
    slot = LatestFrameSlot()
    got = []
    worker = threading.Thread(target=lambda: got.append(slot.take(5)))
    worker.start()
    slot.put("frame", 7)
    worker.join(5)
    assert got == ["frame"]


def test_rate_meter_counts_events_per_second_inside_its_window():
    meter = RateMeter(window_s=2.0)
    for i in range(11):
        meter.tick(100.0 + i * 0.1)  # 10 Hz for one second
    assert abs(meter.rate(101.0) - 10.0) < 1e-9
    assert meter.rate(110.0) == 0.0  # all ticks aged out


def test_latency_window_percentiles_over_the_last_samples():
    window = LatencyWindow(size=100)
    assert window.percentile(50) is None
    for ms in range(1, 201):  # only 101..200 are kept
        window.add(ms)
    assert len(window) == 100
    assert window.percentile(50) == 150.5
    assert window.percentile(95) >= 195


def test_message_throttle_lets_each_new_message_through_and_throttles_repeats():
    from pose_ros.streams.rate_stats import MessageThrottle
    throttle = MessageThrottle(period_s=30.0, max_keys=3)
    assert throttle.allow("cannot load a", 0.0)
    assert throttle.allow("cannot load b", 1.0), "a different message is not held back"
    assert not throttle.allow("cannot load a", 2.0)
    assert throttle.allow("cannot load a", 30.5)
    for i in range(10):   # endless different messages: memory stays bounded
        assert throttle.allow(f"m{i}", 40.0 + i)
    assert len(throttle._last) == 3
