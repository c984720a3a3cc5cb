"""Carving a piece small enough for DFT out of a large frame, around one atom.

A model's force on an atom depends on the atoms within its receptive field
(num_layers x r_max). The piece holds every atom within r_core + r_buffer of the
centre: the core atoms (within r_core) have their whole receptive field inside
the piece when r_buffer is the receptive field, so their DFT forces are the
forces they have in the large frame. The buffer atoms border an artificial
surface; their forces and the piece's energy are not used in training.

Where the frame is periodic in a direction and the sphere spans the cell's
width in it, the piece keeps that periodicity (the whole cell along it): an
interface gives a slab-like piece. Distances are then measured perpendicular
to the kept cell vectors. In the other directions the piece is a cluster,
with vacuum on both sides. Minimum images are taken by wrapping fractional
coordinates, which is exact for the near-orthogonal cells of ennp's runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from ..train.masked_labels import CORE_ARRAY


@dataclass(frozen=True)
class Piece:
    atoms: Atoms            # the piece, with the per-atom bool array ennp_core
    centre: int             # index of the centre atom in the piece
    core_atoms: int
    buffer_A: float         # buffer radius used (A)
    buffer_asked_A: float   # buffer radius asked for (A)
    kept_periodic: tuple    # per cell direction: periodicity kept

    @property
    def shrunk(self) -> bool:
        return self.buffer_A < self.buffer_asked_A


def cell_widths(cell) -> np.ndarray:
    """Distances between opposite faces of the cell (A)."""
    cell = np.asarray(cell, dtype=float)
    volume = abs(np.linalg.det(cell))
    return np.array([volume / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3]))
                     for i in range(3)])


def minimum_image(d, cell, pbc) -> np.ndarray:
    """Displacement vectors ``d`` (rows, A) wrapped to their nearest periodic image."""
    d = np.atleast_2d(np.asarray(d, dtype=float))
    pbc = np.asarray(pbc, dtype=bool)
    if not pbc.any():
        return d
    cell = np.asarray(cell, dtype=float)
    frac = np.linalg.solve(cell.T, d.T).T
    frac[:, pbc] -= np.round(frac[:, pbc])
    return frac @ cell


def displacements(atoms, centre: int) -> np.ndarray:
    """Minimum-image displacement of every atom from atom ``centre`` (A)."""
    return minimum_image(atoms.positions - atoms.positions[centre], atoms.cell[:], atoms.pbc)


def _kept_basis(cell, keep) -> np.ndarray:
    """Orthonormal rows spanning the kept cell vectors (0 rows when none)."""
    vectors = np.asarray(cell, dtype=float)[np.asarray(keep, dtype=bool)]
    if len(vectors) == 0:
        return np.zeros((0, 3))
    q, _ = np.linalg.qr(vectors.T)
    return q.T


def perpendicular(d: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """``d`` without its components along the kept directions."""
    return d - (d @ basis.T) @ basis if len(basis) else d


def carve(atoms, centre: int, r_core: float, r_buffer: float, max_atoms: int = 200,
          vacuum: float = 6.0) -> Piece:
    """The piece around atom ``centre`` of ``atoms`` (see the module's docstring).

    When more than ``max_atoms`` atoms lie within r_core + r_buffer, the buffer
    shrinks until they fit; a core that alone holds more is a ValueError."""
    if r_core <= 0 or r_buffer < 0 or max_atoms < 1:
        raise ValueError(f"need r_core > 0, r_buffer >= 0, max_atoms >= 1 "
                         f"(got {r_core}, {r_buffer}, {max_atoms})")
    d = displacements(atoms, centre)
    pbc = np.asarray(atoms.pbc, dtype=bool)
    widths = cell_widths(atoms.cell[:]) if pbc.any() else np.full(3, np.inf)
    radius = r_core + r_buffer
    keep = None
    for _ in range(4):    # the kept directions depend on the radius, the radius on the atom count
        new_keep = tuple(bool(p and 2 * radius >= w) for p, w in zip(pbc, widths))
        if new_keep == keep:
            break
        keep = new_keep
        dist = np.linalg.norm(perpendicular(d, _kept_basis(atoms.cell[:], keep)), axis=1)
        n_core = int((dist <= r_core).sum())
        if n_core > max_atoms:
            raise ValueError(f"the core of atom {centre} holds {n_core} atoms within r_core {r_core:g} A, "
                             f"more than max_atoms {max_atoms}: lower the core radius or raise max_atoms")
        if (dist <= radius).sum() > max_atoms:    # shrink to just below the first atom too many
            ordered = np.sort(dist)
            first_out = ordered[max_atoms]
            last_in = ordered[ordered < first_out].max()    # ties at first_out stay out together
            radius = max(0.5 * (last_in + first_out), r_core)
    inside = np.flatnonzero(dist <= radius)
    if len(inside) > max_atoms:    # the last change of kept directions brought more atoms in
        inside = inside[np.argsort(dist[inside], kind="stable")[:max_atoms]]
        radius = float(dist[inside].max())
    piece = _piece_atoms(atoms, inside, d[inside], keep, vacuum)
    core = dist[inside] <= r_core
    piece.arrays[CORE_ARRAY] = core
    return Piece(atoms=piece, centre=int(np.flatnonzero(inside == centre)[0]), core_atoms=int(core.sum()),
                 buffer_A=float(min(radius - r_core, r_buffer)), buffer_asked_A=float(r_buffer),
                 kept_periodic=keep)


def _piece_atoms(atoms, index, d, keep, vacuum: float) -> Atoms:
    """The selected atoms at displacements ``d``, in a cell that keeps the periodic
    directions ``keep`` and has ``vacuum`` on both sides in the others."""
    cell = atoms.cell[:]
    kept = _kept_basis(cell, keep)
    free = _complement(kept)
    rows, positions = [], d.copy()
    for i in range(3):
        if keep[i]:
            rows.append(cell[i])
    for e in free:
        along = d @ e
        rows.append(e * (along.max() - along.min() + 2 * vacuum))
        positions += np.outer(vacuum - along.min(), e)
    piece = Atoms(numbers=atoms.numbers[index], positions=positions, cell=np.array(rows),
                  pbc=[True] * sum(keep) + [False] * len(free))
    return piece


def _complement(basis: np.ndarray) -> np.ndarray:
    """Orthonormal rows completing ``basis`` to 3D (the Cartesian axes when it is empty)."""
    if len(basis) == 0:
        return np.eye(3)
    q, _ = np.linalg.qr(np.vstack([basis, np.eye(3)]).T)
    return q.T[len(basis):3]
