"""What a ROS release needs beside the code: the licence in every package, a NOTICE that names
every model the manifest can fetch, and CHANGELOG.rst files that bloom's tools can read.

The repository-level checks skip outside a checkout of the whole repository (a released
package on its own has no sibling package and no root NOTICE).
"""

from __future__ import annotations

import datetime
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pose_ros.models import load_manifest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [p for p in (ROOT / "pose_ros", ROOT / "pose_ros_msgs") if (p / "package.xml").is_file()]


def _package(path: Path) -> ET.Element:
    return ET.parse(path / "package.xml").getroot()


def _in_checkout() -> None:
    if not (ROOT / "NOTICE").is_file() or len(PACKAGES) != 2:
        pytest.skip("not a checkout of the whole pose_ros repository")


@pytest.mark.parametrize("pkg", PACKAGES, ids=lambda p: p.name)
def test_each_package_carries_the_apache_licence_its_package_xml_names(pkg):
    text = (pkg / "LICENSE").read_text()
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX: How to apply the Apache License" in text
    assert [e.text for e in _package(pkg).findall("license")] == ["Apache-2.0"]


def test_the_package_licences_are_the_root_one():
    _in_checkout()
    root = (ROOT / "LICENSE").read_bytes()
    assert all((pkg / "LICENSE").read_bytes() == root for pkg in PACKAGES)


def test_notice_names_every_model_the_manifest_can_fetch_and_its_licence():
    _in_checkout()
    notice = (ROOT / "NOTICE").read_text()
    for name, spec in load_manifest().items():
        assert re.search(rf"\b{re.escape(name)}\b", notice), f"NOTICE does not mention model {name}"
        family = "Apache License 2.0" if spec.license.startswith("Apache-2.0") else "non-commercial"
        assert family in notice, f"NOTICE lacks the licence of {name}: {spec.license}"


@pytest.mark.parametrize("pkg", PACKAGES, ids=lambda p: p.name)
def test_changelog_is_in_catkin_generate_changelog_form(pkg):
    """A title, then 'Forthcoming' (what catkin_prepare_release turns into the version) or
    sections 'X.Y.Z (YYYY-MM-DD)', the newest first and equal to package.xml's version."""
    changelog = pytest.importorskip("catkin_pkg.changelog")
    name, version = pkg.name, _package(pkg).findtext("version")
    text = (pkg / "CHANGELOG.rst").read_text()
    title = f"Changelog for package {name}"
    bar = "^" * len(title)
    assert text.startswith(f"{bar}\n{title}\n{bar}\n\n"), "title block as catkin_generate_changelog writes it"
    heads = re.findall(r"^(.+)\n(-+)$", text, re.M)
    assert heads, "no version section"
    assert all(len(line) == len(head) for head, line in heads), "underline length differs from its title"
    newest = heads[0][0]
    if newest == "Forthcoming":   # what catkin_prepare_release does at release time
        today = datetime.date.today().isoformat()
        head = f"{version} ({today})"
        text = text.replace("Forthcoming\n-----------\n", f"{head}\n{'-' * len(head)}\n", 1)
    parsed = changelog.Changelog(name)
    changelog.populate_changelog_from_rst(parsed, text)
    versions = [v for v, _date, _content in parsed.foreach_version()]
    assert versions and versions[0] == version, (versions, version)
    assert len(versions) == len(heads), "a section title that is neither Forthcoming nor 'X.Y.Z (date)'"
    assert "* Contributors:" in text
