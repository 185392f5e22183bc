"""``pose_ros_models``: list, fetch, verify, locate and export (to ONNX) the models of the manifest.

Exit codes: 0 success, 1 failure (one ``error:`` line on stderr, no traceback),
2 bad usage (argparse).
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from pose_ros import models as m
from pose_ros.models import onnx_export


def _print_status(status: m.ModelStatus) -> None:
    print(f"{status.name}: {status.state}")
    for f in status.files:
        print(f"  {f.role:<8} {f.state:<10} {f.path}" + (f"  ({f.detail})" if f.detail else ""))


def cmd_list(_args) -> int:
    rows = [("NAME", "FORMAT", "SKELETON", "INPUT", "CACHED", "STATE")]
    for name, spec in m.load_manifest().items():
        status = m.verify(name)
        present = sum(f.state != m.MISSING for f in status.files)
        cached = "yes" if present == len(status.files) else ("partly" if present else "no")
        rows.append((name, spec.format, spec.skeleton, f"{spec.input_width}x{spec.input_height}",
                     cached, status.state))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print(f"cache: {m.cache_dir()}")
    return 0


def cmd_fetch(args) -> int:
    paths = m.fetch(args.name, force=args.force, report=lambda msg: print(msg, file=sys.stderr))
    status = m.verify(args.name)
    _print_status(status)
    return 0 if status.ok and paths else 1


def cmd_verify(args) -> int:
    names = [args.name] if args.name else list(m.cached_models())
    if not names:
        print(f"no models in the cache ({m.cache_dir()}); run: {m.CLI} fetch mobilenet_thin")
        return 0
    failed = False
    for name in names:
        status = m.verify(name)
        _print_status(status)
        failed |= not status.ok
    return 1 if failed else 0


def cmd_path(args) -> int:
    resolved = m.resolve(args.name)
    if args.role not in resolved.paths:
        raise m.ModelError(f"model {args.name!r} has no {args.role!r} file; it has: "
                           f"{', '.join(resolved.paths)}")
    print(resolved.paths[args.role])
    return 0


def cmd_export_onnx(args) -> int:
    spec = m.get_model(args.name)
    if spec.format != "tensorflow":
        raise m.ModelError(f"model {args.name!r} is a {spec.format} model; export-onnx converts TensorFlow graphs"
                           + (" (it is ONNX already)" if spec.format == "onnx" else ""))
    source = m.resolve(args.name).weights
    dest = onnx_export.export_path(source)
    reason = "--force" if args.force else onnx_export.stale_reason(dest, source, spec.output)
    if reason is None:
        print(f"{dest}: up to date")
    else:
        print(f"exporting {source} ({reason})", file=sys.stderr)
        record = onnx_export.export(source, dest, spec.output)
        check = (f"max abs diff {record.max_abs_diff:.2g} against OpenVINO on the .pb"
                 if record.max_abs_diff is not None else "not checked: onnxruntime is not installed")
        print(f"{dest}\n  sha256 {record.onnx_sha256}\n  {check}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=m.CLI, description="Manage pose_ros model files.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="models in the manifest and their cache state").set_defaults(func=cmd_list)
    p = sub.add_parser("fetch", help="download a model into the cache")
    p.add_argument("name")
    p.add_argument("--force", action="store_true", help="download again even if present")
    p.set_defaults(func=cmd_fetch)
    p = sub.add_parser("verify", help="check cached files against the manifest (all cached models by default)")
    p.add_argument("name", nargs="?")
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("path", help="print the path of a verified model file")
    p.add_argument("name")
    p.add_argument("--role", default="weights", choices=m.FILE_ROLES)
    p.set_defaults(func=cmd_path)
    p = sub.add_parser("export-onnx", help="write <model>.onnx beside a cached TensorFlow model (for onnxruntime)")
    p.add_argument("name")
    p.add_argument("--force", action="store_true", help="export again even if the export is up to date")
    p.set_defaults(func=cmd_export_onnx)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except m.ModelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
