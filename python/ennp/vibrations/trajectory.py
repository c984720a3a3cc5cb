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


@dataclass
class Trajectory:
    positions: np.ndarray      # (frames, atoms, 3), A, unwrapped
    symbols: np.ndarray        # (atoms,) element of each atom
    cell: np.ndarray           # (3, 3), rows a, b, c (A) of the first frame
    pbc: tuple = (True, True, True)

    def select(self, elements) -> "Trajectory":
        keep = np.isin(self.symbols, list(elements))
        if not keep.any():
            raise ValueError(f"no atoms of {list(elements)} in the trajectory (it has "
                             f"{sorted(set(self.symbols.tolist()))})")
        return Trajectory(self.positions[:, keep], self.symbols[keep], self.cell, self.pbc)

    def frame_atoms(self, k: int):
        from ase import Atoms

        return Atoms(list(self.symbols), positions=self.positions[k], cell=self.cell, pbc=self.pbc)


def unwrap(positions: np.ndarray, cell: np.ndarray, pbc=(True, True, True)) -> np.ndarray:
    """Undo periodic wrapping by removing jumps of more than half a cell between frames."""
    frac = positions @ np.linalg.inv(cell)
    step = np.diff(frac, axis=0)
    for d in range(3):
        if pbc[d]:
            step[..., d] -= np.round(step[..., d])
    frac = np.concatenate([frac[:1], frac[:1] + np.cumsum(step, axis=0)])
    return frac @ cell


def _from_dump(path: Path, species) -> Trajectory:
    from ..lammps.outputs import read_dump

    frames = read_dump(path)
    if not frames:
        raise ValueError(f"{path}: no frames")
    first = frames[0]
    n = len(first["id"])
    if any(len(f["id"]) != n for f in frames):
        raise ValueError(f"{path}: the number of atoms changes between frames")
    if {"xu", "yu", "zu"} <= first.keys():
        cols, wrapped = ("xu", "yu", "zu"), False
    elif {"x", "y", "z"} <= first.keys():
        cols, wrapped = ("x", "y", "z"), True
    else:
        raise ValueError(f"{path}: a dump needs columns id type and x y z or xu yu zu")
    pos = np.stack([np.column_stack([f[c] for c in cols]) for f in frames])
    if "element" in first:
        symbols = np.asarray(first["element"])
    else:
        if not species:
            raise ValueError(f"{path}: the dump has no element column: give the species of types 1, 2, ...")
        types = first["type"].astype(int)
        if types.max() > len(species):
            raise ValueError(f"{path}: atom type {types.max()} but only {len(species)} species {list(species)}")
        symbols = np.asarray(species)[types - 1]
    cell = first["cell"]
    return Trajectory(unwrap(pos, cell) if wrapped else pos, symbols, cell)


def _from_extxyz(path: Path) -> Trajectory:
    import ase.io

    frames = ase.io.read(path, index=":")
    if not frames:
        raise ValueError(f"{path}: no frames")
    n = len(frames[0])
    if any(len(a) != n for a in frames):
        raise ValueError(f"{path}: the number of atoms changes between frames")
    pos = np.stack([a.positions for a in frames])
    cell, pbc = frames[0].cell[:], tuple(bool(p) for p in frames[0].pbc)
    if frames[0].cell.rank == 3:
        pos = unwrap(pos, cell, pbc)
    return Trajectory(pos, np.asarray(frames[0].get_chemical_symbols()), cell, pbc)


def read_trajectory(path: str | Path, species=None) -> Trajectory:
    """A LAMMPS text dump (``species``: elements of types 1, 2, ... unless it has an
    ``element`` column) or an extxyz file (by suffix .xyz/.extxyz)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"trajectory {path} does not exist")
    if path.stat().st_size == 0:
        raise ValueError(f"trajectory {path} is empty")
    try:
        if path.suffix in (".xyz", ".extxyz"):
            traj = _from_extxyz(path)
        else:
            traj = _from_dump(path, species)
    except (IndexError, KeyError, StopIteration) as exc:
        raise ValueError(f"{path}: not a readable trajectory ({exc})") from exc
    from ase.data import chemical_symbols

    unknown = sorted(set(traj.symbols.tolist()) - set(chemical_symbols[1:]))
    if unknown:
        raise ValueError(f"{path}: unknown element(s) {unknown}")
    return traj
