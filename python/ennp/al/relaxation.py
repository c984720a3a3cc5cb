"""Relaxing the starting structures with the labeller before generation 0.

A builder's structure is ideal, not relaxed: an Au particle put on rutile is far from its
minimum. The initial copies are drawn around the built geometry, so the first models know
nothing of the relaxed one, and exploration MD that starts from the built geometry turns the
relaxation energy into heat (+125 K in 20 fs on the 397-atom particle on rutile) and halted
within 20-100 steps in each of five generations. Relaxing with a poor model instead finds that
model's minimum, which can be unphysical (member 0 of that run: 40 eV below the start, the
ensemble's max_devi_f 2 eV/A there). So, as DP-GEN's init_surf relaxes with DFT before
perturbing, each structure is relaxed once with the labeller (FIRE, fixed atoms held, the cell
kept); the copies are drawn around the relaxed geometry and exploration starts from it.
"""

from __future__ import annotations

import time
from pathlib import Path

import ase.io
import numpy as np

from ..files import write_atomic
from ..label.calculator import LabellerCalculator
from ..lammps.data_file import write_structure


def relax(atoms, calc, fmax: float, steps: int, progress=None, name: str = "") -> tuple[object, dict]:
    """A relaxed copy of ``atoms`` and a record (steps, energies, largest force)."""
    from ase.constraints import FixAtoms
    from ase.optimize import FIRE

    work = atoms.copy()
    fixed = work.arrays.get("ennp_fixed")
    if fixed is not None and np.any(fixed):
        work.set_constraint(FixAtoms(mask=np.asarray(fixed, bool)))
    work.calc = calc
    e0 = work.get_potential_energy()
    opt = FIRE(work, logfile=None)
    if progress is not None:
        opt.attach(lambda: progress(f"relaxing {name}: step {opt.nsteps}, energy {work.get_potential_energy():.3f} eV, "
                                    f"largest force {np.sqrt((work.get_forces() ** 2).sum(axis=1)).max():.3f} eV/A"),
                   interval=10)
    converged = opt.run(fmax=fmax, steps=steps)
    forces = work.get_forces()    # the free atoms' (FixAtoms zeroes the held ones)
    record = {"steps": int(opt.nsteps), "converged": bool(converged), "energy_before_eV": float(e0),
              "energy_after_eV": float(work.get_potential_energy()),
              "largest_force_eV_A": float(np.sqrt((forces ** 2).sum(axis=1)).max())}
    out = atoms.copy()
    out.positions = work.positions
    return out, record


def relax_structures(workdir: Path, state, config, progress) -> None:
    """Relax each structure with the labeller (once; a structure whose record is in the state
    is done) and write it over structures/NAME.extxyz and NAME.data. The built geometry is kept
    as NAME.built.extxyz, where a relaxation killed half-way starts again."""
    init = config.initial
    if init.relax_steps == 0:
        return
    done = dict(state.data.get("relaxed") or {})
    for s in config.structures:
        if s.name in done:
            continue
        path = workdir / "structures" / f"{s.name}.extxyz"
        built = path.with_name(f"{s.name}.built.extxyz")
        if not built.exists():
            write_atomic(built, lambda tmp: tmp.write_bytes(path.read_bytes()))
        atoms = ase.io.read(built)
        progress(f"relaxing {s.name} ({len(atoms)} atoms) with {config.label.labeller}: "
                 f"at most {init.relax_steps} FIRE steps to {init.relax_fmax} eV/A")
        t0 = time.monotonic()
        calc = LabellerCalculator(config.label, workdir / "structures" / f"{s.name}.relax")
        relaxed, record = relax(atoms, calc, init.relax_fmax, init.relax_steps, progress, s.name)
        record["seconds"] = time.monotonic() - t0
        progress(f"relaxed {s.name}: {record['energy_before_eV'] - record['energy_after_eV']:.2f} eV lower after "
                 f"{record['steps']} steps, largest force {record['largest_force_eV_A']:.3f} eV/A")
        write_atomic(path, lambda tmp: ase.io.write(tmp, relaxed, format="extxyz"))
        write_structure(relaxed, config.species, workdir / "structures" / f"{s.name}.data")
        done[s.name] = record
        state.set(relaxed=done)    # last: a structure killed half-way is relaxed again
