"""The result check the node runs on every estimator result before publishing."""

from __future__ import annotations

import numpy as np
import pytest
from pose_ros.core.persons import Person, PoseResult
from pose_ros.core.result_check import InvalidResult, check_result, result_problem
from pose_ros.core.skeletons import COCO18

K = COCO18.num_keypoints


def _person(x: float = 10.0, y: float = 20.0, score: float = 0.5, kp_score: float = 0.6) -> Person:
    kp = np.zeros((K, 3), np.float32)
    kp[0] = (x, y, kp_score)
    kp[1] = (x + 5, y + 5, kp_score)
    with np.errstate(invalid="ignore"):   # the bbox of a non-finite keypoint is NaN: the point of the test
        return Person(keypoints=kp, score=score)


def _result(*persons: Person, w: int = 64, h: int = 48) -> PoseResult:
    return PoseResult(persons=list(persons), skeleton=COCO18.name, image_width=w, image_height=h)


def test_a_valid_result_passes_unchanged():
    result = _result(_person(), _person(0.0, 0.0, 1.0, 1.0), _person(58.0, 42.0, 0.0, 0.01))
    assert result_problem(result, 64, 48, K) is None
    assert check_result(result, 64, 48, K) is result
    assert result_problem(_result(), 64, 48, K) is None


@pytest.mark.parametrize("person,needle", [
    (_person(score=1e28), "score 1e+28 outside [0, 1]"),
    (_person(score=-0.5), "outside [0, 1]"),
    (_person(score=float("nan")), "score nan"),
    (_person(kp_score=1.5), "keypoint 0: score 1.5"),
    (_person(kp_score=-0.1), "keypoint 0: score -0.1"),
    (_person(x=float("inf")), "non-finite"),
    (_person(y=float("nan")), "non-finite"),
    (_person(x=70.0), "outside the 64x48 image"),
    (_person(x=-2.0), "outside the 64x48 image"),
    (_person(y=48.5), "outside the 64x48 image"),
])
def test_out_of_range_values_are_named(person, needle):
    problem = result_problem(_result(_person(), person), 64, 48, K)
    assert problem is not None and needle in problem, problem
    assert problem.startswith("person 1")
    with pytest.raises(InvalidResult, match="person 1"):
        check_result(_result(_person(), person), 64, 48, K)


def test_undetected_keypoints_are_not_position_checked():
    kp = np.zeros((K, 3), np.float32)
    kp[3] = (500.0, -300.0, 0.0)   # score 0: "not found", its position means nothing
    kp[4] = (10.0, 10.0, 0.9)
    assert result_problem(_result(Person(keypoints=kp, score=0.9)), 64, 48, K) is None


def test_wrong_image_size_keypoint_count_and_type_are_refused():
    assert "the input was 64x48" in result_problem(_result(w=32), 64, 48, K)
    assert "the skeleton has 18" in result_problem(_result(Person(np.zeros((15, 3)), 0.5)), 64, 48, K)
    assert "not a PoseResult" in result_problem([], 64, 48, K)
    bad_box = _person()
    bad_box.bbox = (1.0, 2.0, float("nan"), 3.0)
    assert "invalid bbox" in result_problem(_result(bad_box), 64, 48, K)
