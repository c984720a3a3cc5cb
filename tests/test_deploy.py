"""`ennp deploy` output checked in Python, without LAMMPS."""

import numpy as np
import pytest
import torch
from nequip.data import from_ase
from nequip.data.transforms import NeighborListTransform
from nequip.integrations.ase import NequIPCalculator
from nequip.utils.aoti_metadata import import_custom_ops_libs

from ennp.cache import cache_root, cached_dir, content_key
from ennp.deploy.export import INDUCTOR_CONFIGS, deploy
from ennp.deploy.weights import (TEMPLATE_NAME, WeightSwapError, blob_span, load_template,
                                 swap_weights)
from ennp.train.datasets import rattled_mixture
from ennp.train.nequip_config import ModelSettings
from ennp.train.tiny_model import tiny_model

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


def graph_inputs(atoms, r_max=4.0):
    """pair_nequip inputs for ``atoms`` (float64, as the plugin passes them), without nlocal."""
    data = NeighborListTransform(r_max=r_max)(from_ase(atoms))
    types = torch.tensor([["Au", "Ti", "O"].index(s) for s in atoms.get_chemical_symbols()])
    return (torch.tensor(atoms.positions), data["edge_index"], types,
            torch.tensor(atoms.cell[:]).view(1, 3, 3), data["edge_cell_shift"].double())


@pytest.fixture(scope="session")
def mix_member2(mix_model):
    """mix_model's architecture, other seed (other weights, data split, scales)."""
    settings = ModelSettings(type_names=("Au", "Ti", "O"), r_max=4.0, num_layers=2, l_max=1,
                             num_features=8, model_dtype="float64", seed=2)
    return tiny_model(rattled_mixture(num_frames=16), settings, max_epochs=2, name="mix64_s2")


def test_weight_swap_equals_a_compile(mix_member2, tmp_path):
    ckpt = mix_member2["checkpoint"]
    said = []
    swapped = deploy(ckpt, tmp_path / "swapped.nequip.pt2", progress=said.append)
    assert "weights written into the compiled template" in said[-1], said
    key = content_key("compiled-from-scratch", mix_member2["deployed"].parent.name, INDUCTOR_CONFIGS)
    scratch = cached_dir("models", key, lambda tmp: deploy(ckpt, tmp / "m.nequip.pt2", reuse=False))
    a, b = load(swapped), load(scratch / "m.nequip.pt2")
    assert a.get_metadata() == b.get_metadata()
    atoms = mixed_crystal(repeat=(2, 2, 2), seed=3)
    inputs, n = graph_inputs(atoms), len(atoms)
    for nlocal in (n, n // 3):
        got = a(*inputs, torch.tensor([nlocal, n - nlocal]))
        want = b(*inputs, torch.tensor([nlocal, n - nlocal]))
        for g, w in zip(got, want):     # per-atom energies, forces, virial
            assert g.abs().max() > 0
            np.testing.assert_allclose(g.detach().numpy(), w.detach().numpy(), rtol=0, atol=1e-10)
    # and it is not the template member's model
    first = load(mix_member2["deployed"]).get_metadata()
    assert first["ennp_source"] == "last.ckpt"


def test_weight_swap_refuses_a_differing_compiled_in_tensor(mix_member2, tmp_path):
    folder = next((cache_root() / "deploy_templates").glob("*/" + TEMPLATE_NAME)).parent
    package, names, fixed = load_template(folder)
    assert fixed, "a template records the tensors compiled into its code"
    name = next(n for n, t in fixed.items() if t.numel())
    changed = dict(fixed)
    changed[name] = fixed[name] + 1
    with pytest.raises(WeightSwapError, match=f"{name} is compiled into the template's code and differs"):
        swap_weights(package, names, fixed, changed, tmp_path / "x.nequip.pt2", {})
    with pytest.raises(WeightSwapError, match="not an ELF64"):
        blob_span(b"#!/bin/sh\n" + bytes(100))
