"""Estimator plugin API and discovery.

An estimator turns one image into a :class:`~pose_ros.persons.PoseResult`. Backends
are found only through the ``pose_ros.estimators`` entry-point group, the built-in
OpenPose/cv2.dnn one included, so a third-party package plugs in exactly like the
built-in does (see ``test/plugin_example``)::

    entry_points={"pose_ros.estimators": ["my_net = my_pkg.module:MyEstimator"]}

and is then used with ``load_estimator("my_net", **options)`` (the node's
``estimator`` parameter).
"""

from __future__ import annotations

import abc
import importlib.metadata as md
import logging
import re
import threading
from typing import TYPE_CHECKING, Dict, Optional

import numpy as np

from pose_ros.persons import PoseResult
from pose_ros.skeletons import Skeleton

if TYPE_CHECKING:  # the parser is only needed by estimators that decode OpenPose maps
    from pose_ros.paf import DecodeParams

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "pose_ros.estimators"
API_VERSION = 1
#: Options the pose node passes to every estimator (from its parameters). A plugin must
#: accept them all, and may ignore those that mean nothing to it.
COMMON_OPTIONS = ("model", "input_width", "input_height", "backend", "decode_params")


class EstimatorError(Exception):
    """An estimator cannot be found, loaded, configured or run; the message says why."""


class Estimator(abc.ABC):
    """Base class of all estimator plugins.

    Subclasses take their configuration as keyword options (strings, numbers, bools:
    what a ROS parameter or YAML file can carry) and raise :class:`EstimatorError`
    for bad ones. The node always passes :data:`COMMON_OPTIONS`. ``infer`` is called from one
    thread at a time per instance; ``set_decode_params`` may be called from another thread
    between calls.
    """

    #: Version of this API the plugin was written against; load_estimator refuses others.
    api_version = 1

    def __init__(self, **options) -> None:
        self.options = dict(options)

    @property
    @abc.abstractmethod
    def skeleton(self) -> Skeleton:
        """Keypoint layout of the persons this estimator returns."""

    @abc.abstractmethod
    def infer(self, image: np.ndarray) -> PoseResult:
        """Estimate poses in a BGR uint8 (H, W, 3) or mono (H, W) image.

        Keypoints are in pixels of ``image``; ``timings_ms`` names the stages.
        """

    def set_decode_params(self, params: "DecodeParams") -> None:
        """Change parsing thresholds at run time (validated first, applied atomically)."""
        if not callable(getattr(params, "validate", None)):
            raise EstimatorError(f"decode params must be a DecodeParams, got {type(params).__name__}")
        try:
            params.validate()
        except (TypeError, ValueError) as e:   # TypeError: a field of the wrong type, e.g. a str
            raise EstimatorError(f"{type(e).__name__}: {e}" if isinstance(e, TypeError) else str(e)) from e
        self.decode_params = params

    @abc.abstractmethod
    def describe(self) -> dict:
        """What is actually running, for logs and diagnostics.

        At least ``estimator``, ``model``, ``backend``, ``target`` and ``input_size``;
        backend/target are the ones in use after any fallback.
        """


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Validate an input image and return it as contiguous BGR uint8 (H, W, 3).

    Mono (H, W) / (H, W, 1) is replicated to three channels; BGRA drops alpha.
    Anything else raises EstimatorError with the reason.
    """
    if image is None:
        raise EstimatorError("image is None")
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise EstimatorError(f"image must be uint8, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if image.ndim != 3 or image.shape[2] != 3:
        raise EstimatorError(f"image must be (H, W) mono or (H, W, 3) BGR, got shape {image.shape}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise EstimatorError(f"image is too small to estimate poses: {image.shape[1]}x{image.shape[0]} pixels")
    return np.ascontiguousarray(image)


# --------------------------------------------------------------------------- discovery

_cache_lock = threading.Lock()
_cache: Optional[Dict[str, md.EntryPoint]] = None


def _scan() -> Dict[str, md.EntryPoint]:
    """Entry points of our group, distribution by distribution so one broken one is skipped."""
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
            eps = [ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP]
        except Exception as e:  # noqa: BLE001 - unreadable metadata must not stop discovery
            log.warning("skipping distribution at %s: unreadable metadata (%s)",
                        getattr(dist, "_path", "?"), e)
            continue
        for ep in eps:
            if not ep.pattern.match(ep.value):
                log.warning("skipping estimator %r of %s: malformed entry point %r",
                            ep.name, dist_name, ep.value)
            elif ep.name in found:
                log.warning("estimator %r of %s ignored: already provided by %s (%s)",
                            ep.name, dist_name, owners[ep.name], found[ep.name].value)
            else:
                found[ep.name] = ep
                owners[ep.name] = dist_name
    return found


def available_estimators() -> Dict[str, md.EntryPoint]:
    """Installed estimator plugins by name (scanned once per process; see clear_discovery_cache)."""
    global _cache
    with _cache_lock:
        if _cache is None:
            _cache = _scan()
        return dict(_cache)


def clear_discovery_cache() -> None:
    """Forget the scan, e.g. after installing a plugin into a running interpreter."""
    global _cache
    with _cache_lock:
        _cache = None


def _listing(found: Dict[str, md.EntryPoint], exclude: str = "") -> str:
    names = sorted(n for n in found if n != exclude)
    return ", ".join(names) if names else f"none (no package declares the '{ENTRY_POINT_GROUP}' entry-point group)"


def load_estimator(name: str, **options) -> Estimator:
    """Import plugin ``name`` and construct it with ``options``; every failure is an EstimatorError."""
    found = available_estimators()
    ep = found.get(name)
    if ep is None:
        raise EstimatorError(f"unknown estimator {name!r}; plugins found: {_listing(found)}")
    try:
        cls = ep.load()
    except Exception as e:  # noqa: BLE001 - a plugin may fail to import in any way
        raise EstimatorError(f"estimator {name!r} ({ep.value}) failed to import: "
                             f"{type(e).__name__}: {e}; other plugins found: {_listing(found, name)}") from e
    if not (isinstance(cls, type) and issubclass(cls, Estimator)):
        raise EstimatorError(f"estimator {name!r} ({ep.value}) is not a pose_ros.estimators.Estimator "
                             f"subclass; plugins found: {_listing(found)}")
    if getattr(cls, "api_version", None) != API_VERSION:
        raise EstimatorError(f"estimator {name!r} implements plugin API version {cls.api_version!r}, "
                             f"this pose_ros supports {API_VERSION}")
    try:
        return cls(**options)
    except EstimatorError:
        raise       # the plugin already says what is wrong, in the contract's own type
    except Exception as e:  # noqa: BLE001 - a plugin's constructor may fail in any way
        what = (f"rejected its options {sorted(options)}" if isinstance(e, (TypeError, ValueError))
                else "failed to start")
        raise EstimatorError(f"estimator {name!r} ({ep.value}) {what}: {type(e).__name__}: {e} "
                             f"(plugins found: {_listing(found)})") from e
