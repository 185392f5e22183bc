"""Plugin discovery through real entry points.

Each test builds an installed-looking distribution in tmp_path: the package source
of ``test/plugin_example`` (the documented third-party example) plus a
``*.dist-info`` folder with METADATA and entry_points.txt. With tmp_path on
sys.path, importlib.metadata finds it exactly as it finds a pip-installed plugin.
"""

from __future__ import annotations

import importlib.metadata as md
import logging
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from plugin_dists import install_dist
from pose_ros.estimators import ENTRY_POINT_GROUP, EstimatorError, available_estimators, load_estimator

from pose_ros import estimators

EXAMPLE = Path(__file__).parent / "plugin_example"
PLUGIN_PKG = "pose_ros_test_plugin"


def example_entry_point() -> str:
    """The entry-point line the example's setup.py declares (so test and example cannot drift)."""
    match = re.search(r'"(fixed_example = [\w.]+:\w+)"', (EXAMPLE / "setup.py").read_text())
    assert match, "plugin_example/setup.py must declare fixed_example"
    return match.group(1)


def write_dist(root: Path, dist: str, entry_lines, with_package: bool = True) -> None:
    """An installed distribution: optional package source + dist-info with entry points."""
    install_dist(root, dist, ENTRY_POINT_GROUP, entry_lines, EXAMPLE / PLUGIN_PKG if with_package else None)


@pytest.fixture
def plugin_path(tmp_path, monkeypatch):
    """tmp_path on sys.path with a fresh discovery cache, cleaned up afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    for mod in [m for m in sys.modules if m == PLUGIN_PKG or m.startswith(PLUGIN_PKG + ".")]:
        monkeypatch.delitem(sys.modules, mod)
    estimators.clear_discovery_cache()
    yield tmp_path
    estimators.clear_discovery_cache()
    for mod in [m for m in sys.modules if m == PLUGIN_PKG or m.startswith(PLUGIN_PKG + ".")]:
        del sys.modules[mod]


def test_example_plugin_is_discovered_and_runs(plugin_path):
    write_dist(plugin_path, "pose-ros-test-plugin", [example_entry_point()])
    found = available_estimators()
    assert "fixed_example" in found
    assert found["fixed_example"].value == "pose_ros_test_plugin:FixedEstimator"

    est = load_estimator("fixed_example", label="demo")
    assert isinstance(est, estimators.Estimator)
    assert est.describe()["model"] == "demo"
    assert {"estimator", "model", "backend", "target", "input_size"} <= set(est.describe())
    result = est.infer(np.zeros((30, 40), np.uint8))     # mono input goes through as_bgr
    assert (result.image_width, result.image_height) == (40, 30)
    assert result.persons == [] and result.skeleton == "coco18"


def test_builtin_openpose_listed_when_pose_ros_is_installed(plugin_path):
    write_dist(plugin_path, "pose-ros-test-plugin", [example_entry_point()])
    found = available_estimators()
    try:
        md.distribution("pose_ros")
    except md.PackageNotFoundError:
        pytest.skip("pose_ros is not installed here (source tree only), so its own "
                    "openpose_dnn entry point cannot be registered")
    assert found["openpose_dnn"].value == "pose_ros.estimators.openpose_dnn:OpenPoseDnnEstimator"


def test_unknown_name_lists_the_plugins_found(plugin_path):
    write_dist(plugin_path, "pose-ros-test-plugin", [example_entry_point()])
    with pytest.raises(EstimatorError) as err:
        load_estimator("no_such_net")
    assert "'no_such_net'" in str(err.value)
    assert "fixed_example" in str(err.value)


def test_import_failure_reports_the_error_and_other_plugins(plugin_path):
    (plugin_path / "broken_plugin.py").write_text(
        "raise ImportError('libfancy.so.3: cannot open shared object file')\n")
    write_dist(plugin_path, "pose-ros-test-plugin",
               [example_entry_point(), "broken = broken_plugin:Estimator"])
    with pytest.raises(EstimatorError) as err:
        load_estimator("broken")
    message = str(err.value)
    assert "libfancy.so.3: cannot open shared object file" in message
    assert "ImportError" in message
    assert "fixed_example" in message
    # the failure is per plugin: the working one still loads
    assert load_estimator("fixed_example").describe()["estimator"] == "fixed_example"


def test_bad_options_become_estimator_error(plugin_path):
    write_dist(plugin_path, "pose-ros-test-plugin", [example_entry_point()])
    with pytest.raises(EstimatorError, match="unknown option"):
        load_estimator("fixed_example", colour="red")


def test_any_constructor_failure_becomes_estimator_error_naming_plugin_and_cause(plugin_path):
    (plugin_path / "crashing_plugin.py").write_text(
        "from pose_ros_test_plugin import FixedEstimator\n"
        "class Crashing(FixedEstimator):\n"
        "    def __init__(self, **options):\n"
        "        raise RuntimeError('GPU context lost')\n")
    write_dist(plugin_path, "pose-ros-test-plugin",
               [example_entry_point(), "crashing = crashing_plugin:Crashing"])
    with pytest.raises(EstimatorError) as err:
        load_estimator("crashing", label="x")
    message = str(err.value)
    assert "'crashing'" in message
    assert "RuntimeError: GPU context lost" in message
    assert isinstance(err.value.__cause__, RuntimeError)
    assert str(err.value.__cause__) == "GPU context lost"


def test_entry_point_that_is_not_an_estimator_is_refused(plugin_path):
    (plugin_path / "not_a_plugin.py").write_text("class Thing:\n    pass\n")
    write_dist(plugin_path, "pose-ros-not-plugin", ["thing = not_a_plugin:Thing"], with_package=False)
    with pytest.raises(EstimatorError, match="not a pose_ros.estimators.Estimator subclass"):
        load_estimator("thing")


def test_other_api_version_is_refused(plugin_path):
    (plugin_path / "future_plugin.py").write_text(
        "from pose_ros_test_plugin import FixedEstimator\n"
        "class Future(FixedEstimator):\n    api_version = 2\n")
    write_dist(plugin_path, "pose-ros-test-plugin", ["future = future_plugin:Future"])
    with pytest.raises(EstimatorError, match="API version 2"):
        load_estimator("future")


def test_malformed_entry_point_is_skipped_with_a_warning(plugin_path, caplog):
    write_dist(plugin_path, "pose-ros-test-plugin", [example_entry_point(), "mangled = not a:valid ref!"])
    with caplog.at_level(logging.WARNING, logger="pose_ros.estimators"):
        found = available_estimators()
    assert "mangled" not in found and "fixed_example" in found
    assert any("mangled" in r.getMessage() for r in caplog.records)


def test_duplicate_name_first_distribution_wins_with_warning(plugin_path, caplog):
    write_dist(plugin_path, "pose-ros-test-plugin", [example_entry_point()])
    write_dist(plugin_path, "pose-ros-other-plugin", ["fixed_example = somewhere_else:Other"],
               with_package=False)
    with caplog.at_level(logging.WARNING, logger="pose_ros.estimators"):
        found = available_estimators()
    assert found["fixed_example"].value in ("pose_ros_test_plugin:FixedEstimator", "somewhere_else:Other")
    assert any("already provided" in r.getMessage() for r in caplog.records)


def test_discovery_is_cached_until_cleared(plugin_path):
    before = available_estimators()
    assert "fixed_example" not in before
    write_dist(plugin_path, "pose-ros-test-plugin", [example_entry_point()])
    assert "fixed_example" not in available_estimators()     # scanned once, cached
    estimators.clear_discovery_cache()
    assert "fixed_example" in available_estimators()


def test_as_bgr_rejects_unusable_images():
    with pytest.raises(EstimatorError, match="too small"):
        estimators.as_bgr(np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(EstimatorError, match="too small"):
        estimators.as_bgr(np.zeros((0, 0, 3), np.uint8))
    with pytest.raises(EstimatorError, match="uint8"):
        estimators.as_bgr(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(EstimatorError, match="shape"):
        estimators.as_bgr(np.zeros((8, 8, 2), np.uint8))
    bgra = np.dstack([np.full((4, 5), v, np.uint8) for v in (1, 2, 3, 4)])
    assert estimators.as_bgr(bgra).shape == (4, 5, 3)
    assert estimators.as_bgr(bgra)[0, 0].tolist() == [1, 2, 3]
