"""The shipped launch files, params file and RViz config, checked without ROS launch.

``launch``/``launch_ros`` are apt-only (not on PyPI), so the launch files are checked by
their syntax tree: they compile, import only launch API that exists on Humble and Jazzy,
declare exactly the arguments launch_logic reads, and call launch_logic functions that
exist. With an apt ROS environment, ``generate_launch_description()`` is run as well.
"""

from __future__ import annotations

import ast
import importlib.util
import py_compile
from pathlib import Path

import pytest
import yaml
from pose_ros.bringup import launch_logic

PKG = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted(launch_logic.LAUNCH_FILE_ARGS)

# Documented launch / launch_ros API, present with these import paths on Humble and Jazzy.
ALLOWED_IMPORTS = {
    "launch": {"LaunchDescription"},
    "launch.actions": {"DeclareLaunchArgument", "GroupAction", "LogInfo", "OpaqueFunction", "Shutdown"},
    "launch.substitutions": {"LaunchConfiguration", "PathJoinSubstitution"},
    "launch.conditions": {"IfCondition", "UnlessCondition"},
    # LifecycleNode(name=..., namespace=..., **Node's): the same on Humble and Jazzy (launch_ros'
    # autostart= is newer than Humble, so it is not used; the node's own autostart parameter is).
    "launch_ros.actions": {"LifecycleNode", "Node", "PushRosNamespace"},
    "launch_ros.substitutions": {"FindPackageShare"},
    "pose_ros.bringup": {"launch_logic"},
}


def _tree(name: str) -> ast.Module:
    return ast.parse((PKG / "launch" / name).read_text(), filename=name)


def _calls(tree: ast.AST, func_name: str):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Name) and f.id == func_name) or \
                    (isinstance(f, ast.Attribute) and f.attr == func_name):
                yield node


def _declared(tree: ast.AST) -> list:
    names = []
    for call in _calls(tree, "DeclareLaunchArgument"):
        first = call.args[0] if call.args else next(k.value for k in call.keywords if k.arg == "name")
        assert isinstance(first, ast.Constant), "declare launch arguments with literal names"
        names.append(first.value)
    return names


def test_every_launch_file_is_shipped_and_compiles() -> None:
    on_disk = sorted(p.name for p in (PKG / "launch").glob("*.launch.py"))
    assert on_disk == LAUNCH_FILES
    for name in LAUNCH_FILES:
        py_compile.compile(str(PKG / "launch" / name), doraise=True, cfile=None)


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_imports_are_documented_launch_api_only(name: str) -> None:
    tree = _tree(name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            pytest.fail(f"{name}: use `from <module> import <name>`, not `import {node.names[0].name}`")
        if isinstance(node, ast.ImportFrom):
            assert node.module in ALLOWED_IMPORTS, f"{name}: imports from {node.module}"
            for alias in node.names:
                assert alias.name in ALLOWED_IMPORTS[node.module], \
                    f"{name}: {alias.name} from {node.module} is not in the allowed API"


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_declared_arguments_are_exactly_those_the_logic_reads(name: str) -> None:
    tree = _tree(name)
    declared = _declared(tree)
    assert len(declared) == len(set(declared)), f"{name}: an argument is declared twice"
    assert set(declared) == set(launch_logic.LAUNCH_FILE_ARGS[name])

    # LaunchConfiguration(...) takes a literal declared name or loops over this file's list.
    reads_all = False
    for comp in (n for n in ast.walk(tree) if isinstance(n, (ast.DictComp, ast.ListComp))):
        for gen in comp.generators:
            it = gen.iter
            if isinstance(it, ast.Attribute) and isinstance(it.value, ast.Name) and it.value.id == "launch_logic":
                assert getattr(launch_logic, it.attr) == launch_logic.LAUNCH_FILE_ARGS[name], \
                    f"{name} reads launch_logic.{it.attr}, not its own argument list"
                reads_all = True
    for call in _calls(tree, "LaunchConfiguration"):
        arg = call.args[0]
        if isinstance(arg, ast.Constant):
            assert arg.value in declared, f"{name}: LaunchConfiguration({arg.value!r}) is not declared"
        else:
            assert reads_all, f"{name}: LaunchConfiguration with a computed name outside the argument loop"
    assert reads_all, f"{name} should read its arguments with LaunchConfiguration(...).perform(context)"


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_launch_logic_functions_used_exist_and_run_in_an_opaque_function(name: str) -> None:
    tree = _tree(name)
    used = {n.attr for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "launch_logic"}
    missing = {attr for attr in used if not hasattr(launch_logic, attr)}
    assert not missing, f"{name} uses launch_logic.{missing}"
    functions = {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}
    assert "generate_launch_description" in functions
    opaque = list(_calls(tree, "OpaqueFunction"))
    assert len(opaque) == 1 and opaque[0].keywords[0].value.id in functions


def _is_string_parameter(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "string_parameter" and \
        isinstance(node.value, ast.Name) and node.value.id == "launch_logic"


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_every_node_pins_its_string_parameters(name: str) -> None:
    """Humble's launch_ros reads plain string values as YAML: every node_kwargs call passes
    launch_logic.string_parameter (directly or through a local name bound to it)."""
    tree = _tree(name)
    aliases = {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) and _is_string_parameter(n.value)
               for t in n.targets if isinstance(t, ast.Name)}
    calls = list(_calls(tree, "node_kwargs"))
    assert calls, f"{name} starts no node through launch_logic.node_kwargs"
    for call in calls:
        assert len(call.args) == 2, f"{name}:{call.lineno}: node_kwargs without string pinning"
        pin = call.args[1]
        assert _is_string_parameter(pin) or (isinstance(pin, ast.Name) and pin.id in aliases), \
            f"{name}:{call.lineno}: node_kwargs must get launch_logic.string_parameter"
    # No local helpers (such as a copy of string_parameter): only the description and its
    # OpaqueFunction callback; anything else belongs in launch_logic, where it is tested.
    opaque = {c.keywords[0].value.id for c in _calls(tree, "OpaqueFunction")}
    helpers = {f.name for f in tree.body if isinstance(f, ast.FunctionDef)} - opaque - {"generate_launch_description"}
    assert not helpers, f"{name}: move {sorted(helpers)} into launch_logic"


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_params_file_goes_through_the_check_that_refuses_a_missing_file(name: str) -> None:
    tree = _tree(name)
    checked = [c for c in _calls(tree, "params_file_of")]
    assert len(checked) == 1, f"{name} must pass params_file through launch_logic.params_file_of"
    raw = [n for n in ast.walk(tree) if isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Constant)
           and n.slice.value == "params_file"]
    assert not raw, f"{name} reads args['params_file'] directly (a missing file is then only a warning)"


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_every_node_gets_its_exit_handling_from_the_plan(name: str) -> None:
    """on_exit comes from launch_logic.node_kwargs (the plan's shutdown_on_exit, decided and
    tested in launch_logic.exit_reason), never written by hand in a launch file."""
    calls = [c for action in ("Node", "LifecycleNode") for c in _calls(_tree(name), action)]
    assert calls, name
    for call in calls:
        assert not [k for k in call.keywords if k.arg == "on_exit"], f"{name}: on_exit set by hand"
        spread = [k.value for k in call.keywords if k.arg is None]
        assert spread and ast.unparse(spread[0].func) == "launch_logic.node_kwargs", name


@pytest.mark.parametrize("name", [n for n in LAUNCH_FILES if "managed" in launch_logic.LAUNCH_FILE_ARGS[n]])
def test_managed_pose_node_is_a_lifecycle_node_chosen_by_its_plan(name: str) -> None:
    """``managed:=true``: the pose node's plan says so and the file starts a LifecycleNode from the
    same plan (one conditional), so a lifecycle manager or a ChangeState event can drive it."""
    choices = [n for n in ast.walk(_tree(name)) if isinstance(n, ast.IfExp)
               and ast.unparse(n.test) == "pose['managed']"]
    assert len(choices) == 1, f"{name}: start the pose node as `LifecycleNode(...) if pose['managed'] else Node(...)`"
    managed, plain = choices[0].body, choices[0].orelse
    assert ast.unparse(managed.func) == "LifecycleNode" and ast.unparse(plain.func) == "Node"
    for call in (managed, plain):
        assert ast.unparse(call.keywords[0].value.args[0]) == "pose", f"{name}: both from the pose plan"


def test_webcam_launch_checks_rviz2_like_usb_cam() -> None:
    calls = list(_calls(_tree("webcam.launch.py"), "rviz_plan"))
    assert len(calls) == 1 and ast.unparse(calls[0].args[2]) == "launch_logic.rviz_available()"


def test_string_parameter_keeps_a_string_when_launch_is_installed() -> None:
    if importlib.util.find_spec("launch_ros") is None:
        pytest.skip("launch_ros is not installed (apt ROS only)")
    value = launch_logic.string_parameter("123")
    assert value.value == "123" and value.value_type is str


def test_default_video_of_the_demo_exists() -> None:
    call = next(c for c in _calls(_tree("demo.launch.py"), "DeclareLaunchArgument") if c.args[0].value == "video")
    default = next(k.value.value for k in call.keywords if k.arg == "default_value")
    assert Path(default).is_file(), f"{default} missing: run `make setup` (installs opencv-doc)"


def test_params_file_holds_every_pose_node_parameter_at_its_default() -> None:
    from pose_ros.ros.pose_node.node import PARAMS

    doc = yaml.safe_load((PKG / "config" / "pose.yaml").read_text())
    values = doc["/**"]["ros__parameters"]
    assert set(values) == {p.name for p in PARAMS}
    for p in PARAMS:
        assert values[p.name] == p.default and type(values[p.name]) is type(p.default), p.name


def test_params_file_applies_to_a_renamed_and_namespaced_node() -> None:
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context, args=["--ros-args", "--params-file", str(PKG / "config" / "pose.yaml")])
    try:
        node = rclpy.create_node("pose_node_front", namespace="/robot1", context=context,
                                 automatically_declare_parameters_from_overrides=True)
        assert node.get_parameter("model").value == "mobilenet_thin"
        assert node.get_parameter("input_width").value == 432
        assert node.get_parameter("paf_threshold").value == pytest.approx(0.05)
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


def test_rviz_config_shows_both_images_in_the_camera_frame() -> None:
    doc = yaml.safe_load((PKG / "rviz" / "pose.rviz").read_text())
    manager = doc["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == launch_logic.CAMERA_FRAME
    images = {d["Topic"]["Value"] for d in manager["Displays"] if d["Class"] == "rviz_default_plugins/Image"}
    assert images == {"/image_annotated", "/image_raw"}


def test_generate_launch_description_when_launch_is_installed() -> None:
    if importlib.util.find_spec("launch") is None or importlib.util.find_spec("launch_ros") is None:
        pytest.skip("launch/launch_ros are not installed (apt ROS only); the AST checks above cover the files")
    from launch.actions import DeclareLaunchArgument

    for name in LAUNCH_FILES:
        spec = importlib.util.spec_from_file_location(name.replace(".", "_"), PKG / "launch" / name)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        description = module.generate_launch_description()
        declared = {e.name for e in description.entities if isinstance(e, DeclareLaunchArgument)}
        assert declared == set(launch_logic.LAUNCH_FILE_ARGS[name])


def test_rviz_config_shows_the_3d_skeleton_markers_reliably() -> None:
    doc = yaml.safe_load((PKG / "rviz" / "pose.rviz").read_text())
    markers = [d for d in doc["Visualization Manager"]["Displays"]
               if d["Class"] == "rviz_default_plugins/MarkerArray"]
    assert [m["Topic"]["Value"] for m in markers] == ["/persons_markers"]
    assert markers[0]["Topic"]["Reliability Policy"] == "Reliable"  # the node publishes reliable
