"""Trajectories for the vibration analysis: LAMMPS text dumps and extxyz.

A :class:`Trajectory` holds unwrapped positions (frames, atoms, 3) in A, the
elements and the cell. Dumps with ``xu yu zu`` are used as they are; wrapped
``x y z`` (and extxyz) are unwrapped by following each atom from frame to frame
(minimum image), which holds while no atom moves half a cell between frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..lammps.outputs import dump_to_atoms


@dataclass
class Trajectory:
    positions: np.ndarray      # (frames, atoms, 3), A, unwrapped
    symbols: np.ndarray        # (atoms,) element of each atom
    cell: np.ndarray           # (3, 3), rows a, b, c (A) of the first frame
    pbc: tuple = (True, True, True)

    def mask(self, elements, what: str = "") -> np.ndarray:
        """The atoms of ``elements`` (``what`` names them in the error when there are none)."""
        keep = np.isin(self.symbols, list(elements))
        if not keep.any():
            raise ValueError(f"no atoms of {what + ' ' if what else ''}{list(elements)} in the trajectory "
                             f"(it has {sorted(set(self.symbols.tolist()))})")
        return keep

    def select(self, elements) -> "Trajectory":
        keep = self.mask(elements)
        return Trajectory(self.positions[:, keep], self.symbols[keep], self.cell, self.pbc)


def unwrap(positions: np.ndarray, cell: np.ndarray, pbc=(True, True, True)) -> np.ndarray:
    """Undo periodic wrapping by removing jumps of more than half a cell between frames."""
    frac = positions @ np.linalg.inv(cell)
    step = np.diff(frac, axis=0)
    for d in range(3):
        if pbc[d]:
            step[..., d] -= np.round(step[..., d])
    frac = np.concatenate([frac[:1], frac[:1] + np.cumsum(step, axis=0)])
    return frac @ cell


def _from_frames(path: Path, frames: list, unwrapped: bool) -> Trajectory:
    """A trajectory of ASE frames (positions unwrapped unless ``unwrapped`` already)."""
    if not frames:
        raise ValueError(f"{path}: no frames")
    if any(len(a) != len(frames[0]) for a in frames):
        raise ValueError(f"{path}: the number of atoms changes between frames")
    pos = np.stack([a.positions for a in frames])
    first = frames[0]
    cell, pbc = first.cell[:], tuple(bool(p) for p in first.pbc)
    if not unwrapped and first.cell.rank == 3:
        pos = unwrap(pos, cell, pbc)
    return Trajectory(pos, np.asarray(first.get_chemical_symbols()), cell, pbc)


def read_trajectory(path: str | Path, species=None) -> Trajectory:
    """A LAMMPS text dump (:func:`~ennp.lammps.outputs.dump_to_atoms`; ``species``: elements
    of types 1, 2, ... unless it has an ``element`` column) or an extxyz file (.xyz/.extxyz)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"trajectory {path} does not exist")
    if path.stat().st_size == 0:
        raise ValueError(f"trajectory {path} is empty")
    try:
        if path.suffix in (".xyz", ".extxyz"):
            import ase.io

            return _from_frames(path, ase.io.read(path, index=":"), unwrapped=False)
        frames = dump_to_atoms(path, species)
        return _from_frames(path, frames, unwrapped=bool(frames) and frames[0].info["unwrapped"])
    except (IndexError, KeyError, StopIteration) as exc:
        raise ValueError(f"{path}: not a readable trajectory ({exc})") from exc
