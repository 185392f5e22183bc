"""Run one node until Ctrl-C, SIGTERM or its own end, and shut down without shouting.

Why one helper for every pose_ros executable: each of them failed a different way when
signalled at the wrong moment. rclpy's own handlers (SIGINT and SIGTERM with Jazzy's
``SignalHandlerOptions.ALL``) shut the context down *from the signal*, so from that
instant anything still running fails: a node being constructed ("failed to create
guard_condition: the given context is not valid"), a worker thread publishing or
logging ("publisher's context is invalid"), and a second Ctrl-C lands in a thread join
or inside ``rclpy.try_shutdown``.

So here a signal's handler only *records* it (SIGTERM exactly like SIGINT, on Humble and
Jazzy alike): a handler that raised was lost whenever it ran inside a weakref callback
(Python prints "Exception ignored" and drops the exception) or inside native code that
converts exceptions. The main flow checks the record after start-up and at every spin
slice (:data:`SPIN_SLICE_S`), and then shuts down in order while the context is still
valid: signals are ignored from then on (cleanup is bounded, nodes join their threads with
timeouts), the node stops its workers and is destroyed, then the context is shut down.
The promise: SIGINT or SIGTERM at any moment after ``main`` started, once or twice, gives
exit status 0, no traceback and no ERROR line.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Callable, Optional

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from pose_ros.bringup import parent_death
from pose_ros.bringup.dds_profile import apply_large_image_profile

try:
    from rclpy.signals import SignalHandlerOptions
except ImportError:  # an rclpy without the option installs its SIGINT handler regardless
    SignalHandlerOptions = None

try:
    from rclpy._rclpy_pybind11 import RCLError as _RCLError
except ImportError:  # an rclpy that names it differently: still a RuntimeError
    _RCLError = RuntimeError

SPIN_SLICE_S = 0.1  # longest wait before a signal is noticed
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


_stopping = False   # set once shutdown began: from then on signals change nothing
_signalled = False  # set by the first signal, before its KeyboardInterrupt is raised


def _interrupt(signum, frame) -> None:
    """Record the first signal; the main flow acts on it (:func:`interrupted`). Later ones (an
    impatient second Ctrl-C, ros2 launch's SIGTERM after its SIGINT) change nothing.

    Nothing is raised here, so nothing can be lost: not in a weakref callback, not in
    pybind11. Ignored by this handler, not by SIG_IGN: switching a handler while a signal is
    pending makes Python print "Signal 15 ignored due to race condition" with a traceback.
    """
    global _signalled
    if not _stopping:
        _signalled = True


def catch_signals() -> None:
    """SIGINT and SIGTERM raise KeyboardInterrupt in the main thread (once)."""
    for sig in _SIGNALS:
        try:
            signal.signal(sig, _interrupt)
        except ValueError:  # not the main thread (an embedding program): its signals are its own
            return


def ignore_signals() -> None:
    """SIGINT and SIGTERM are ignored from now on (the process is already shutting down)."""
    global _stopping
    _stopping = True


def _ignore_until_exit() -> None:
    """SIG_IGN for the rest of the process: interpreter finalization resets Python-level
    handlers to SIG_DFL, and a late second signal would then kill the process (-15)
    instead of letting it exit 0. ``signal.signal`` runs any pending handler (the
    no-op above) before switching, so nothing is reported as lost."""
    for sig in _SIGNALS:
        try:
            signal.signal(sig, signal.SIG_IGN)
        except ValueError:  # not the main thread
            return


def _init(args: Optional[list]) -> None:
    if SignalHandlerOptions is not None:
        try:
            rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
            return
        except TypeError:  # an rclpy whose init() does not take the option
            pass
    rclpy.init(args=args)
    catch_signals()   # replaces the handlers rclpy installed


def interrupted() -> bool:
    """True once a signal arrived, even if native code swallowed its KeyboardInterrupt."""
    return _signalled


class _SignalAwareExecutor(SingleThreadedExecutor):
    """Raises KeyboardInterrupt at the next slice once a signal was recorded.

    Every spin function slices through ``spin_once``, so checking here covers them all. (When
    the handler still raised, native code turned its exception into its own: "ImportError:
    initialization failed" during ``import openvino``, a RuntimeError in ``take_message``.)
    """

    def spin_once(self, timeout_sec: Optional[float] = None) -> None:
        if _signalled:
            raise KeyboardInterrupt("signal")
        super().spin_once(timeout_sec=timeout_sec)


def spin_forever(node: Node, executor: SingleThreadedExecutor) -> int:
    """Spin until interrupted; short slices so a signal is seen at once."""
    while rclpy.ok():
        executor.spin_once(timeout_sec=SPIN_SLICE_S)
    return 0


def run(make_node: Callable[[], Node],
        spin: Callable[[Node, SingleThreadedExecutor], int] = spin_forever,
        on_exit: Optional[Callable[[Node], None]] = None, args: Optional[list] = None,
        expected: tuple = (), name: str = "pose_ros", large_images: bool = False) -> int:
    """``rclpy.init``, build the node, spin it, and always clean up quietly; returns the exit status.

    ``spin(node, executor)`` returns the status; it must spin in slices of at most
    :data:`SPIN_SLICE_S` (``executor.spin_once(timeout_sec=...)``). ``expected``:
    exception types that are the node's own way of failing (one error line under
    logger ``name``, status 1; e.g. a camera that cannot be opened). ``on_exit(node)``
    runs after the node is destroyed, e.g. to write a summary. ``large_images``: the node
    publishes camera-sized images, so Fast DDS gets pose_ros' shared-memory profile unless
    the user configured Fast DDS (:mod:`pose_ros.bringup.dds_profile`); said in one INFO line.
    """
    global _stopping, _signalled
    _stopping = False
    _signalled = _signalled or _console_signalled()   # one that came while the node imported
    status = 0
    made: dict = {}   # executor and node, once they exist

    def clean_up() -> None:
        ignore_signals()
        log = rclpy.logging.get_logger(name)
        executor = made.pop("executor", None)
        if executor is not None:
            _quietly(executor.shutdown, log)
        node = made.pop("node", None)
        if node is not None:
            _quietly(node.destroy_node, log)
            if on_exit is not None:
                _quietly(lambda: on_exit(node), log)
        _quietly(rclpy.try_shutdown, log)
        _ignore_until_exit()

    catch_signals()
    if parent_death.requested():
        parent_death.die_with_parent(signal.SIGTERM)
    try:
        try:
            profile_note = apply_large_image_profile(os.environ) if large_images else None
            try:
                _init(args)
            except _RCLError as exc:
                # A params file or --ros-args rcl refuses: one line saying why, not a traceback.
                rclpy.logging.get_logger(name).error(_first_line(exc))
                return 1
            if profile_note:
                rclpy.logging.get_logger(name).info(profile_note)
            made["executor"] = executor = _SignalAwareExecutor()
            made["node"] = node = make_node()
            if _signalled:   # it came while the node was being built: do not start it
                raise KeyboardInterrupt("signal")
            executor.add_node(node)
            status = spin(node, executor) or 0
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        except expected as exc:
            rclpy.logging.get_logger(name).error(str(exc))
            status = 1
        except Exception:
            # A signal's KeyboardInterrupt raised while rclpy's C++ code was calling back
            # into Python (e.g. converting a message in take_message) comes out of pybind11
            # as "RuntimeError: Unable to convert call argument". Once a signal was seen,
            # whatever spin raised is that interrupt; without one it is a real error.
            if not _signalled:
                raise
        finally:
            clean_up()
    except KeyboardInterrupt:   # the one signal landed inside clean_up's first lines: finish it
        clean_up()
    return status


def _console_signalled() -> bool:
    """A signal :mod:`pose_ros.apps.console` recorded while the node module was importing."""
    console = sys.modules.get("pose_ros.apps.console")
    return bool(getattr(console, "signalled", False))


def _first_line(exc: BaseException) -> str:
    """rcl's message without its chain of C source locations (", at /project/src/parse.c:806")."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.split(", at /")[0]


def _quietly(step: Callable[[], object], log) -> None:
    """Run one cleanup step; a failure is one warning line, never a traceback."""
    try:
        step()
    except Exception as exc:  # noqa: BLE001 - the remaining cleanup steps must still run
        log.warning(f"during shutdown: {type(exc).__name__}: {exc}")
