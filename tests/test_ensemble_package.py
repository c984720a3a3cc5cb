"""Ensemble packages (ennp deploy --ensemble): K members in one call, against each member's own
nequip ASE calculator, on 1 and 2 MPI ranks; pair_style ennp drive first|mean; refusals."""

import numpy as np
import pytest

from conftest import ELEMENTS, mixed_crystal
from ennp.deploy.ensemble import EnsembleError, check_members
from lammps_helpers import assert_matches_reference, reference, single_point
from test_ensemble import VECTOR, deviation_reference, run_compute
from test_errors import lammps_fails


@pytest.fixture(scope="module")
def package(ensemble_package):
    """Members 0 and 1 of mix_model's architecture (other seeds) in one package (conftest)."""
    return ensemble_package


def call_package(path, atoms):
    """The package's outputs on one periodic structure, called directly (one process, no ghosts)."""
    import torch
    from nequip.data import AtomicDataDict, compute_neighborlist_, from_ase
    from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper

    data = ChemicalSpeciesToAtomTypeMapper(ELEMENTS)(compute_neighborlist_(from_ase(atoms), r_max=4.0))
    run = torch._inductor.aoti_load_package(str(path))
    inputs = [data[AtomicDataDict.POSITIONS_KEY].double(), data[AtomicDataDict.EDGE_INDEX_KEY],
              data[AtomicDataDict.ATOM_TYPE_KEY].view(-1), data[AtomicDataDict.CELL_KEY].double(),
              data[AtomicDataDict.EDGE_CELL_SHIFT_KEY].double(), torch.tensor([len(atoms), 0])]
    return [t.detach().numpy() for t in run(inputs)]


def test_each_member_equals_its_own_calculator(package):
    """The package called directly: member k's per-atom energies, forces and virial are member
    k's nequip ASE calculator's (float64, 1e-8)."""
    atoms = mixed_crystal(repeat=(2, 2, 2), seed=21, rattle=0.25)
    n = len(atoms)
    energies, forces, virials = call_package(package["deployed"], atoms)
    assert energies.shape == (2, n, 1) and forces.shape == (2, n, 3) and virials.shape == (2, 1, 3, 3)
    virials = virials[:, 0]
    for k, ckpt in enumerate(package["checkpoints"]):
        ref = reference(atoms, ckpt)
        np.testing.assert_allclose(energies[k, :, 0], ref["energies"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(forces[k], ref["forces"], rtol=0, atol=1e-8)
        w = -virials[k]    # nequip's virial sign, in LAMMPS order xx yy zz xy xz yz
        np.testing.assert_allclose(-np.array([w[0, 0], w[1, 1], w[2, 2], w[0, 1], w[0, 2], w[1, 2]]),
                                   ref["virial"], rtol=1e-7, atol=1e-7)
    assert np.abs(forces[0] - forces[1]).max() > 1e-3    # the members really differ


def test_weights_swapped_into_the_compiled_package(package, tmp_path):
    """The same members in the other order: a copy of the compiled package with the weights
    swapped (not a compile), equal to the first package member for member to 1e-10."""
    from ennp.deploy.export import deploy_ensemble

    said = []
    swapped = deploy_ensemble(package["checkpoints"][::-1], tmp_path / "swapped.nequip.pt2", progress=said.append)
    assert "weights written into the compiled template" in said[-1], said
    atoms = mixed_crystal(repeat=(2, 2, 2), seed=25, rattle=0.25)
    first, second = call_package(package["deployed"], atoms), call_package(swapped, atoms)
    for a, b in zip(first, second):
        np.testing.assert_allclose(b[::-1], a, rtol=0, atol=1e-10)


@pytest.mark.parametrize("nprocs", [1, 2])
def test_compute_with_package_equals_member_files(package, mix_model, mix_model_c, tmp_path, nprocs):
    """compute ennp/ensemble PACKAGE gives the member-list compute's numbers and the DP-GEN
    deviations of the members' own calculators; pair_style zero: nothing reused from the pair."""
    atoms = mixed_crystal(repeat=(3, 3, 3), seed=22, rattle=0.2)
    pair = "pair_style zero 5.0\npair_coeff * *"
    got, frames = run_compute(tmp_path / "package", atoms, [package["deployed"]], nprocs=nprocs,
                              pair=pair, extra_args="elements Au Ti O")
    files, frames_files = run_compute(tmp_path / "files", atoms, [mix_model["deployed"], mix_model_c["deployed"]],
                                      nprocs=nprocs, pair=pair, extra_args="elements Au Ti O")
    ref = deviation_reference(atoms, package["checkpoints"])
    for key in VECTOR[:-1]:
        assert got[key][0] == pytest.approx(files[key][0], rel=1e-9, abs=1e-13), key
        assert got[key][0] == pytest.approx(ref[key], rel=1e-7, abs=1e-12), key
    np.testing.assert_allclose(frames[0].arrays["c_dev[1]"], ref["eps"], rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(frames[0].arrays["c_dev[1]"], frames_files[0].arrays["c_dev[1]"],
                               rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("nprocs", [1, 2])
def test_pair_drives_with_member_zero_or_the_mean(package, tmp_path, nprocs):
    atoms = mixed_crystal(repeat=(3, 3, 3), seed=23, rattle=0.2)
    refs = [reference(atoms, ckpt) for ckpt in package["checkpoints"]]
    mean = {key: np.mean([r[key] for r in refs], axis=0) for key in refs[0]}
    first = single_point(atoms, tmp_path / "first", f"ennp {package['deployed']}", "* * Au Ti O",
                         ELEMENTS, nprocs=nprocs)
    assert "2 members in one call" in first["log"]
    assert_matches_reference(first, refs[0], len(atoms))
    got = single_point(atoms, tmp_path / "mean", f"ennp {package['deployed']} drive mean", "* * Au Ti O",
                       ELEMENTS, nprocs=nprocs)
    assert_matches_reference(got, mean, len(atoms))


def test_compute_reuses_the_pairs_package_and_monitors_a_run(package, tmp_path):
    """pair and compute on one package: the compute takes the pair's evaluation (no second one)
    and its deviations stay those of the members' calculators after MD steps."""
    atoms = mixed_crystal(repeat=(2, 2, 2), seed=24, rattle=0.1)
    post = "velocity all create 600 1\nfix nve all nve\ntimestep 0.001\nthermo 5"
    got, frames = run_compute(tmp_path, atoms, [package["deployed"]], steps=10, post=post,
                              pair=f"pair_style ennp {package['deployed']}\npair_coeff * * Au Ti O")
    assert list(got["evaluations"]) == [1, 6, 11]    # the dump invokes it every step
    assert "is taken from pair_style ennp's evaluation" in (tmp_path / "log.lammps").read_text()
    frame = frames[-1]
    moved = atoms.copy()
    moved.positions = frame.positions
    moved.cell = frame.cell
    ref = deviation_reference(moved, package["checkpoints"])
    np.testing.assert_allclose(frame.arrays["c_dev[1]"], ref["eps"], rtol=1e-6, atol=1e-10)


def test_refusals(mix_model, mix_model_b, tmp_path):
    from ennp.deploy.export import deploy_ensemble

    with pytest.raises(EnsembleError, match="members differ in r_max"):
        deploy_ensemble([mix_model["checkpoint"], mix_model_b["checkpoint"]], tmp_path / "e.nequip.pt2")
    with pytest.raises(EnsembleError, match="at least two members, got 1"):
        deploy_ensemble([mix_model["checkpoint"]], tmp_path / "e.nequip.pt2")
    meta = [{"type_names": "Au Ti O", "r_max": "4.0"}, {"type_names": "Au O", "r_max": "4.0"}]
    with pytest.raises(EnsembleError, match=r"members differ in type names \(a: Au Ti O, b: Au O\)"):
        check_members(["a", "b"], meta, [[], []])
    with pytest.raises(EnsembleError, match="b differs from a in its architecture"):
        check_members(["a", "b"], [meta[0], meta[0]], [[1], [2]])
    assert not (tmp_path / "e.nequip.pt2").exists()


def test_bad_lammps_input(package, mix_model, tmp_path):
    m = mix_model["deployed"]
    for sub in "abc":
        (tmp_path / sub).mkdir()
    assert "'drive mean' needs an ensemble package" in lammps_fails(tmp_path / "a", f"ennp {m} drive mean")
    assert "drive must be 'first' or 'mean', got 'all'" in lammps_fails(tmp_path / "b", f"ennp {package['deployed']} drive all")
    assert "keyword drive is missing its value" in lammps_fails(tmp_path / "c", f"ennp {m} drive")


def test_cli(mix_model, tmp_path, capsys):
    from ennp.cli import main

    ckpt, out = str(mix_model["checkpoint"]), str(tmp_path / "e.nequip.pt2")
    assert main(["deploy", ckpt, ckpt, "--out", out]) == 2
    assert "2 models given: deploy one at a time, or add --ensemble" in capsys.readouterr().err
    assert main(["deploy", ckpt, "--out", out, "--ensemble"]) == 2
    assert "an ensemble package needs at least two members, got 1" in capsys.readouterr().err
