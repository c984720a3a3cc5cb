"""Single-point LAMMPS runs of ASE structures for comparisons with references."""

from pathlib import Path

import numpy as np
from ase.io.lammpsdata import write_lammps_data

from ennp.lammps.outputs import read_dump, read_thermo
from ennp.lammps.run import run_lammps

NKTV2P_METAL = 1.6021765e6    # LAMMPS metal units: eV/A^3 -> bar


def is_lammps_canonical(cell) -> bool:
    c = np.asarray(cell)
    return abs(c[0, 1]) < 1e-12 and abs(c[0, 2]) < 1e-12 and abs(c[1, 2]) < 1e-12


def write_input(path, data, pair, coeff, *, boundary="p p p", extra="", run="run 0",
                dump_every=1, units="metal", newton="on"):
    Path(path).write_text(f"""
units {units}
atom_style atomic
boundary {boundary}
newton {newton}
{extra}
read_data {data}
pair_style {pair}
pair_coeff {coeff}
compute pe all pe/atom
compute vir all pressure NULL virial
variable vxx equal c_vir[1]*vol
variable vyy equal c_vir[2]*vol
variable vzz equal c_vir[3]*vol
variable vxy equal c_vir[4]*vol
variable vxz equal c_vir[5]*vol
variable vyz equal c_vir[6]*vol
thermo_style custom step pe v_vxx v_vyy v_vzz v_vxy v_vxz v_vyz
thermo_modify format float %.17g
dump d all custom {dump_every} dump.txt id type x y z fx fy fz c_pe
dump_modify d sort id format float %.17g
{run}
""")


def single_point(atoms, workdir, pair, coeff, species, *, nprocs=1, threads=1, boundary="p p p", extra=""):
    """Energy, forces, per-atom energy and virial (eV, LAMMPS order) of one structure."""
    write_single_point(atoms, workdir, pair, coeff, species, boundary=boundary, extra=extra)
    run_lammps(Path(workdir) / "in.sp", workdir, nprocs=nprocs, threads=threads)
    return read_single_point(workdir)


def write_single_point(atoms, workdir, pair, coeff, species, *, boundary="p p p", extra=""):
    """data.lmp and in.sp of a single point in ``workdir`` (run: ``lmp -in in.sp``)."""
    assert is_lammps_canonical(atoms.cell), "build test cells in LAMMPS orientation"
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    write_lammps_data(workdir / "data.lmp", atoms, specorder=species, masses=True,
                      units="metal", atom_style="atomic")
    write_input(workdir / "in.sp", "data.lmp", pair, coeff, boundary=boundary, extra=extra)


def read_single_point(workdir):
    workdir = Path(workdir)
    thermo = read_thermo(workdir / "log.lammps")[-1]
    frame = read_dump(workdir / "dump.txt")[0]
    virial = np.array([thermo[k][0] for k in ("v_vxx", "v_vyy", "v_vzz", "v_vxy", "v_vxz", "v_vyz")])
    return {
        "energy": thermo["PotEng"][0],
        "forces": np.stack([frame["fx"], frame["fy"], frame["fz"]], axis=1),
        "energies": frame["c_pe"],
        "virial": virial / NKTV2P_METAL,
        "log": (workdir / "log.lammps").read_text(),
    }


def ase_virial(atoms):
    """-stress * V in LAMMPS order xx yy zz xy xz yz (eV)."""
    s = atoms.get_stress(voigt=True)    # xx yy zz yz xz xy
    return -atoms.get_volume() * np.array([s[0], s[1], s[2], s[5], s[4], s[3]])


def reference(atoms, checkpoint):
    """Energy, forces, per-atom energies and virial from nequip's own ASE calculator."""
    from nequip.integrations.ase import NequIPCalculator

    atoms = atoms.copy()
    atoms.calc = NequIPCalculator._from_saved_model(str(checkpoint), device="cpu")
    return {
        "energy": atoms.get_potential_energy(),
        "forces": atoms.get_forces(),
        "energies": atoms.get_potential_energies(),
        "virial": ase_virial(atoms),
    }


def assert_matches_reference(got, ref, natoms):
    """A float64 model in LAMMPS agrees with its reference to round-off."""
    assert abs(got["energy"] - ref["energy"]) < 1e-8 * natoms
    np.testing.assert_allclose(got["forces"], ref["forces"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(got["energies"], ref["energies"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(got["virial"], ref["virial"], rtol=1e-7, atol=1e-7)
    assert np.abs(ref["forces"]).max() > 0.02, "forces too small for a meaningful comparison"
