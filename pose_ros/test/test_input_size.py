"""The one check of the network input: stride, bounds, scale factors and flags."""

from __future__ import annotations

import pytest
from pose_ros.core.input_size import (MAX_INPUT_SIDE, MIN_INPUT_SIDE, parse_flag, parse_scales, pass_size,
                                      scales_problem)
from pose_ros.estimators import EstimatorError
from pose_ros.estimators.openpose_dnn import OpenPoseDnnEstimator


def test_the_bound_holds_on_the_real_input_of_every_pass():
    """[4.0] on a 2048 input made an 8192x6144 network (RSS 3.6 GB at the first frame); [0.001]
    ran it at 8x8 px and found nobody (reliability round 3, 3.2)."""
    assert "8192x6144" in scales_problem([4.0], 2048, 1536)
    assert "every pass must stay within 64..2048" in scales_problem([1.0, 0.001], 432, 368)
    assert scales_problem([1.0, 2.0], 432, 368) == ""
    assert scales_problem([1.0, 4.0], 512, 512) == ""          # 2048x2048: the largest allowed
    assert scales_problem([1.0, 4.5], 432, 368).startswith("scales must be in")
    for scale in (0.15, 1.0, 4.0):
        w, h = pass_size(432, 368, scale)
        assert w % 8 == 0 and h % 8 == 0


def test_the_estimator_refuses_a_pass_beyond_the_bound_before_it_allocates_anything():
    with pytest.raises(EstimatorError, match="every pass must stay within"):
        OpenPoseDnnEstimator(input_width=2048, input_height=1536, scales=[4.0], warmup=False)
    with pytest.raises(EstimatorError, match="every pass must stay within"):
        OpenPoseDnnEstimator(scales=[1.0, 0.001], warmup=False)


@pytest.mark.parametrize("text, expected", [("1.0,1.5", (1.0, 1.5)), ("2", (2.0,)), ([1, 2.5], (1.0, 2.5)),
                                            ("", (1.0,)), (None, (1.0,)), ([], (1.0,)), (1.5, (1.5,))])
def test_scales_are_read_from_what_yaml_launch_and_the_cli_give(text, expected):
    assert parse_scales(text) == expected


@pytest.mark.parametrize("bad", ["fast", [1.0, float("nan")], [0.0], [-1.0], "1,9"])
def test_bad_scales_say_why(bad):
    with pytest.raises(ValueError, match="scales must"):
        parse_scales(bad)


def test_flags_are_read_the_same_everywhere():
    assert [parse_flag(v) for v in ("true", "On", "1", 1, True)] == [True] * 5
    assert [parse_flag(v) for v in ("false", "OFF", "0", 0, False)] == [False] * 5
    with pytest.raises(ValueError, match="true or false"):
        parse_flag("maybe")
    assert MIN_INPUT_SIDE == 64 and MAX_INPUT_SIDE == 2048
