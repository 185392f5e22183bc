"""The one-frame mailbox keeps only the newest frame and counts what it drops."""

import threading

from pose_ros.frame_slot import LatestFrameSlot
from pose_ros.rate_stats import LatencyWindow, RateMeter


def test_newer_frame_replaces_an_untaken_one_and_is_counted_as_dropped():
    slot = LatestFrameSlot()
    assert slot.put("a", 1)
    assert slot.put("b", 2)
    assert slot.take(0) == "b"
    assert slot.snapshot() == {"received": 2, "taken": 1, "dropped": 1, "replaced": 1, "stale": 0,
                               "time_jumps": 0}


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
