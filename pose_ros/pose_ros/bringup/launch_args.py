"""Launch arguments, checked: the strings ``ros2 launch`` hands over, parsed or refused by name.

Every check a launch file makes before it starts anything lives here (the plans that use
them are in :mod:`pose_ros.bringup.launch_logic`). A bad value raises ``ValueError`` naming
the argument; the launch file lets it through so ``ros2 launch`` prints it and starts nothing.
Plugin and model names are checked against what is installed, imported only when needed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from pose_ros.core.input_size import MAX_INPUT_SIDE, MIN_INPUT_SIDE, NET_STRIDE, parse_flag

LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")
_NAME_TOKEN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOPIC = re.compile(r"^~?/?[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")


def _get(args: Mapping[str, str], name: str) -> str:
    if name not in args:
        raise ValueError(f"launch argument '{name}' is missing")
    return str(args[name]).strip()


def parse_bool(name: str, value: str) -> bool:
    try:
        return parse_flag(value)
    except ValueError as e:
        raise ValueError(f"launch argument '{name}' {e}") from None


def parse_int(name: str, value: str, low: Optional[int] = None, high: Optional[int] = None) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"launch argument '{name}' must be an integer, got {value!r}") from None
    _check_range(name, number, low, high)
    return number


def parse_float(name: str, value: str, low: Optional[float] = None, high: Optional[float] = None) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ValueError(f"launch argument '{name}' must be a number, got {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"launch argument '{name}' must be a finite number, got {value!r}")
    _check_range(name, number, low, high)
    return number


def _check_range(name: str, number: float, low: Optional[float], high: Optional[float]) -> None:
    if low is not None and number < low:
        raise ValueError(f"launch argument '{name}' must be >= {low}, got {number}")
    if high is not None and number > high:
        raise ValueError(f"launch argument '{name}' must be <= {high}, got {number}")


def namespace_of(args: Mapping[str, str]) -> str:
    """The validated ``namespace`` argument, absolute ('/robot1'), or '' for none."""
    ns = _get(args, "namespace").strip("/")
    if not ns:
        return ""
    if not all(_NAME_TOKEN.match(tok) for tok in ns.split("/")):
        raise ValueError(f"launch argument 'namespace' is not a valid ROS namespace: {ns!r} "
                         "(letters, digits and _, tokens separated by /, not starting with a digit)")
    return "/" + ns


def topic_of(name: str, value: str) -> str:
    topic = str(value).strip()
    if not _TOPIC.match(topic):
        raise ValueError(f"launch argument '{name}' is not a valid topic name: {value!r}")
    return topic


def topic_list(name: str, value: str) -> List[str]:
    """A list argument of topics: ``a,b``, ``[a, b]`` or ``a b``; each one checked."""
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    items = [t.strip().strip("'\"") for t in re.split(r"[,\s]+", text)]
    return [topic_of(name, t) for t in items if t]


def camera_names_of(topics: List[str], names: List[str]) -> List[str]:
    """One camera name per topic: ``names`` when given (as many as topics, each a name token),
    else the first namespace token of each topic (``/front/color/image_raw`` -> front) when
    those are all different, else camera0, camera1 ..."""
    if names:
        if len(names) != len(topics):
            raise ValueError(f"launch argument 'names' has {len(names)} names for {len(topics)} images")
        bad = [n for n in names if not all(_NAME_TOKEN.match(tok) for tok in n.strip("/").split("/"))]
        if bad:
            raise ValueError(f"launch argument 'names': {bad[0]!r} is not a valid namespace")
        chosen = [n.strip("/") for n in names]
    else:
        tokens = [t.lstrip("~/").split("/") for t in topics]
        firsts = [tok[0] for tok in tokens]
        derived = all(len(tok) > 1 for tok in tokens) and len(set(firsts)) == len(firsts)
        chosen = firsts if derived else [f"camera{i}" for i in range(len(topics))]
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"launch argument 'names': each camera name must be given once, got {chosen}")
    return chosen


def log_level_of(args: Mapping[str, str]) -> str:
    level = _get(args, "log_level").lower()
    if level not in LOG_LEVELS:
        raise ValueError(f"launch argument 'log_level' must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    return level


def log_arguments(args: Mapping[str, str], node_name: Optional[str] = None) -> List[str]:
    """Node command-line arguments setting the logger level (the same on Humble and Jazzy).

    With ``node_name`` only that node's logger (and its children) gets the level: a global
    ``--log-level debug`` also turns on rcl's and rmw's debug output (2671 lines in 20 s,
    measured), which buries the node's own. The logger of node ``n`` in namespace ``/a/b``
    is ``a.b.n``.
    """
    level = log_level_of(args)
    if node_name is None:
        return ["--ros-args", "--log-level", level]
    logger = ".".join([t for t in namespace_of(args).split("/") if t] + [node_name])
    return ["--ros-args", "--log-level", f"{logger}:={level}"]


def use_sim_time(args: Mapping[str, str]) -> bool:
    return parse_bool("use_sim_time", _get(args, "use_sim_time"))


def managed_of(args: Mapping[str, str]) -> bool:
    """The ``managed`` argument: start the pose node unconfigured, for a lifecycle manager.
    False where the launch file has no such argument (the demo needs its node running)."""
    return "managed" in args and parse_bool("managed", _get(args, "managed"))


def params_file_of(args: Mapping[str, str]) -> Optional[str]:
    """The ``params_file`` argument: None when empty (the node's built-in defaults), else the
    path of an existing YAML file of parameters.

    launch_ros only warns about a missing file and the node then runs on its defaults, which
    hides a typo; this refuses it, and a file that is not a YAML mapping, by name.
    """
    text = _get(args, "params_file")
    if not text:
        return None
    path = Path(text).expanduser()
    if not path.is_file():
        raise ValueError(f"launch argument 'params_file': {text!r} does not exist or is not a file "
                         "(give a YAML parameters file, or params_file:='' for the built-in defaults)")
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"launch argument 'params_file': cannot read {text!r} as YAML: {exc}") from None
    problem = params_structure_problem(doc)
    if problem:
        raise ValueError(f"launch argument 'params_file': {text!r} is not a parameters file rcl can read: "
                         f"{problem}")
    return str(path)


PARAMS_KEY = "ros__parameters"
_SCALARS = (bool, int, float, str)


def params_structure_problem(doc: Any) -> str:
    """Why rcl would refuse this YAML document as a ``--params-file``, or "".

    rcl's rules (rcl_yaml_param_parser): a mapping of node names (``/**`` wildcards and
    namespaces nest as further mappings) down to ``ros__parameters``; no value may sit above
    ``ros__parameters``; under it, values are scalars, lists of scalars of one type, or
    mappings (dotted parameter names). A file rcl refuses makes every node of the launch die
    at start with a 20-line traceback, so it is refused here first, by name.
    """
    if not isinstance(doc, dict) or not doc:
        return "it is not a YAML mapping of node names to ros__parameters"
    return _node_level_problem(doc, "")


def _node_level_problem(level: Dict[Any, Any], where: str) -> str:
    for key, value in level.items():
        here = f"{where}/{key}" if where else str(key)
        if key == PARAMS_KEY:
            if not isinstance(value, dict):
                return f"{here} must be a mapping of parameter names to values"
            problem = _params_problem(value, here)
        elif isinstance(value, dict):
            problem = _node_level_problem(value, here)
        else:
            return f"{here}: a value before {PARAMS_KEY} (put parameters under <node name>: {PARAMS_KEY}:)"
        if problem:
            return problem
    return ""


def _params_problem(params: Dict[Any, Any], where: str) -> str:
    for name, value in params.items():
        here = f"{where}/{name}"
        if isinstance(value, dict):
            problem = _params_problem(value, here)
            if problem:
                return problem
        elif isinstance(value, list):
            if not all(isinstance(v, _SCALARS) for v in value):
                return f"{here}: a list may only hold numbers, strings or booleans"
            kinds = {bool if isinstance(v, bool) else float if isinstance(v, float) else type(v) for v in value}
            if len(kinds) > 1:
                return f"{here}: a list must hold values of one type, got {sorted(k.__name__ for k in kinds)}"
        elif value is None or not isinstance(value, _SCALARS):
            return f"{here}: {value!r} is not a parameter value"
    return ""


def pose_overrides(args: Mapping[str, str]) -> Dict[str, Any]:
    """Pose-node parameters given as launch arguments; empty ones defer to the params file."""
    parsers = {
        "estimator": check_estimator,
        "model": check_model,
        "runtime": check_runtime,
        "device": lambda n, v: v,
        "input_width": lambda n, v: parse_int(n, v, MIN_INPUT_SIDE, MAX_INPUT_SIDE),
        "input_height": lambda n, v: parse_int(n, v, MIN_INPUT_SIDE, MAX_INPUT_SIDE),
        "heatmap_threshold": lambda n, v: parse_float(n, v, 0.0, 1.0),
        "paf_threshold": lambda n, v: parse_float(n, v, -1.0, 1.0),
    }
    out: Dict[str, Any] = {}
    for name, parse in parsers.items():
        value = str(args.get(name, "")).strip()
        if value:
            out[name] = parse(name, value)
    for name in ("input_width", "input_height"):
        if name in out and out[name] % NET_STRIDE:
            raise ValueError(f"launch argument '{name}' must be a multiple of {NET_STRIDE}, "
                             f"got {out[name]}")
    if "device" in out:
        check_device("device", out["device"], out.get("runtime", ""))
    return out


# Names checked against what is installed, as the node would: a typo is refused at launch
# instead of the node logging one ERROR line and running on its defaults.


def check_estimator(name: str, value: str) -> str:
    from pose_ros.estimators import available_estimators

    found = available_estimators()
    if value not in found:
        raise ValueError(f"launch argument '{name}': unknown estimator {value!r}; installed: "
                         f"{', '.join(sorted(found)) or 'none'}")
    return value


def check_model(name: str, value: str) -> str:
    """A model of the manifest, or an existing file (any estimator may take a path)."""
    from pose_ros.models import load_manifest

    manifest = load_manifest()
    if value not in manifest and not Path(value).expanduser().is_file():
        raise ValueError(f"launch argument '{name}': {value!r} is neither a model of the manifest "
                         f"({', '.join(sorted(manifest))}) nor an existing file")
    return value


def check_runtime(name: str, value: str) -> str:
    from pose_ros import runtimes

    found = runtimes.available_runtimes()
    if value != runtimes.AUTO and value not in found:
        raise ValueError(f"launch argument '{name}': unknown runtime {value!r}; installed: "
                         f"{', '.join([runtimes.AUTO] + sorted(found))}")
    return value


def check_device(name: str, value: str, runtime: str) -> str:
    """A device some installed runtime names (``cpu``, ``gpu``, ``cuda_fp16``, ``GPU.1`` ...)."""
    from pose_ros import runtimes

    known = runtimes.known_devices(runtime or runtimes.AUTO)
    base = value.lower().split(":")[0].split(".")[0]
    if known and base not in known:
        raise ValueError(f"launch argument '{name}': unknown device {value!r}; "
                         f"{runtime or 'the installed runtimes'} know {', '.join(sorted(known))}")
    return value
