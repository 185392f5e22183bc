"""Docs that cannot rot: every link, repository path and module the Markdown docs name exists.

The README, CONTRIBUTING.md, bench/README.md and every ``doc/*.md`` are read as text and
checked against this checkout: relative links (and their ``#anchors``) resolve, repository
paths in code spans and code blocks exist, every ``pose_ros.x.y`` is a module of the source
tree or a name defined in one (found from the files and their ``ast``, nothing is imported),
``ros2 run`` / ``ros2 launch`` commands name real executables, launch files and launch
arguments, and the README keeps its two set-up commands. A module moved or renamed without
its docs fails here instead of in a newcomer's shell.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = ROOT / "pose_ros" / "pose_ros"
LAUNCH_DIR = ROOT / "pose_ros" / "launch"


def _docs() -> List[Path]:
    named = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "bench" / "README.md"]
    return [p for p in named if p.is_file()] + sorted((ROOT / "doc").glob("*.md"))


DOCS = _docs()

# A code-span token whose first segment is one of these is a repository path and must exist.
REPO_ROOTS = {"pose_ros", "pose_ros_msgs", "bench", "tools", "doc", ".ci", ".github"}
# Any other relative token ending in one of these, or in "/", is a path too, resolved from the
# repository root or the doc's own folder (a folder also from the package: the layers, `core/`).
FILE_SUFFIXES = {".py", ".md", ".xml", ".yaml", ".yml", ".txt", ".sh", ".json", ".jsonl", ".png", ".rviz",
                 ".rst", ".cfg", ".toml", ".mp4", ".msg", ".npy", ".in"}
# Paths the user's own commands create; the docs name them, a checkout never holds them.
USER_CREATED = ("demo_output/", "pose_output/", ".venv/", "build/", "install/", "log/")
# ``pkg/Type`` and ``pkg/msg/Type``: ROS interface names, not paths.
ROS_TYPE = re.compile(r"^[a-z][a-z0-9_]*/(?:msg/|srv/)?[A-Z][A-Za-z0-9]*$")

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
MODULE = re.compile(r"(?<![\w./-])pose_ros(?:\.[A-Za-z_]\w*)+")
ROS2_RUN = re.compile(r"ros2 run pose_ros (\w+)")
ROS2_LAUNCH = re.compile(r"ros2 launch pose_ros (\S+)((?:[ \t]+[\w-]+:=\S+)*)")


def code_texts(text: str) -> Iterator[str]:
    """The fenced code blocks, then the inline code spans of what is left."""
    for block in FENCE.finditer(text):
        yield block.group(1)
    for span in CODE_SPAN.finditer(FENCE.sub("", text)):
        yield span.group(1)


def path_tokens(code: str) -> Iterator[str]:
    """Tokens of a code snippet that name a file or folder of the repository."""
    for raw in code.split():
        token = raw.strip(",;:()[]\"'")
        if "/" not in token or not re.fullmatch(r"[\w.\-/]+", token) or "..." in token:
            continue
        if token.startswith("/") or ROS_TYPE.match(token):
            continue
        first = token.split("/", 1)[0]
        if first in REPO_ROOTS or token.endswith("/") or Path(token.rstrip("/")).suffix in FILE_SUFFIXES:
            yield token


def path_exists(token: str, doc: Path) -> bool:
    if token.startswith(USER_CREATED):
        return True
    rel = token.rstrip("/")
    if (ROOT / rel).exists() or (doc.parent / rel).exists():
        return True
    return token.endswith("/") and (PACKAGE_DIR / rel).is_dir()   # a layer: `core/`, `ros/convert/`


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> Set[str]:
    found: Set[str] = set()
    seen: Dict[str, int] = {}
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", FENCE.sub("", text), re.M):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def link_problem(target: str, doc: Path, text: str) -> Optional[str]:
    if re.match(r"^[a-z][a-z0-9+.-]*:", target):   # https:, mailto:
        return None
    path, _, anchor = target.partition("#")
    dest = (doc.parent / path).resolve() if path else doc
    if path and not dest.exists():
        return f"link to a missing file: {target}"
    if anchor and dest.suffix == ".md":
        heads = anchors(text if dest == doc else dest.read_text())
        if anchor not in heads:
            return f"link to a missing heading: {target}"
    return None


def _module_file(parts: List[str]) -> Optional[Path]:
    base = PACKAGE_DIR.parent.joinpath(*parts)
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=None)
def _defined(path: Path) -> Dict[str, Optional[ast.ClassDef]]:
    """Top-level names of a module (functions, classes, assignments, imports); classes map to their node."""
    names: Dict[str, Optional[ast.ClassDef]] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ClassDef):
            names[node.name] = node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names[node.name] = None
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names[(alias.asname or alias.name).split(".")[0]] = None
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        names[name.id] = None
        elif isinstance(node, (ast.Try, ast.If)):   # try: import X / except ImportError: X = None
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    for alias in inner.names:
                        names[(alias.asname or alias.name).split(".")[0]] = None
    return names


def _class_members(node: ast.ClassDef) -> Set[str]:
    members = set()
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            members.add(item.name)
        elif isinstance(item, ast.Assign):
            members |= {t.id for t in item.targets if isinstance(t, ast.Name)}
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            members.add(item.target.id)
    return members


def module_problem(dotted: str) -> Optional[str]:
    """None when ``dotted`` is a module of the source tree, or a name defined in one."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        found = _module_file(parts[:cut])
        if found is None:
            continue
        rest = parts[cut:]
        if not rest:
            return None
        names = _defined(found)
        if rest[0] not in names:
            return f"{dotted}: {'.'.join(parts[:cut])} defines no {rest[0]}"
        cls = names[rest[0]]
        if len(rest) > 1 and cls is not None and rest[1] not in _class_members(cls):
            return f"{dotted}: class {rest[0]} has no {rest[1]}"
        return None
    return f"{dotted}: no such module"


@lru_cache(maxsize=None)
def console_scripts() -> Set[str]:
    return set(re.findall(r"\"(\w+) = pose_ros\.[\w.]+:\w+\"", (ROOT / "pose_ros" / "setup.py").read_text()))


@lru_cache(maxsize=None)
def launch_arguments(launch_file: str) -> Optional[Set[str]]:
    path = LAUNCH_DIR / launch_file
    if not path.is_file():
        return None
    return set(re.findall(r"DeclareLaunchArgument\(\s*\"(\w+)\"", path.read_text()))


def command_problems(code: str) -> Iterator[str]:
    for exe in ROS2_RUN.findall(code):
        if exe not in console_scripts():
            yield f"ros2 run pose_ros {exe}: no such executable in pose_ros/setup.py"
    for launch_file, args in ROS2_LAUNCH.findall(code):
        declared = launch_arguments(launch_file)
        if declared is None:
            yield f"ros2 launch pose_ros {launch_file}: no such file in pose_ros/launch"
            continue
        for name in re.findall(r"([\w-]+):=", args):
            if name not in declared:
                yield f"ros2 launch pose_ros {launch_file}: no launch argument {name}"


def problems(text: str, doc: Path) -> List[str]:
    """Everything in ``text`` (the contents of ``doc``) that names something missing."""
    found: List[str] = []
    for target in LINK.findall(text):
        why = link_problem(target, doc, text)
        if why:
            found.append(why)
    for code in code_texts(text):
        found += [f"missing path: {token}" for token in path_tokens(code) if not path_exists(token, doc)]
        found += command_problems(code)
    for dotted in dict.fromkeys(MODULE.findall(text)):
        why = module_problem(dotted)
        if why:
            found.append(f"module {why}")
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_path_and_module_a_doc_names_exists(doc):
    assert problems(doc.read_text(), doc) == []


def test_the_docs_are_the_expected_set():
    """The front page and the reference pages it links: a doc/ page nobody links is lost."""
    names = {str(p.relative_to(ROOT)) for p in DOCS}
    assert {"README.md", "CONTRIBUTING.md", "bench/README.md"} <= names
    readme = (ROOT / "README.md").read_text()
    for page in (ROOT / "doc").glob("*.md"):
        assert f"(doc/{page.name}" in readme, f"README does not link doc/{page.name}"


def test_the_readme_keeps_its_two_commands_and_the_apt_quick_start():
    readme = (ROOT / "README.md").read_text()
    first_block = FENCE.search(readme).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.split("#")[0].strip()]
    assert commands == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    for command in ("colcon build", "ros2 run pose_ros pose_ros_models fetch mobilenet_thin",
                    "ros2 launch pose_ros webcam.launch.py"):
        assert command in readme, command


def test_every_parameter_of_the_shipped_params_file_is_documented():
    params = re.findall(r"^    (\w+):", (ROOT / "pose_ros" / "config" / "pose.yaml").read_text(), re.M)
    assert len(params) > 20
    node_doc = (ROOT / "doc" / "node.md").read_text()
    assert [p for p in params if f"`{p}`" not in node_doc] == []


# The checker itself, on small texts: each kind of rot is caught, and only the rot.
HERE = ROOT / "doc" / "example.md"


def test_the_checker_catches_a_broken_link_and_a_missing_anchor():
    text = "# Title\n\nSee [ok](../README.md), [gone](../bench/nope.md), [self](#title), [bad](#nowhere), " \
           "[web](https://example.org/x) and ![pic](demo_snapshot.png).\n"
    assert problems(text, HERE) == ["link to a missing file: ../bench/nope.md", "link to a missing heading: #nowhere"]


def test_the_checker_catches_a_wrong_module_path():
    text = ("`pose_ros.core.paf`, `pose_ros.core.paf.decode_output`, `pose_ros.estimators.Estimator.infer`, "
            "`pose_ros.core.no_such_module`, `pose_ros.core.paf.no_such_name`, `pose_ros.estimators.Estimator.nope`,"
            " `pose_ros_msgs.msg.Skeleton`, `pose_ros_msgs/Skeleton`")
    assert problems(text, HERE) == [
        "module pose_ros.core.no_such_module: pose_ros.core defines no no_such_module",
        "module pose_ros.core.paf.no_such_name: pose_ros.core.paf defines no no_such_name",
        "module pose_ros.estimators.Estimator.nope: class Estimator has no nope"]


def test_the_checker_catches_a_missing_path_but_allows_what_the_user_creates():
    text = ("Run `python bench/soak.py --seconds 600`, read `pose_ros/launch/nope.launch.py` and "
            "`demo_output/persons.jsonl`, layers `core/` and `ros/convert/` but not `cores/`; topics "
            "`image_markers/limbs`, types `sensor_msgs/Image`.\n\n"
            "```bash\nsource tools/env.sh && python tools/gone.py\n```\n")
    assert problems(text, HERE) == ["missing path: tools/gone.py", "missing path: pose_ros/launch/nope.launch.py",
                                    "missing path: cores/"]


def test_the_checker_catches_a_wrong_executable_launch_file_or_launch_argument():
    text = ("`ros2 run pose_ros pose_node`, `ros2 run pose_ros pose_nodes`, "
            "`ros2 launch pose_ros webcam.launch.py rviz:=true camera:=oak`, `ros2 launch pose_ros cam.launch.py`")
    assert problems(text, HERE) == [
        "ros2 run pose_ros pose_nodes: no such executable in pose_ros/setup.py",
        "ros2 launch pose_ros webcam.launch.py: no launch argument camera",
        "ros2 launch pose_ros cam.launch.py: no such file in pose_ros/launch"]
