"""MD with pair_style ennp: NVE energy conservation over 1000 steps, 2 MPI ranks."""


import numpy as np

import ennp
from ennp.demo import energy_drift
from ennp.lammps.outputs import read_thermo
from ennp.lammps.run import run_lammps



def test_nve_energy_is_conserved(demo_model, tmp_path):
    n, steps = 4, 1000
    run_lammps(ennp.lammps_inputs() / "nve_fcc.in", tmp_path, nprocs=2,
               variables={"model": demo_model["deployed"], "element": "Au", "a": 4.08,
                          "mass": 196.967, "n": n, "T": 600, "steps": steps, "thermo": 20})
    log = (tmp_path / "log.lammps").read_text()
    assert "Loaded 1 plugins from" in log and "ennp/lib" in log    # no `plugin load` needed
    thermo = read_thermo(tmp_path / "log.lammps")[-1]
    natoms = 4 * n**3
    assert thermo["Step"][-1] == steps
    # the crystal really moves: kinetic energy ~ 3/2 kT, potential energy exchanged
    assert 200 < thermo["Temp"][len(thermo["Temp"]) // 2:].mean() < 400
    assert np.ptp(thermo["PotEng"]) / natoms > 5e-3
    drift = energy_drift(thermo["Time"], thermo["TotEng"], natoms)
    # float32 model, dt 2 fs: bounded, no systematic drift
    assert abs(drift["drift_eV_per_atom_ps"]) < 1e-4, drift
    assert drift["max_deviation_eV_per_atom"] < 2e-4, drift
