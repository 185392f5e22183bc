"""The local model cache: where files live, and checking them against the manifest.

Every check hashes the file. An earlier version trusted a stamp file keyed by size,
mtime, ctime and inode to skip hashing; anyone who can write the cache can write such
a stamp for a tampered file, so there is no shortcut any more. Hashing is cheap next
to loading a network (the default 7.8 MB model: about 10 ms; a 200 MB Caffe model:
well under a second), and it happens where the model is resolved for loading.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional

from .manifest import CLI, FileSpec, ModelError, ModelSpec, get_model, load_manifest

log = logging.getLogger(__name__)

_CHUNK = 1 << 20

# File states reported by verify().
VERIFIED = "verified"        # every known digest and size matches
UNVERIFIED = "unverified"    # present, size fine, but no digest known to check against
MISSING = "missing"
CORRUPT = "corrupt"


# --------------------------------------------------------------------------- cache layout


def cache_dir() -> Path:
    """Where models live: $POSE_ROS_MODELS, else $XDG_CACHE_HOME/pose_ros/models, else ~/.cache/..."""
    explicit = os.environ.get("POSE_ROS_MODELS")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "pose_ros" / "models"


def model_dir(spec: ModelSpec) -> Path:
    return cache_dir() / spec.name


def model_path(spec: ModelSpec, file_role: str = "weights") -> Path:
    """Cache path of one file of ``spec`` (whether or not it exists yet)."""
    try:
        return model_dir(spec) / spec.files[file_role].filename
    except KeyError:
        raise ModelError(f"model {spec.name!r} has no {file_role!r} file; it has: "
                         f"{', '.join(spec.files)}") from None


# --------------------------------------------------------------------------- verification


def file_digests(path: Path, algorithms=("sha256",)) -> Dict[str, str]:
    """Hex digests of a file, all algorithms in one read."""
    hashers = {alg: hashlib.new(alg) for alg in algorithms}
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            for h in hashers.values():
                h.update(chunk)
    return {alg: h.hexdigest() for alg, h in hashers.items()}


# Digests of files already hashed, by identity: (path, device, inode, size, mtime, ctime). A node
# retrying a load every few seconds re-hashed a broken 1 GiB file each time (8.5 s of stalled
# output per retry); an unchanged file is not read again, and any write, copy or rename onto the
# path changes its ctime (which no user can set back), so a replaced file is still hashed anew.
_DIGEST_MEMO: Dict[tuple, Dict[str, str]] = {}
_MEMO_MAX = 64


def _identity(path: Path) -> tuple:
    st = path.stat()
    return (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def digests_of(path: Path, algorithms) -> Dict[str, str]:
    """:func:`file_digests`, read once per version of the file."""
    key = _identity(path)
    known = _DIGEST_MEMO.get(key, {})
    missing = [a for a in algorithms if a not in known]
    if missing:
        known = {**known, **file_digests(path, missing)}
        if key not in _DIGEST_MEMO and len(_DIGEST_MEMO) >= _MEMO_MAX:
            _DIGEST_MEMO.pop(next(iter(_DIGEST_MEMO)))
        _DIGEST_MEMO[key] = known
    return {a: known[a] for a in algorithms}


@dataclass
class FileStatus:
    role: str
    path: Path
    state: str            # VERIFIED / UNVERIFIED / MISSING / CORRUPT
    detail: str = ""
    sha256: Optional[str] = None


@dataclass
class ModelStatus:
    """Result of :func:`verify`: the worst state over the model's files."""

    name: str
    files: List[FileStatus] = field(default_factory=list)

    @property
    def state(self) -> str:
        order = (CORRUPT, MISSING, UNVERIFIED, VERIFIED)
        states = {f.state for f in self.files}
        return next(s for s in order if s in states)

    @property
    def ok(self) -> bool:
        return self.state in (VERIFIED, UNVERIFIED)

def check_file(fs: FileSpec, path: Path) -> FileStatus:
    """Size + digest check of one file against ``fs``: the size first (a file of the wrong size
    is never read), then the digests, read once per version of the file (:func:`digests_of`)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return FileStatus(fs.role, path, MISSING, "not downloaded")
    if fs.size is not None and size != fs.size:
        return FileStatus(fs.role, path, CORRUPT, f"size {size} bytes, expected {fs.size}")
    expected = fs.expected_digests()
    got = digests_of(path, sorted(set(expected) | {"sha256"}))
    wrong = [alg for alg, hexd in expected.items() if got[alg] != hexd]
    if wrong:
        return FileStatus(fs.role, path, CORRUPT,
                          f"{wrong[0]} is {got[wrong[0]]}, expected {expected[wrong[0]]}", got["sha256"])
    if expected:
        return FileStatus(fs.role, path, VERIFIED, f"{', '.join(sorted(expected))} match", got["sha256"])
    return FileStatus(fs.role, path, UNVERIFIED,
                      f"no digest pinned in the manifest; sha256 is {got['sha256']}", got["sha256"])


def verify(name: str) -> ModelStatus:
    """Check every file of model ``name`` on disk (never downloads)."""
    spec = get_model(name)
    return ModelStatus(name, [check_file(fs, model_path(spec, role)) for role, fs in spec.files.items()])


@dataclass(frozen=True)
class ResolvedModel:
    """A model whose files are all on disk and checked."""

    spec: ModelSpec
    paths: Dict[str, Path]
    state: str    # VERIFIED or UNVERIFIED

    @property
    def weights(self) -> Path:
        return self.paths["weights"]

    @property
    def config(self) -> Optional[Path]:
        return self.paths.get("config")


def resolve(name: str) -> ResolvedModel:
    """Paths of all files of ``name``, checked by size and digest; raises ModelError saying what to run."""
    status = verify(name)
    for f in status.files:
        if f.state == MISSING:
            raise ModelError(f"model {name!r} is not downloaded ({f.path} is missing). "
                             f"Run: {CLI} fetch {name}")
        if f.state == CORRUPT:
            raise ModelError(f"model {name!r} is corrupt: {f.path}: {f.detail}. "
                             f"Run: {CLI} fetch --force {name}")
    if status.state == UNVERIFIED:
        log.warning("model %r is unverified (no digest pinned in the manifest): %s", name,
                    "; ".join(f"{f.path.name}: sha256 {f.sha256}" for f in status.files
                              if f.state == UNVERIFIED))
    return ResolvedModel(get_model(name), {f.role: f.path for f in status.files}, status.state)


def cached_models() -> Iterator[str]:
    """Names of manifest models with at least one file in the cache."""
    for name, spec in load_manifest().items():
        if any(model_path(spec, role).exists() for role in spec.files):
            yield name
