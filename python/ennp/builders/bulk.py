"""Bulk crystals: Au (fcc), rutile and anatase TiO2.

Lattice constants are the experimental ones (Au a = 4.078 A; rutile a = 4.594 A,
c = 2.959 A, u = 0.305; anatase below; Burdett et al., J. Am. Chem. Soc. 109, 3639 (1987)).
"""

from __future__ import annotations

AU_A = 4.078
RUTILE_A, RUTILE_C, RUTILE_U = 4.594, 2.959, 0.305
ANATASE_A, ANATASE_C, ANATASE_U = 3.785, 9.514, 0.2081


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


def anatase(repeat=(1, 1, 1)):
    """Anatase TiO2 (conventional cell, 12 atoms) repeated; a = 3.785 A, c = 9.514 A,
    O at (0, 0, 0.2081) (Burdett et al. 1987)."""
    from ase.spacegroup import crystal

    cell = crystal(["Ti", "O"], basis=[(0, 0, 0), (0, 0, ANATASE_U)], spacegroup=141,
                   cellpar=[ANATASE_A, ANATASE_A, ANATASE_C, 90, 90, 90])
    return cell.repeat(tuple(repeat))
