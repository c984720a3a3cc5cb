"""Small periodic structures for training data and exploration.

Au (fcc), rutile TiO2 and a few Au atoms on a rutile (110) slab: the small
systems the active-learning main job starts from. Lattice constants are the
experimental ones (Au a = 4.078 A; rutile a = 4.594 A, c = 2.959 A, u = 0.305,
Burdett et al., J. Am. Chem. Soc. 109, 3639 (1987)).
"""

from __future__ import annotations

import numpy as np

AU_A = 4.078
RUTILE_A, RUTILE_C, RUTILE_U = 4.594, 2.959, 0.305


def au_fcc(repeat=(2, 2, 2), a: float = AU_A):
    """Conventional fcc Au cell (4 atoms) repeated."""
    from ase.build import bulk

    return bulk("Au", "fcc", a=a, cubic=True).repeat(tuple(repeat))


def rutile(repeat=(2, 2, 2)):
    """Rutile TiO2 (6 atoms per cell) repeated."""
    from ase.spacegroup import crystal

    cell = crystal(["Ti", "O"], basis=[(0, 0, 0), (RUTILE_U, RUTILE_U, 0)], spacegroup=136,
                   cellpar=[RUTILE_A, RUTILE_A, RUTILE_C, 90, 90, 90])
    return cell.repeat(tuple(repeat))


def rutile_110_slab(repeat=(1, 2), layers: int = 2, vacuum: float = 6.0):
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
    return slab


def au_on_rutile(repeat=(1, 2), layers: int = 2, au_atoms: int = 4, gap: float = 2.5,
                 vacuum: float = 6.0):
    """A compact Au cluster (``au_atoms`` of an fcc tetrahedron with one more
    layer below) ``gap`` A above a rutile (110) slab (:func:`rutile_110_slab`)."""
    from ase import Atoms

    if not 1 <= au_atoms <= 4:
        raise ValueError(f"au_atoms must be 1..4, not {au_atoms}")
    slab = rutile_110_slab(repeat, layers, vacuum=0.0)
    d = AU_A / np.sqrt(2)    # Au nearest-neighbour distance
    tetra = np.array([[0, 0, 0], [d, 0, 0], [d / 2, d * np.sqrt(3) / 2, 0],
                      [d / 2, d * np.sqrt(3) / 6, d * np.sqrt(2.0 / 3.0)]])[:au_atoms]
    top = slab.positions[:, 2].max()
    centre = (slab.cell[0] + slab.cell[1]) / 2
    tetra = tetra - tetra.mean(axis=0) * [1, 1, 0] + [centre[0], centre[1], top + gap]
    atoms = slab + Atoms(f"Au{au_atoms}", positions=tetra)
    z = atoms.positions[:, 2]
    atoms.positions[:, 2] += vacuum / 2 - z.min()
    atoms.cell[2, 2] = z.max() - z.min() + vacuum
    atoms.pbc = True
    return atoms


BUILDERS = {"au_fcc": au_fcc, "rutile": rutile, "rutile_110_slab": rutile_110_slab,
            "au_on_rutile": au_on_rutile}
