"""Models compiled by nequip itself (nequip-compile --target pair_nequip) run on one rank."""

import numpy as np

from conftest import ELEMENTS, mixed_crystal
from lammps_helpers import single_point
from test_errors import lammps_fails


def test_stock_model_matches_ennp_deploy_on_one_rank(mix_model, stock_model, tmp_path):
    atoms = mixed_crystal(repeat=(3, 3, 3), seed=5)
    ours = single_point(atoms, tmp_path / "ours", f"ennp {mix_model['deployed']}", "* * Au Ti O", ELEMENTS)
    stock = single_point(atoms, tmp_path / "stock", f"ennp {stock_model}", "* * Au Ti O", ELEMENTS)
    np.testing.assert_allclose(stock["forces"], ours["forces"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(stock["virial"], ours["virial"], rtol=1e-10, atol=1e-9)
    assert abs(stock["energy"] - ours["energy"]) < 1e-9


def test_stock_model_refuses_several_ranks(stock_model, tmp_path):
    msg = lammps_fails(tmp_path, f"ennp {stock_model}", nprocs=2)
    assert "exact on 1 MPI rank only" in msg and "ennp deploy" in msg
