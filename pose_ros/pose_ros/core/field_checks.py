"""One way for the core's parameter dataclasses to refuse a bad value.

Why shared: DecodeParams, ZoomParams and LookoutParams reach users as node parameters and CLI
options, and a refusal should read the same wherever it comes from: ``Type.field=value why``.
"""

from __future__ import annotations

from typing import Any, Iterable, Tuple


def check_fields(params: Any, checks: Iterable[Tuple[str, bool, str]]) -> None:
    """Raise ValueError naming the first ``(field, ok, why)`` of ``checks`` whose ``ok`` is false."""
    for name, ok, why in checks:
        if not ok:
            raise ValueError(f"{type(params).__name__}.{name}={getattr(params, name)!r} {why}")
