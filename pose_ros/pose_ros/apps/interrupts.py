"""SIGINT and SIGTERM as a record that the main flow reads, never as an exception from the handler.

Why: a Python signal handler runs wherever the main thread happens to be. When that is a
weakref callback - importlib runs one for its module locks during every import - or a
``__del__``, an exception raised by the handler is printed as "Exception ignored in ..." and
dropped. A demo whose handler raised ``KeyboardInterrupt`` lost a Ctrl-C that way during
start-up, and ran on to the end (exit 0). A count cannot be dropped: the handler only counts,
and the flow calls :meth:`Interrupts.check` between its steps and in each slice of every wait,
where the ``KeyboardInterrupt`` it raises travels like any other exception.
"""

from __future__ import annotations

import signal


class Interrupts:
    """Counts SIGINT/SIGTERM; :meth:`check` turns the first one into ``KeyboardInterrupt``."""

    def __init__(self) -> None:
        self.count = 0   # signals received since install()

    def __call__(self, _signum, _frame) -> None:
        self.count += 1   # nothing else: see the module doc

    def install(self) -> None:
        """Handle SIGTERM, and SIGINT unless it is ignored (a background job's)."""
        self.count = 0
        signal.signal(signal.SIGTERM, self)
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, self)

    def ignore(self) -> None:
        """Ignore both from now on: at exit, Python puts its handlers back to the default,
        and a late SIGTERM would then kill the exiting process with another status."""
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` here, in the flow, if a signal came."""
        if self.count:
            raise KeyboardInterrupt(f"{self.count} signal(s)")


INTERRUPTS = Interrupts()
