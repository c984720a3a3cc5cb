"""Single-layer (1H) MoS2 flakes on graphite or graphene.

The flake is cut from the Mo triangular lattice (zigzag edges along x); an S
column (one S above and one below the Mo plane) sits at the centre of each
"up" triangle of Mo sites and is kept when it binds to at least two of the
flake's Mo atoms. An up-pointing triangle then ends in bare Mo rows on all
three edges (Mo-terminated), a down-pointing one in S rows bonded to two Mo
each (S-terminated); a hexagon alternates the two edge types.

The support is AB-stacked graphite (``layers`` = 1: graphene) in an orthogonal
cell (abTEM needs one), periodic in x and y; the flake is isolated in it.
Atoms are ordered support first, bottom layer first, then the flake.
"""

from __future__ import annotations

import numpy as np

MOS2_A = 3.16              # A, Mo-Mo (bulk 2H-MoS2, experiment)
MOS2_S_S = 3.17            # A, S-S across the layer
GRAPHENE_A = 2.46          # A
GRAPHITE_SPACING = 3.35    # A, between graphite layers
SHAPES = ("triangle", "hexagon")


def _mo_sites(edge_atoms: int, shape: str, termination: str) -> np.ndarray:
    """Integer lattice coordinates (i, j) of the flake's Mo atoms."""
    r = np.arange(-edge_atoms, edge_atoms + 1)
    i, j = (a.ravel() for a in np.meshgrid(r, r, indexing="ij"))
    n = edge_atoms - 1
    if shape == "triangle":
        sign = 1 if termination == "Mo" else -1
        keep = (sign * i >= 0) & (sign * j >= 0) & (sign * (i + j) <= n)
    else:
        keep = (np.abs(i) <= n) & (np.abs(j) <= n) & (np.abs(i + j) <= n)
    return np.column_stack([i[keep], j[keep]])


def mos2_flake(size: float = 20.0, shape: str = "triangle", termination: str = "Mo",
               vacuum: float | None = None):
    """A 1H-MoS2 flake with edges of about ``size`` A (``termination``: the outer row
    of a triangle, Mo or S; a hexagon has both), centred on the origin, Mo plane at z = 0.
    Without ``vacuum`` it has no cell; with it, it sits in the middle of a periodic box
    with ``vacuum`` A on every side (images 2 x vacuum apart), for LAMMPS and DFT."""
    from ase import Atoms

    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {SHAPES}, not {shape!r}")
    if termination not in ("Mo", "S"):
        raise ValueError(f"termination must be Mo or S, not {termination!r}")
    edge_atoms = int(round(size / MOS2_A)) + 1
    if edge_atoms < 3:
        raise ValueError(f"size {size} A gives {edge_atoms} Mo atoms per edge; need >= 3 "
                         f"(size >= {2 * MOS2_A:.1f} A)")
    mo = _mo_sites(edge_atoms, shape, termination)
    mo_set = {tuple(p) for p in mo.tolist()}
    # S column at (i + 1/3, j + 1/3) binds Mo (i, j), (i + 1, j), (i, j + 1)
    lo, hi = mo.min() - 1, mo.max() + 1
    s = [(i, j) for i in range(lo, hi + 1) for j in range(lo, hi + 1)
         if ((i, j) in mo_set) + ((i + 1, j) in mo_set) + ((i, j + 1) in mo_set) >= 2]
    s = np.array(s, float) + 1.0 / 3.0
    a1, a2 = np.array([MOS2_A, 0.0]), np.array([MOS2_A / 2, MOS2_A * np.sqrt(3) / 2])
    xy_mo, xy_s = mo @ np.array([a1, a2]), s @ np.array([a1, a2])
    centre = xy_mo.mean(axis=0)
    pos = np.vstack([np.column_stack([xy_mo, np.zeros(len(xy_mo))]),
                     np.column_stack([xy_s, np.full(len(xy_s), -MOS2_S_S / 2)]),
                     np.column_stack([xy_s, np.full(len(xy_s), MOS2_S_S / 2)])])
    pos[:, :2] -= centre
    flake = Atoms(f"Mo{len(mo)}S{2 * len(s)}", positions=pos)
    flake.info.update(ennp_flake_edge_A=float((edge_atoms - 1) * MOS2_A), ennp_flake_shape=shape,
                      ennp_flake_termination=termination if shape == "triangle" else "mixed")
    if vacuum is not None:
        if vacuum <= 0:
            raise ValueError(f"vacuum must be > 0 A, not {vacuum}")
        flake.center(vacuum=vacuum)
        flake.pbc = True
    return flake


def graphite(repeat=(1, 1), layers: int = 2):
    """AB-stacked graphite (1 layer: graphene) in an orthogonal cell, zigzag along x,
    bottom layer at z = 0; cell height = layers * 3.35 A."""
    from ase import Atoms

    if layers < 1:
        raise ValueError(f"layers must be >= 1, not {layers}")
    a, bond = GRAPHENE_A, GRAPHENE_A / np.sqrt(3)
    cell_xy = (a, np.sqrt(3) * a)    # rectangular 4-atom cell
    base = np.array([[0, 0], [0, bond], [a / 2, np.sqrt(3) * a / 2], [a / 2, np.sqrt(3) * a / 2 + bond]])
    pos = [np.column_stack([(base + [0, bond * (k % 2)]) % cell_xy, np.full(4, k * GRAPHITE_SPACING)])
           for k in range(layers)]
    sheet = Atoms(f"C{4 * layers}", positions=np.vstack(pos),
                  cell=[cell_xy[0], cell_xy[1], layers * GRAPHITE_SPACING], pbc=True)
    sheet = sheet.repeat((*repeat, 1))
    return sheet[np.argsort(sheet.positions[:, 2], kind="stable")]    # bottom layer first


def mos2_on_graphite(size: float = 20.0, shape: str = "triangle", termination: str = "Mo",
                     layers: int = 2, gap: float = 3.4, margin: float = 10.0, vacuum: float = 15.0,
                     fixed: bool = True):
    """A MoS2 flake ``gap`` A (lower S plane to top C plane) above ``layers`` of graphite,
    ``margin`` A of bare support around it, ``vacuum`` A above; ``fixed``: mark the
    bottom support layer (``arrays['ennp_fixed']``)."""
    flake = mos2_flake(size, shape, termination)
    if gap <= 0 or margin <= 0 or vacuum <= 0:
        raise ValueError("gap, margin and vacuum must be positive")
    if fixed and layers < 2:
        raise ValueError("a fixed bottom layer needs layers >= 2 (the flake would sit on a frozen sheet)")
    width = np.ptp(flake.positions[:, :2], axis=0) + 2 * margin
    cell_xy = np.array([GRAPHENE_A, np.sqrt(3) * GRAPHENE_A])
    support = graphite(tuple(int(k) for k in np.ceil(width / cell_xy)), layers)
    top = (layers - 1) * GRAPHITE_SPACING
    flake.positions += [support.cell[0, 0] / 2, support.cell[1, 1] / 2, top + gap + MOS2_S_S / 2]
    atoms = support + flake
    atoms.positions[:, 2] += 2.0
    atoms.cell[2, 2] = atoms.positions[:, 2].max() + vacuum
    fix = np.zeros(len(atoms), int)
    if fixed:
        fix[:len(support)] = support.positions[:, 2] < GRAPHITE_SPACING / 2
    atoms.arrays["ennp_fixed"] = fix
    atoms.info.update(flake.info, ennp_flake_atoms=len(flake), ennp_support_layers=layers,
                      ennp_gap_A=gap)
    return atoms
