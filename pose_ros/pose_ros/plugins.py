"""Entry-point plugin discovery shared by estimators and runtimes.

Both plugin kinds are found the way ``ros2cli`` finds its commands: scan the installed
distributions once per process, skip (with a warning) a distribution whose metadata
cannot be read or whose entry point is malformed, and keep the first provider of a
name. One scanner serves every group so the rules cannot drift apart.
"""

from __future__ import annotations

import importlib.metadata as md
import logging
import re
import threading
from typing import Dict, Optional

log = logging.getLogger(__name__)


class EstimatorError(Exception):
    """An estimator or its runtime cannot be found, loaded, configured or run; the message says why.

    It lives here, below both plugin kinds, because a runtime failure is also the estimator's
    failure to whoever loads it (:class:`pose_ros.runtimes.RuntimeUnavailable` derives from it),
    and runtimes must not import the estimator layer above them.
    """


def _scan(group: str, kind: str) -> Dict[str, md.EntryPoint]:
    """Entry points of ``group``, distribution by distribution so one broken one is skipped."""
    found: Dict[str, md.EntryPoint] = {}
    owners: Dict[str, str] = {}
    seen_dists = set()
    for dist in md.distributions():
        try:
            dist_name = dist.metadata["Name"] or str(getattr(dist, "_path", id(dist)))
            key = re.sub(r"[-_.]+", "-", dist_name).lower()
            if key in seen_dists:   # the same distribution again, further down sys.path
                continue
            seen_dists.add(key)
            eps = [ep for ep in dist.entry_points if ep.group == group]
        except Exception as e:  # noqa: BLE001 - unreadable metadata must not stop discovery
            log.warning("skipping distribution at %s: unreadable metadata (%s)",
                        getattr(dist, "_path", "?"), e)
            continue
        for ep in eps:
            if not ep.pattern.match(ep.value):
                log.warning("skipping %s %r of %s: malformed entry point %r",
                            kind, ep.name, dist_name, ep.value)
            elif ep.name in found:
                log.warning("%s %r of %s ignored: already provided by %s (%s)",
                            kind, ep.name, dist_name, owners[ep.name], found[ep.name].value)
            else:
                found[ep.name] = ep
                owners[ep.name] = dist_name
    return found


class PluginRegistry:
    """The installed plugins of one entry-point group, scanned lazily and cached."""

    def __init__(self, group: str, kind: str) -> None:
        self.group = group
        self.kind = kind    # "estimator", "runtime": used in messages
        self._lock = threading.Lock()
        self._cache: Optional[Dict[str, md.EntryPoint]] = None

    def available(self) -> Dict[str, md.EntryPoint]:
        """Installed plugins by name (scanned once per process; see :meth:`clear`)."""
        with self._lock:
            if self._cache is None:
                self._cache = _scan(self.group, self.kind)
            return dict(self._cache)

    def clear(self) -> None:
        """Forget the scan, e.g. after installing a plugin into a running interpreter."""
        with self._lock:
            self._cache = None

    def listing(self, found: Dict[str, md.EntryPoint], exclude: str = "") -> str:
        """The names in ``found`` for an error message (or why there are none)."""
        names = sorted(n for n in found if n != exclude)
        return ", ".join(names) if names else f"none (no package declares the '{self.group}' entry-point group)"

    def load_class(self, name: str, base: type, api_version: int, error: type) -> type:
        """Import plugin ``name`` and check it is a ``base`` subclass of ``api_version``.

        Every failure raises ``error`` with the reason and what else is installed.
        """
        found = self.available()
        ep = found.get(name)
        if ep is None:
            raise error(f"unknown {self.kind} {name!r}; plugins found: {self.listing(found)}")
        try:
            cls = ep.load()
        except Exception as e:  # noqa: BLE001 - a plugin may fail to import in any way
            raise error(f"{self.kind} {name!r} ({ep.value}) failed to import: "
                        f"{type(e).__name__}: {e}; other plugins found: {self.listing(found, name)}") from e
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise error(f"{self.kind} {name!r} ({ep.value}) is not a {base.__module__}.{base.__name__} "
                        f"subclass; plugins found: {self.listing(found)}")
        if getattr(cls, "api_version", None) != api_version:
            raise error(f"{self.kind} {name!r} implements plugin API version {cls.api_version!r}, "
                        f"this pose_ros supports {api_version}")
        return cls

    def construct(self, name: str, cls: type, error: type, **options):
        """``cls(**options)``, with any failure but ``error`` itself wrapped in ``error``."""
        try:
            return cls(**options)
        except error:
            raise       # the plugin already says what is wrong, in the contract's own type
        except Exception as e:  # noqa: BLE001 - a plugin's constructor may fail in any way
            what = (f"rejected its options {sorted(options)}" if isinstance(e, (TypeError, ValueError))
                    else "failed to start")
            raise error(f"{self.kind} {name!r} ({cls.__module__}.{cls.__qualname__}) {what}: "
                        f"{type(e).__name__}: {e} (plugins found: {self.listing(self.available())})") from e
