"""pair_style ennp loads TorchScript (.nequip.pth) models; LAMMPS pair_style morse is the reference."""

import numpy as np
import pytest

from conftest import ELEMENTS, mixed_crystal
from lammps_helpers import single_point
from torchscript_models import save_morse


@pytest.mark.parametrize("nprocs,layers", [(1, 1), (2, 1), (3, 2)])
def test_torchscript_matches_builtin_morse(tmp_path, nprocs, layers):
    """TorchScript models replicate ghost work: ghosts reach layers x r_max (multi-hop graph)."""
    model = save_morse(tmp_path / "morse.nequip.pth", ELEMENTS, num_layers=layers)
    atoms = mixed_crystal(repeat=(3, 3, 3), seed=4, rattle=0.2)
    got = single_point(atoms, tmp_path / "ennp", f"ennp {model}", "* * Au Ti O", ELEMENTS,
                       nprocs=nprocs)
    ref = single_point(atoms, tmp_path / "morse", "morse 5.0", "* * 0.3 1.5 2.9", ELEMENTS,
                       nprocs=nprocs)
    assert "TorchScript model" in got["log"]
    assert abs(got["energy"] - ref["energy"]) < 1e-9 * len(atoms)
    np.testing.assert_allclose(got["forces"], ref["forces"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(got["energies"], ref["energies"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(got["virial"], ref["virial"], rtol=1e-9, atol=1e-9)
    assert np.abs(ref["forces"]).max() > 0.1
