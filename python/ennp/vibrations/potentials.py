"""The potential of a vibration run (:mod:`ennp.lammps.pair_file`). ``classical``
is a built-in-styles stand-in for MoS2 on carbon: REBOMoS for Mo-S (Stewart &
Spearot, Modelling Simul. Mater. Sci. Eng. 21, 045003 (2013); MoS.rebomos),
AIREBO for C-C, graphite interlayer included (Stuart, Tutein & Harrison, JCP
112, 6472 (2000); CH.airebo), and Lennard-Jones Mo-C / S-C from the UFF
parameters (Rappe et al., JACS 114, 10024 (1992)) with Lorentz-Berthelot mixing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..lammps.pair_file import lammps_potentials_dir, write_pair_file

KCAL_MOL = 0.0433641    # eV
UFF = {"C": (3.851, 0.105), "S": (4.035, 0.274), "Mo": (3.052, 0.056)}    # (x_i A, D_i kcal/mol)
LJ_CUTOFF = 10.0


def uff_lj(a: str, b: str) -> tuple[float, float]:
    """(epsilon eV, sigma A) between elements a and b: UFF, Lorentz-Berthelot mixing."""
    (xa, da), (xb, db) = UFF[a], UFF[b]
    return float(np.sqrt(da * db) * KCAL_MOL), float((xa + xb) / 2 / 2 ** (1 / 6))


def classical_mos2_carbon(species) -> str:
    """Include-file text of the stand-in for types ``species`` (Mo, S, C in any order)."""
    species = list(species)
    if sorted(species) != ["C", "Mo", "S"]:
        raise ValueError(f"the classical MoS2/carbon stand-in needs species Mo, S, C; got {species}")
    pot = lammps_potentials_dir()

    def only(*els):
        return " ".join(el if el in els else "NULL" for el in species)

    lines = ["# classical MoS2/carbon stand-in written by ennp (see ennp.vibrations.potentials)",
             f"pair_style      hybrid rebomos airebo 3.0 1 1 lj/cut {LJ_CUTOFF}",
             f"pair_coeff      * * rebomos {pot / 'MoS.rebomos'} {only('Mo', 'S')}",
             f"pair_coeff      * * airebo {pot / 'CH.airebo'} {only('C')}"]
    t = {el: i + 1 for i, el in enumerate(species)}
    for el in ("Mo", "S"):
        i, j = sorted((t[el], t["C"]))
        eps, sigma = uff_lj(el, "C")
        lines.append(f"pair_coeff      {i} {j} lj/cut {eps:.6f} {sigma:.4f}")
    return "\n".join(lines) + "\n"


def write_vib_pair_file(style: str, species, path: str | Path, model: str = "", file: str = "") -> Path:
    """pair.in of a vibration run: ``style`` ennp | classical (MoS2/carbon stand-in) | file."""
    return write_pair_file(style, species, path, model, file, classical=classical_mos2_carbon)
