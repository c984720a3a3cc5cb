"""`ennp deploy` output checked in Python, without LAMMPS."""

import numpy as np
import torch
from nequip.data import from_ase
from nequip.data.transforms import NeighborListTransform
from nequip.integrations.ase import NequIPCalculator
from nequip.utils.aoti_metadata import import_custom_ops_libs

from conftest import mixed_crystal


def load(path):
    import_custom_ops_libs(str(path))    # what nequip's own loaders do first
    return torch._inductor.aoti_load_package(str(path))


def test_metadata_says_how_to_run(mix_model, mix_model3):
    for model, layers in ((mix_model, "2"), (mix_model3, "3")):
        meta = load(model["deployed"]).get_metadata()
        assert meta["ennp_format"] == "2" and meta["ennp_num_layers"] == layers
        assert int(meta["ennp_exchange_width"]) > 0
        assert meta["type_names"] == "Au Ti O" and float(meta["r_max"]) == 4.0
        assert meta["nequip_aoti_inputs"].split()[-1] == "num_local_ghost_atoms"


def test_local_energy_and_its_forces(mix_model):
    atoms = mixed_crystal(repeat=(2, 2, 2), seed=7)
    data = NeighborListTransform(r_max=4.0)(from_ase(atoms))
    # the compiled model takes float64 positions/cell/shifts (float32 gives NaN); take
    # them from ASE directly, nequip's from_ase may have rounded them to float32
    data["pos"] = torch.tensor(atoms.positions)
    data["cell"] = torch.tensor(atoms.cell[:])
    data["edge_cell_shift"] = data["edge_cell_shift"].double()
    types = torch.tensor([["Au", "Ti", "O"].index(s) for s in atoms.get_chemical_symbols()])
    model = load(mix_model["deployed"])
    n = len(atoms)

    def call(nlocal):
        return model(data["pos"], data["edge_index"], types, data["cell"].view(1, 3, 3),
                     data["edge_cell_shift"], torch.tensor([nlocal, n - nlocal]))

    ref = atoms.copy()
    ref.calc = NequIPCalculator._from_saved_model(str(mix_model["checkpoint"]), device="cpu")
    e_atoms, forces, _ = call(n)
    np.testing.assert_allclose(e_atoms.detach().numpy().ravel(), ref.get_potential_energies(), atol=1e-10)
    np.testing.assert_allclose(forces.detach().numpy(), ref.get_forces(), atol=1e-10)

    # with the first k atoms local the forces are those of their energy alone:
    # check against a finite difference of sum_{i<k} e_i
    k = n // 3
    _, f_local, _ = call(k)
    pos = data["pos"].clone()
    j, h = 5, 1e-5
    def e_local(p):
        return call_with_pos(model, p, data, types, k, n)
    plus, minus = pos.clone(), pos.clone()
    plus[j, 0] += h
    minus[j, 0] -= h
    fd = -(e_local(plus) - e_local(minus)) / (2 * h)
    assert abs(fd - f_local[j, 0].item()) < 1e-6
    assert not np.allclose(f_local.detach().numpy(), forces.detach().numpy())


def call_with_pos(model, pos, data, types, nlocal, n):
    e, _, _ = model(pos, data["edge_index"], types, data["cell"].view(1, 3, 3),
                    data["edge_cell_shift"], torch.tensor([nlocal, n - nlocal]))
    return e.detach().numpy().ravel()[:nlocal].sum()
