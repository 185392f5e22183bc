"""Processes by what they carry, read from Linux's /proc.

Finds what a test or a CI run left behind without trusting the bookkeeping of the
program that started them: a process counts when its command line or its environment
contains a string unique to the run (an output folder, a tag variable). Zombies and
processes of other users (unreadable) never count.

    python pose_ros/test/process_table.py TAG   # lists such processes; exit 1 if any

(``.ci/run`` uses it after ``make test``.)
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Dict, Iterable, Set


def _ancestors() -> Set[int]:
    """This process and its parents: they carry a CI run's tag too, and are not leftovers."""
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])   # field 4, after the "(comm)" that may hold spaces
    return pids


def tagged_processes(tag: str, exclude: Iterable[int] = ()) -> Dict[int, str]:
    """Live processes whose command line or environment contains ``tag``: pid -> command line."""
    needle = tag.encode()
    skip = _ancestors() | set(exclude)
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in skip:
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes()
            if not cmdline:
                continue   # a zombie (or a kernel thread): nothing left to stop
            if needle not in cmdline and needle not in Path(entry.path, "environ").read_bytes():
                continue
        except OSError:
            continue   # gone meanwhile, or another user's
        found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def kill_tagged(tag: str, exclude: Iterable[int] = ()) -> Dict[int, str]:
    """SIGKILL every process :func:`tagged_processes` finds (clean-up after a failure); returns them."""
    found = tagged_processes(tag, exclude)
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return found


def main(argv: list) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    found = tagged_processes(argv[0])
    for pid, cmdline in sorted(found.items()):
        print(f"left behind: pid {pid}: {cmdline[:300]}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
