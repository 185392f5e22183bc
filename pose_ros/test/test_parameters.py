"""pose_ros.ros.parameters, the one parameter style of the three nodes, on real rclpy nodes."""

from __future__ import annotations

import pytest
from pose_ros.ros import parameters
from pose_ros.ros.parameters import Param, ParamValueError
from rcl_interfaces.msg import ParameterType
from rclpy.exceptions import ParameterException
from rclpy.parameter import Parameter
from ros_testing import RosHarness

TABLE = (
    Param("rate_hz", 0.0, "Publishing rate.", low=0.0, high=1000.0, read_only=True, dynamic_typing=True),
    Param("source", "0", "Camera index or path.", read_only=True, dynamic_typing=True),
    Param("depth", 10, "History depth.", low=1, high=100, step=1, applies="live"),
    Param("mode", "raw", "Transport.", choices=("raw", "compressed")),
    Param("scales", [1.0], "Scale factors.", applies="reload"),
    Param("flip", False, "Flip test.", applies="live"),
)


@pytest.fixture
def ros():
    harness = RosHarness()
    yield harness
    harness.close()


def _node(ros: RosHarness, **overrides):
    node = ros.node("params_under_test", parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])
    return node


def test_descriptors_carry_type_range_choices_and_how_a_change_applies():
    d = {p.name: parameters.descriptor(p) for p in TABLE}
    assert d["rate_hz"].type == ParameterType.PARAMETER_DOUBLE and d["rate_hz"].read_only
    assert (d["rate_hz"].floating_point_range[0].from_value, d["rate_hz"].floating_point_range[0].to_value) == (0, 1000)
    assert d["depth"].type == ParameterType.PARAMETER_INTEGER and d["depth"].integer_range[0].to_value == 100
    assert d["scales"].type == ParameterType.PARAMETER_DOUBLE_ARRAY
    assert d["flip"].type == ParameterType.PARAMETER_BOOL
    assert d["mode"].additional_constraints == "raw|compressed" and "One of: raw, compressed." in d["mode"].description
    assert d["mode"].description.endswith("Read at start-up only.")      # restart, and not read-only
    assert not d["depth"].description.endswith("Read at start-up only.")  # live
    with pytest.raises(ValueError):
        Param("x", 1, "no such kind", applies="sometimes")
    with pytest.raises(ValueError):
        parameters.descriptor(Param("empty", [], "type unknown"))


def test_declare_and_get_give_typed_values_and_name_the_parameter_when_wrong(ros):
    node = _node(ros, rate_hz=20, source=2)   # integers where a float and a string are declared
    parameters.declare(node, TABLE)
    assert parameters.get(node, "rate_hz", float) == 20.0 and isinstance(parameters.get(node, "rate_hz", float), float)
    assert parameters.get(node, "source", str) == "2"                       # camera index 2
    assert parameters.get(node, "scales") == [1.0]
    assert parameters.get(node, "flip", bool) is False
    with pytest.raises(ParamValueError, match="'flip' must be an integer"):
        parameters.get(node, "flip", int)                                     # a bool is not a number
    with pytest.raises(ParamValueError, match="'mode' must be a number"):
        parameters.get(node, "mode", float)


def test_dynamically_typed_values_are_range_checked_by_get(ros):
    node = _node(ros, rate_hz=5000)   # an int: rclpy checks no float range on it
    parameters.declare(node, TABLE)
    with pytest.raises(ParamValueError, match=r"'rate_hz' must be in \[0, 1000\], got 5000"):
        parameters.get(node, "rate_hz", float)


def test_an_invalid_start_up_value_raises_or_falls_back_to_the_default(ros):
    with pytest.raises(ParameterException):
        parameters.declare(_node(ros, depth=500), TABLE)
    node = ros.node("falls_back", parameter_overrides=[Parameter("depth", value=500)])
    parameters.declare(node, TABLE, invalid_to_default=True)
    assert parameters.get(node, "depth", int) == 10


def test_read_only_and_ranged_parameters_refuse_run_time_changes(ros):
    node = _node(ros)
    parameters.declare(node, TABLE)
    assert not node.set_parameters([Parameter("rate_hz", value=5.0)])[0].successful
    assert not node.set_parameters([Parameter("depth", value=101)])[0].successful
    assert node.set_parameters([Parameter("depth", value=42)])[0].successful
    assert parameters.get(node, "depth", int) == 42
