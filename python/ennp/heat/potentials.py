"""The potential of an NEMD run (:mod:`ennp.lammps.pair_file`). ``classical`` is
a built-in-styles stand-in for Au on TiO2, used to test the NEMD machinery fast:
Au-Au EAM (Au_u3.eam, Foiles, Baskes & Daw, PRB 33, 7983 (1986)), TiO2
Buckingham + Coulomb of Matsui & Akaogi (Mol. Simul. 6, 239 (1991); Born-Mayer
form of born/coul/dsf, damped shifted force Coulomb of Fennell & Gezelter, JCP
124, 234104 (2006) instead of a k-space sum), and Lennard-Jones Au-Ti / Au-O
(stand-in values chosen here so that the particle sticks without wetting the
surface; not fitted to anything).
"""

from __future__ import annotations

from pathlib import Path

from ..lammps.pair_file import lammps_potentials_dir, write_pair_file

MATSUI_AKAOGI = {    # (A eV, rho A, C eV A^6) of A exp(-r/rho) - C / r^6
    ("Ti", "Ti"): (31120.2, 0.154, 5.25),
    ("Ti", "O"): (16957.53, 0.194, 12.59),
    ("O", "O"): (11782.76, 0.234, 30.22),
}
CHARGES = {"Ti": 2.196, "O": -1.098}
LJ_AU = {"Ti": (0.05, 2.9), "O": (0.08, 2.85)}    # (epsilon eV, sigma A) with Au
DSF_ALPHA, COUL_CUTOFF, LJ_CUTOFF = 0.22, 8.0, 8.0


def classical_au_tio2(species) -> str:
    """Include-file text of the classical stand-in for types ``species`` (Ti, O, Au in any order)."""
    species = list(species)
    if sorted(species) != ["Au", "O", "Ti"]:
        raise ValueError(f"the classical Au/TiO2 stand-in needs species Au, O, Ti; got {species}")
    t = {el: i + 1 for i, el in enumerate(species)}
    lines = ["# classical Au/TiO2 stand-in written by ennp (see ennp.heat.potentials)",
             "fix             charges all property/atom q ghost yes"]
    lines += [f"set             type {t[el]} charge {q}" for el, q in CHARGES.items()]
    lines.append(f"pair_style      hybrid eam born/coul/dsf {DSF_ALPHA} {COUL_CUTOFF} lj/cut {LJ_CUTOFF}")
    lines.append(f"pair_coeff      {t['Au']} {t['Au']} eam {lammps_potentials_dir() / 'Au_u3.eam'}")
    for (a, b), (big_a, rho, c) in MATSUI_AKAOGI.items():
        i, j = sorted((t[a], t[b]))    # pair_coeff wants i <= j
        lines.append(f"pair_coeff      {i} {j} born/coul/dsf {big_a} {rho} 0.0 {c} 0.0")
    for el, (eps, sigma) in LJ_AU.items():
        i, j = sorted((t[el], t["Au"]))
        lines.append(f"pair_coeff      {i} {j} lj/cut {eps} {sigma}")
    return "\n".join(lines) + "\n"


def write_nemd_pair_file(style: str, species, path: str | Path, model: str = "", file: str = "") -> Path:
    """pair.in of an NEMD run: ``style`` ennp | classical (Au/TiO2 stand-in) | file."""
    return write_pair_file(style, species, path, model, file, classical=classical_au_tio2)
