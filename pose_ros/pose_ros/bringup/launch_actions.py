"""How a launch plan becomes a ``launch_ros`` Node: its exit handling, its tie to the launcher,
and string parameters that stay strings.

Plain functions (``launch`` is imported only inside the handlers that run under it), re-exported
by :mod:`pose_ros.bringup.launch_logic`, tested in ``test_launch_logic.py``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

from pose_ros.bringup import parent_death

Plan = Dict[str, Any]


# When a node's exit ends the launch: ALWAYS (the camera: nothing comes without it), or only
# ON_FAILURE (the demo's source ends normally at the end of its video; the recorder then
# finishes and ends the launch).
ALWAYS, ON_FAILURE = "always", "on_failure"


def exit_policy(reason: str, when: str = ALWAYS) -> Dict[str, str]:
    return {"reason": reason, "when": when}


def exit_reason(plan: Plan, returncode: Optional[int], shutting_down: bool = False) -> Optional[Tuple[str, str]]:
    """(level, line) that ends the launch when ``plan``'s node exits with ``returncode``, or None.

    launch 3.4 never prints ``Shutdown(reason=...)``, so the launch file logs this line itself
    (:func:`on_exit_handler`): ``error`` for a failure, ``info`` for a normal end (the recorder
    finished, a video ended). Nothing while the launch is already shutting down (Ctrl-C): every
    node then exits, and that is no news.
    """
    policy = plan.get("shutdown_on_exit")
    if not policy or shutting_down or (policy["when"] == ON_FAILURE and returncode == 0):
        return None
    status = "" if returncode is None else f" (exit status {returncode})"
    return ("info" if returncode == 0 else "error"), f"{policy['reason']}{status}; stopping the launch"


def on_exit_handler(plan: Plan) -> Callable[[Any, Any], Optional[list]]:
    """``on_exit`` for ``plan``'s Node: a callable ``(ProcessExited, LaunchContext)`` (Humble and
    Jazzy alike) that logs :func:`exit_reason` and returns ``Shutdown``."""
    def handle(event: Any, context: Any) -> Optional[list]:
        decided = exit_reason(plan, getattr(event, "returncode", None), bool(getattr(context, "is_shutdown", False)))
        if decided is None:
            return None
        level, reason = decided
        if level == "error":
            # After a Shutdown, `ros2 launch` exits 0 whatever the cause; an exception raised by
            # an event handler is the one way to make it exit 1 (launch_service.run), and it
            # shuts the other nodes down the same way; launch logs the reason as an ERROR line.
            raise LaunchFailed(reason)
        import launch.logging
        from launch.actions import Shutdown

        launch.logging.get_logger("pose_ros").info(reason)
        return [Shutdown(reason=reason)]
    return handle


class LaunchFailed(RuntimeError):
    """A node the launch cannot do without failed: ``ros2 launch`` exits 1 with this reason."""


def node_kwargs(plan: Plan, as_string: Optional[Callable[[str], Any]] = None) -> Dict[str, Any]:
    """``launch_ros.actions.Node`` keyword arguments of a plan: ``message`` removed,
    ``shutdown_on_exit`` turned into ``on_exit`` (:func:`on_exit_handler`).

    Older launch_ros (Humble) reads plain string parameter values as YAML, so a camera
    name "123" or a path "true" would change type; launch files pass
    :func:`string_parameter` as ``as_string`` to pin every string value.
    """
    kwargs = {k: v for k, v in plan.items() if k not in ("message", "shutdown_on_exit", "managed")}
    if as_string is not None:
        kwargs["parameters"] = [
            {k: as_string(v) if isinstance(v, str) else v for k, v in p.items()} if isinstance(p, dict) else p
            for p in plan["parameters"]]
    if plan.get("shutdown_on_exit"):
        kwargs["on_exit"] = on_exit_handler(plan)
    kwargs["output"] = "screen"
    return kwargs


def ours(plan: Plan) -> Plan:
    """A pose_ros node in a launch: it ends with ``ros2 launch`` even when launch is killed by
    SIGTERM or SIGKILL (:mod:`pose_ros.bringup.parent_death`; launch handles only SIGINT)."""
    env = dict(plan.get("additional_env") or {}, **{parent_death.ENV_FLAG: "1"})
    return dict(plan, additional_env=env)


def string_parameter(value: str) -> Any:
    """``value`` as a launch parameter that stays a string: the launch files' ``as_string``.

    ``launch_ros`` is imported here, not at module level, so this module (and its tests)
    work without ``launch`` installed.
    """
    from launch_ros.parameter_descriptions import ParameterValue

    return ParameterValue(value, value_type=str)
