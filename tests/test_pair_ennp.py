"""pair_style ennp against nequip's own ASE calculator and across MPI ranks."""

import numpy as np
import pytest
from ase import Atoms

from conftest import ELEMENTS, mixed_crystal
from lammps_helpers import assert_matches_reference, reference, single_point


def triclinic_crystal():
    atoms = mixed_crystal(repeat=(3, 3, 3), seed=2)
    frac = atoms.get_scaled_positions()
    a = atoms.cell.lengths()[0]
    cell = np.array([[a, 0, 0], [0.18 * a, 0.97 * a, 0], [-0.12 * a, 0.1 * a, 1.02 * a]])
    atoms.set_cell(cell)
    atoms.set_scaled_positions(frac)
    return atoms


def slab():
    """Periodic in x, y; non-periodic in z with vacuum (LAMMPS boundary p p f)."""
    atoms = mixed_crystal(repeat=(3, 3, 2), seed=3)
    cell = atoms.cell[:].copy()
    cell[2, 2] += 12.0
    atoms.set_cell(cell)
    atoms.positions[:, 2] += 4.0
    atoms.pbc = (True, True, False)
    return atoms


STRUCTURES = {
    "cubic": (lambda: mixed_crystal(repeat=(2, 2, 2), seed=1), "p p p"),
    "triclinic": (triclinic_crystal, "p p p"),
    "slab": (slab, "p p f"),
}


@pytest.mark.parametrize("name", list(STRUCTURES))
def test_matches_nequip_ase_calculator(mix_model, tmp_path, name):
    build, boundary = STRUCTURES[name]
    atoms = build()
    got = single_point(atoms, tmp_path, f"ennp {mix_model['deployed']}", "* * Au Ti O",
                       ELEMENTS, boundary=boundary)
    assert_matches_reference(got, reference(atoms, mix_model["checkpoint"]), len(atoms))


@pytest.mark.parametrize("model,nprocs", [("mix_model", 2), ("mix_model", 3), ("mix_model", 4),
                                          ("mix_model3", 2), ("mix_model3", 4)])
def test_mpi_ranks_give_same_result(request, tmp_path, model, nprocs):
    model = request.getfixturevalue(model)
    atoms = triclinic_crystal()
    pair, coeff = f"ennp {model['deployed']}", "* * Au Ti O"
    one = single_point(atoms, tmp_path / "np1", pair, coeff, ELEMENTS)
    many = single_point(atoms, tmp_path / f"np{nprocs}", pair, coeff, ELEMENTS, nprocs=nprocs)
    assert f"on {nprocs} procs" in many["log"]
    # ghost features are exchanged, so ghosts need no more than one cutoff
    assert "ghost feature exchange" in many["log"] and "ghost cutoff set" not in many["log"]
    assert abs(one["energy"] - many["energy"]) < 1e-10 * len(atoms)
    np.testing.assert_allclose(many["forces"], one["forces"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(many["energies"], one["energies"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(many["virial"], one["virial"], rtol=1e-10, atol=1e-9)


def test_rank_without_atoms(mix_model, tmp_path):
    """4 ranks stacked along z over a slab in a tall box: the top ranks own nothing."""
    atoms = slab()
    cell = atoms.cell[:].copy()
    cell[2, 2] += 30.0
    atoms.set_cell(cell)
    pair, coeff = f"ennp {mix_model['deployed']}", "* * Au Ti O"
    one = single_point(atoms, tmp_path / "np1", pair, coeff, ELEMENTS, boundary="p p f")
    four = single_point(atoms, tmp_path / "np4", pair, coeff, ELEMENTS, boundary="p p f",
                        nprocs=4, extra="processors 1 1 4")
    nlocal_min = [l for l in four["log"].splitlines() if l.startswith("Nlocal:")][0].split()[-2]
    assert float(nlocal_min) == 0, "expected a rank with no atoms"
    np.testing.assert_allclose(four["forces"], one["forces"], rtol=0, atol=1e-10)
    assert abs(four["energy"] - one["energy"]) < 1e-9


def test_isolated_atoms_and_tiny_graphs(mix_model, tmp_path):
    """Fewer than two edges still runs (graph padding): a dimer and a lone atom."""
    atoms = Atoms("AuO", positions=[[5, 5, 5], [7.2, 5, 5]], cell=[20, 20, 20], pbc=False)
    ref = reference(atoms, mix_model["checkpoint"])
    got = single_point(atoms, tmp_path / "dimer", f"ennp {mix_model['deployed']}", "* * Au Ti O",
                       ELEMENTS, boundary="f f f")
    np.testing.assert_allclose(got["forces"], ref["forces"], atol=1e-9)
    assert abs(got["energy"] - ref["energy"]) < 1e-9
    lone = Atoms("Ti", positions=[[5, 5, 5]], cell=[20, 20, 20], pbc=False)
    got = single_point(lone, tmp_path / "lone", f"ennp {mix_model['deployed']}", "* * Au Ti O",
                       ELEMENTS, boundary="f f f")
    assert abs(got["energy"] - reference(lone, mix_model["checkpoint"])["energy"]) < 1e-9
