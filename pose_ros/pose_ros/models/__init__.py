"""Model management: the manifest, the local cache and its checks, fetching.

Why a manifest and a cache instead of shipping weights: the models are large, have
their own licences, and several upstream servers come and go. The manifest pins each
file by size and digest and lists several sources; the cache lives outside the
package so ``colcon build`` stays small.

One module per job, all re-exported here (``from pose_ros import models``):

* :mod:`.manifest`: parsing ``manifest.yaml`` (:func:`load_manifest`, :func:`get_model`);
* :mod:`.cache`: where files live and checking them by size and digest, every time
  (:func:`resolve`, :func:`verify`);
* :mod:`.fetch`: downloads, the only code that touches the network (:func:`fetch`), run
  by the ``pose_ros_models`` command, never at node start;
* :mod:`.cli`: the ``pose_ros_models`` command.
"""

from __future__ import annotations

from .cache import (
                    CORRUPT,
                    MISSING,
                    UNVERIFIED,
                    VERIFIED,
                    FileStatus,
                    ModelStatus,
                    ResolvedModel,
                    cache_dir,
                    cached_models,
                    check_file,
                    file_digests,
                    model_dir,
                    model_path,
                    resolve,
                    verify,
)
from .fetch import DEFAULT_INDEX, DOWNLOAD_TIMEOUT_S, fetch, fetch_file, index_urls
from .manifest import (
                    CLI,
                    FILE_ROLES,
                    FORMATS,
                    SOURCE_KINDS,
                    UPSTREAM_DIGESTS,
                    FileSpec,
                    ModelError,
                    ModelSpec,
                    Preprocessing,
                    Source,
                    get_model,
                    load_manifest,
                    parse_manifest,
)

__all__ = [
    "CLI", "CORRUPT", "DEFAULT_INDEX", "DOWNLOAD_TIMEOUT_S", "FILE_ROLES", "FORMATS", "MISSING",
    "SOURCE_KINDS", "UNVERIFIED", "UPSTREAM_DIGESTS", "VERIFIED", "FileSpec", "FileStatus", "ModelError",
    "ModelSpec", "ModelStatus", "Preprocessing", "ResolvedModel", "Source", "cache_dir", "cached_models",
    "check_file", "fetch", "fetch_file", "file_digests", "get_model", "index_urls",
    "load_manifest", "model_dir", "model_path", "parse_manifest", "resolve", "verify",
]
