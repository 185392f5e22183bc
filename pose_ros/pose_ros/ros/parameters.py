"""One way to declare and read ROS parameters, for every node of the package.

A node lists its parameters once, as a tuple of :class:`Param` rows; :func:`declare` turns each
row into a typed, ranged ``ParameterDescriptor`` (what ``ros2 param describe`` shows) and
declares it; :func:`get` reads a value back, checked against the type the caller needs.
Why one table: the descriptions, ranges and defaults live next to each other, a test or a
YAML check can walk the table, and every node reports a bad value the same way.

Example::

    from pose_ros.ros import parameters
    from pose_ros.ros.parameters import Param

    PARAMS = (
        Param("rate_hz", 0.0, "Publishing rate; 0 = the source's own.", low=0.0, high=1000.0,
              read_only=True, dynamic_typing=True),   # `-p rate_hz:=20` (an int) is fine too
        Param("reliability", "reliable", "QoS reliability.", choices=("reliable", "best_effort"),
              read_only=True),
        Param("tracking", True, "Stable person ids.", applies="live"),
    )

    class MyNode(Node):
        def __init__(self):
            super().__init__("my_node")
            parameters.declare(self, PARAMS)
            rate = parameters.get(self, "rate_hz", float)   # ParamValueError if not a number in range
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, Optional, Type, TypeVar, overload

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

T = TypeVar("T")

# How a change at run time takes effect (the pose node acts on these; other nodes use "restart").
# "live": read when used (per frame); "decode": applied to the running estimator; "reload":
# rebuilds the estimator; "restart": read at start-up only.
APPLIES = ("live", "decode", "reload", "restart")


class ParamValueError(ValueError):
    """A parameter value a node cannot work with; the message names the parameter."""


@dataclass(frozen=True)
class Param:
    """One row of a node's parameter table.

    ``low``/``high`` (and ``step`` for integers) become the descriptor's range; ``choices``
    are listed in the description and in ``additional_constraints``. ``read_only`` makes
    ``ros2 param set`` fail; a node that prefers to explain why (the pose node) leaves it off
    and rejects run-time changes of ``restart`` parameters in its on-set callback.
    ``dynamic_typing`` accepts a value of another type (an int for a float, an int camera
    index for a string); :func:`get` then converts and checks it.
    """

    name: str
    default: Any
    description: str
    applies: str = "restart"
    low: Optional[float] = None
    high: Optional[float] = None
    step: Optional[float] = None
    choices: tuple = ()
    read_only: bool = False
    dynamic_typing: bool = False

    def __post_init__(self) -> None:
        if self.applies not in APPLIES:
            raise ValueError(f"parameter {self.name}: applies must be one of {APPLIES}, got {self.applies!r}")
        if (self.low is None) != (self.high is None):
            raise ValueError(f"parameter {self.name}: give both low and high, or neither")


def descriptor(p: Param) -> ParameterDescriptor:
    """The ``ParameterDescriptor`` of one row: type from the default, range, choices, read-only."""
    desc = p.description + (f" One of: {', '.join(p.choices)}." if p.choices else "")
    if p.applies == "restart" and not p.read_only:
        desc += " Read at start-up only."
    if isinstance(p.default, list) and not p.default:
        raise ValueError(f"parameter {p.name}: a list default must not be empty (its type would be unknown)")
    kind = Parameter.Type.from_parameter_value(p.default)
    d = ParameterDescriptor(description=desc, type=kind.value, read_only=p.read_only,
                            dynamic_typing=p.dynamic_typing, additional_constraints="|".join(p.choices))
    if p.low is not None and kind == Parameter.Type.INTEGER:
        d.integer_range = [IntegerRange(from_value=int(p.low), to_value=int(p.high), step=int(p.step or 1))]
    elif p.low is not None and kind == Parameter.Type.DOUBLE:
        d.floating_point_range = [FloatingPointRange(from_value=float(p.low), to_value=float(p.high),
                                                     step=float(p.step or 0.0))]
    return d


def by_name(params: Iterable[Param]) -> Dict[str, Param]:
    return {p.name: p for p in params}


def declare(node: Node, params: Iterable[Param], invalid_to_default: bool = False) -> None:
    """Declare every row on ``node``.

    A start-up value (YAML, ``-p``, launch) of the wrong type or out of range raises rclpy's
    ``ParameterException`` subclass, so a node that cannot run without it exits with the reason;
    with ``invalid_to_default`` it is logged with the reason and the default is used instead.
    """
    for p in params:
        try:
            node.declare_parameter(p.name, p.default, descriptor(p))
        except (InvalidParameterValueException, InvalidParameterTypeException) as exc:
            if not invalid_to_default:
                raise
            node.get_logger().error(f"parameter {p.name}: {exc}; using the default {p.default!r}")
            node.declare_parameter(p.name, p.default, descriptor(p), ignore_override=True)


@overload
def get(node: Node, name: str) -> Any: ...


@overload
def get(node: Node, name: str, as_type: Type[T]) -> T: ...


def get(node: Node, name: str, as_type: Optional[type] = None) -> Any:
    """The current value of ``name``; with ``as_type`` (bool, int, float, str) checked and converted.

    An int is accepted for a float (and, for a str, an int is turned into its digits: a camera
    index); a bool is never a number. A float or int outside the declared range raises
    :class:`ParamValueError` too: rclpy skips the range of a dynamically typed parameter.
    """
    value = node.get_parameter(name).value
    if as_type is None:
        return value
    if as_type is str and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if as_type is float and numeric:
        value = float(value)
    if as_type in (int, float) and isinstance(value, bool) or not isinstance(value, as_type):
        raise ParamValueError(f"parameter {name!r} must be {_TYPE_WORDS.get(as_type, as_type.__name__)}, "
                              f"got {value!r}")
    if as_type in (int, float):
        _check_range(node, name, value)
    return value


_TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _check_range(node: Node, name: str, value: float) -> None:
    d = node.describe_parameter(name)
    for r in list(d.floating_point_range) + list(d.integer_range):
        if not r.from_value <= value <= r.to_value:
            raise ParamValueError(f"parameter {name!r} must be in [{r.from_value:g}, {r.to_value:g}], got {value}")
