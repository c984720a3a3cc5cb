"""`ennp deploy` output checked in Python, without LAMMPS."""

import logging
import os
import shutil
import zipfile
from pathlib import Path

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


def test_loading_a_package_says_nothing_of_outdated_files(mix_model, caplog):
    """torch's loader calls every nequip package outdated (a file at the archive's top
    level) and loads it anyway; ennp's loader keeps that message out of the logs."""
    from ennp.deploy.package import load_package

    with caplog.at_level(logging.WARNING):
        load(mix_model["deployed"])
    assert "outdated pt2" in caplog.text    # what torch says on its own
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        meta = load_package(mix_model["deployed"]).get_metadata()
    assert meta["type_names"] == "Au Ti O" and "outdated" not in caplog.text


def test_kernels_are_serial_whatever_threads_deployed_them(mix_model):
    """Inductor writes CPU kernels for the compiling process's thread count: with several,
    OpenMP loops and aten's scatter_reduce for the message sums, which ran the tiny model
    1.6x (1 thread) to 2.6x (2 threads) slower. mix_model was deployed by a process with
    torch's default threads, one per core; its package must hold the serial kernels."""
    assert os.cpu_count() > 1, "this check needs a machine with several cores"
    with zipfile.ZipFile(mix_model["deployed"]) as z:
        code = {n: z.read(n).decode() for n in z.namelist() if n.endswith(".cpp")}
    assert any(n.endswith(".kernel.cpp") for n in code) and any(n.endswith(".wrapper.cpp") for n in code)
    parallel = [n for n, c in code.items() if "#pragma omp" in c or "scatter_reduce" in c]
    assert not parallel, f"kernels generated for several threads in {parallel}"


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


def scratch_and_swapped_members(mix_model, mix_model_c):
    """(X, Y, template folder): of mix_model and mix_model_c (one architecture), X is the member
    whose package was compiled from scratch (the cached template is byte for byte its package),
    Y the one whose weights were swapped into it; None where neither was compiled here."""
    for folder in (cache_root() / "deploy_templates").glob("*/"):
        template = folder / TEMPLATE_NAME
        if not template.is_file():
            continue
        for x, y in ((mix_model, mix_model_c), (mix_model_c, mix_model)):
            if x["deployed"].read_bytes() == template.read_bytes():
                return x, y, folder
    return None


def test_weight_swap_equals_a_compile(mix_model, mix_model_c, tmp_path, monkeypatch):
    """A member's weights swapped into another member's compiled package equal that member
    compiled from scratch (1e-10), metadata included."""
    found = scratch_and_swapped_members(mix_model, mix_model_c)
    if found is None:    # caches from elsewhere: compile X from scratch here (cached)
        x, y = mix_model_c, mix_model
        key = content_key("compiled-from-scratch", x["deployed"].parent.name, INDUCTOR_CONFIGS)
        scratch = cached_dir("models", key,
                             lambda tmp: deploy(x["checkpoint"], tmp / "m.nequip.pt2", reuse=False))
        scratch = scratch / "m.nequip.pt2"
        swapped = deploy(x["checkpoint"], tmp_path / "swapped.nequip.pt2", progress=(said := []).append)
    else:
        # Y's package (its weights in X's compiled code) as the template of a cache of its own:
        # X's weights swapped back into it must give X's compile from scratch
        x, y, folder = found
        scratch = x["deployed"]
        own = tmp_path / "cache" / "deploy_templates" / folder.name
        shutil.copytree(folder, own)
        (own / TEMPLATE_NAME).write_bytes(y["deployed"].read_bytes())
        monkeypatch.setenv("ENNP_CACHE_DIR", str(tmp_path / "cache"))
        swapped = deploy(x["checkpoint"], tmp_path / "swapped.nequip.pt2", progress=(said := []).append)
    assert "weights written into the compiled template" in said[-1], said
    a, b = load(swapped), load(scratch)
    assert a.get_metadata() == b.get_metadata()
    atoms = mixed_crystal(repeat=(2, 2, 2), seed=3)
    inputs, n = graph_inputs(atoms), len(atoms)
    other = load(y["deployed"])
    for nlocal in (n, n // 3):
        split = torch.tensor([nlocal, n - nlocal])
        got, want, template = a(*inputs, split), b(*inputs, split), other(*inputs, split)
        for g, w, t in zip(got, want, template):     # per-atom energies, forces, virial
            assert g.abs().max() > 0
            np.testing.assert_allclose(g.detach().numpy(), w.detach().numpy(), rtol=0, atol=1e-10)
            assert (t - w).abs().max() > 1e-6    # the template's own weights give other numbers


def test_a_deploy_waits_for_the_template_being_compiled(mix_model, mix_model_c, tmp_path):
    """While another process holds the lock of an architecture's template (it is compiling it),
    a deploy of that architecture waits, then gets its weights swapped in: no second compile."""
    import fcntl
    import os
    import subprocess
    import sys
    import time

    found = scratch_and_swapped_members(mix_model, mix_model_c)
    assert found, "mix_model's architecture has a template in the cache"
    folder = found[2]
    cache = tmp_path / "cache"
    (cache / "deploy_templates").mkdir(parents=True)
    env = {**os.environ, "ENNP_CACHE_DIR": str(cache)}
    script = ("import sys; from ennp.deploy.export import deploy; "
              "deploy(sys.argv[1], sys.argv[2], progress=lambda m: print(m, flush=True))")
    with open(cache / "deploy_templates" / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)    # as the compiling process does
        proc = subprocess.Popen([sys.executable, "-c", script, str(mix_model_c["checkpoint"]),
                                 str(tmp_path / "m.nequip.pt2")], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        t0 = time.time()
        while not any(line.split()[1] == "->" and line.split()[5] == str(proc.pid)
                      for line in Path("/proc/locks").read_text().splitlines()):
            assert proc.poll() is None, proc.communicate()[0]
            assert time.time() - t0 < 120, "the deploy never waited for the lock"
            time.sleep(0.05)
        shutil.copytree(folder, cache / "deploy_templates" / folder.name)    # the compile's result
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, out
    assert "waiting for another process that compiles this architecture" in out, out
    assert "weights written into the compiled template" in out and "compiling with" not in out, out


def test_weight_swap_refuses_a_differing_compiled_in_tensor(mix_model_c, tmp_path):
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
