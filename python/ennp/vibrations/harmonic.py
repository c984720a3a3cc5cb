"""Harmonic reference for vibration amplitudes: phonons of a potential with phonopy
(forces from single-point LAMMPS runs), and the classical mean-square
displacement they imply, <u_ja^2> = k_B T / (N_q m_j) sum_{q,nu} |e_ja(q,nu)|^2 / w^2,
over the q-points of the simulation cell (Gamma acoustic modes left out: they are
the cell's translation, which MD with fixed momentum does not sample).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

KB = 1.380649e-23        # J/K
AMU = 1.66053906660e-27  # kg


def lammps_forces(structures, pair_text: str, species, workdir: Path) -> np.ndarray:
    """Forces (eV/A) on each of ``structures`` (ASE Atoms) from single-point LAMMPS runs
    of the pair include text, in the structures' own frames."""
    from ase.calculators.lammps import Prism

    from ..lammps.data_file import write_structure
    from ..lammps.outputs import read_dump
    from ..lammps.run import run_lammps

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "pair.in").write_text(pair_text)
    (workdir / "forces.in").write_text(
        "units metal\natom_style atomic\natom_modify map array\nread_data ${data}\n"
        "include pair.in\ndump f all custom 1 ${out} id fx fy fz\ndump_modify f sort id\nrun 0\n")
    forces = []
    for k, atoms in enumerate(structures):
        write_structure(atoms, species, workdir / f"s{k}.data")
        run_lammps(workdir / "forces.in", workdir, variables={"data": f"s{k}.data", "out": f"f{k}.dump"},
                   log=f"log{k}.lammps")
        f = read_dump(workdir / f"f{k}.dump")[0]
        prism = Prism(atoms.cell[:])
        forces.append(prism.vector_to_ase(np.column_stack([f["fx"], f["fy"], f["fz"]])))
    return np.array(forces)


def phonons(unitcell, supercell, pair_text: str, species, workdir: Path, distance: float = 0.01):
    """phonopy object with force constants of ``unitcell`` (ASE Atoms, taken as the
    primitive cell) in the ``supercell`` (3 ints) from finite displacements, forces
    by LAMMPS with the pair include text."""
    from ase import Atoms
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    ph = Phonopy(PhonopyAtoms(symbols=unitcell.get_chemical_symbols(), cell=unitcell.cell[:],
                              scaled_positions=unitcell.get_scaled_positions()),
                 supercell_matrix=np.diag(supercell), primitive_matrix="P")
    ph.generate_displacements(distance=distance)
    displaced = [Atoms(sc.symbols, cell=sc.cell, scaled_positions=sc.scaled_positions, pbc=True)
                 for sc in ph.supercells_with_displacements]
    ph.forces = lammps_forces(displaced, pair_text, species, workdir)
    ph.produce_force_constants()
    return ph


def classical_msd(ph, mesh, temperature: float) -> np.ndarray:
    """Classical <u_x^2>, <u_y^2>, <u_z^2> (A^2) of each unit-cell atom at ``temperature``
    (K) over the Gamma-centred ``mesh`` (the MD cell's q-points: its supercell)."""
    ph.run_mesh(mesh, is_gamma_center=True, with_eigenvectors=True, is_mesh_symmetry=False)
    m = ph.get_mesh_dict()
    freq, vecs, qpts = m["frequencies"], m["eigenvectors"], m["qpoints"]
    masses = np.asarray(ph.primitive.masses) * AMU
    n = len(masses)
    msd = np.zeros((n, 3))
    for q, f, e in zip(qpts, freq, vecs):
        modes = np.arange(3 * n)
        if np.allclose(q, 0):
            modes = modes[np.argsort(np.abs(f))[3:]]    # drop the three acoustic modes at Gamma
        w2 = (2 * np.pi * 1e12 * f[modes]) ** 2
        if (w2 <= 0).any() or (f[modes] <= 0).any():
            raise ValueError("imaginary phonon frequencies: the structure is not at a minimum")
        msd += (np.abs(e[:, modes]) ** 2 / w2).sum(axis=1).reshape(n, 3)
    # per atom of the primitive cell: phonopy's eigenvectors are mass-weighted-normalised
    return msd * KB * temperature / (len(qpts) * masses[:, None]) * 1e20
