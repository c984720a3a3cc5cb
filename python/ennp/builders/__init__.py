"""Structure builders, usable from YAML configs by name (:data:`BUILDERS`)."""

from __future__ import annotations

import inspect

from .bulk import anatase, au_fcc, rutile
from .interface import au_on_rutile, particle_on_slab
from .mos2 import graphite, mos2_flake, mos2_on_graphite
from .nanoparticle import au_particle
from .slabs import anatase_101_slab, rutile_110_slab

BUILDERS = {f.__name__: f for f in (au_fcc, rutile, anatase, rutile_110_slab, anatase_101_slab,
                                     au_particle, au_on_rutile, particle_on_slab, mos2_flake, graphite,
                                     mos2_on_graphite)}


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
