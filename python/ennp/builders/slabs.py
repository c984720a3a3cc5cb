"""TiO2 slabs: rutile (110) and anatase (101), stoichiometric, whole O-Ti-O layers.

Both are periodic in x and y with vacuum in z; atoms of the lowest ``fixed``
layers get ``atoms.arrays["ennp_fixed"] = 1`` (held in place in NEMD).
"""

from __future__ import annotations

import numpy as np

from .bulk import RUTILE_A, anatase, rutile

RUTILE_110_SPACING = RUTILE_A * np.sqrt(2) / 2    # A, between O-Ti-O trilayers ([110] period / 2)
ANATASE_101_SPACING = 3.516                      # A, between sawtooth layers
CUT_BELOW_LAYER = 0.12    # a plane between layers lies this many spacings under a layer's bottom


def rutile_110_slab(repeat=(1, 2), layers: int = 2, vacuum: float = 6.0, fixed: int = 0):
    """Rutile (110) slab of ``layers`` O-Ti-O trilayers (3.25 A apart), x along
    [1-10], y along [001], periodic in all directions with ``vacuum`` A in z."""
    from ase.build import make_supercell

    if layers < 1:
        raise ValueError(f"layers must be >= 1, not {layers}")
    # orthogonal cell [1-10] x [001] x [110]: two trilayers, Ti planes at z = 0 and 1/2
    cell = make_supercell(rutile((1, 1, 1)), [[1, -1, 0], [0, 0, 1], [1, 1, 0]])
    lengths = cell.cell.lengths()
    axes = cell.cell[:] / lengths[:, None]    # orthonormal rows: rotate them onto x, y, z
    cell.positions = cell.positions @ axes.T
    cell.set_cell(np.diag(lengths))
    period = cell.cell[2, 2]
    cell.positions[:, 2] += period / 4    # cell boundary in the gap between trilayers
    cell.wrap()
    slab = cell.repeat((*tuple(repeat), (layers + 1) // 2))
    if layers % 2:
        slab = slab[slab.positions[:, 2] < (layers / 2) * period]
    z = slab.positions[:, 2]
    slab.positions[:, 2] += vacuum / 2 - z.min()
    slab.cell[2, 2] = z.max() - z.min() + vacuum
    slab.pbc = True
    return _mark_fixed(slab, fixed, period / 2, layers)


def anatase_101_slab(repeat=(1, 1), layers: int = 2, vacuum: float = 6.0, fixed: int = 0):
    """Anatase (101) slab of ``layers`` stoichiometric Ti4O8 sawtooth layers (3.52 A
    apart, per 10.24 x 3.79 A surface cell), x along [10-1], y along [010]."""
    from ase.build import surface

    if layers < 1:
        raise ValueError(f"layers must be >= 1, not {layers}")
    # ASE's surface() is right with vacuum (not with periodic=True); build two
    # extra layers and keep whole ones: they are separated by the largest gaps
    thick = surface(anatase(), (1, 0, 1), layers + 2, vacuum=5.0)
    order = np.argsort(thick.positions[:, 2])
    z = thick.positions[order, 2]
    cuts = np.flatnonzero(np.diff(z) > 1.0) + 1
    blocks = [b for b in np.split(order, cuts) if len(b) == 12]
    if len(blocks) < layers:
        raise RuntimeError(f"anatase (101): found {len(blocks)} whole layers, need {layers}")
    keep = np.concatenate(blocks[1:layers + 1] if len(blocks) > layers else blocks[:layers])
    slab = thick[np.sort(keep)]
    slab = slab.repeat((*tuple(repeat), 1))
    z = slab.positions[:, 2]
    slab.positions[:, 2] += vacuum / 2 - z.min()
    slab.cell[2] = [0, 0, z.max() - z.min() + vacuum]
    slab.pbc = True
    return _mark_fixed(slab, fixed, ANATASE_101_SPACING, layers)


def _mark_fixed(slab, fixed: int, spacing: float, layers: int):
    """Mark the atoms of the lowest ``fixed`` layers (layer spacing ``spacing``;
    the cut lies in the gap below layer ``fixed``, CUT_BELOW_LAYER spacing under its bottom)."""
    if not 0 <= fixed < layers:
        raise ValueError(f"fixed must be in 0..{layers - 1} (layers={layers}), not {fixed}")
    z = slab.positions[:, 2]
    slab.arrays["ennp_fixed"] = (z < z.min() + (fixed - CUT_BELOW_LAYER) * spacing).astype(int)
    return slab
