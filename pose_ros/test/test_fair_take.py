"""The worker's choice between cameras: the one that has been waiting longest goes next."""

import threading

import pytest
from pose_ros.streams.fair_take import OldestFirst, shares


def test_the_camera_waiting_longest_goes_first_and_a_replaced_frame_keeps_its_place():
    slots = OldestFirst(3)
    slots.slots[1].put("b1", 1)
    slots.slots[0].put("a1", 1)
    slots.slots[1].put("b2", 2)   # replaces b1, but camera 1 has been waiting since before camera 0
    assert slots.take(0) == (1, "b2")
    assert slots.take(0) == (0, "a1")
    assert slots.take(0) is None   # camera 2 never sent: skipped, not waited for


def test_a_camera_served_longer_ago_goes_first_even_when_its_frame_is_newer():
    slots = OldestFirst(2)
    slots.slots[0].put("a1", 1)
    assert slots.take(0) == (0, "a1")
    slots.slots[0].put("a2", 2)   # camera 0's frame arrives first ...
    slots.slots[1].put("b1", 1)
    assert slots.take(0) == (1, "b1")   # ... but camera 1 has waited longer for the model
    slots.slots[1].put("b2", 2)
    assert slots.take(0) == (0, "a2")


def test_flooding_cameras_alternate_and_a_silent_one_stalls_nobody():
    slots = OldestFirst(3)
    served = []
    for i in range(1, 31):
        slots.slots[0].put(f"a{i}", i)
        slots.slots[1].put(f"b{i}", i)
        served.append(slots.take(0)[0])
    assert shares([served.count(i) for i in range(3)]) == [0.5, 0.5, 0.0]
    assert all(a != b for a, b in zip(served, served[1:])), "strict alternation under flood"


def test_take_waits_for_any_camera_and_close_wakes_it():
    slots = OldestFirst(2)
    got = []
    worker = threading.Thread(target=lambda: got.append(slots.take(5.0)))
    worker.start()
    slots.slots[1].put("late", 7)
    worker.join(5.0)
    assert got == [(1, "late")]
    waiting = threading.Thread(target=lambda: got.append(slots.take(30.0)))
    waiting.start()
    slots.close()
    waiting.join(5.0)
    assert not waiting.is_alive() and got[-1] is None and slots.closed


def test_at_least_one_slot():
    with pytest.raises(ValueError):
        OldestFirst(0)
