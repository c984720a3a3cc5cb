"""Structure builders (usable from YAML configs by name, see :data:`BUILDERS`)."""

from __future__ import annotations

import inspect

from .bulk import BUILDERS


def build_structure(builder: str, args: dict | None = None):
    """Call builder ``builder`` with keyword ``args``; ValueError names a bad builder or argument."""
    if builder not in BUILDERS:
        raise ValueError(f"unknown builder {builder!r}; known: {sorted(BUILDERS)}")
    func = BUILDERS[builder]
    params = inspect.signature(func).parameters
    unknown = sorted(set(args or {}) - set(params))
    if unknown:
        raise ValueError(f"builder {builder!r} has no argument(s) {unknown}; it takes {list(params)}")
    try:
        return func(**(args or {}))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"builder {builder!r}: {exc}") from exc
