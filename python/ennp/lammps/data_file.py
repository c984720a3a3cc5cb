"""LAMMPS data files of ennp's structures (atom_style atomic, type t = species[t-1]), with
``NAME.json`` beside each: the type map, the fixed atoms' ids and the builder's ``ennp_*`` info."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import write_atomic, write_json

NO_FIXED = -1.0e9    # z_fixed of a structure without fixed atoms: below everything


def write_structure(atoms, species, path: str | Path) -> dict:
    """LAMMPS data file ``path`` (atom_style atomic, type t = species[t-1]) and
    ``path.json`` with the type map, the fixed atoms' ids and ``atoms.info``."""
    import ase.io

    path = Path(path)
    missing = sorted(set(atoms.get_chemical_symbols()) - set(species))
    if missing:
        raise ValueError(f"element(s) {missing} of the structure are not in species {list(species)}")
    if atoms.cell.rank < 3:    # a cluster: LAMMPS needs a box
        raise ValueError("the structure has no full cell (a cluster in no box): give it one, e.g. "
                         "the builder's vacuum argument")
    write_atomic(path, lambda tmp: ase.io.write(tmp, atoms, format="lammps-data", specorder=list(species),
                                                masses=True, atom_style="atomic"))
    fixed = atoms.arrays.get("ennp_fixed", np.zeros(len(atoms), int))
    meta = {"data_file": path.name, "natoms": len(atoms),
            "type_map": {str(t + 1): el for t, el in enumerate(species)},
            "fixed_ids": [int(i) + 1 for i in np.flatnonzero(fixed)],
            **{k: v for k, v in atoms.info.items() if k.startswith("ennp_")}}
    write_json(path.with_name(path.name + ".json"), meta)
    return meta


def fixed_height(atoms) -> float:
    """The height between the fixed bottom atoms (``arrays['ennp_fixed']``) and the rest,
    which the LAMMPS inputs use to hold them; below everything when none are fixed."""
    fixed = atoms.arrays.get("ennp_fixed")
    if fixed is None or not np.any(fixed):
        return NO_FIXED
    z, fixed = atoms.positions[:, 2], np.asarray(fixed, bool)
    top, bottom = z[fixed].max(), z[~fixed].min()
    if bottom < top + 0.5:
        raise ValueError("the fixed atoms are not a layer below all the others (the LAMMPS inputs "
                         "hold atoms below a height)")
    return float((top + bottom) / 2)


def is_data_file(path: str | Path) -> bool:
    """A LAMMPS data file, by its name (.data, .lmp, data.*), as LAMMPS's own examples name them."""
    name = Path(path).name
    return name.endswith((".data", ".lmp")) or name.startswith("data.")


def data_natoms(path: str) -> int:
    """The atom count in a LAMMPS data file's header."""
    with open(path, errors="replace") as f:
        for _, line in zip(range(50), f):
            words = line.split()
            if len(words) == 2 and words[1] == "atoms" and words[0].isdigit():
                return int(words[0])
    raise ValueError(f"{path}: no 'N atoms' line in the header; not a LAMMPS data file")
