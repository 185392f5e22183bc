"""Estimator plugin API and discovery.

An estimator turns one image into a :class:`~pose_ros.core.persons.PoseResult`. Backends
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
from typing import Dict

import numpy as np

# What a plugin author needs, importable from here alone (the plugin examples use only this).
from pose_ros.core.paf import DecodeParams
from pose_ros.core.persons import Person, PoseResult
from pose_ros.core.skeletons import COCO18, Skeleton, get_skeleton
from pose_ros.plugins import EstimatorError, PluginRegistry

__all__ = ["COCO18", "COMMON_OPTIONS", "DecodeParams", "Estimator", "EstimatorError", "Person", "PoseResult",
           "RUNTIME_OPTIONS", "Skeleton", "as_bgr", "available_estimators", "get_skeleton", "load_estimator"]

ENTRY_POINT_GROUP = "pose_ros.estimators"
API_VERSION = 1
#: Options the pose node passes to every estimator (from its parameters). A plugin must
#: accept them all, and may ignore those that mean nothing to it.
COMMON_OPTIONS = ("model", "input_width", "input_height", "backend", "decode_params")
#: Options choosing the inference runtime (``pose_ros.runtimes``): passed only to estimators
#: whose class sets ``accepts_runtime_options = True``, so API-1 plugins written before
#: runtimes existed keep working unchanged.
RUNTIME_OPTIONS = ("runtime", "device", "precision")


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
    #: True when the constructor takes :data:`RUNTIME_OPTIONS` (it runs its network through
    #: a ``pose_ros.runtimes`` plugin).
    accepts_runtime_options = False
    #: True when ``infer`` takes ``stream=`` (a camera's key): the estimator keeps state per
    #: camera across frames (the built-in one's lookout). The node then passes it.
    accepts_stream = False

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

_registry = PluginRegistry(ENTRY_POINT_GROUP, "estimator")


def available_estimators() -> Dict[str, md.EntryPoint]:
    """Installed estimator plugins by name (scanned once per process; see clear_discovery_cache)."""
    return _registry.available()


def clear_discovery_cache() -> None:
    """Forget the scan, e.g. after installing a plugin into a running interpreter."""
    _registry.clear()


def load_estimator(name: str, **options) -> Estimator:
    """Import plugin ``name`` and construct it with ``options``; every failure is an EstimatorError.

    ``runtime``, ``device`` and ``precision`` (see :data:`RUNTIME_OPTIONS`) reach only
    plugins that set ``accepts_runtime_options``; others never see them.
    """
    cls = _registry.load_class(name, Estimator, API_VERSION, EstimatorError)
    if not getattr(cls, "accepts_runtime_options", False):
        options = {k: v for k, v in options.items() if k not in RUNTIME_OPTIONS}
    return _registry.construct(name, cls, EstimatorError, **options)
